#!/usr/bin/env python3
"""What LocalHub acknowledged from one device, judged for scripts/power-cut-test.sh.

    hub-check.py TELEMETRY.jsonl DEVICE max     the highest sequence number at the hub (0: none)
    hub-check.py TELEMETRY.jsonl DEVICE check   (a) every number from 1 to the highest arrived,
                                                (b) a number that arrived more than once carries
                                                the same reading each time; prints a summary;
                                                exit 0 both hold, 1 otherwise

LocalHub writes a record only after it has stored the message and before its PUBACK, so every
record is a message the hub acknowledged. A single message carries its number in $.mid
(<device>-<seq>) and its reading as the payload; a backlog batch (messageType=batch) carries the
stored readings unchanged, each with its own "seq" (docs/outbox.md). A number the agent reused
after losing a commit would come back with another reading (another capture time, another
value), which (b) catches even when (a) sees no gap. The rotated file (.1) is read first.
"""
import json
import os
import sys


def readings(path, device):
    """(seq, canonical reading text, batch or not) for every reading in the hub's log."""
    out = []
    for name in (path + ".1", path):
        if not os.path.exists(name):
            continue
        with open(name, encoding="utf-8") as log:
            for line in log:
                if not line.strip():
                    continue
                record = json.loads(line)
                props = record.get("properties") or {}
                body = json.loads(record["payload"])
                if props.get("messageType") == "batch":
                    for element in body.get("messages", []):
                        out.append((int(element["seq"]), json.dumps(element, sort_keys=True), True))
                    continue
                mid = props.get("$.mid") or ""
                prefix = device + "-"
                if not mid.startswith(prefix):
                    continue  # not one of the agent's numbered messages (none are expected)
                out.append((int(mid[len(prefix):]), json.dumps(body, sort_keys=True), False))
    return out


def main():
    if len(sys.argv) != 4 or sys.argv[3] not in ("max", "check"):
        print(__doc__, file=sys.stderr)
        return 2
    path, device, mode = sys.argv[1:]
    rows = readings(path, device)
    top = max((seq for seq, _, _ in rows), default=0)
    if mode == "max":
        print(top)
        return 0
    first = {}
    copies = {}
    conflicting = []
    for seq, text, _ in rows:
        if seq not in first:
            first[seq] = text
        else:
            copies[seq] = copies.get(seq, 1) + 1
            if text != first[seq] and seq not in conflicting:
                conflicting.append(seq)
    missing = [seq for seq in range(1, top + 1) if seq not in first]
    records = 0
    for name in (path + ".1", path):
        if os.path.exists(name):
            with open(name, encoding="utf-8") as log:
                records += sum(1 for line in log if line.strip())
    print(f"hub: {records} messages carrying {len(rows)} readings; sequence 1..{top}: "
          f"{len(first)} distinct, {len(missing)} missing, {len(rows) - len(first)} duplicate copies "
          f"of {len(copies)} readings, {len(conflicting)} numbers with differing content")
    ok = True
    if top == 0:
        print("FAIL (a) no reading arrived at the hub")
        ok = False
    if missing:
        print(f"FAIL (a) gap: {len(missing)} numbers never arrived, e.g. {missing[:20]}")
        ok = False
    else:
        print(f"PASS (a) no gap: every number 1..{top} arrived")
    if conflicting:
        print(f"FAIL (b) {len(conflicting)} numbers arrived with different readings (reused after a lost commit?), "
              f"e.g. {conflicting[:10]}")
        seq = conflicting[0]
        copies_of = [(text, batch) for s, text, batch in rows if s == seq]
        base = copies_of[0][0]
        for text, batch in copies_of:
            at = next((i for i, (x, y) in enumerate(zip(base, text)) if x != y), min(len(base), len(text)))
            start = max(0, at - 60)
            print(f"      seq {seq}{' (in a batch)' if batch else ''}: …{text[start:at + 80]}…")
        ok = False
    else:
        print(f"PASS (b) duplicates identical: {len(copies)} readings arrived more than once, each copy the same")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

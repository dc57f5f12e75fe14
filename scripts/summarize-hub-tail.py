#!/usr/bin/env python3
"""One short line per message that `localhub tail` prints (the demo's view of the hub)."""
import json
import sys

for line in sys.stdin:
    try:
        record = json.loads(line)
        body = json.loads(record.get("payload", "{}"))
    except (ValueError, TypeError):
        continue
    arrived = record.get("arrivedAt", "")[11:19]
    mid = record.get("properties", {}).get("$.mid", "?")
    if body.get("alert") == "spike":
        print(f"   {arrived}  {mid:<22} ALERT spike on {body['sensor']}.{body['channel']} = {body['value']:.2f} {body['unit']}"
              f" (p={body['probability']:.2f}, {body['source']})", flush=True)
    else:
        vibration = body.get("vibration") or {}
        print(f"   {arrived}  {mid:<22} period {body.get('periodSeconds', 0):>5.1f} s  temperature {body.get('temperature', float('nan')):6.2f} °C"
              f"  vibration rms {vibration.get('rms', float('nan')):.3f} g", flush=True)

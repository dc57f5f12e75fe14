#!/usr/bin/env python3
"""Golden check: what fieldagent sends (telemetry, alerts, twin patches, method answers) and what
passes between the agent and spike-predictor (predictor.v1 frames) validates against
firmware-interface/ (JSON Schema).

Runs the built executable on the simulated boards and validates every message, plus the committed
examples. Prints 'firmware-interface: N passed, M failed' and exits non-zero on any failure.
"""
import json
import subprocess
import sys
from pathlib import Path

import jsonschema

root = Path(__file__).resolve().parent.parent
binary = root / ".build" / "debug" / "fieldagent"
schema = json.loads((root / "firmware-interface" / "telemetry.v1.schema.json").read_text())
jsonschema.Draft202012Validator.check_schema(schema)

cases = []
alerts = []
for example in sorted((root / "firmware-interface" / "examples").glob("telemetry*.json")):
    cases.append((f"example {example.name}", json.loads(example.read_text())))
for board in ["sim-factory-line", "sim-faulty", "sim-dump-replay", "sim-air-quality"]:
    out = subprocess.run([str(binary), "run", "--board", f"boards/{board}.yaml", "--sink", "stdout",
                          "--time-scale", "0", "--count", "4", "--send-frequency", "20s"],
                         cwd=root, capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        message = json.loads(line)
        if "alert" in message:
            alerts.append((f"{board} alert {message['sensor']}.{message['channel']}", message))
        else:
            cases.append((f"{board} seq {message['seq']}", message))

# Twin patches and direct-method answers, as the agent produces them (issue 5, item 5).
twin_schema = json.loads((root / "firmware-interface" / "twin.v1.schema.json").read_text())
methods_schema = json.loads((root / "firmware-interface" / "methods.v1.schema.json").read_text())
jsonschema.Draft202012Validator.check_schema(twin_schema)
jsonschema.Draft202012Validator.check_schema(methods_schema)
json.loads((root / "firmware-interface" / "fieldagent.dtdl.json").read_text())


def sub_schema(root_schema, definition):
    return {"$schema": root_schema["$schema"], "$defs": root_schema["$defs"], "$ref": f"#/$defs/{definition}"}


alert_schema = json.loads((root / "firmware-interface" / "alert.v1.schema.json").read_text())
jsonschema.Draft202012Validator.check_schema(alert_schema)
# Long enough for sim-factory-line's planted spike (2:00) and bearing fault (4:00) to raise alerts.
out = subprocess.run([str(binary), "run", "--board", "boards/sim-factory-line.yaml", "--sink", "stdout",
                      "--time-scale", "0", "--count", "10"], cwd=root, capture_output=True, text=True, check=True).stdout
for line in out.splitlines():
    message = json.loads(line)
    if "alert" in message:
        alerts.append((f"sim-factory-line alert {message['sensor']}.{message['channel']}", message))
if not alerts:
    print("FAIL sim-factory-line: no spike alert for the spike planted at 2:00")
    sys.exit(1)

typed_cases = [(f"{name}", message, schema) for name, message in cases]
typed_cases += [(name, message, alert_schema) for name, message in alerts]
for example in sorted((root / "firmware-interface" / "examples").glob("twin*.json")):
    typed_cases.append((f"example {example.name}", json.loads(example.read_text()), twin_schema))
unsynchronised = set()
for board in ["sim-factory-line", "sim-faulty", "sim-air-quality"]:
    out = subprocess.run([str(binary), "interface-samples", "--board", f"boards/{board}.yaml", "--time-scale", "0"],
                         cwd=root, capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        sample = json.loads(line)
        label = f"{board} {sample['kind']} {sample['name']}"
        if sample["kind"] in ("telemetry", "alert"):
            # Captured on a wall clock that was not synchronised: marked clockSynchronised false.
            if sample["body"].get("clockSynchronised") is not False:
                print(f"FAIL {label}: not marked clockSynchronised false")
                sys.exit(1)
            unsynchronised.add((board, sample["kind"]))
            typed_cases.append((label, sample["body"], schema if sample["kind"] == "telemetry" else alert_schema))
        elif sample["kind"] == "reported":
            typed_cases.append((label, {"reported": sample["body"]}, twin_schema))
        elif sample["status"] == 200:
            typed_cases.append((label, sample["body"], sub_schema(methods_schema, f"{sample['name']}.response")))
        else:
            typed_cases.append((label, sample["body"], sub_schema(methods_schema, "error")))

if not {("sim-factory-line", "telemetry"), ("sim-factory-line", "alert")} <= unsynchronised:
    print(f"FAIL interface-samples: no unsynchronised-clock telemetry and alert from sim-factory-line (got {sorted(unsynchronised)})")
    sys.exit(1)

# predictor.v1 (issue 7): the committed examples, and frames as the serving path encodes them —
# requests, verdicts (warming up, quiet, a detected spike) and every error code.
predictor_schema = json.loads((root / "firmware-interface" / "predictor.v1.schema.json").read_text())
jsonschema.Draft202012Validator.check_schema(predictor_schema)
for example in sorted((root / "firmware-interface" / "examples").glob("predictor-*.json")):
    typed_cases.append((f"example {example.name}", json.loads(example.read_text()), predictor_schema))
predictor = root / ".build" / "debug" / "spike-predictor"
out = subprocess.run([str(predictor), "interface-samples", "--model", "models/spike-forest.v1.json"],
                     cwd=root, capture_output=True, text=True, check=True).stdout
frames = [json.loads(line) for line in out.splitlines()]
problems = []
for frame in frames:
    if frame["length"] != len(frame["payload"].encode("utf-8")):
        problems.append(f"{frame['name']}: prefix says {frame['length']} bytes, payload has {len(frame['payload'].encode('utf-8'))}")
    typed_cases.append((f"predictor.v1 {frame['name']}", json.loads(frame["payload"]), predictor_schema))
payloads = [json.loads(frame["payload"]) for frame in frames]
codes = {p["code"] for p in payloads if p["type"] == "error"}
missing = set(predictor_schema["$defs"]["error"]["properties"]["code"]["enum"]) - codes
if missing:
    problems.append(f"no sample frame for the error codes {sorted(missing)}")
if not any(p["type"] == "verdict" and p["spike_detected"] for p in payloads):
    problems.append("no verdict detected the planted spike")
if not any(p["type"] == "verdict" and p["warming_up"] for p in payloads):
    problems.append("no warming-up verdict")
for problem in problems:
    print(f"FAIL predictor.v1: {problem}")

passed = failed = 0
failed += len(problems)
for name, message, against in typed_cases:
    try:
        jsonschema.validate(message, against, format_checker=jsonschema.FormatChecker())
        passed += 1
    except jsonschema.ValidationError as error:
        failed += 1
        print(f"FAIL {name}: {error.message} at {list(error.absolute_path)}")
print(f"firmware-interface: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)

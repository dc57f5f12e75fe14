#!/usr/bin/env python3
"""Golden check: what fieldagent sends validates against firmware-interface/ (JSON Schema).

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
for example in sorted((root / "firmware-interface" / "examples").glob("telemetry*.json")):
    cases.append((f"example {example.name}", json.loads(example.read_text())))
for board in ["sim-factory-line", "sim-faulty", "sim-dump-replay"]:
    out = subprocess.run([str(binary), "run", "--board", f"boards/{board}.yaml", "--sink", "stdout",
                          "--time-scale", "0", "--count", "4", "--send-frequency", "20s"],
                         cwd=root, capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        message = json.loads(line)
        cases.append((f"{board} seq {message['seq']}", message))

passed = failed = 0
for name, message in cases:
    try:
        jsonschema.validate(message, schema, format_checker=jsonschema.FormatChecker())
        passed += 1
    except jsonschema.ValidationError as error:
        failed += 1
        print(f"FAIL {name}: {error.message} at {list(error.absolute_path)}")
print(f"firmware-interface: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)

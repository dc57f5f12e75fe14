#!/usr/bin/env python3
"""Golden check: what fieldagent sends (telemetry, alerts, twin patches, method answers) and what
passes between the agent and spike-predictor (predictor.v1 frames) validates against
firmware-interface/ (JSON Schema).

Runs the built executable on the simulated boards and validates every message, plus the committed
examples. The DTDL model (fieldagent.dtdl.json) is checked against the DTDL v3 rules it uses, and
every top-level field of every message and reported patch must be in it with a matching schema
(issue 15: the next drift between model and payload fails here). Prints
'firmware-interface: N passed, M failed' and exits non-zero on any failure.

FIRMWARE_INTERFACE_DIR checks another copy of firmware-interface/ (the test of a broken example).
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema

root = Path(__file__).resolve().parent.parent
interface = Path(os.environ.get("FIRMWARE_INTERFACE_DIR", root / "firmware-interface"))
binary = root / ".build" / "debug" / "fieldagent"
schema = json.loads((interface / "telemetry.v1.schema.json").read_text())
jsonschema.Draft202012Validator.check_schema(schema)

cases = []
alerts = []
for example in sorted((interface / "examples").glob("telemetry*.json")):
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
twin_schema = json.loads((interface / "twin.v1.schema.json").read_text())
methods_schema = json.loads((interface / "methods.v1.schema.json").read_text())
jsonschema.Draft202012Validator.check_schema(twin_schema)
jsonschema.Draft202012Validator.check_schema(methods_schema)
model = json.loads((interface / "fieldagent.dtdl.json").read_text())


def sub_schema(root_schema, definition):
    return {"$schema": root_schema["$schema"], "$defs": root_schema["$defs"], "$ref": f"#/$defs/{definition}"}


alert_schema = json.loads((interface / "alert.v1.schema.json").read_text())
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
for example in sorted((interface / "examples").glob("twin*.json")):
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
# requests, verdicts (warming up, quiet, a detected spike), every error code and a hot swap.
predictor_schema = json.loads((interface / "predictor.v1.schema.json").read_text())
jsonschema.Draft202012Validator.check_schema(predictor_schema)
for example in sorted((interface / "examples").glob("predictor-*.json")):
    typed_cases.append((f"example {example.name}", json.loads(example.read_text()), predictor_schema))
predictor = root / ".build" / "debug" / "spike-predictor"
# spike-forest.v1: the sample stream's spike lasts 2 samples, and spike-gbt.v3 flags a sample only
# after 3 consecutive ones above its threshold (its persistence).
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
for kind in ("load_model", "model_loaded"):
    if not any(p["type"] == kind for p in payloads):
        problems.append(f"no {kind} frame (hot swap)")
for problem in problems:
    print(f"FAIL predictor.v1: {problem}")

# The DTDL model: the v3 rules this model uses, then every field sent against it.
DTMI = re.compile(r"^dtmi:[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?(?::[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?)*(?:;[1-9][0-9]{0,8}(?:\.[1-9][0-9]{0,5})?)?$")
NAME = re.compile(r"^[A-Za-z](?:[A-Za-z0-9_]{0,510}[A-Za-z0-9])?$")
PRIMITIVES = {"boolean", "date", "dateTime", "double", "duration", "float", "integer", "long", "string", "time"}
SEMANTIC = {"Temperature": "degreeCelsius", "RelativeHumidity": "percent", "Pressure": "pascal"}
dtdl_problems = []


def check_schema_rules(where, schema):
    if isinstance(schema, str):
        if schema not in PRIMITIVES:
            dtdl_problems.append(f"{where}: '{schema}' is not a DTDL v3 primitive schema")
        return
    kind = schema.get("@type")
    if kind == "Object":
        names = [f.get("name", "") for f in schema.get("fields", [])]
        if not names or len(names) != len(set(names)):
            dtdl_problems.append(f"{where}: an Object needs fields with unique names")
        for field in schema.get("fields", []):
            if not NAME.match(field.get("name", "")):
                dtdl_problems.append(f"{where}: field name '{field.get('name')}' breaks the DTDL name rule")
            check_schema_rules(f"{where}.{field.get('name')}", field.get("schema"))
    elif kind == "Map":
        if schema.get("mapKey", {}).get("schema") != "string":
            dtdl_problems.append(f"{where}: a Map's key schema must be string")
        check_schema_rules(f"{where}[]", schema.get("mapValue", {}).get("schema"))
    elif kind == "Array":
        check_schema_rules(f"{where}[]", schema.get("elementSchema"))
    elif kind == "Enum":
        values = [v.get("enumValue") for v in schema.get("enumValues", [])]
        names = [v.get("name", "") for v in schema.get("enumValues", [])]
        if schema.get("valueSchema") not in ("integer", "string") or len(set(values)) != len(values) or len(set(names)) != len(names):
            dtdl_problems.append(f"{where}: an Enum needs valueSchema integer or string and unique names and values")
        if any(not NAME.match(n) for n in names):
            dtdl_problems.append(f"{where}: an enum value name breaks the DTDL name rule")
    else:
        dtdl_problems.append(f"{where}: unknown schema {kind!r}")


if "dtmi:dtdl:context;3" not in (model.get("@context") if isinstance(model.get("@context"), list) else [model.get("@context")]):
    dtdl_problems.append("@context must include dtmi:dtdl:context;3")
if model.get("@type") != "Interface" or not DTMI.match(model.get("@id", "")):
    dtdl_problems.append("the model must be an Interface with a valid DTMI @id")
contents = {}
for item in model.get("contents", []):
    types = item.get("@type")
    types = types if isinstance(types, list) else [types]
    name = item.get("name", "")
    if not NAME.match(name):
        dtdl_problems.append(f"content name '{name}' breaks the DTDL name rule")
    if name in contents:
        dtdl_problems.append(f"content name '{name}' is used twice (names are unique per interface)")
    contents[name] = (types[0], item)
    if types[0] not in ("Telemetry", "Property", "Command"):
        dtdl_problems.append(f"{name}: @type {types[0]} is not Telemetry, Property or Command")
    for extra in types[1:]:
        if extra not in SEMANTIC or item.get("unit") != SEMANTIC[extra]:
            dtdl_problems.append(f"{name}: semantic type {extra} needs unit {SEMANTIC.get(extra)}")
    if "writable" in item and types[0] != "Property":
        dtdl_problems.append(f"{name}: only a Property may be writable")
    if types[0] == "Command":
        for part in ("request", "response"):
            if part in item:
                check_schema_rules(f"{name}.{part}", item[part].get("schema"))
    else:
        check_schema_rules(name, item.get("schema"))


def matches(schema, value):
    """Whether a JSON value fits a DTDL schema (null stands for an unset value)."""
    if value is None:
        return True
    if isinstance(schema, str):
        return {
            "boolean": lambda v: isinstance(v, bool),
            "double": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
            "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
            "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "long": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "string": lambda v: isinstance(v, str),
            "dateTime": lambda v: isinstance(v, str) and re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$", v),
        }.get(schema, lambda v: False)(value)
    kind = schema["@type"]
    if kind == "Object":
        fields = {f["name"]: f["schema"] for f in schema["fields"]}
        return isinstance(value, dict) and all(k in fields and matches(fields[k], v) for k, v in value.items())
    if kind == "Map":
        return isinstance(value, dict) and all(matches(schema["mapValue"]["schema"], v) for v in value.values())
    if kind == "Array":
        return isinstance(value, list) and all(matches(schema["elementSchema"], v) for v in value)
    if kind == "Enum":
        return value in [v["enumValue"] for v in schema["enumValues"]]
    return False


def against_model(label, message, kind):
    """Every top-level field must be a `kind` (Telemetry, or Property for reported patches) of the model."""
    for key, value in message.items():
        if kind == "Property" and key.startswith("$"):
            continue
        content = contents.get(key)
        if content is None or content[0] != kind:
            yield f"{label}: '{key}' is not a {kind} of {model.get('@id')}"
            continue
        schema = content[1]["schema"]
        if kind == "Property" and content[1].get("writable") and isinstance(value, dict) and "ac" in value:
            value = value.get("value")  # an acknowledgement: its value must fit
        if not matches(schema, value):
            yield f"{label}: '{key}' = {json.dumps(value)[:80]} does not fit its schema in the model"


model_checked = 0
for name, message, against in typed_cases:
    if against is schema or against is alert_schema:
        dtdl_problems.extend(against_model(name, message, "Telemetry"))
        model_checked += 1
    elif against is twin_schema and "reported" in message:
        dtdl_problems.extend(against_model(name, message["reported"], "Property"))
        model_checked += 1
# Backlog batches (batch.v1): the envelope, and each element against the schema its messageType names.
batch_schema = json.loads((interface / "batch.v1.schema.json").read_text())
jsonschema.Draft202012Validator.check_schema(batch_schema)
element_schemas = {None: schema, "aggregate": json.loads((interface / "aggregate.v1.schema.json").read_text()),
                   "heartbeat": json.loads((interface / "heartbeat.v1.schema.json").read_text())}
for example in sorted((interface / "examples").glob("batch*.json")):
    body = json.loads(example.read_text())
    typed_cases.append((f"example {example.name}", body, batch_schema))
    dtdl_problems.extend(against_model(f"example {example.name}", body, "Telemetry"))
    model_checked += 1
    for element in body.get("messages", []):
        typed_cases.append((f"example {example.name} seq {element.get('seq')}", element,
                            element_schemas.get(element.get("messageType"), batch_schema)))
for example in sorted((interface / "examples").glob("*.json")):
    if example.name.startswith(("aggregate", "heartbeat")):
        body = json.loads(example.read_text())
        dtdl_problems.extend(against_model(f"example {example.name}", body, "Telemetry"))
        typed_cases.append((f"example {example.name}", body, json.loads((interface / f"{example.name.split('-')[0].split('.')[0]}.v1.schema.json").read_text())))
        model_checked += 1
for problem in dtdl_problems:
    print(f"FAIL DTDL: {problem}")
print(f"DTDL model: {len(contents)} contents, {model_checked} messages and patches checked against it")

passed = failed = 0
failed += len(problems) + len(dtdl_problems)
for name, message, against in typed_cases:
    try:
        jsonschema.validate(message, against, format_checker=jsonschema.FormatChecker())
        passed += 1
    except jsonschema.ValidationError as error:
        failed += 1
        print(f"FAIL {name}: {error.message} at {list(error.absolute_path)}")
print(f"firmware-interface: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)

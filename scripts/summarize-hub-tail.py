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
              f" (p={body['spike_probability']:.2f}, {body['source']})", flush=True)
    elif body.get("messageType") == "aggregate":
        temperature = next(iter(body.get("readings", {}).values()), {}).get("temperature", {})
        print(f"   {arrived}  {mid:<22} AGGREGATE {body['windowStart'][11:19]}–{body['windowEnd'][11:19]}"
              f"{' (partial)' if body.get('partial') else ''}  temperature avg {temperature.get('avg', float('nan')):.2f}"
              f" max {temperature.get('max', float('nan')):.2f} count {temperature.get('count', 0)}", flush=True)
    elif body.get("messageType") == "heartbeat":
        health = body.get("health", {})
        print(f"   {arrived}  {mid:<22} HEARTBEAT alarm {health.get('alarm')} {health.get('alarmReasons', [])}", flush=True)
    else:
        print(f"   {arrived}  {mid:<22} period {body.get('periodSeconds', 0):>5.1f} s  temperature {body.get('temperature', float('nan')):6.2f} °C"
              f"  vibration rms {body.get('vibration', float('nan')):.3f} g", flush=True)

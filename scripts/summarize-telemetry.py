#!/usr/bin/env python3
"""Prints one short line per telemetry JSON line read from stdin (for the demo)."""
import json
import sys

for line in sys.stdin:
    m = json.loads(line)
    t = m["readings"].get("ambient", {}).get("temperature", {})
    failed = [name for name, s in m["sensorHealth"].items() if s["status"] != "ok"]
    print("seq {:>2}  {}  T {} °C (max {})  RH {} %  p {} Pa  vibration rms {} g peak {} g{}".format(
        m["seq"], m["timestamp"], m.get("temperature"), t.get("max"), m.get("humidity"), m.get("pressure"),
        m.get("vibration"), m.get("vibrationPeak"), "  FAILED: " + ", ".join(failed) if failed else ""))

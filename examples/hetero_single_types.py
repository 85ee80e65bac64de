#!/usr/bin/env python3
"""Solves examples/hetero.yaml with all variants and with each accelerator type alone.

Usage: examples/hetero_single_types.py [path/to/variantctl]
Prints the mixed allocation's cost and each single type's cost (all demand served).
"""
import json
import subprocess
import sys
import tempfile

import yaml

ctl = sys.argv[1] if len(sys.argv) > 1 else "build/bin/variantctl"
prob = yaml.safe_load(open("examples/hetero.yaml"))


def solve(p):
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f, \
            tempfile.NamedTemporaryFile("r", suffix=".json") as o:
        yaml.safe_dump(p, f)
        f.flush()
        subprocess.run([ctl, "solve", "--problem", f.name, "--solver", "milp", "--json", o.name],
                       check=True, capture_output=True)
        return json.load(open(o.name))


mix = solve(prob)
print("mix   cost_per_hour %.2f  %s" % (mix["cost_per_hour"],
      ", ".join("%s x%d" % (a["variant"], a["replicas"]) for a in mix["allocation"])))
best = None
for acc in sorted({v["accelerator"] for v in prob["models"][0]["variants"]}):
    q = json.loads(json.dumps(prob))
    q["models"][0]["variants"] = [v for v in prob["models"][0]["variants"] if v["accelerator"] == acc]
    d = solve(q)
    served = not d["unserved"]
    print("%-5s cost_per_hour %.2f  %s%s" % (acc, d["cost_per_hour"],
          ", ".join("%s x%d" % (a["variant"], a["replicas"]) for a in d["allocation"]),
          "" if served else "  (leaves demand unserved)"))
    if served and (best is None or d["cost_per_hour"] < best[1]):
        best = (acc, d["cost_per_hour"])
print("best single type: %s %.2f; mix saves %.1f%%" % (best[0], best[1],
      100 * (1 - mix["cost_per_hour"] / best[1])))

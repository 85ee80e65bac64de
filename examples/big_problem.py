#!/usr/bin/env python3
"""Writes a large problem document (JSON) for measuring variant_solve's parse time and
memory: N models x V variants (measured capacities, so no catalog entry is needed),
8 accelerator types with counts that bind, two classes, four length buckets per demand.
Usage: examples/big_problem.py [--models 1000] [--variants 40] [--yaml] > big.json"""
import argparse
import json
import random

ap = argparse.ArgumentParser()
ap.add_argument("--models", type=int, default=1000)
ap.add_argument("--variants", type=int, default=40)
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--yaml", action="store_true", help="block-style YAML instead of JSON")
a = ap.parse_args()
rng = random.Random(a.seed)
accs = [("h100", 4.25), ("a100", 2.21), ("l40s", 1.56), ("h200", 4.68),
        ("xpu-4", 1.3), ("xpu-5", 1.1), ("xpu-6", 2.4), ("xpu-7", 2.9)]
models, demand, need = [], [], 0.0
for i in range(a.models):
    vs = []
    for j in range(a.variants):
        tp = 1 << (j // 8 % 4)
        vs.append({"name": f"v{j}", "accelerator": accs[j % 8][0], "tp": tp,
                   "max_batch": 64 << (j // 32 % 2),
                   "capacity_rps": round(2.5 * tp ** 0.85 * rng.uniform(0.6, 1.4), 3)})
    models.append({"name": f"model-{i}", "variants": vs})
    for cls in ("chat", "batch"):
        rate = round(rng.lognormvariate(1.5, 1.0), 3)
        need += rate / 2.5
        demand.append({"model": f"model-{i}", "class": cls, "rate_rps": rate,
                       "prefix_hit_ratio": 0.1,
                       "buckets": [{"input": 128, "output": 64, "weight": 0.4},
                                   {"input": 1024, "output": 256, "weight": 0.3},
                                   {"input": 4096, "output": 256, "weight": 0.2},
                                   {"input": 512, "output": 2048, "weight": 0.1}]})
doc = {"schema_version": 1,
       "accelerators": [{"name": n, "cost_per_hour": c, "count": int(need / 8 * 1.2)}
                        for n, c in accs],
       "classes": [{"name": "chat", "priority": 2, "slo": {"ttft_p95_ms": 1000, "itl_p95_ms": 60}},
                   {"name": "batch", "priority": 1, "slo": {"ttlt_p95_ms": 60000}}],
       "models": models, "demand": demand, "options": {"stability": False}}
if a.yaml:
    import yaml  # PyYAML
    print(yaml.safe_dump(doc, sort_keys=False, default_flow_style=False))
else:
    print(json.dumps(doc))

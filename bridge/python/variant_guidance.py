#!/usr/bin/env python3
"""variant_guidance.py: subscribes to an agent's guidance through the Python bridge and
prints, as JSON, the variant weights of each request in a requests file (and the load
signal of each variant named), once guidance of at least --min-decision has arrived.
The same contract as the Go bridge's variant-guidance program.

    variant_guidance.py --endpoint tcp://127.0.0.1:5556 --requests requests.json
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import variant_bridge as vb  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--requests", required=True)
    ap.add_argument("--min-decision", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=30)
    a = ap.parse_args()
    with open(a.requests) as f:
        reqs = json.load(f)
    with vb.GuidanceClient(a.endpoint) as c:
        deadline = time.monotonic() + a.timeout
        while c.stats()["decision_id"] < a.min_decision:
            if time.monotonic() > deadline:
                print("no guidance from %s in %g s (stats %s)" % (a.endpoint, a.timeout, c.stats()),
                      file=sys.stderr)
                return 1
            time.sleep(0.02)
        out = {"decision_id": c.stats()["decision_id"], "answers": []}
        for r in reqs:
            ans = dict(r, weights=[], loads={})
            try:
                ws, pick = c.weights(r["model"], r["input"], r["output"], r.get("class") or None)
                out["decision_id"] = pick.decision_id
                for v, w in ws:
                    ans["weights"].append([v, w])
                    try:
                        ans["loads"][v] = c.load(r["model"], v)
                    except vb.ClientError:
                        pass
            except vb.ClientError as e:
                ans["error"] = str(e)
            out["answers"].append(ans)
    json.dump(out, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())

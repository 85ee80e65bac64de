#!/usr/bin/env bash
# The main job on the embedded default data (docs/simulator.md, "The cluster
# simulator"): the Azure 2023 code and conversation traces replayed as two models
# through the simulated cluster (examples/simulate.yaml), every policy side by side
# (static, hpa with its target tuned by a sweep, wva, variant, oracle) on identical
# arrivals. Prints the table and writes out/simulate.json and out/report.html.
# Then solves the example cluster once (out/decision.json: decision, plan, guidance).
set -euo pipefail
cd "$(dirname "$0")/.."
B=${BUILD_DIR:-build}/bin
mkdir -p out
echo "== simulate: examples/simulate.yaml (Azure 2023 code x8 -> llama-3-8b, conversation x4 -> mistral-7b, superposed copies, 1 h)"
"$B/variantctl" simulate --config examples/simulate.yaml --json out/simulate.json --html out/report.html
echo "result written to out/simulate.json, report to out/report.html"
echo "== examples/basic.yaml: cheapest SLO-meeting allocation (fast and MILP solvers)"
"$B/variantctl" solve --problem examples/basic.yaml --solver both --json out/decision.json
echo "decision, plan and guidance written to out/decision.json"

#!/usr/bin/env bash
# The main job on the embedded default data: for the two Azure 2023 traces, what one
# replica of each catalog accelerator sustains within the SLOs (the performance model),
# then the cheapest allocation of the example cluster (examples/basic.yaml), from both
# solvers, with its plan and scheduler guidance in out/decision.json.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${BUILD_DIR:-build}/bin
mkdir -p out
SLO=ttft_p95_ms=1000,itl_p95_ms=60
for trace in code conv; do
  echo "== llama-3-8b, Azure 2023 $trace trace lengths, SLO $SLO: max rate of one replica"
  for a in a100 h100 h200 l40s; do
    printf '%-5s ' "$a"
    "$B/variantctl" model capacity --model llama-3-8b --accelerator "$a" --tp 1 \
      --trace "data/traces/azure-2023/AzureLLMInferenceTrace_$trace.csv" --slo "$SLO"
  done
done
echo "== examples/basic.yaml: cheapest SLO-meeting allocation (fast and MILP solvers)"
"$B/variantctl" solve --problem examples/basic.yaml --solver both --json out/decision.json
echo "decision, plan and guidance written to out/decision.json"

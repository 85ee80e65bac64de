#!/usr/bin/env bash
# The main job on the embedded default data.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${BUILD_DIR:-build}/bin
for a in a100 h100 h200 l40s; do
  echo "llama-3-8b on 1x $a, batch 8, 1024 in / 256 out:"
  "$B/variantctl" model batch-latency --model llama-3-8b --accelerator "$a" --tp 1 \
    --batch 8 --input 1024 --output 256
done

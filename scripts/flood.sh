#!/usr/bin/env bash
# Flood (docs/faults.md, "Flood"): one source floods the real agent with valid metrics
# at the maximum rate one core can publish for SECONDS (default 600), while
# test_agent_flood.py's checks are repeated at that length: the well-behaved source
# loses nothing, decisions keep flowing, RSS stays flat.
#   scripts/flood.sh [BUILD_DIR] [SECONDS]
# Loopback only; stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
export VARIANT_FLOOD_S=${2:-600}
export VARIANT_AGENT="$PWD/$BUILD/bin/variant-agent"
cd test/agent
exec /usr/bin/python3 -W ignore::ResourceWarning -m unittest -v test_agent_flood

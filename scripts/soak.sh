#!/usr/bin/env bash
# Soak (docs/faults.md, "Soak"): the real variant-agent driven over loopback TCP by a
# traffic generator (test/agent/bus_load.py soak) through a simulated day of diurnal
# demand at a high message rate, recording every second the messages sent and
# received, decisions, rejected messages, solver errors and the agent's RSS.
#   scripts/soak.sh [BUILD_DIR] [DAY_SECONDS] [RATE_MSG_S] [MODELS] [POLICY]
# Defaults: build, 600 s for the day, 20000 msg/s, 200 models, optimizer.
# Writes OUT_DIR (default /tmp/variant-soak-<time>): soak.csv, soak.json, soak.svg,
# agent.yaml, agent.log. Loopback only; stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
DAY_S=${2:-600}
RATE=${3:-20000}
MODELS=${4:-200}
POLICY=${5:-optimizer}
OUT=${OUT_DIR:-/tmp/variant-soak-$(date +%s)}
PY=/usr/bin/python3
mkdir -p "$OUT"
ports=$($PY -c 'import socket
ss=[socket.socket() for _ in range(3)]
[s.bind(("127.0.0.1",0)) for s in ss]
print(" ".join(str(s.getsockname()[1]) for s in ss))')
read -r P1 P2 P3 <<<"$ports"
$PY - "$OUT" "$MODELS" "$POLICY" "$P1" "$P2" "$P3" <<'PYEOF'
import json, sys
out, n, policy, p1, p2, p3 = sys.argv[1], int(sys.argv[2]), sys.argv[3], *sys.argv[4:]
models = [{"name": "soak-model-%d" % i, "variants": [
    {"name": "a-tp1", "accelerator": "h100", "tp": 1, "capacity_rps": 4.0},
    {"name": "b-tp1", "accelerator": "a100", "tp": 1, "capacity_rps": 2.5}]} for i in range(n)]
cfg = {"mode": "cluster", "source": "soak-agent",
       "bus": {"xsub": "tcp://127.0.0.1:%s" % p1, "xpub": "tcp://127.0.0.1:%s" % p2,
               "heartbeat_s": 1, "stale_after_s": 10, "rate_limit_per_source": 0},
       "metrics_listen": "127.0.0.1:%s" % p3, "state_file": out + "/state.msgpack",
       "solve": {"threshold": 0.1, "debounce_ms": 50, "max_staleness_s": 15},
       "problem": {"schema_version": 1,
                   "accelerators": [{"name": "h100", "cost_per_hour": 4.0, "count": 100000},
                                    {"name": "a100", "cost_per_hour": 2.0, "count": 100000}],
                   "classes": [{"name": "chat", "slo": {"ttft_p95_ms": 2000}}],
                   "models": models, "options": {"stability": True}}}
if policy != "optimizer":
    cfg["default_policy"] = policy
    cfg["default_policy_params"] = {"target": 8, "metric": "running_waiting"}
json.dump(cfg, open(out + "/agent.yaml", "w"))
PYEOF
"$BUILD/bin/variant-agent" --config "$OUT/agent.yaml" >"$OUT/agent.log" 2>&1 &
AGENT=$!
trap 'kill $AGENT 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  curl -sf "http://127.0.0.1:$P3/metrics" >/dev/null 2>&1 && break
  $PY -c "import urllib.request;urllib.request.urlopen('http://127.0.0.1:$P3/metrics',timeout=1)" 2>/dev/null && break
  sleep 0.1
done
$PY test/agent/bus_load.py soak --xsub "tcp://127.0.0.1:$P1" --xpub "tcp://127.0.0.1:$P2" \
  --metrics "127.0.0.1:$P3" --pid "$AGENT" --models "$MODELS" --day-s "$DAY_S" \
  --rate "$RATE" --out "$OUT"
kill -TERM $AGENT
wait $AGENT || true
trap - EXIT
echo "soak: results in $OUT (soak.csv, soak.json, soak.svg)"

#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets (test/fuzz/corpus/TARGET/) from small
real examples: bus messages as the collectors send them (Debian's python3-msgpack),
the repo's example problem, catalog and config files, vLLM scrape fixtures, trace
lines. Run from anywhere; rewrites the seed files it owns, leaves others alone.
"""
import json
import os
import shutil

import msgpack

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
CORPUS = os.path.join(HERE, "corpus")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def read(path):
    with open(os.path.join(ROOT, path), "rb") as f:
        return f.read()


def mp(obj):
    return msgpack.packb(obj, use_bin_type=True)


# bus: header, metrics, inventory, heartbeat (docs/bus.md)
put("bus_header", "ok", mp({"v": 1, "src": "collector-node-1", "seq": 42, "ts": 1732800000.25}))
put("bus_header", "int_ts", mp({"v": 1, "src": "c", "seq": 1, "ts": 1732800000}))
put("bus_header", "v2", mp({"v": 2, "src": "c", "seq": 1, "ts": 1.0}))
put("bus_header", "no_seq", mp({"v": 1, "src": "c"}))
put("bus_metrics", "full", mp({
    "model": "llama-3-8b", "variant": "h100-tp1", "class": "chat",
    "arrival_rate_rps": 12.5, "input_mean": 812.0, "output_mean": 164.0, "running": 9,
    "waiting": 1, "kv_usage": 0.42, "ttft_mean_ms": 180.0, "itl_mean_ms": 21.5,
    "prefix_hit_ratio": 0.3, "replicas_ready": 2, "replicas_starting": 1}))
put("bus_metrics", "minimal", mp({"model": "mistral-7b", "arrival_rate_rps": 0}))
put("bus_metrics", "nil_fields", mp({"model": "m", "kv_usage": None, "running": None}))
put("bus_metrics", "nan", mp({"model": "m", "arrival_rate_rps": float("nan")}))
put("bus_inventory", "ok", mp({
    "accelerators": {"h100": 16, "a100": 8},
    "replicas": [{"model": "llama-3-8b", "variant": "h100-tp1", "ready": 2, "starting": 1},
                 {"model": "llama-3-70b", "variant": "h100-tp4", "ready": 1, "starting": 0}]}))
put("bus_inventory", "empty", mp({"accelerators": {}, "replicas": []}))
put("bus_heartbeat", "ok", mp({"uptime_s": 12.5}))
put("bus_heartbeat", "array", mp([1, 2]))

# C ABI: catalog, SLO text, solve (problem + current)
put("capi_catalog", "builtin", read("data/catalog.yaml"))
put("capi_catalog", "custom", """schema_version: 1
models:
  - {name: my-13b, layers: 40, hidden: 5120, heads: 40, kv_heads: 8, intermediate: 13824, vocab: 32000, dtype_bytes: 2, max_context: 8192}
accelerators:
  - {name: h100-pcie, memory_bw_gbs: 2000, memory_gib: 80, cost_per_hour: 3.1, tables: h100_sxm, gpus_per_node: 8, count: 4}
""")
put("capi_catalog", "json", json.dumps({"models": [{"name": "tiny", "layers": 2, "hidden": 256,
    "heads": 4, "kv_heads": 4, "intermediate": 512, "vocab": 1000, "dtype_bytes": 2}]}))
put("capi_slo", "two", "ttft_p95_ms=500,itl_mean_ms=50")
put("capi_slo", "three", "ttft_p99_ms=800,itl_p95_ms=60,ttlt_p99_ms=20000")
put("capi_slo", "tpot", "tpot_p90_ms=40")
basic = read("examples/basic.yaml")
current = read("examples/current.yaml")
small = json.dumps({
    "schema_version": 1,
    "accelerators": [{"name": "h100", "count": 8}],
    "classes": [{"name": "chat", "slo": {"ttft_p95_ms": 1000, "itl_p95_ms": 60}}],
    "models": [{"name": "llama-3-8b", "variants": [
        {"name": "h100-tp1", "accelerator": "h100", "tp": 1, "capacity_rps": 5}]}],
    "demand": [{"model": "llama-3-8b", "class": "chat", "rate_rps": 12,
                "buckets": [{"input": 500, "output": 100, "weight": 1}]}],
    "options": {"stability": False}}).encode()
sep = b"\n#--current--\n"
for t in ("capi_solve", "problem"):
    put(t, "basic_with_current", basic + sep + current)
    put(t, "small_json", small)
    put(t, "small_json_with_current", small + sep +
        b'{"allocation": [{"model": "llama-3-8b", "variant": "h100-tp1", "replicas": 2}]}')
put("problem", "hetero", read("examples/hetero.yaml"))

# agent config
put("config", "cluster", """mode: cluster
source: agent-1
bus: {xsub: "tcp://127.0.0.1:5555", xpub: "tcp://127.0.0.1:5556", heartbeat_s: 1, stale_after_s: 5, max_message_bytes: 65536}
metrics_listen: "127.0.0.1:9100"
solve: {solver: fast, threshold: 0.1, debounce_ms: 20, max_staleness_s: 15, default_class: chat}
problem:
  schema_version: 1
  accelerators: [{name: h100, cost_per_hour: 4.0, count: 64}]
  classes: [{name: chat, slo: {ttft_p95_ms: 2000, itl_p95_ms: 80}}]
  models:
    - name: llama-3-8b
      variants: [{name: h100-tp1, accelerator: h100, tp: 1, max_batch: 64, role: pd}]
    - name: mistral-7b
  variants: [{model: mistral-7b, accelerator: h100, tp: 2, role: decode}]
  options: {stability: false}
policies:
  mistral-7b: {policy: hpa, params: {target: 8, metric: running_waiting}}
""")
put("config", "node", """mode: node
source: node-a
node:
  cluster: "tcp://127.0.0.1:5555"
  interval_s: 0.5
  collector: static
  static:
    - {model: llama-3-8b, variant: h100-tp1, arrival_rate_rps: 3.5, kv_usage: 0.2, replicas_ready: 1}
""")
put("config", "json", json.dumps({"mode": "cluster", "problem": {"models": ["m"]},
                                  "default_policy": "static-peak",
                                  "default_policy_params": {"replicas": 2}}))

# vLLM /metrics scrapes: single, and two successive ones
fx = "test/collector/fixtures/"
for t in ("exposition", "vllm_source"):
    put(t, "v1_pair", read(fx + "vllm_v1_t100.txt") + b"\n#--scrape--\n" + read(fx + "vllm_v1_t110.txt"))
    put(t, "v0_pair", read(fx + "vllm_v0_t0.txt") + b"\n#--scrape--\n" + read(fx + "vllm_v0_t30.txt"))
    put(t, "forgiving", read(fx + "forgiving.txt"))

# Prometheus /api/v1/query answers: first byte = HTTP status class
vec = {"status": "success", "data": {"resultType": "vector", "result": [
    {"metric": {"model_name": "llama-3-8b", "variant": "h100-tp1"}, "value": [1732800000.1, "3.25"]},
    {"metric": {"model_name": "llama-3-8b", "variant": "a100-tp1"}, "value": [1732800000.1, "NaN"]}]}}
put("prometheus_api", "vector", "2" + json.dumps(vec))
put("prometheus_api", "empty", "2" + json.dumps({"status": "success", "data": {"resultType": "vector", "result": []}}))
put("prometheus_api", "error_400", "4" + json.dumps({"status": "error", "errorType": "bad_data", "error": "parse error at char 3"}))

# traces: the Azure 2023 CSV as published, and the generic CSV
azure = read("data/traces/azure-2023/AzureLLMInferenceTrace_code.csv").split(b"\n")[:12]
put("trace", "azure_code", b"\n".join(azure) + b"\n")
put("trace", "generic", "# timestamp_s,input_tokens,output_tokens,model,class\n"
    "0.0,512,128,llama-3-8b,chat\n0.25,2048,64,llama-3-8b,batch\n0.5,100,300\n")
put("trace", "generic_header", "timestamp_s,input_tokens,output_tokens\n0,1,1\n1.5,30,0\n")

# actuator: plan and workloads files, and the decision/plan bus bodies
put("actuator_plan", "plan", json.dumps({"id": "p1", "steps": [
    {"kind": "Deployment", "namespace": "llm", "name": "l8-h100", "replicas": 3},
    {"kind": "LeaderWorkerSet", "namespace": "llm", "name": "l70-h100", "replicas": 0}]}))
put("actuator_plan", "workloads", json.dumps([
    {"model": "llama-3-8b", "variant": "h100-tp1", "kind": "Deployment", "namespace": "llm", "name": "l8-h100"}]))
decision = {"decision_id": 7, "allocation": [
    {"model": "llama-3-8b", "variant": "h100-tp1", "replicas": 3},
    {"model": "llama-3-8b", "variant": "a100-tp1", "replicas": 1},
    {"model": "llama-3-70b", "variant": "h100-tp4", "replicas": 2}]}
plan = {"decision_id": 7, "steps": [
    {"action": "add", "model": "llama-3-8b", "variant": "h100-tp1", "replicas": 1},
    {"action": "flip", "model": "llama-3-8b", "variant": "h100-tp1", "to_variant": "a100-tp1", "replicas": 1},
    {"action": "remove", "model": "llama-3-70b", "variant": "h100-tp4", "replicas": 1}]}
put("actuator_follow", "add_flip_remove", mp(decision) + b"\n#--plan--\n" + mp(plan))

# guidance, as the agent publishes it and the guidance client reads it
guidance = {
    "decision_id": 7,
    "models": [{"model": "mistral", "variants": [
        {"variant": "l40s", "weight": 3.0, "load_signal": 0.5},
        {"variant": "a100", "weight": 1.0, "load_signal": None}]}],
    "optimizer": {
        "models": [{"model": "llama", "slices": [
            {"class": "chat", "input": 300, "output": 150, "rate_rps": 30,
             "weights": {"h100": 0.25, "a100": 0.75}, "unserved_fraction": 0.0},
            {"class": "chat", "input": 4000, "output": 400, "rate_rps": 5,
             "weights": {"h100": 1.0}, "unserved_fraction": 0.1},
            {"class": "batch", "input": 300, "output": 150, "rate_rps": 10,
             "weights": {"l40s": 1.0}}]}],
        "variants": [{"model": "llama", "variant": "h100", "replicas": 2, "load": 0.83},
                     {"model": "llama", "variant": "a100", "replicas": 3, "load": 1.2}]}}
put("client_guidance", "two_models", mp(guidance))
put("client_guidance", "plugin_only", mp({"decision_id": 1, "models": guidance["models"]}))

# offline profiles (variant_ctx_load_profiles_text)
put("capi_profiles", "splitwise", read("data/perf/profiles/splitwise-llama-2-70b-a100-tp4.csv"))

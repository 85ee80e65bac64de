#!/usr/bin/python3
"""Generates docs/bad-input.md: every input the system takes, the bad values tried,
and what the system answers to each, taken from the real code paths at the time of
the run (so the table cannot drift from the code):

  - the decoders, the C ABI and the plugin loader through test/fuzz/bad_input_probe,
    which calls exactly what the agent, collectors, actuator and simulator call;
  - the command-line tools, run as a user would run them;
  - the bus, through a running variant-agent on loopback (Debian's python3-zmq).

  scripts/bad_input_table.py --build build --write    rewrite docs/bad-input.md
  scripts/bad_input_table.py --build build --check    exit 1 if it is out of date
                                                      (ctest: bad_input_table)
Messages are normalised (temporary paths, ports) so the output is deterministic.
"""
import argparse
import difflib
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time

import msgpack
import yaml

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
DOC = os.path.join(ROOT, "docs", "bad-input.md")
MP = lambda o: msgpack.packb(o, use_bin_type=True)  # noqa: E731


class Runner:
    def __init__(self, build):
        self.build = os.path.abspath(build)
        self.bin = os.path.join(self.build, "bin")
        self.tmp = tempfile.TemporaryDirectory(prefix="bad-input-")
        self.n = 0

    def norm(self, s):
        s = s.replace(self.tmp.name, "TMP").replace(self.build, "BUILD").replace(ROOT, "SRC")
        s = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", s)
        s = re.sub(r"\x1b\[[0-9;]*m", "", s)
        s = re.sub(r"^\[\d{4}-\d\d-\d\d [\d:.]+\] ", "", s)  # spdlog's time stamp
        s = re.sub(r"/tmp/[A-Za-z0-9_.-]+", "TMP", s)
        s = s.replace(self.tmp.name.replace("/tmp/", "TMP/", 1), "TMP")
        s = re.sub(r"TMP/in\d+", "TMP/FILE", s)  # the input file the row wrote
        return s.strip()

    def file(self, content, name=None):
        self.n += 1
        path = os.path.join(self.tmp.name, name or "in%d" % self.n)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(content.encode() if isinstance(content, str) else content)
        return path

    def probe(self, kind, content=None, *extra, path=None):
        if path is None:
            path = self.file(content if content is not None else b"")
        out = subprocess.run([os.path.join(self.bin, "bad_input_probe"), kind, path, *extra],
                             capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            return ("CRASH rc=%d" % out.returncode, self.norm(out.stderr)[-300:])
        line = out.stdout.strip().splitlines()[-1]
        if line == "ok":
            return ("accepted", "")
        _, code, msg = line.split("\t", 2)
        return (code, self.norm(msg))

    def cli(self, argv):
        out = subprocess.run([os.path.join(self.bin, argv[0])] + argv[1:], capture_output=True,
                             text=True, timeout=120, cwd=self.tmp.name)
        lines = [l for l in (out.stderr + out.stdout).splitlines() if l.strip()]
        err = [l for l in lines if "rror" in l or "not" in l or "must" in l] or lines
        return ("exit %d" % out.returncode, self.norm(err[0] if err else ""))


def sections(r):
    """Yields (section title, what the input is, [(bad value, (code, message))])."""
    P = r.probe
    hdr = MP({"v": 1, "src": "c", "seq": 1, "ts": 1.0})
    yield ("Bus: message header (frame 2, msgpack)", "agent/bus/protocol.h DecodeHeader; every topic", [
        ("not msgpack (0xc1)", P("bus_header", b"\xc1")),
        ("truncated map", P("bus_header", hdr[:-3])),
        ("bytes after the map", P("bus_header", hdr + b"\x00")),
        ("an array, not a map", P("bus_header", MP([1, "c", 1]))),
        ("v = 2", P("bus_header", MP({"v": 2, "src": "c", "seq": 1}))),
        ('v = "1"', P("bus_header", MP({"v": "1", "src": "c", "seq": 1}))),
        ("no v", P("bus_header", MP({"src": "c", "seq": 1}))),
        ("no src", P("bus_header", MP({"v": 1, "seq": 1}))),
        ("src = 5", P("bus_header", MP({"v": 1, "src": 5, "seq": 1}))),
        ("no seq", P("bus_header", MP({"v": 1, "src": "c"}))),
        ("seq = -1", P("bus_header", MP({"v": 1, "src": "c", "seq": -1}))),
        ("ts = NaN", P("bus_header", MP({"v": 1, "src": "c", "seq": 1, "ts": math.nan}))),
        ("ts = -5", P("bus_header", MP({"v": 1, "src": "c", "seq": 1, "ts": -5.0}))),
        ('ts = "now"', P("bus_header", MP({"v": 1, "src": "c", "seq": 1, "ts": "now"}))),
    ])
    m = lambda **kw: MP(dict({"model": "llama-3-8b", "variant": "h100-tp1"}, **kw))  # noqa: E731
    yield ("Bus: `metrics` body (msgpack)", "DecodeMetrics; then the agent checks names against its config (see the wire section)", [
        ("garbage bytes", P("bus_metrics", b"\xff\xfe\x00")),
        ("an array", P("bus_metrics", MP(["llama-3-8b", 3]))),
        ("8 bytes whose array32 header claims 2^31 elements", P("bus_metrics", b"\x81\xa1x\xdd\x7f\xff\xff\xff")),
        ("no model", P("bus_metrics", MP({"variant": "h100-tp1", "running": 3}))),
        ('model = ""', P("bus_metrics", MP({"model": ""}))),
        ("model = 7", P("bus_metrics", MP({"model": 7}))),
        ("arrival_rate_rps = NaN", P("bus_metrics", m(arrival_rate_rps=math.nan))),
        ("arrival_rate_rps = +inf", P("bus_metrics", m(arrival_rate_rps=math.inf))),
        ("arrival_rate_rps = -1", P("bus_metrics", m(arrival_rate_rps=-1.0))),
        ("arrival_rate_rps = 1e13", P("bus_metrics", m(arrival_rate_rps=1e13))),
        ('arrival_rate_rps = "12"', P("bus_metrics", m(arrival_rate_rps="12"))),
        ("kv_usage = 1.5", P("bus_metrics", m(kv_usage=1.5))),
        ("prefix_hit_ratio = 2", P("bus_metrics", m(prefix_hit_ratio=2))),
        ("ttft_mean_ms = -3", P("bus_metrics", m(ttft_mean_ms=-3.0))),
        ("replicas_ready = 2.5", P("bus_metrics", m(replicas_ready=2.5))),
        ("replicas_ready = -1", P("bus_metrics", m(replicas_ready=-1))),
        ("replicas_starting = 2000000", P("bus_metrics", m(replicas_starting=2000000))),
        ("running = nil (absent: accepted, never read as 0)", P("bus_metrics", m(running=None))),
        ("an unknown field (ignored: fields may be added)", P("bus_metrics", m(gpu_temp_c=71))),
    ])
    yield ("Bus: `inventory` body (msgpack)", "DecodeInventory", [
        ("not a map", P("bus_inventory", MP([]))),
        ("accelerators is a list", P("bus_inventory", MP({"accelerators": ["h100"]}))),
        ("accelerator count = -1", P("bus_inventory", MP({"accelerators": {"h100": -1}}))),
        ('accelerator count = "8"', P("bus_inventory", MP({"accelerators": {"h100": "8"}}))),
        ("accelerator name = 5", P("bus_inventory", MP({"accelerators": {5: 8}}))),
        ("replicas is a map", P("bus_inventory", MP({"replicas": {}}))),
        ("replicas entry is a string", P("bus_inventory", MP({"replicas": ["m/v"]}))),
        ("replicas entry without variant", P("bus_inventory", MP({"replicas": [{"model": "m", "ready": 1}]}))),
        ("ready = 1.5", P("bus_inventory", MP({"replicas": [{"model": "m", "variant": "v", "ready": 1.5}]}))),
    ])
    yield ("Bus: `heartbeat` body (msgpack)", "DecodeHeartbeat", [
        ("an array", P("bus_heartbeat", MP([1]))),
        ("truncated", P("bus_heartbeat", MP({"uptime_s": 1.5})[:-2])),
    ])
    yield from bus_wire(r)

    calls = [
        ("variant_ctx_create: data_dir that does not exist", "ctx_create_missing_data_dir"),
        ("NULL context", "null_ctx"), ("a pointer that is not a context", "foreign_handle"),
        ("spec.model unknown (llama-9-1t)", "unknown_model"),
        ("spec.accelerator unknown (tpu-v5)", "unknown_accelerator"), ("spec.tp = 3", "tp_3"),
        ("llama-2-70b on one l40s", "does_not_fit"), ("spec.model = NULL", "spec_null_model"),
        ("spec.struct_size = 0", "spec_struct_size_0"), ("spec.max_batch = -4", "negative_max_batch"),
        ("spec.role = 7", "role_7"), ("workload with 0 buckets", "workload_empty"),
        ("workload input length NaN", "workload_nan_input"),
        ("prefix_hit_ratio = 1", "prefix_hit_ratio_1"), ("out.struct_size = 0", "out_struct_size_0"),
        ("rate_rps = NaN", "rate_nan"), ("rate_rps = -1", "rate_negative"),
        ("batch_latency batch = 0", "batch_0"),
        ("max_rate with ttft_p95_ms=0.001", "slo_unattainable"),
        ("slo_parse: 3 terms into capacity 2", "slo_capacity_too_small"),
        ("slo_parse: text = NULL", "slo_null_text"), ("load_catalog: doc = NULL", "catalog_null"),
        ('solve: solver = "simplex"', "solve_unknown_solver"), ("solve: out = NULL", "solve_null_out"),
        ("solve: problem = NULL", "solve_null_problem"),
        ("observe: every field NaN", "observe_nan_everything"),
    ]
    yield ("C ABI: calls (libvariant/include/variant/variant.h)", "each call with one bad argument; the message is variant_ctx_last_error()",
           [(d, P("capi_call", path=c)) for d, c in calls])

    cat = lambda s: P("capi_catalog", s)  # noqa: E731
    good_model = "{name: x, layers: 32, hidden: 4096, heads: 32, kv_heads: 8, intermediate: 14336, vocab: 32000, dtype_bytes: 2}"
    yield ("C ABI: catalog document (variant_ctx_load_catalog; variantctl --catalog)", "YAML or JSON, docs/catalog.md", [
        ("not YAML (`{`)", cat("{")),
        ("schema_version: 99", cat("schema_version: 99\nmodels: []\n")),
        ("models is a mapping", cat("models: {a: 1}\n")),
        ("model without layers", cat("models: [{name: x, hidden: 4096, heads: 32, kv_heads: 8, intermediate: 1, vocab: 1, dtype_bytes: 2}]\n")),
        ("layers: -1", cat("models: [" + good_model.replace("layers: 32", "layers: -1") + "]\n")),
        ("kv_heads does not divide heads", cat("models: [" + good_model.replace("kv_heads: 8", "kv_heads: 7") + "]\n")),
        ("hidden: abc", cat("models: [" + good_model.replace("hidden: 4096", "hidden: abc") + "]\n")),
        ("accelerator memory_gib: 0", cat("accelerators: [{name: z, memory_gib: 0, memory_bw_gbs: 1000, cost_per_hour: 1, tables: h100_sxm}]\n")),
        ("accelerator tables that do not exist", cat("accelerators: [{name: z, memory_gib: 80, memory_bw_gbs: 1000, cost_per_hour: 1, tables: tpu_v9}]\n")),
        ("accelerator cost_per_hour: -1", cat("accelerators: [{name: z, memory_gib: 80, memory_bw_gbs: 1000, cost_per_hour: -1, tables: h100_sxm}]\n")),
    ])
    slo = lambda s: P("capi_slo", s)  # noqa: E731
    yield ("C ABI: SLO text (variant_slo_parse; `--slo`)", "`ttft_p95_ms=500,itl_mean_ms=50`", [
        ("empty", slo("")), ("no `=`", slo("ttft_p95_ms")), ("no _ms", slo("ttft_p95=500")),
        ("unknown metric", slo("e2e_p95_ms=5")), ("p100", slo("ttft_p100_ms=5")),
        ("p0", slo("ttft_p0_ms=5")), ("pxx", slo("ttft_pxx_ms=5")),
        ("p999 (99.9th)", slo("ttft_p999_ms=500")), ("p99.9", slo("ttft_p99.9_ms=500")),
        ("target -1", slo("ttft_p95_ms=-1")), ("target 0", slo("ttft_p95_ms=0")),
        ("target nan", slo("ttft_p95_ms=nan")), ("target 5s", slo("ttft_p95_ms=5s")),
    ])
    yield from problem_cases(r)
    yield from config_cases(r)
    yield from collector_cases(r)
    yield from trace_cases(r)
    yield from actuator_cases(r)
    yield from plugin_cases(r)
    yield from cli_cases(r)


def problem_cases(r):
    base = {
        "schema_version": 1,
        "accelerators": [{"name": "h100", "count": 8}],
        "classes": [{"name": "chat", "slo": {"ttft_p95_ms": 1000, "itl_p95_ms": 60}}],
        "models": [{"name": "llama-3-8b", "variants": [
            {"name": "h100-tp1", "accelerator": "h100", "tp": 1}]}],
        "demand": [{"model": "llama-3-8b", "class": "chat", "rate_rps": 4,
                    "buckets": [{"input": 500, "output": 100, "weight": 1}]}],
    }

    def edit(fn):
        p = json.loads(json.dumps(base))
        fn(p)
        return json.dumps(p)

    def setv(path, value):
        def fn(p):
            o = p
            for k in path[:-1]:
                o = o[k]
            if value is DEL:
                del o[path[-1]]
            else:
                o[path[-1]] = value
        return fn

    DEL = object()
    cases = [
        ("not YAML (`[`)", "["),
        ("a list, not a mapping", "[1, 2]"),
        ("a YAML key that is a list (`? [a, b]`)", "schema_version: 1\n? [a, b]\n: 1\n"),
        ("schema_version: 2", edit(setv(["schema_version"], 2))),
        ("no models", edit(setv(["models"], DEL))),
        ("model not in the catalog", edit(lambda p: (p["models"][0].update(name="llama-9-1t"),
                                                     p["demand"][0].update(model="llama-9-1t")))),
        ("variant on an unknown accelerator", edit(setv(["models", 0, "variants", 0, "accelerator"], "tpu"))),
        ("variant accelerator not in `accelerators`", edit(setv(["models", 0, "variants", 0, "accelerator"], "a100"))),
        ("tp: 3", edit(setv(["models", 0, "variants", 0, "tp"], 3))),
        ("tp: \"four\"", edit(setv(["models", 0, "variants", 0, "tp"], "four"))),
        ("max_batch: 0", edit(setv(["models", 0, "variants", 0, "max_batch"], 0))),
        ("role: x", edit(setv(["models", 0, "variants", 0, "role"], "x"))),
        ("min_replicas 3 > max_replicas 1", edit(lambda p: p["models"][0]["variants"][0].update(min_replicas=3, max_replicas=1))),
        ("min_replicas beyond the accelerator count", edit(setv(["models", 0, "variants", 0, "min_replicas"], 9))),
        ("two variants with one name", edit(lambda p: p["models"][0]["variants"].append(dict(p["models"][0]["variants"][0])))),
        ("accelerator count: -2", edit(setv(["accelerators", 0, "count"], -2))),
        ("class without slo", edit(setv(["classes", 0, "slo"], DEL))),
        ("slo ttft_p95_ms: fast", edit(setv(["classes", 0, "slo", "ttft_p95_ms"], "fast"))),
        ("demand for an unknown class", edit(setv(["demand", 0, "class"], "gold"))),
        ("demand for an unknown model", edit(setv(["demand", 0, "model"], "m2"))),
        ("rate_rps: -1", edit(setv(["demand", 0, "rate_rps"], -1))),
        ("rate_rps: .nan in YAML (accepted: missing, the held rate is used)",
         yaml.safe_dump(json.loads(edit(setv(["demand", 0, "rate_rps"], 0)))).replace("rate_rps: 0", "rate_rps: .nan")),
        ("bucket input: 0", edit(setv(["demand", 0, "buckets", 0, "input"], 0))),
        ("bucket weight: -1", edit(setv(["demand", 0, "buckets", 0, "weight"], -1))),
        ("buckets: []", edit(setv(["demand", 0, "buckets"], []))),
        ("prefix_hit_ratio: 1.5", edit(setv(["demand", 0, "prefix_hit_ratio"], 1.5))),
        ("options.headroom: -1", edit(lambda p: p.update(options={"headroom": -1}))),
        ("options.milp_time_limit_s: 0", edit(lambda p: p.update(options={"milp_time_limit_s": 0}))),
        ("options.unknown_option: 1", edit(lambda p: p.update(options={"unknown_option": 1}))),
    ]
    rows = [(d, r.probe("capi_solve", doc)) for d, doc in cases]
    cur = json.dumps(base).encode() + b"\n#--current--\n"
    for d, c in [
        ("current: not YAML", "{"),
        ("current: unknown variant", '{"allocation": [{"model": "llama-3-8b", "variant": "a100-tp1", "replicas": 1}]}'),
        ("current: replicas -1", '{"allocation": [{"model": "llama-3-8b", "variant": "h100-tp1", "replicas": -1}]}'),
        ("current: starting > replicas", '{"allocation": [{"model": "llama-3-8b", "variant": "h100-tp1", "replicas": 1, "starting": 2}]}'),
        ("current: allocation is a map", '{"allocation": {"llama-3-8b": 1}}'),
    ]:
        rows.append((d, r.probe("capi_solve", cur + c.encode())))
    yield ("Problem and current allocation (variant_solve; `variantctl solve --problem/--current`; the agent's `problem:`)",
           "docs/problem.md; each row is a valid small problem with one thing broken", rows)


def config_cases(r):
    ok = "mode: cluster\nproblem:\n  models: [{name: llama-3-8b, variants: [{accelerator: h100}]}]\n"
    c = lambda s, name=None: r.probe("config", path=r.file(s, name))  # noqa: E731
    yield ("Agent configuration (`variant-agent --config`)", "agent/daemon/config.h; docs/bus.md", [
        ("not YAML (`a: [`)", c("a: [\n")),
        ("a list", c("- 1\n")),
        ("mode: edge", c("mode: edge\n")),
        ("bus.heartbeat_s: 0", c("bus: {heartbeat_s: 0}\n")),
        ("solve.threshold: -1", c("solve: {threshold: -1}\n")),
        ("bus.max_message_bytes: big", c("bus: {max_message_bytes: big}\n")),
        ("problem_file that does not exist", c("problem_file: nope.yaml\n")),
        ("problem: 5", c("problem: 5\n")),
        ("problem.models entry without name", c("problem: {models: [{variants: []}]}\n")),
        ("policies for a model not in the problem", c(ok + "policies: {mistral-7b: hpa}\n")),
        ("plugin_dirs: 5", c("plugin_dirs: [5]\n")),
    ])


def collector_cases(r):
    P = r.probe
    rows = [
        ("a line that is not a sample", P("exposition", "vllm:num_requests_running 3\nhello world\n")),
        ("value `1.2.3`", P("exposition", "vllm:num_requests_running 1.2.3\n")),
        ("no value", P("exposition", "vllm:num_requests_running\n")),
        ("unterminated label set", P("exposition", 'vllm:num_requests_running{model_name="m" 3\n')),
        ("label value without quotes", P("exposition", "vllm:num_requests_running{model_name=m} 3\n")),
        ("duplicate label", P("exposition", 'x{a="1",a="2"} 3\n')),
        ("bad escape in a label value", P("exposition", 'x{a="\\q"} 3\n')),
        ("name starting with a digit", P("exposition", "1x 3\n")),
        ("timestamp `soon`", P("exposition", "x 3 soon\n")),
        ("an HTML page", P("exposition", path=os.path.join(ROOT, "test/collector/fixtures/garbage_html.txt"))),
        ("NaN and +Inf values (accepted)", P("exposition", "x NaN\ny +Inf\n")),
    ]
    yield ("vLLM /metrics text (Prometheus exposition 0.0.4)", "bridge/collector/exposition.h ParseExposition", rows)
    yield ("vLLM /metrics over HTTP (the vLLM collector, one pod)", "bridge/collector/vllm_source.h; a loopback server answers", [
        ("HTTP 503", P("vllm_scrape", "", "503")),
        ("HTTP 200 with an HTML page", P("vllm_scrape", "<html><body>login</body></html>\n")),
        ("HTTP 200, empty body (accepted: no samples)", P("vllm_scrape", "")),
    ])
    vec = lambda result, rt="vector": "2" + json.dumps({"status": "success", "data": {"resultType": rt, "result": result}})  # noqa: E731
    yield ("Prometheus HTTP API answers (the Prometheus collector, /api/v1/query)", "bridge/collector/prometheus_source.h; a loopback server answers every query", [
        ("Prometheus down (connection refused)", P("prometheus_down", path="-")),
        ("HTTP 400 with Prometheus' error", P("prometheus_api", "4" + json.dumps({"status": "error", "errorType": "bad_data", "error": "parse error"}))),
        ("HTTP 503, not JSON", P("prometheus_api", "5Service Unavailable")),
        ("HTTP 200, not JSON", P("prometheus_api", "2<html>")),
        ("a JSON array", P("prometheus_api", "2[]")),
        ("data is a string", P("prometheus_api", "2" + json.dumps({"status": "success", "data": "x"}))),
        ("a matrix, not a vector", P("prometheus_api", vec([], "matrix"))),
        ("result is not a list", P("prometheus_api", vec({"a": 1}))),
        ("value is a number, not a string", P("prometheus_api", vec([{"metric": {"model_name": "m"}, "value": [1, 2.5]}]))),
        ("value is missing", P("prometheus_api", vec([{"metric": {"model_name": "m"}}]))),
        ("value \"NaN\" (skipped: absent, never 0)", P("prometheus_api", vec([{"metric": {"model_name": "m"}, "value": [1, "NaN"]}]))),
    ])


def trace_cases(r):
    t = lambda s: r.probe("trace", s)  # noqa: E731
    yield ("Request traces (`variantctl sim-server/model capacity --trace`, the simulator)", "bridge/sim/trace.h: Azure 2023 CSV or generic CSV", [
        ("empty file", t("")),
        ("header only", t("TIMESTAMP,ContextTokens,GeneratedTokens\n")),
        ("Azure: bad date", t("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-13-45 99:00:00.0,10,10\n")),
        ("Azure: two columns", t("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.97,10\n")),
        ("generic: timestamp NaN", t("nan,10,10\n")),
        ("generic: timestamp -1", t("-1,10,10\n")),
        ("generic: going backwards", t("5,10,10\n4,10,10\n")),
        ("generic: input 1.5 tokens", t("0,1.5,10\n")),
        ("generic: input -3", t("0,-3,10\n")),
        ("generic: output x", t("0,10,x\n")),
        ("generic: output 0 (raised to 1 by default)", t("0,10,0\n")),
    ])


def actuator_cases(r):
    P = r.probe
    step = {"kind": "Deployment", "namespace": "llm", "name": "l8-h100", "replicas": 2}
    plan = lambda **kw: json.dumps({"id": "p", "steps": [dict(step, **kw)]})  # noqa: E731
    yield ("Actuator plan file (`variant-actuate --plan`)", "bridge/actuator/k8s.h ParsePlanJson", [
        ("not JSON", P("actuator_plan", "{")),
        ("no steps", P("actuator_plan", '{"id": "p"}')),
        ("kind StatefulSet", P("actuator_plan", plan(kind="StatefulSet"))),
        ("kind 0", P("actuator_plan", plan(kind=0))),
        ("name Bad_Name", P("actuator_plan", plan(name="Bad_Name"))),
        ("namespace missing", P("actuator_plan", json.dumps({"steps": [{"name": "a", "replicas": 1}]}))),
        ("replicas -1", P("actuator_plan", plan(replicas=-1))),
        ("replicas 2000000", P("actuator_plan", plan(replicas=2000000))),
        ('replicas "3"', P("actuator_plan", plan(replicas="3"))),
    ])
    yield ("Actuator workloads file (`variant-actuate --workloads`)", "bridge/actuator/follow.h ParseWorkloadMap", [
        ("not JSON", P("workloads", "[")),
        ("an object", P("workloads", "{}")),
        ("entry without name", P("workloads", '[{"model": "m", "variant": "v", "namespace": "llm"}]')),
        ("entry without model", P("workloads", '[{"variant": "v", "namespace": "llm", "name": "a"}]')),
        ("entry is a number", P("workloads", "[273985]")),
        ("kind: 5", P("workloads", '[{"model": "m", "variant": "v", "kind": 5, "namespace": "llm", "name": "a"}]')),
    ])
    dec = {"decision_id": 3, "allocation": [{"model": "llama-3-8b", "variant": "h100-tp1", "replicas": 2}]}
    fol = lambda d, p: P("actuator_follow", json.dumps(d) + "\n#--plan--\n" + json.dumps(p))  # noqa: E731
    st = lambda **kw: {"decision_id": 3, "steps": [dict({"action": "add", "model": "llama-3-8b", "variant": "h100-tp1", "replicas": 1}, **kw)]}  # noqa: E731
    yield ("Bus: `decision` + `plan` bodies as the actuator follows them (`variant-actuate --follow`)", "bridge/actuator/follow.h PlanFromDecision (bodies shown as JSON; msgpack on the wire)", [
        ("plan without steps", fol(dec, {"decision_id": 3})),
        ("action resize", fol(dec, st(action="resize"))),
        ("flip without to_variant", fol(dec, st(action="flip"))),
        ("step replicas 1.5", fol(dec, st(replicas=1.5))),
        ("allocation replicas \"2\"", fol({"allocation": [{"model": "llama-3-8b", "variant": "h100-tp1", "replicas": "2"}]}, st())),
        ("remove more than the decision had", fol(dec, st(action="remove", replicas=5))),
        ("add 2147483647 (int overflow)", fol(dec, st(replicas=2147483647))),
        ("allocation replicas 3000000000", fol({"allocation": [{"model": "llama-3-8b", "variant": "h100-tp1", "replicas": 3000000000}]}, st())),
    ])


def plugin_cases(r):
    fx = os.path.join(r.build, "test", "plugins")
    lib = os.path.join(r.build, "lib")
    so = lambda n: os.path.join(fx, "libpolicy_fixture_%s.so" % n)  # noqa: E731
    params = lambda s: r.file(s)  # noqa: E731
    P = r.probe
    yield ("Policy plugins (the agent's `policies:` / `plugin_dirs:`)", "plugins/host/policy_host.h PolicyPlugin::Load, then Create(params)", [
        ("a file that does not exist", P("plugin", path=os.path.join(fx, "nope.so"))),
        ("not a shared object", P("plugin", path=r.file("not elf"))),
        ("no entry function", P("plugin", path=so("no_entry"))),
        ("built for a newer ABI", P("plugin", path=so("newer_abi"))),
        ("an older ABI major", P("plugin", path=so("old_major"))),
        ("descriptor shorter than the fields", P("plugin", path=so("short_descriptor"))),
        ("hpa with params not JSON", P("plugin", None, params("{"), path=os.path.join(lib, "libvariant_policy_hpa.so"))),
        ("hpa with target -1", P("plugin", None, params('{"target": -1}'), path=os.path.join(lib, "libvariant_policy_hpa.so"))),
        ("static-peak with replicas \"x\"", P("plugin", None, params('{"replicas": "x"}'), path=os.path.join(lib, "libvariant_policy_static_peak.so"))),
    ])


def cli_cases(r):
    c = r.cli
    f = r.file
    yield ("Command lines (`variantctl`, `variant-agent`, `variant-actuate`, `variant-collect`)", "exit 1: bad input or failed operation; exit 2: usage", [
        ("variantctl, no subcommand", c(["variantctl"])),
        ("variantctl frobnicate", c(["variantctl", "frobnicate"])),
        ("variantctl solve --problem missing.yaml", c(["variantctl", "solve", "--problem", "missing.yaml"])),
        ("variantctl solve --solver simplex", c(["variantctl", "solve", "--problem", os.path.join(ROOT, "examples/basic.yaml"), "--solver", "simplex"])),
        ("variantctl solve --problem (a bad problem)", c(["variantctl", "solve", "--problem", f("schema_version: 7\n")])),
        ("variantctl model capacity --tp 3", c(["variantctl", "model", "capacity", "--model", "llama-3-8b", "--accelerator", "h100", "--tp", "3", "--input-mean", "500", "--output-mean", "100", "--slo", "ttft_p95_ms=500"])),
        ("variantctl model capacity --slo ttft=5", c(["variantctl", "model", "capacity", "--model", "llama-3-8b", "--accelerator", "h100", "--input-mean", "500", "--output-mean", "100", "--slo", "ttft=5"])),
        ("variantctl model capacity --trace missing.csv", c(["variantctl", "model", "capacity", "--model", "llama-3-8b", "--accelerator", "h100", "--trace", "missing.csv", "--slo", "ttft_p95_ms=500"])),
        ("variantctl model batch-latency --batch -1", c(["variantctl", "model", "batch-latency", "--model", "llama-3-8b", "--accelerator", "h100", "--batch", "-1", "--input", "10", "--output", "10"])),
        ("variant-agent, no --config", c(["variant-agent"])),
        ("variant-agent --config missing.yaml", c(["variant-agent", "--config", "missing.yaml"])),
        ("variant-agent --log-level loud", c(["variant-agent", "--config", "missing.yaml", "--log-level", "loud"])),
        ("variant-actuate, neither --plan nor --follow", c(["variant-actuate"])),
        ("variant-actuate --plan missing.json", c(["variant-actuate", "--plan", "missing.json", "--dry-run"])),
        ("variant-actuate --plan (a bad plan)", c(["variant-actuate", "--plan", f('{"steps": [{"name": "A_b", "namespace": "x", "replicas": 1}]}'), "--dry-run"])),
        ("variant-collect, no targets", c(["variant-collect", "--once"])),
        ("variant-collect --targets-file (entry without url)", c(["variant-collect", "--once", "--targets-file", f('[{"variant": "v"}]')])),
    ])


def bus_wire(r):
    """Whole messages on the wire to a running agent: what it logs for each."""
    sys.path.insert(0, os.path.join(ROOT, "test", "agent"))
    os.environ.setdefault("VARIANT_AGENT", os.path.join(r.bin, "variant-agent"))
    import zmq
    import agent_harness as H
    tmp = tempfile.TemporaryDirectory(prefix="bad-input-agent-")
    cfg = H.base_config(tmp.name)
    agent = H.Agent(cfg, tmp.name).start()
    ctx = zmq.Context()
    rows = []
    try:
        def up():
            try:
                H.scrape(cfg)
                return True
            except OSError:
                return False

        if not H.wait_until(up, 20):
            raise RuntimeError("agent did not start:\n" + agent.log_text()[-2000:])
        hdr = lambda src, v=1: MP({"v": v, "src": src, "seq": 1, "ts": time.time()})  # noqa: E731
        body = MP({"model": "llama-3-8b", "variant": "h100-tp1", "running": 2})
        cases = [
            ("2 frames", lambda s: [b"metrics", hdr(s)]),
            ("4 frames", lambda s: [b"metrics", hdr(s), body, b"x"]),
            ("unknown topic `metricz`", lambda s: [b"metricz", hdr(s), body]),
            ("body larger than bus.max_message_bytes (4096 here)", lambda s: [b"metrics", hdr(s), MP({"model": "x" * 5000})]),
            ("header not msgpack", lambda s: [b"metrics", b"\xc1", body]),
            ("header v = 9", lambda s: [b"metrics", hdr(s, 9), body]),
            ("metrics for a model not in the config", lambda s: [b"metrics", hdr(s), MP({"model": "gpt-5", "running": 1})]),
            ("metrics for a variant not in the config", lambda s: [b"metrics", hdr(s), MP({"model": "llama-3-8b", "variant": "tpu-tp1", "running": 1})]),
            ("metrics for a class not in the problem", lambda s: [b"metrics", hdr(s), MP({"model": "llama-3-8b", "variant": "h100-tp1", "class": "gold", "running": 1})]),
            ("metrics with kv_usage 7", lambda s: [b"metrics", hdr(s), MP({"model": "llama-3-8b", "variant": "h100-tp1", "kv_usage": 7})]),
            ("inventory naming an unknown variant", lambda s: [b"inventory", hdr(s), MP({"replicas": [{"model": "llama-3-8b", "variant": "tpu", "ready": 1}]})]),
            ("heartbeat body an array", lambda s: [b"heartbeat", hdr(s), MP([1])]),
            ("a `decision` published by a collector", lambda s: [b"decision", hdr(s), MP({"decision_id": 1})]),
        ]
        def rejected():
            out = {}
            try:
                for (name, labels), v in H.scrape(cfg).items():
                    if name == "variant_bus_messages_rejected_total":
                        out[dict(labels).get("reason", "?")] = v
            except OSError:
                pass
            return out

        def log_len():
            agent.log.flush()
            return os.path.getsize(agent.log.name)

        for i, (desc, frames) in enumerate(cases):
            src = "bad-source-%d" % i
            pub = H.Publisher(ctx, cfg, source=src)
            before, pos = rejected(), log_len()
            reason = None
            end = time.time() + 8
            while time.time() < end and reason is None:
                pub.send_raw(frames(src))  # resent: PUB drops until connected
                time.sleep(0.2)
                now = rejected()
                for k, v in now.items():
                    if v > before.get(k, 0):
                        reason = k
            pub.sock.close()
            time.sleep(0.1)
            with open(agent.log.name, "rb") as fh:
                fh.seek(pos)
                new = fh.read().decode(errors="replace").splitlines()
            line = next((l for l in new if "rejected a message from" in l), None)
            if reason is None:
                rows.append((desc, ("accepted", "(not counted as rejected)")))
                continue
            m = re.search(r"rejected a message from '[^']*': (\w+): (.*?) \(further ones", line or "")
            msg = r.norm(m.group(2)) if m else "(counted; logged once per source and reason)"
            rows.append((desc, (reason, msg)))
    finally:
        ctx.destroy(linger=0)
        rc = agent.stop()
        tmp.cleanup()
    if rc != 0:
        raise RuntimeError("the agent exited with %s" % rc)
    yield ("Bus: whole messages on the wire (a running `variant-agent`)",
           "frames, size, topic, header, and the names checked against the agent's config; the message is the agent's log line", rows)



def render(secs):
    out = ["# Bad input: what the system answers",
           "",
           "Generated by `scripts/bad_input_table.py` from what the code answers today: the",
           "decoders and the C ABI through `test/fuzz/bad_input_probe` (the same calls the",
           "agent, collectors, actuator and simulator make), the command-line tools as a user",
           "runs them, and the bus through a running `variant-agent`. The ctest test",
           "`bad_input_table` fails when this file differs from a fresh run; rewrite it with",
           "`scripts/bad_input_table.py --build build --write`.",
           "",
           "Code: the stable code where the interface has one (a bus reject reason, which is",
           "also the `reason` label of `variant_bus_messages_rejected_total`; a `VARIANT_E_*`",
           "name; a process exit status), `-` where the interface returns only a message.",
           "`accepted` rows are values the system takes on purpose (the row says why).",
           "Fuzzing (every decoder here, for crashes rather than messages): docs/fuzzing.md.",
           ""]
    total = 0
    for title, what, rows in secs:
        out += ["## " + title, "", what + ".", "", "| bad value | code | message |", "|---|---|---|"]
        for desc, (code, msg) in rows:
            esc = lambda s: s.replace("|", "\\|")  # noqa: E731
            out.append("| %s | `%s` | %s |" % (esc(desc), esc(code), esc(msg)))
            total += 1
        out.append("")
    out.insert(9, "%d bad inputs over %d inputs." % (total, len(secs)))
    out.insert(10, "")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--write", action="store_true")
    g.add_argument("--check", action="store_true")
    g.add_argument("--print", action="store_true")
    a = ap.parse_args()
    r = Runner(a.build)
    text = render(list(sections(r))) + "\n"
    if a.print:
        sys.stdout.write(text)
    elif a.write:
        with open(DOC, "w") as f:
            f.write(text)
        print("wrote", DOC)
    else:
        old = open(DOC).read() if os.path.exists(DOC) else ""
        if old != text:
            sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), text.splitlines(True),
                                                       "docs/bad-input.md", "generated"))
            print("\ndocs/bad-input.md is out of date: run scripts/bad_input_table.py --build BUILD --write")
            return 1
        print("docs/bad-input.md is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())

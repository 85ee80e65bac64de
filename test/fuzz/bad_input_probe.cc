// Feeds one input to one decoder, exactly as the system reads it, and prints what the
// system answers: "ok", or "error<TAB>CODE<TAB>MESSAGE". scripts/bad_input_table.py
// runs it over the table of bad inputs and writes docs/bad-input.md from the answers.
//
//   bad_input_probe KIND FILE [ARG]
//   bad_input_probe capi_call CASE
//
// KIND is one of the fuzz targets' inputs (bus_header, bus_metrics, bus_inventory,
// bus_heartbeat, capi_catalog, capi_slo, capi_solve, problem, config, exposition,
// vllm_scrape, prometheus_api, prometheus_down, trace, actuator_plan, workloads,
// actuator_follow) or plugin (FILE = a plugin .so, ARG = a JSON params file). CODE is
// the stable code where the interface has one (a bus reject reason, a VARIANT_E_*
// name), else "-". Two-part inputs use the fuzz targets' separators.
#include <cmath>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "bus/protocol.h"
#include "config.h"
#include "fuzz_http.h"
#include "fuzz_util.h"
#include "opt/problem.h"
#include "policy_host.h"
#include "sim/trace.h"
#include "variant/actuator/follow.h"
#include "variant/actuator/k8s.h"
#include "variant/collector/derive.h"
#include "variant/collector/exposition.h"
#include "variant/collector/prometheus_source.h"
#include "variant/collector/vllm_source.h"
#include "variant/variant.h"

namespace {

int Ok() {
  std::cout << "ok\n";
  return 0;
}
int Err(const std::string& code, const std::string& msg) {
  std::string m = msg;
  for (char& c : m)
    if (c == '\n' || c == '\t') c = ' ';
  std::cout << "error\t" << code << "\t" << m << "\n";
  return 0;
}
int Status(const variant::Status& s) {
  return s.ok() ? Ok() : Err(variant_status_name(s.code()), s.message());
}

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

variant_ctx* Ctx() {
  variant_ctx* c = nullptr;
  if (variant_ctx_create(nullptr, &c, nullptr) != VARIANT_OK) std::abort();
  return c;
}

int Capi(variant_ctx* ctx, int rc) {
  return rc == VARIANT_OK ? Ok() : Err(variant_status_name(rc), variant_ctx_last_error(ctx));
}

int Bus(bool ok, const bus::DecodeError& e) {
  return ok ? Ok() : Err(bus::RejectName(e.reason), e.detail);
}

// C ABI calls with one bad argument each.
int CapiCall(const std::string& c) {
  static const double in[] = {512}, out[] = {128}, w[] = {1};
  variant_workload wl = VARIANT_WORKLOAD_INIT;
  wl.input_tokens = in;
  wl.output_tokens = out;
  wl.weights = w;
  wl.n = 1;
  variant_spec spec = VARIANT_SPEC_INIT;
  spec.model = "llama-3-8b";
  spec.accelerator = "h100";
  variant_prediction pred = VARIANT_PREDICTION_INIT;
  if (c == "ctx_create_missing_data_dir") {
    variant_ctx* ctx = nullptr;
    char* err = nullptr;
    int rc = variant_ctx_create("/nonexistent/variant-data", &ctx, &err);
    std::string m = err ? err : "";
    variant_free(err);
    variant_ctx_destroy(ctx);
    return rc == VARIANT_OK ? Ok() : Err(variant_status_name(rc), m);
  }
  if (c == "null_ctx") {
    int rc = variant_model_predict(nullptr, &spec, &wl, 1, &pred);
    return Err(variant_status_name(rc), variant_ctx_last_error(nullptr));
  }
  if (c == "foreign_handle") {
    static char junk[256] = {1, 2, 3};
    auto* fake = reinterpret_cast<variant_ctx*>(junk);
    int rc = variant_model_predict(fake, &spec, &wl, 1, &pred);
    return rc == VARIANT_OK ? Ok() : Err(variant_status_name(rc), variant_ctx_last_error(fake));
  }
  variant_ctx* ctx = Ctx();
  std::unique_ptr<variant_ctx, void (*)(variant_ctx*)> guard(ctx, variant_ctx_destroy);
  variant_slo_term slo[2];
  size_t n = 0;
  if (c == "unknown_model") spec.model = "llama-9-1t";
  else if (c == "unknown_accelerator") spec.accelerator = "tpu-v5";
  else if (c == "tp_3") spec.tp = 3;
  else if (c == "does_not_fit") spec.model = "llama-2-70b", spec.accelerator = "l40s";
  else if (c == "spec_null_model") spec.model = nullptr;
  else if (c == "spec_struct_size_0") spec.struct_size = 0;
  else if (c == "negative_max_batch") spec.max_batch = -4;
  else if (c == "role_7") spec.role = 7;
  else if (c == "workload_empty") wl.n = 0;
  else if (c == "workload_nan_input") {
    static const double nan_in[] = {NAN};
    wl.input_tokens = nan_in;
  } else if (c == "prefix_hit_ratio_1") wl.prefix_hit_ratio = 1;
  else if (c == "out_struct_size_0") pred.struct_size = 0;
  if (c == "rate_nan") return Capi(ctx, variant_model_predict(ctx, &spec, &wl, NAN, &pred));
  if (c == "rate_negative") return Capi(ctx, variant_model_predict(ctx, &spec, &wl, -1, &pred));
  if (c == "batch_0") {
    variant_batch_latency bl = VARIANT_BATCH_LATENCY_INIT;
    return Capi(ctx, variant_model_batch_latency(ctx, &spec, 0, 512, 128, &bl));
  }
  if (c == "slo_unattainable") {
    variant_slo_parse(ctx, "ttft_p95_ms=0.001", slo, 2, &n);
    return Capi(ctx, variant_model_max_rate(ctx, &spec, &wl, slo, n, &pred));
  }
  if (c == "slo_capacity_too_small")
    return Capi(ctx, variant_slo_parse(ctx, "ttft_p95_ms=500,itl_p95_ms=50,ttlt_p99_ms=9", slo, 2, &n));
  if (c == "slo_null_text") return Capi(ctx, variant_slo_parse(ctx, nullptr, slo, 2, &n));
  if (c == "catalog_null") return Capi(ctx, variant_ctx_load_catalog(ctx, nullptr, 0));
  if (c == "solve_unknown_solver" || c == "solve_null_out" || c == "solve_null_problem") {
    const std::string p = Slurp(VARIANT_SOURCE_DIR "/examples/basic.yaml");
    char* o = nullptr;
    size_t len = 0;
    int rc = c == "solve_unknown_solver"
                 ? variant_solve(ctx, p.data(), p.size(), nullptr, 0, "simplex", &o, &len)
             : c == "solve_null_out"
                 ? variant_solve(ctx, p.data(), p.size(), nullptr, 0, "fast", nullptr, &len)
                 : variant_solve(ctx, nullptr, 0, nullptr, 0, "fast", &o, &len);
    variant_free(o);
    return Capi(ctx, rc);
  }
  if (c == "observe_nan_everything") {
    variant_observation ob = VARIANT_OBSERVATION_INIT;
    ob.rate_rps = ob.ttft_mean_ms = ob.itl_mean_ms = ob.input_mean = ob.output_mean = NAN;
    int accepted = -1;
    int rc = variant_model_observe(ctx, &spec, &ob, &accepted);
    if (rc == VARIANT_OK) return Err("accepted=" + std::to_string(accepted), "(returns OK)");
    return Capi(ctx, rc);
  }
  return Capi(ctx, variant_model_predict(ctx, &spec, &wl, 1.0, &pred));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: bad_input_probe KIND FILE [ARG] | capi_call CASE\n";
    return 2;
  }
  const std::string kind = argv[1], file = argv[2];
  if (kind == "capi_call") return CapiCall(file);
  const std::string data = kind == "prometheus_down" ? "" : Slurp(file);
  bus::DecodeError be;
  if (kind == "bus_header") {
    bus::Header h;
    return Bus(bus::DecodeHeader(data.data(), data.size(), &h, &be), be);
  }
  if (kind == "bus_metrics") {
    bus::Metrics m;
    return Bus(bus::DecodeMetrics(data.data(), data.size(), &m, &be), be);
  }
  if (kind == "bus_inventory") {
    bus::Inventory inv;
    return Bus(bus::DecodeInventory(data.data(), data.size(), &inv, &be), be);
  }
  if (kind == "bus_heartbeat") return Bus(bus::DecodeHeartbeat(data.data(), data.size(), &be), be);
  if (kind == "capi_catalog") {
    variant_ctx* ctx = Ctx();
    int r = Capi(ctx, variant_ctx_load_catalog(ctx, data.data(), data.size()));
    variant_ctx_destroy(ctx);
    return r;
  }
  if (kind == "capi_slo") {
    variant_ctx* ctx = Ctx();
    variant_slo_term t[8];
    size_t n = 0;
    int r = Capi(ctx, variant_slo_parse(ctx, data.c_str(), t, 8, &n));
    variant_ctx_destroy(ctx);
    return r;
  }
  if (kind == "capi_solve") {
    auto [p, cur] = fuzz::Split(data, "\n#--current--\n");
    variant_ctx* ctx = Ctx();
    char* out = nullptr;
    size_t len = 0;
    int r = Capi(ctx, variant_solve(ctx, p.data(), p.size(), cur.empty() ? nullptr : cur.data(),
                                    cur.size(), "fast", &out, &len));
    variant_free(out);
    variant_ctx_destroy(ctx);
    return r;
  }
  if (kind == "problem") {
    auto [p, cur] = fuzz::Split(data, "\n#--current--\n");
    auto pr = variant::opt::ParseProblem(p);
    if (!pr.ok() || cur.empty()) return Status(pr.status());
    return Status(variant::opt::ParseCurrent(cur, *pr).status());
  }
  if (kind == "config") {
    agent::Config cfg;
    std::string err;
    return agent::LoadConfig(file, &cfg, &err) ? Ok() : Err("-", err);
  }
  if (kind == "exposition") {
    variant::collector::Exposition e;
    variant::collector::ParseError pe;
    return variant::collector::ParseExposition(data, &e, &pe)
               ? Ok()
               : Err("-", variant::collector::FormatError(pe));
  }
  if (kind == "vllm_scrape") {
    fuzz::BodyServer server;
    server.Set(data, argc > 3 ? std::stoi(argv[3]) : 200);
    std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/metrics";
    variant::collector::VllmSource src({{url, "pod-0", "h100-tp1", ""}});
    std::vector<bus::Metrics> out;
    std::string err;
    bool ok = src.Collect(100, &out, &err);
    std::string errs;
    for (const auto& e : src.errors()) errs += (errs.empty() ? "" : "; ") + e;
    if (!ok) return Err("-", err);
    if (!errs.empty()) return Err("-", errs + " (other pods still collected)");
    return Ok();
  }
  if (kind == "prometheus_api" || kind == "prometheus_down") {
    std::unique_ptr<fuzz::BodyServer> server;
    int port = 1;  // nothing listens on port 1: Prometheus is down
    if (kind == "prometheus_api") {
      server = std::make_unique<fuzz::BodyServer>();
      int status = !data.empty() && (data[0] == '4' || data[0] == '5') ? (data[0] == '4' ? 400 : 503) : 200;
      server->Set(data.empty() ? "" : data.substr(1), status, "application/json");
      port = server->port();
    }
    variant::collector::PrometheusOptions opt;
    opt.server = {"127.0.0.1", port, ""};
    opt.timeout_s = 2;
    variant::collector::PrometheusSource src(opt);
    std::vector<bus::Metrics> out;
    std::string err;
    try {
      if (!src.Collect(&out, &err)) return Err("-", err);
    } catch (const std::exception& e) {
      return Err("EXCEPTION", std::string("uncaught, the collector would die: ") + e.what());
    }
    return Ok();
  }
  if (kind == "trace") {
    auto r = variant::sim::ParseTrace(data, "trace.csv");
    return Status(r.status());
  }
  if (kind == "actuator_plan") {
    variant::actuator::Plan p;
    std::string err;
    return variant::actuator::ParsePlanJson(data, &p, &err) ? Ok() : Err("-", err);
  }
  if (kind == "workloads") {
    variant::actuator::WorkloadMap m;
    std::string err;
    return variant::actuator::ParseWorkloadMap(data, &m, &err) ? Ok() : Err("-", err);
  }
  if (kind == "actuator_follow") {
    auto [d, p] = fuzz::Split(data, "\n#--plan--\n");
    nlohmann::json dj, pj;
    try {
      dj = nlohmann::json::parse(d);
      pj = nlohmann::json::parse(p);
    } catch (const std::exception& e) {
      return Err("-", e.what());
    }
    variant::actuator::WorkloadMap m;
    std::string err;
    variant::actuator::ParseWorkloadMap(
        R"([{"model":"llama-3-8b","variant":"h100-tp1","namespace":"llm","name":"l8"}])", &m, &err);
    variant::actuator::Plan plan;
    std::vector<std::string> skipped;
    return variant::actuator::PlanFromDecision(dj, pj, m, &plan, &skipped, &err) ? Ok()
                                                                                  : Err("-", err);
  }
  if (kind == "plugin") {
    std::string err;
    auto plugin = policy::PolicyPlugin::Load(file, &err);
    if (!plugin) return Err("-", err);
    if (argc > 3) {
      auto inst = plugin->Create("llama-3-8b", Slurp(argv[3]), &err);
      if (!inst) return Err("-", err);
    }
    return Ok();
  }
  std::cerr << "bad_input_probe: unknown kind '" << kind << "'\n";
  return 2;
}

#include "sim/simulate.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "context.h"
#include "perf/queue_model.h"
#include "policy_host.h"
#include "sim/controllers.h"
#include "sim/trace.h"
#include "variant/variant.h"

namespace variant::sim {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

json YamlToJson(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      json o = json::object();
      for (const auto& kv : n) o[kv.first.as<std::string>()] = YamlToJson(kv.second);
      return o;
    }
    case YAML::NodeType::Sequence: {
      json a = json::array();
      for (const auto& e : n) a.push_back(YamlToJson(e));
      return a;
    }
    case YAML::NodeType::Scalar: {
      const std::string s = n.Scalar();
      if (n.Tag() == "!") return s;  // quoted
      if (s == "true" || s == "false") return s == "true";
      if (s == "null" || s == "~") return nullptr;
      char* end = nullptr;
      double d = std::strtod(s.c_str(), &end);
      if (!s.empty() && end && *end == '\0') {
        long long i = 0;
        if (s.find_first_of(".eE") == std::string::npos) {
          std::istringstream(s) >> i;
          return i;
        }
        return d;
      }
      return s;
    }
    default:
      return nullptr;
  }
}

std::string SloText(const json& slo) {
  if (slo.is_string()) return slo.get<std::string>();
  std::string t;
  if (slo.is_object()) {
    for (auto it = slo.begin(); it != slo.end(); ++it) {
      if (!t.empty()) t += ",";
      std::ostringstream v;
      v << it.value().get<double>();
      t += it.key() + "=" + v.str();
    }
  }
  return t;
}

struct Setup {
  json problem;  // docs/problem.md without demand
  ClusterSpec spec;
  std::vector<std::string> slo_text;  // per class
  double goal = 0.99;
  json sim;  // the simulate: section
  fs::path config_dir;
  // Per model: trace entries {file, class, rate_scale}.
  struct TraceEntry {
    std::string model, file, cls;
    double rate_scale = 1;
    bool superpose = false;  // rate_scale_method: superpose (else duplicate)
    double shift_s = 0;      // superpose: copies shifted by up to this (0 = the duration)
  };
  std::vector<TraceEntry> traces;
};

Status Bad(const std::string& m) { return InvalidArgument(m); }

// Rate scaling by superposition: X independent user populations with the trace's
// behaviour. Copy 0 is the trace itself; copy j >= 1 is the whole trace shifted in
// time by an offset drawn uniformly in [0, S) (S = shift_s, or D if 0 or larger) and
// wrapped around the duration D; each
// request of copy j is kept with probability min(1, X - j) (X < 1 thins). Unlike
// duplication (trace.h), copies of a request do not arrive together, and the bursts
// of different copies fall at different times, as they would for independent users.
std::vector<TraceRequest> Superpose(const std::vector<TraceRequest>& in, double x, double shift_s,
                                    uint64_t seed) {
  std::vector<TraceRequest> out;
  if (in.empty()) return out;
  const double d = in.back().arrival_s + 1;  // wrap period, > every arrival
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  for (int j = 0; j < static_cast<int>(std::ceil(x)); ++j) {
    const double keep = std::min(1.0, x - j);
    const double off = j == 0 ? 0 : u(rng) * (shift_s > 0 ? std::min(shift_s, d) : d);
    for (const TraceRequest& r : in) {
      if (keep < 1 && u(rng) >= keep) continue;
      TraceRequest c = r;
      c.arrival_s = std::fmod(r.arrival_s + off, d);
      out.push_back(std::move(c));
    }
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const TraceRequest& a, const TraceRequest& b) { return a.arrival_s < b.arrival_s; });
  return out;
}

double Num(const json& o, const char* k, double def) {
  if (!o.is_object() || !o.contains(k) || o[k].is_null()) return def;
  return o[k].is_number() ? o[k].get<double>() : def;
}

std::string ResolvePath(const std::string& p, const fs::path& config_dir) {
  if (p.empty() || fs::path(p).is_absolute() || fs::exists(p)) return p;
  for (fs::path base : {config_dir, config_dir.parent_path()}) {
    fs::path c = base / p;
    if (fs::exists(c)) return c.string();
  }
  return p;
}

Result<Setup> LoadConfig(const SimulateOptions& opt, Context* ctx) {
  Setup s;
  YAML::Node root;
  try {
    root = YAML::LoadFile(opt.config_path);
  } catch (const std::exception& e) {
    return Status(VARIANT_E_PARSE, "config " + opt.config_path + ": " + e.what());
  }
  json cfg = YamlToJson(root);
  if (!cfg.is_object()) return Status(VARIANT_E_PARSE, "config " + opt.config_path + ": not a mapping");
  s.config_dir = fs::path(opt.config_path).parent_path();
  s.sim = cfg.contains("simulate") ? cfg["simulate"] : json::object();
  cfg.erase("simulate");
  if (!cfg.contains("schema_version")) cfg["schema_version"] = 1;
  cfg["demand"] = json::array();
  const std::string where = "config " + opt.config_path + ": ";
  for (const char* k : {"accelerators", "classes", "models"}) {
    if (!cfg.contains(k) || !cfg[k].is_array() || cfg[k].empty())
      return MissingField(where + "needs a non-empty '" + k + "' list");
  }
  ClusterSpec& sp = s.spec;
  std::map<std::string, int> acc_index;
  for (const json& a : cfg["accelerators"]) {
    ClusterAccelerator ca;
    ca.name = a.value("name", "");
    const Accelerator* cat = ctx->catalog().FindAccelerator(ca.name);
    if (!cat && !a.contains("cost_per_hour"))
      return Status(VARIANT_E_UNKNOWN_ACCELERATOR,
                    where + "accelerator '" + ca.name + "' is not in the catalog");
    ca.cost_per_hour = Num(a, "cost_per_hour", cat ? cat->cost_per_hour : 0);
    ca.count = static_cast<int>(Num(a, "count", cat ? cat->count : 0));
    acc_index[ca.name] = static_cast<int>(sp.accelerators.size());
    sp.accelerators.push_back(ca);
  }
  for (const json& c : cfg["classes"]) {
    ClusterClass cc;
    cc.name = c.value("name", "");
    std::string text = SloText(c.contains("slo") ? c["slo"] : json());
    auto slo = ParseSlo(text);
    if (!slo.ok()) return Bad(where + "class '" + cc.name + "': " + slo.status().message());
    cc.slo = *slo;
    s.slo_text.push_back(text);
    sp.classes.push_back(cc);
  }
  for (const json& m : cfg["models"]) {
    ClusterModel cm;
    cm.name = m.value("name", "");
    if (!m.contains("variants") || !m["variants"].is_array() || m["variants"].empty())
      return Bad(where + "model '" + cm.name + "' has no variant");
    for (const json& v : m["variants"]) {
      ClusterVariant cv;
      std::string acc = v.value("accelerator", "");
      auto ai = acc_index.find(acc);
      if (ai == acc_index.end())
        return Status(VARIANT_E_UNKNOWN_ACCELERATOR, where + "model '" + cm.name + "': accelerator '" +
                                                         acc + "' is not listed under accelerators");
      cv.accelerator = ai->second;
      cv.tp = static_cast<int>(Num(v, "tp", 1));
      cv.max_batch = static_cast<int>(Num(v, "max_batch", 256));
      cv.max_tokens_per_step = static_cast<int>(Num(v, "max_tokens_per_step", 8192));
      cv.gpu_memory_util = Num(v, "gpu_memory_util", 0.9);
      std::string role = v.value("role", "pd");
      if (role != "pd")
        return Bad(where + "model '" + cm.name + "': the simulator runs role pd variants only, got '" + role + "'");
      cv.name = v.value("name", acc + "-tp" + std::to_string(cv.tp));
      cv.cost_per_hour = cv.tp * sp.accelerators[cv.accelerator].cost_per_hour;
      auto step = ctx->GetStepModel(cm.name, acc, cv.tp);
      if (!step.ok()) return Status(step.status().code(), where + "model '" + cm.name + "' variant '" + cv.name + "': " + step.status().message());
      cv.step = *step;
      cm.variants.push_back(cv);
    }
    sp.models.push_back(cm);
  }
  const json& sim = s.sim;
  sp.cold_start_s = opt.cold_start_s >= 0 ? opt.cold_start_s : Num(sim, "cold_start_s", 120);
  sp.scrape_interval_s = Num(sim, "scrape_interval_s", 15);
  sp.decision_interval_s = Num(sim, "decision_interval_s", 30);
  sp.trigger_threshold = Num(sim, "trigger_threshold", 0.2);
  sp.sample_interval_s = Num(sim, "sample_interval_s", 30);
  sp.scale_down_window_s = Num(cfg.contains("options") ? cfg["options"] : json(), "scale_down_window_s", 300);
  if (!(sp.cold_start_s >= 0) || !(sp.scrape_interval_s > 0) || !(sp.decision_interval_s > 0))
    return Bad(where + "cold_start_s must be >= 0, scrape_interval_s and decision_interval_s > 0");
  s.goal = Num(sim, "attainment_goal", 0.99);
  if (sim.contains("online_correction") && !sim["online_correction"].is_boolean())
    return Bad(where + "simulate.online_correction must be true or false");
  json& o = cfg["options"];
  if (!o.is_object()) o = json::object();
  if (!o.contains("decision_interval_s")) o["decision_interval_s"] = sp.decision_interval_s;
  if (!o.contains("forecast_horizon_s")) o["forecast_horizon_s"] = std::max(sp.cold_start_s, 1.0);
  s.problem = cfg;

  if (!opt.traces.empty()) {
    const bool sup = sim.value("rate_scale_method", json("duplicate")) == "superpose";
    for (const auto& [m, f] : opt.traces)
      s.traces.push_back({m, f, "", 1, sup, Num(sim, "superpose_shift_s", 0)});
  } else if (sim.contains("traces")) {
    for (const json& t : sim["traces"]) {
      const json& mj = t.contains("rate_scale_method") ? t["rate_scale_method"]
                                                       : sim.value("rate_scale_method", json("duplicate"));
      if (!mj.is_string() || (mj != "duplicate" && mj != "superpose"))
        return Bad(where + "rate_scale_method must be 'duplicate' or 'superpose', got " + mj.dump());
      s.traces.push_back({t.value("model", ""), ResolvePath(t.value("file", ""), s.config_dir),
                          t.value("class", ""), Num(t, "rate_scale", 1), mj == "superpose",
                          Num(t, "superpose_shift_s", Num(sim, "superpose_shift_s", 0))});
      if (!(s.traces.back().shift_s >= 0)) return Bad(where + "superpose_shift_s must be >= 0");
    }
  }
  if (s.traces.empty()) return MissingField(where + "no traces (simulate.traces or --trace MODEL=FILE)");
  return s;
}

Result<LoadedTraces> LoadTraces(const Setup& s, const SimulateOptions& opt, uint64_t seed) {
  LoadedTraces lt;
  const ClusterSpec& sp = s.spec;
  lt.files.assign(sp.models.size(), "");
  lt.counts.assign(sp.models.size(), 0);
  std::map<std::string, int> mi, ci;
  for (size_t m = 0; m < sp.models.size(); ++m) mi[sp.models[m].name] = static_cast<int>(m);
  for (size_t c = 0; c < sp.classes.size(); ++c) ci[sp.classes[c].name] = static_cast<int>(c);
  uint64_t k = 0;
  for (const Setup::TraceEntry& t : s.traces) {
    TraceOptions to;
    to.time_scale = opt.time_scale;
    to.rate_scale = t.rate_scale * opt.rate_scale;
    to.seed = seed * 1000003 + (++k);
    if (!(to.time_scale > 0) || !(to.rate_scale > 0))
      return Bad("--rate-scale and --time-scale must be > 0");
    if (t.superpose) to.rate_scale = 1;  // scaled below
    auto tr = ReadTrace(t.file, to);
    if (!tr.ok()) return tr.status();
    if (t.superpose) *tr = Superpose(*tr, t.rate_scale * opt.rate_scale, t.shift_s, to.seed);
    int fixed_model = -1;
    if (!t.model.empty()) {
      auto it = mi.find(t.model);
      if (it == mi.end())
        return Bad("trace " + t.file + ": model '" + t.model + "' has no variant in the config");
      fixed_model = it->second;
    }
    int fixed_cls = 0;
    if (!t.cls.empty()) {
      auto it = ci.find(t.cls);
      if (it == ci.end()) return Bad("trace " + t.file + ": class '" + t.cls + "' is not in the config");
      fixed_cls = it->second;
    }
    for (const TraceRequest& r : *tr) {
      if (opt.duration_s > 0 && r.arrival_s >= opt.duration_s) break;
      ClusterRequest q;
      q.arrival_s = r.arrival_s;
      q.input_tokens = r.input_tokens;
      q.output_tokens = r.output_tokens;
      q.model = fixed_model;
      if (q.model < 0) {
        if (r.model.empty())
          return Bad("trace " + t.file + " has no model column; name the model: --trace MODEL=" + t.file);
        auto it = mi.find(r.model);
        if (it == mi.end())
          return Bad("trace " + t.file + ": model '" + r.model + "' has no variant in the config");
        q.model = it->second;
      }
      q.cls = fixed_cls;
      if (!r.cls.empty()) {
        auto it = ci.find(r.cls);
        if (it == ci.end()) return Bad("trace " + t.file + ": class '" + r.cls + "' is not in the config");
        q.cls = it->second;
      }
      lt.files[q.model] = t.file;
      lt.counts[q.model]++;
      lt.requests.push_back(q);
    }
  }
  std::stable_sort(lt.requests.begin(), lt.requests.end(),
                   [](const ClusterRequest& a, const ClusterRequest& b) { return a.arrival_s < b.arrival_s; });
  if (lt.requests.empty()) return Bad("the traces hold no request" + std::string(opt.duration_s > 0 ? " before --duration" : ""));
  return lt;
}

ReplicaConfig ReplicaOf(const ClusterVariant& cv) {
  ReplicaConfig rc;
  rc.step = cv.step;
  rc.max_batch = cv.max_batch;
  rc.max_tokens_per_step = cv.max_tokens_per_step;
  rc.gpu_memory_util = cv.gpu_memory_util;
  return rc;
}

// Per model: the chosen single variant for the baselines, its capacity (rps, perf
// model, the model's trace mix, strictest class) and concurrency at that capacity.
struct Baseline {
  int variant = -1;
  double capacity_rps = 0, concurrency = 0;
  double peak_rps = 0, first_rps = 0;
  double ttft_ms = 1000, itl_ms = 50;  // WVA's (mean) targets: the strictest class's
};

Result<std::vector<Baseline>> Baselines(const Setup& s, const LoadedTraces& lt) {
  const ClusterSpec& sp = s.spec;
  std::vector<Baseline> out(sp.models.size());
  for (size_t m = 0; m < sp.models.size(); ++m) {
    std::vector<TraceRequest> mine;
    std::set<int> classes;
    for (const ClusterRequest& q : lt.requests) {
      if (q.model != static_cast<int>(m)) continue;
      TraceRequest t;
      t.input_tokens = q.input_tokens;
      t.output_tokens = q.output_tokens;
      mine.push_back(t);
      classes.insert(q.cls);
    }
    if (mine.empty()) continue;
    Workload w = LengthMix(mine, 2);
    Baseline& b = out[m];
    double best = INFINITY;
    double ttft = INFINITY, itl = INFINITY;
    for (int c : classes) {
      for (const SloTerm& t : sp.classes[c].slo) {
        if (t.metric == VARIANT_METRIC_TTFT) ttft = std::min(ttft, t.target_ms);
        if (t.metric == VARIANT_METRIC_ITL || t.metric == VARIANT_METRIC_TPOT)
          itl = std::min(itl, t.target_ms);
      }
    }
    if (std::isfinite(ttft)) b.ttft_ms = ttft;
    if (std::isfinite(itl)) b.itl_ms = itl;
    for (int c : classes) {
      bool any = false;
      std::string why;
      for (size_t v = 0; v < sp.models[m].variants.size(); ++v) {
        const ClusterVariant& cv = sp.models[m].variants[v];
        auto p = MaxRate(ReplicaOf(cv), w, sp.classes[c].slo);
        if (!p.ok() || !(p->rate_rps > 0)) {
          why = p.ok() ? "zero rate" : p.status().message();
          continue;
        }
        any = true;
      }
      if (!any)
        return Status(VARIANT_E_SLO_UNATTAINABLE,
                      "no variant of model '" + sp.models[m].name + "' can meet class '" +
                          sp.classes[c].name + "' SLO (" + s.slo_text[c] + ") on its trace's lengths: " + why);
    }
    for (size_t v = 0; v < sp.models[m].variants.size(); ++v) {
      const ClusterVariant& cv = sp.models[m].variants[v];
      const ReplicaConfig rc = ReplicaOf(cv);
      double cap = INFINITY, conc = 0;
      for (int c : classes) {
        auto p = MaxRate(rc, w, sp.classes[c].slo);
        if (!p.ok()) {
          cap = 0;
          break;
        }
        if (p->rate_rps < cap) {
          cap = p->rate_rps;
          conc = p->mean_batch + p->queue_len;
        }
      }
      if (cap > 0 && std::isfinite(cap) && cv.cost_per_hour / cap < best) {
        best = cv.cost_per_hour / cap;
        b.variant = static_cast<int>(v);
        b.capacity_rps = cap;
        b.concurrency = std::max(1.0, conc);
      }
    }
    if (b.variant < 0)
      return Status(VARIANT_E_SLO_UNATTAINABLE, "no single variant of model '" + sp.models[m].name +
                                                    "' meets every class SLO of its traffic");
    // Peak: the busiest minute; first: the first minute.
    std::map<long, int> per_min;
    for (const ClusterRequest& q : lt.requests) {
      if (q.model == static_cast<int>(m)) per_min[static_cast<long>(q.arrival_s / 60)]++;
    }
    for (auto& [k, n] : per_min) b.peak_rps = std::max(b.peak_rps, n / 60.0);
    for (long k = 0; k < 5; ++k) b.first_rps = std::max(b.first_rps, per_min.count(k) ? per_min[k] / 60.0 : 0);
  }
  return out;
}

struct Loaded {
  std::map<std::string, std::unique_ptr<policy::PolicyPlugin>> plugins;
};

Result<const policy::PolicyPlugin*> GetPlugin(Loaded* l, const std::vector<std::string>& dirs,
                                              const std::string& name) {
  auto it = l->plugins.find(name);
  if (it != l->plugins.end()) return it->second.get();
  std::string path = policy::FindPlugin(dirs, name);
  std::string joined;
  for (const auto& d : dirs) joined += (joined.empty() ? "" : ", ") + d;
  if (path.empty())
    return Status(VARIANT_E_IO, "policy plugin '" + name + "' not found in " + joined +
                                    " (build the variant_policies target, or pass --plugin-dir)");
  std::string err;
  auto p = policy::PolicyPlugin::Load(path, &err);
  if (!p) return Status(VARIANT_E_IO, err);
  const policy::PolicyPlugin* raw = p.get();
  l->plugins[name] = std::move(p);
  return raw;
}

// One run of one policy. hpa_target used by "hpa" only.
Result<RunResult> RunOne(const std::string& policy, const Setup& s, const SimulateOptions& opt,
                         const LoadedTraces& lt, const std::vector<Baseline>& base,
                         const std::map<std::string, const policy::PolicyPlugin*>& plugins,
                         double hpa_target, uint64_t seed, const std::string& label) {
  const ClusterSpec& sp = s.spec;
  const size_t nm = sp.models.size();
  std::vector<std::vector<int>> initial(nm);
  std::vector<json> params(nm);
  for (size_t m = 0; m < nm; ++m) {
    initial[m].assign(sp.models[m].variants.size(), 0);
    const Baseline& b = base[m];
    if (b.variant < 0) {
      params[m] = nullptr;
      continue;
    }
    const std::string vname = sp.models[m].variants[b.variant].name;
    int first = std::max(1, static_cast<int>(std::ceil(b.first_rps / b.capacity_rps)));
    if (policy == "static") {
      params[m] = {{"variant", vname}, {"peak_rps", b.peak_rps}, {"replica_rps", b.capacity_rps}};
      initial[m][b.variant] = std::max(1, static_cast<int>(std::ceil(b.peak_rps / b.capacity_rps)));
    } else if (policy == "hpa") {
      params[m] = {{"variant", vname},
                   {"target", hpa_target * b.concurrency},
                   {"metric", s.sim.contains("hpa") ? s.sim["hpa"].value("metric", "running_waiting") : "running_waiting"},
                   {"tolerance", Num(s.sim.value("hpa", json::object()), "tolerance", 0.1)},
                   {"scale_down_window_s", sp.scale_down_window_s},
                   {"min_replicas", 1}};
      initial[m][b.variant] = first;
    } else if (policy == "wva") {
      params[m] = {{"variant", vname},
                   {"ttft_ms", b.ttft_ms},
                   {"itl_ms", b.itl_ms},
                   {"max_batch", sp.models[m].variants[b.variant].max_batch},
                   {"interval_s", sp.decision_interval_s},
                   {"min_replicas", 1}};
      initial[m][b.variant] = first;
    }
  }
  std::unique_ptr<Controller> ctl;
  SolverController* solver = nullptr;
  variant_ctx* vctx = nullptr;
  if (policy == "variant" || policy == "oracle") {
    char* err = nullptr;
    int rc = variant_ctx_create(opt.data_dir.empty() ? nullptr : opt.data_dir.c_str(), &vctx, &err);
    if (rc != 0) {
      std::string m = err ? err : "variant_ctx_create failed";
      variant_free(err);
      return Status(static_cast<variant_status>(rc), m);
    }
    auto sc = std::make_unique<SolverController>(sp, vctx, s.problem, policy == "oracle",
                                                 Num(s.sim, "bucket_ratio", 4),
                                                 s.sim.value("online_correction", true));
    solver = sc.get();
    ctl = std::move(sc);
  } else {
    const char* pname = policy == "static" ? "static-peak" : policy.c_str();
    auto pc = PluginController::Create(sp, plugins.at(pname), params, initial);
    if (!pc.ok()) return pc.status();
    ctl = std::move(*pc);
  }
  auto cb = opt.progress ? std::function<void(double)>([&](double f) { opt.progress(label, f); })
                         : std::function<void(double)>();
  auto r = RunCluster(sp, lt.requests, ctl.get(), seed, cb);
  if (r.ok() && solver) {
    r->correction = solver->Corrections();
    r->observations = solver->observations();
    r->observations_accepted = solver->observations_accepted();
  }
  ctl.reset();
  variant_ctx_destroy(vctx);
  return r;
}

double Ci95(const std::vector<double>& x) {
  size_t n = x.size();
  if (n < 2) return 0;
  double mean = 0;
  for (double v : x) mean += v;
  mean /= n;
  double ss = 0;
  for (double v : x) ss += (v - mean) * (v - mean);
  double sd = std::sqrt(ss / (n - 1));
  // Student t, 97.5% quantile, for n - 1 degrees of freedom.
  static const double t[] = {0, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262,
                             2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086};
  double q = n - 1 < 21 ? t[n - 1] : 1.96;
  return q * sd / std::sqrt(static_cast<double>(n));
}

json HistJson(const Histogram& h) { return {{"edges", h.edges}, {"counts", h.counts}}; }

json PolicyJson(const Setup& s, const std::vector<RunResult>& runs) {
  const RunResult& r = runs.front();
  const ClusterSpec& sp = s.spec;
  json j;
  auto mean_ci = [&](const char* key, auto get) {
    std::vector<double> xs;
    for (const RunResult& x : runs) xs.push_back(get(x));
    double mean = 0;
    for (double v : xs) mean += v;
    j[key] = mean / xs.size();
    if (runs.size() > 1) j[std::string(key) + "_ci95"] = Ci95(xs);
  };
  mean_ci("cost_usd", [](const RunResult& x) { return x.cost_usd; });
  mean_ci("gpu_hours", [](const RunResult& x) { return x.gpu_hours; });
  mean_ci("slo_attainment", [](const RunResult& x) { return x.slo_attainment; });
  mean_ci("utilization", [](const RunResult& x) { return x.utilization; });
  mean_ci("ttft_p95_ms", [](const RunResult& x) { return x.ttft_p95_ms; });
  mean_ci("itl_p95_ms", [](const RunResult& x) { return x.itl_p95_ms; });
  mean_ci("scaling_actions", [](const RunResult& x) { return static_cast<double>(x.scaling_actions); });
  mean_ci("reversals", [](const RunResult& x) { return static_cast<double>(x.reversals); });
  if (runs.size() > 1) {
    // Each seed's main figures, in seed order (the means above hide a bad seed).
    json ps = json::array();
    for (const RunResult& x : runs)
      ps.push_back({{"cost_usd", x.cost_usd}, {"slo_attainment", x.slo_attainment},
                    {"reversals", x.reversals}});
    j["per_seed"] = ps;
  }
  j["requests"] = r.requests;
  j["unserved"] = r.unserved;
  j["refused"] = r.refused;
  j["decisions"] = r.decisions;
  j["decide_errors"] = r.decide_errors;
  if (!r.last_error.empty()) j["last_error"] = r.last_error;
  j["capped_additions"] = r.capped;
  j["bus_messages"] = r.bus_messages;
  j["bus_bytes"] = r.bus_bytes;
  if (!r.correction.empty()) {
    j["observations"] = r.observations;
    j["observations_accepted"] = r.observations_accepted;
  }
  j["wall_s"] = r.wall_s;
  json pm = json::array();
  for (const ModelResult& m : r.per_model) {
    pm.push_back({{"model", m.model}, {"cost_usd", m.cost_usd}, {"slo_attainment", m.slo_attainment},
                  {"ttft_p95_ms", m.ttft_p95_ms}, {"itl_p95_ms", m.itl_p95_ms},
                  {"requests", m.requests}, {"unserved", m.unserved}});
  }
  j["per_model"] = pm;
  json pv = json::array();
  for (size_t m = 0; m < sp.models.size(); ++m) {
    for (size_t v = 0; v < sp.models[m].variants.size(); ++v) {
      auto [n, ok] = r.per_variant[m][v];
      if (n == 0) continue;
      json e = {{"model", sp.models[m].name}, {"variant", sp.models[m].variants[v].name},
                {"requests", n}, {"slo_attainment", static_cast<double>(ok) / n}};
      if (m < r.correction.size() && v < r.correction[m].size()) {
        e["prefill_factor"] = r.correction[m][v].first;
        e["decode_factor"] = r.correction[m][v].second;
      }
      pv.push_back(std::move(e));
    }
  }
  j["per_variant"] = pv;
  json pc = json::array();
  for (size_t c = 0; c < sp.classes.size(); ++c)
    pc.push_back({{"class", sp.classes[c].name}, {"slo", s.slo_text[c]}, {"slo_attainment", r.per_class_attainment[c]}});
  j["per_class"] = pc;
  json series = {{"t_s", r.t_s}, {"cost_per_hour", r.cost_per_hour}};
  json dem = json::object(), reps = json::object(), att = json::object();
  for (size_t m = 0; m < sp.models.size(); ++m) {
    dem[sp.models[m].name] = r.demand_rps[m];
    json a = json::array();
    for (double x : r.attainment[m]) a.push_back(std::isfinite(x) ? json(x) : json(nullptr));
    att[sp.models[m].name] = std::move(a);
    for (size_t v = 0; v < sp.models[m].variants.size(); ++v) {
      const auto& xs = r.replicas[m][v];
      if (std::all_of(xs.begin(), xs.end(), [](double x) { return x == 0; })) continue;
      reps[sp.models[m].name + "/" + sp.models[m].variants[v].name] = xs;
    }
  }
  series["demand_rps"] = dem;
  series["replicas"] = reps;
  series["slo_attainment"] = att;
  j["series"] = series;
  j["ttft_ms_hist"] = HistJson(r.ttft_ms);
  j["itl_ms_hist"] = HistJson(r.itl_ms);
  return j;
}

}  // namespace

Result<json> Simulate(const SimulateOptions& opt) {
  auto ctxr = Context::Create(ResolveDataDir(opt.data_dir.empty() ? nullptr : opt.data_dir.c_str()));
  if (!ctxr.ok()) return ctxr.status();
  auto setup = LoadConfig(opt, ctxr->get());
  if (!setup.ok()) return setup.status();
  const Setup& s = *setup;
  const ClusterSpec& sp = s.spec;
  if (opt.seeds < 1) return Bad("--seeds must be >= 1");
  const std::set<std::string> known = {"static", "hpa", "wva", "variant", "oracle"};
  for (const std::string& p : opt.policies) {
    if (!known.count(p)) return Bad("unknown policy '" + p + "' (static, hpa, wva, variant, oracle)");
  }
  Loaded loaded;
  std::map<std::string, const policy::PolicyPlugin*> plugins;
  for (const std::string& p : opt.policies) {
    if (p == "variant" || p == "oracle") continue;
    std::string name = p == "static" ? "static-peak" : p;
    auto pl = GetPlugin(&loaded, opt.plugin_dirs, name);
    if (!pl.ok()) return pl.status();
    plugins[name] = *pl;
  }

  auto has = [&](const char* p) { return std::count(opt.policies.begin(), opt.policies.end(), p) > 0; };
  std::map<std::string, std::vector<RunResult>> runs;
  json sweep = json::array();
  double hpa_target = 1;
  LoadedTraces first_lt;
  for (int seed = 1; seed <= opt.seeds; ++seed) {
    auto lt = LoadTraces(s, opt, static_cast<uint64_t>(seed));
    if (!lt.ok()) return lt.status();
    auto base = Baselines(s, *lt);
    if (!base.ok()) return base.status();
    if (seed == 1) first_lt = *lt;
    const std::string sl = opt.seeds > 1 ? "seed " + std::to_string(seed) + " " : "";

    // HPA's target, tuned on seed 1 by a sweep over multiples of the concurrency one
    // replica holds at its SLO capacity: the cheapest target whose attainment reaches
    // the goal (the largest passing target, as cost falls with it).
    if (seed == 1 && has("hpa")) {
      std::map<double, RunResult> tried;
      auto eval = [&](double f) -> Status {
        if (tried.count(f)) return Status::Ok();
        std::ostringstream l;
        l << sl << "hpa sweep x" << f;
        auto r = RunOne("hpa", s, opt, *lt, *base, plugins, f, seed, l.str());
        if (!r.ok()) return r.status();
        tried.emplace(f, std::move(*r));
        return Status::Ok();
      };
      auto meets = [&](double f) { return tried.at(f).slo_attainment >= s.goal; };
      const std::vector<double> up = {1.0, 1.4, 2.0, 2.8}, down = {0.7, 0.5, 0.35, 0.25, 0.18, 0.125, 0.09};
      double pass = -1, fail = -1;
      VARIANT_RETURN_IF_ERROR(eval(1.0));
      if (meets(1.0)) {
        pass = 1.0;
        for (size_t k = 1; k < up.size(); ++k) {
          VARIANT_RETURN_IF_ERROR(eval(up[k]));
          if (!meets(up[k])) {
            fail = up[k];
            break;
          }
          pass = up[k];
        }
      } else {
        fail = 1.0;
        for (double f : down) {
          VARIANT_RETURN_IF_ERROR(eval(f));
          if (meets(f)) {
            pass = f;
            break;
          }
          fail = f;
        }
      }
      if (pass > 0 && fail > 0) {  // one refinement between the last pass and first fail
        double mid = std::sqrt(pass * fail);
        mid = std::round(mid * 100) / 100;
        VARIANT_RETURN_IF_ERROR(eval(mid));
        if (meets(mid)) pass = mid;
      }
      if (pass > 0) {
        hpa_target = pass;
      } else {  // no target reaches the goal: the best attainment, cheaper on ties
        double best = -1;
        for (auto& [f, r] : tried) {
          if (r.slo_attainment > best) {
            best = r.slo_attainment;
            hpa_target = f;
          }
        }
      }
      for (auto& [f, r] : tried) {
        json e = {{"target_factor", f}, {"cost_usd", r.cost_usd}, {"slo_attainment", r.slo_attainment}};
        // Target in the metric's units, per model (running + waiting per replica).
        json per = json::object();
        for (size_t m = 0; m < sp.models.size(); ++m) {
          if ((*base)[m].variant >= 0) per[sp.models[m].name] = f * (*base)[m].concurrency;
        }
        e["target"] = per.size() == 1 ? per.begin().value() : json(f);
        e["targets"] = per;
        sweep.push_back(e);
      }
      runs["hpa"].push_back(std::move(tried.at(hpa_target)));
    }

    std::vector<std::string> todo;
    for (const std::string& p : opt.policies) {
      if (p == "hpa" && seed == 1) continue;  // the sweep's chosen run
      todo.push_back(p);
    }
    std::vector<Result<RunResult>> out(todo.size(), Result<RunResult>(Internal("not run")));
    auto work = [&](size_t k) {
      out[k] = RunOne(todo[k], s, opt, *lt, *base, plugins, hpa_target, static_cast<uint64_t>(seed),
                      sl + todo[k]);
    };
    if (opt.jobs > 1) {
      std::mutex mu;
      size_t next = 0;
      std::vector<std::thread> th;
      for (int j = 0; j < std::min<int>(opt.jobs, static_cast<int>(todo.size())); ++j) {
        th.emplace_back([&] {
          for (;;) {
            size_t k;
            {
              std::lock_guard<std::mutex> g(mu);
              if (next >= todo.size()) return;
              k = next++;
            }
            work(k);
          }
        });
      }
      for (auto& t : th) t.join();
    } else {
      for (size_t k = 0; k < todo.size(); ++k) work(k);
    }
    for (size_t k = 0; k < todo.size(); ++k) {
      if (!out[k].ok())
        return Status(out[k].status().code(), "policy " + todo[k] + ": " + out[k].status().message());
      runs[todo[k]].push_back(std::move(*out[k]));
    }
  }

  // The result document (docs/simulator.md).
  json res;
  res["schema"] = "variant-simulate/1";
  double dur = first_lt.requests.empty() ? 0 : std::ceil(first_lt.requests.back().arrival_s);
  res["duration_s"] = dur;
  res["seeds"] = opt.seeds;
  res["cold_start_s"] = sp.cold_start_s;
  res["scale_down_window_s"] = sp.scale_down_window_s;
  res["decision_interval_s"] = sp.decision_interval_s;
  res["scrape_interval_s"] = sp.scrape_interval_s;
  res["attainment_goal"] = s.goal;
  res["config"] = opt.config_path;
  json models = json::array();
  for (size_t m = 0; m < sp.models.size(); ++m) {
    std::set<std::string> cls;
    for (const ClusterRequest& q : first_lt.requests)
      if (q.model == static_cast<int>(m)) cls.insert(sp.classes[q.cls].name);
    json vars = json::array();
    for (const ClusterVariant& v : sp.models[m].variants)
      vars.push_back({{"name", v.name}, {"accelerator", sp.accelerators[v.accelerator].name}, {"tp", v.tp},
                      {"cost_per_hour", v.cost_per_hour}});
    models.push_back({{"model", sp.models[m].name}, {"trace", first_lt.files[m]},
                      {"requests", first_lt.counts[m]}, {"classes", std::vector<std::string>(cls.begin(), cls.end())},
                      {"variants", vars}});
  }
  res["models"] = models;
  json accs = json::array();
  for (const ClusterAccelerator& a : sp.accelerators)
    accs.push_back({{"name", a.name}, {"cost_per_hour", a.cost_per_hour}, {"count", a.count}});
  res["accelerators"] = accs;
  json classes = json::array();
  for (size_t c = 0; c < sp.classes.size(); ++c) classes.push_back({{"name", sp.classes[c].name}, {"slo", s.slo_text[c]}});
  res["classes"] = classes;
  json pol = json::object();
  for (const std::string& p : opt.policies) {
    if (!runs.count(p)) continue;
    json j = PolicyJson(s, runs[p]);
    if (p == "hpa") {
      j["hpa_target_factor"] = hpa_target;
      json per = json::object();
      auto base = Baselines(s, first_lt);
      if (base.ok()) {
        for (size_t m = 0; m < sp.models.size(); ++m) {
          if ((*base)[m].variant < 0) continue;
          per[sp.models[m].name] = hpa_target * (*base)[m].concurrency;
          j["hpa_variant"][sp.models[m].name] = sp.models[m].variants[(*base)[m].variant].name;
        }
      }
      j["hpa_target"] = per.size() == 1 ? per.begin().value() : json(hpa_target);
      j["hpa_targets"] = per;
      j["hpa_metric"] = "running_waiting per replica";
      j["hpa_sweep"] = sweep;
    }
    pol[p] = j;
  }
  res["policies"] = pol;
  json sav = json::object();
  if (pol.contains("variant")) {
    double cv = pol["variant"]["cost_usd"];
    for (const char* o : {"hpa", "static", "oracle", "wva"}) {
      if (!pol.contains(o)) continue;
      double c = pol[o]["cost_usd"];
      if (c > 0) sav[std::string("variant_vs_") + o] = 1 - cv / c;
    }
  }
  res["savings"] = sav;
  return res;
}

}  // namespace variant::sim

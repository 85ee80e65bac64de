#include "opt/problem.h"

#include <yaml-cpp/yaml.h>

#include "opt/json_node.h"

#include <cmath>
#include <memory>
#include <set>
#include <unordered_set>

namespace variant::opt {
namespace {

Status Wrong(const std::string& where, const std::string& key, const std::string& what) {
  return ParseError(where + ": field '" + key + "' " + what);
}

// Reads an optional scalar field; leaves *out untouched when absent or null.
template <typename T, typename N>
Status Opt(const N& n, const char* key, const std::string& where, T* out) {
  const auto v = n[key];
  if (!v || v.IsNull()) return {};
  if (!v.IsScalar()) return Wrong(where, key, "must be a scalar");
  try {
    *out = v.template as<T>();
  } catch (const std::exception&) {
    return Wrong(where, key, "has the wrong type ('" + v.Scalar() + "')");
  }
  return {};
}

template <typename T, typename N>
Status Req(const N& n, const char* key, const std::string& where, T* out) {
  const auto v = n[key];
  if (!v || v.IsNull()) return MissingField(where + ": missing required field '" + key + "'");
  return Opt(n, key, where, out);
}

// A double that must be finite and >= lo (and > lo if strict).
template <typename N>
Status Num(const N& n, const char* key, const std::string& where, double* out,
           bool required, double lo, bool strict = false) {
  VARIANT_RETURN_IF_ERROR(required ? Req(n, key, where, out) : Opt(n, key, where, out));
  if (!n[key] || n[key].IsNull()) return {};
  if (!std::isfinite(*out) || *out < lo || (strict && *out == lo))
    return InvalidArgument(where + ": field '" + key + "' must be a finite number " +
                           (strict ? "> " : ">= ") + std::to_string(lo) + ", got " +
                           n[key].Scalar());
  return {};
}

template <typename N>
Status Int(const N& n, const char* key, const std::string& where, int* out,
           bool required, int lo) {
  VARIANT_RETURN_IF_ERROR(required ? Req(n, key, where, out) : Opt(n, key, where, out));
  if (n[key] && !n[key].IsNull() && *out < lo)
    return InvalidArgument(where + ": field '" + key + "' must be >= " + std::to_string(lo) +
                           ", got " + std::to_string(*out));
  return {};
}

template <typename N>
Status CheckKeys(const N& n, const std::string& where,
                 const std::set<std::string>& known) {
  for (const auto& kv : n) {
    const std::string k = kv.first.template as<std::string>();
    if (!known.count(k)) return ParseError(where + ": unknown field '" + k + "'");
  }
  return {};
}

Result<int> ParseRole(const std::string& r, const std::string& where) {
  if (r == "pd" || r == "PD") return static_cast<int>(VARIANT_ROLE_PD);
  if (r == "p" || r == "P" || r == "prefill") return static_cast<int>(VARIANT_ROLE_P);
  if (r == "d" || r == "D" || r == "decode") return static_cast<int>(VARIANT_ROLE_D);
  return InvalidArgument(where + ": role '" + r + "' is not pd, p or d");
}

template <typename N>
Status SchemaVersion(const N& root, const std::string& what, int* out) {
  if (!root["schema_version"]) return MissingField(what + ": missing required field 'schema_version'");
  VARIANT_RETURN_IF_ERROR(Req(root, "schema_version", what, out));
  if (*out > kProblemSchemaVersion)
    return Status(VARIANT_E_SCHEMA_VERSION,
                  what + ": schema_version " + std::to_string(*out) +
                      " is newer than this library understands (" +
                      std::to_string(kProblemSchemaVersion) + ")");
  if (*out < 1) return InvalidArgument(what + ": schema_version must be >= 1");
  return {};
}

Result<YAML::Node> LoadYaml(std::string_view doc, const std::string& what) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(doc));
  } catch (const YAML::Exception& e) {
    return ParseError(what + ": not valid YAML/JSON: " + e.what());
  }
  if (!root.IsMap()) return ParseError(what + ": the document must be a mapping");
  return root;
}

// Parses with simdjson (json_node.h says why). Its errors name no position, so a
// document it refuses is parsed again by nlohmann::json for a message with line and
// column (only on this error path).
Result<std::unique_ptr<JsonDoc>> LoadJson(std::string_view doc, const std::string& what) {
  auto d = std::make_unique<JsonDoc>();
  // A parser of its own, gone at return: only the document outlives the parse.
  simdjson::dom::parser parser;
  if (auto err = parser.parse_into_document(d->doc, doc.data(), doc.size()).get(d->root)) {
    std::string detail = simdjson::error_message(err);
    try {
      const auto again = nlohmann::json::parse(doc.begin(), doc.end());
      (void)again;
    } catch (const nlohmann::json::exception& e) {
      detail = e.what();
    }
    return ParseError(what + ": not valid JSON: " + detail);
  }
  if (!d->root.is_object()) return ParseError(what + ": the document must be a mapping");
  return d;
}

// A document whose first non-blank character is '{' is JSON (a JSON object); the rest
// is YAML (which also reads any JSON, only slower and with more memory).
bool LooksLikeJson(std::string_view doc) {
  for (char c : doc) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
    return c == '{';
  }
  return false;
}

template <typename N>
Status ParseSloNode(const N& n, const std::string& where, std::vector<SloTerm>* out) {
  if (n.IsScalar()) {
    // "ttft_p95_ms=500,itl_mean_ms=50"
    std::string s = n.Scalar();
    size_t pos = 0;
    while (pos < s.size()) {
      size_t comma = s.find(',', pos);
      if (comma == std::string::npos) comma = s.size();
      std::string term = s.substr(pos, comma - pos);
      pos = comma + 1;
      if (term.empty()) continue;
      size_t eq = term.find('=');
      if (eq == std::string::npos) return ParseError(where + ": SLO term '" + term + "' lacks '='");
      double v = 0;
      try {
        v = std::stod(term.substr(eq + 1));
      } catch (...) {
        return ParseError(where + ": SLO term '" + term + "' has no number");
      }
      auto t = ParseSloKey(term.substr(0, eq), v);
      if (!t.ok()) return Status(t.status().code(), where + ": " + t.status().message());
      out->push_back(*t);
    }
  } else if (n.IsMap()) {
    for (const auto& kv : n) {
      const std::string k = kv.first.template as<std::string>();
      double v = 0;
      try {
        v = kv.second.template as<double>();
      } catch (const std::exception&) {
        return ParseError(where + ": SLO '" + k + "' must be a number");
      }
      auto t = ParseSloKey(k, v);
      if (!t.ok()) return Status(t.status().code(), where + ": " + t.status().message());
      out->push_back(*t);
    }
  } else {
    return ParseError(where + ": 'slo' must be a mapping or a string");
  }
  if (out->empty()) return InvalidArgument(where + ": 'slo' has no terms");
  return {};
}

template <typename N>
Status ParseBuckets(const N& n, const std::string& where, DemandSpec* d) {
  if (const auto b = n["buckets"]) {
    if (!b.IsSequence() || b.size() == 0)
      return ParseError(where + ": 'buckets' must be a non-empty list");
    for (size_t i = 0; i < b.size(); ++i) {
      const std::string w = where + ".buckets[" + std::to_string(i) + "]";
      if (!b[i].IsMap()) return ParseError(w + ": must be a mapping");
      Bucket k;
      k.weight = 1;
      VARIANT_RETURN_IF_ERROR(Num(b[i], "input", w, &k.input, true, 1));
      VARIANT_RETURN_IF_ERROR(Num(b[i], "output", w, &k.output, true, 1));
      if (k.input > 1e7 || k.output > 1e7) return InvalidArgument(w + ": lengths must be <= 1e7");
      VARIANT_RETURN_IF_ERROR(Num(b[i], "weight", w, &k.weight, false, 0));
      d->buckets.push_back(k);
    }
  } else if (const auto g = n["grid"]) {
    // Log-spaced grid: edges along input and output, weights[i][j] per cell; the
    // representative length of a cell is the geometric mean of its edges.
    const std::string w = where + ".grid";
    if (!g.IsMap()) return ParseError(w + ": must be a mapping");
    std::vector<double> ie, oe;
    std::vector<std::vector<double>> wt;
    try {
      if (!g["input_edges"]) return MissingField(w + ": missing required field 'input_edges'");
      if (!g["output_edges"]) return MissingField(w + ": missing required field 'output_edges'");
      if (!g["weights"]) return MissingField(w + ": missing required field 'weights'");
      ie = g["input_edges"].template as<std::vector<double>>();
      oe = g["output_edges"].template as<std::vector<double>>();
      wt = g["weights"].template as<std::vector<std::vector<double>>>();
    } catch (const std::exception&) {
      return ParseError(w + ": edges must be number lists and weights a list of number lists");
    }
    if (ie.size() < 2 || oe.size() < 2)
      return InvalidArgument(w + ": need at least two edges along input and output");
    // The same bound as a bucket's lengths (found by test/fuzz/fuzz_capi_solve: an edge
    // of 8.7e23 made a cell of 3e13 tokens, cast to int for a warning: undefined).
    if (ie.back() > 1e7 || oe.back() > 1e7) return InvalidArgument(w + ": edges must be <= 1e7");
    for (size_t i = 0; i + 1 < ie.size(); ++i)
      if (!(ie[i] >= 1 && ie[i + 1] > ie[i])) return InvalidArgument(w + ": input_edges must increase from >= 1");
    for (size_t i = 0; i + 1 < oe.size(); ++i)
      if (!(oe[i] >= 1 && oe[i + 1] > oe[i])) return InvalidArgument(w + ": output_edges must increase from >= 1");
    if (wt.size() != ie.size() - 1)
      return InvalidArgument(w + ": weights needs one row per input cell (" +
                             std::to_string(ie.size() - 1) + ")");
    for (size_t i = 0; i < wt.size(); ++i) {
      if (wt[i].size() != oe.size() - 1)
        return InvalidArgument(w + ": weights row " + std::to_string(i) + " needs " +
                               std::to_string(oe.size() - 1) + " entries");
      for (size_t j = 0; j < wt[i].size(); ++j) {
        if (!std::isfinite(wt[i][j]) || wt[i][j] < 0)
          return InvalidArgument(w + ": weights must be finite and >= 0");
        if (wt[i][j] == 0) continue;
        d->buckets.push_back({std::sqrt(ie[i] * ie[i + 1]), std::sqrt(oe[j] * oe[j + 1]), wt[i][j]});
      }
    }
  } else {
    return MissingField(where + ": missing 'buckets' (or 'grid')");
  }
  double sum = 0;
  for (const auto& b : d->buckets) sum += b.weight;
  if (!(sum > 0)) return InvalidArgument(where + ": bucket weights sum to zero");
  for (auto& b : d->buckets) b.weight /= sum;
  return {};
}

}  // namespace

std::string RoleName(int role) {
  return role == VARIANT_ROLE_P ? "p" : role == VARIANT_ROLE_D ? "d" : "pd";
}

Result<SloTerm> ParseSloKey(const std::string& key, double target_ms) {
  SloTerm t;
  std::string k = key;
  if (k.size() < 4 || k.substr(k.size() - 3) != "_ms")
    return InvalidArgument("SLO key '" + key + "' must end in _ms (e.g. ttft_p95_ms)");
  k = k.substr(0, k.size() - 3);
  size_t us = k.find('_');
  if (us == std::string::npos) return InvalidArgument("SLO key '" + key + "' is not metric_pXX_ms");
  std::string metric = k.substr(0, us), stat = k.substr(us + 1);
  if (metric == "ttft") t.metric = VARIANT_METRIC_TTFT;
  else if (metric == "itl") t.metric = VARIANT_METRIC_ITL;
  else if (metric == "ttlt") t.metric = VARIANT_METRIC_TTLT;
  else if (metric == "tpot") t.metric = VARIANT_METRIC_TPOT;
  else return InvalidArgument("SLO key '" + key + "': unknown metric '" + metric + "'");
  if (stat == "mean") {
    t.percentile = 0;
  } else if (stat.size() >= 2 && stat[0] == 'p') {
    try {
      size_t used = 0;
      t.percentile = std::stod(stat.substr(1), &used);
      if (used != stat.size() - 1) throw 1;
    } catch (...) {
      return InvalidArgument("SLO key '" + key + "': bad percentile '" + stat + "'");
    }
    if (!(t.percentile > 0 && t.percentile < 100))
      return InvalidArgument("SLO key '" + key + "': percentile must be in (0, 100)");
  } else {
    return InvalidArgument("SLO key '" + key + "': expected pXX or mean");
  }
  if (!std::isfinite(target_ms) || target_ms <= 0)
    return InvalidArgument("SLO '" + key + "' must be a positive number of ms");
  t.target_ms = target_ms;
  return t;
}

const ModelSpec* Problem::FindModel(const std::string& n) const {
  for (const auto& m : models)
    if (m.name == n) return &m;
  return nullptr;
}
int Problem::AccelIndex(const std::string& n) const {
  for (size_t i = 0; i < accelerators.size(); ++i)
    if (accelerators[i].name == n) return static_cast<int>(i);
  return -1;
}
int Problem::ClassIndex(const std::string& n) const {
  for (size_t i = 0; i < classes.size(); ++i)
    if (classes[i].name == n) return static_cast<int>(i);
  return -1;
}

namespace {

template <typename N>
Result<Problem> ProblemFrom(const N& root) {
  Problem p;
  VARIANT_RETURN_IF_ERROR(SchemaVersion(root, "problem", &p.schema_version));
  VARIANT_RETURN_IF_ERROR(CheckKeys(root, "problem",
                                    {"schema_version", "accelerators", "caps", "models",
                                     "classes", "demand", "options", "name", "description"}));

  // accelerators
  const auto acc = root["accelerators"];
  if (!acc) return MissingField("problem: missing required field 'accelerators'");
  if (!acc.IsSequence() || acc.size() == 0)
    return ParseError("problem: 'accelerators' must be a non-empty list");
  for (size_t i = 0; i < acc.size(); ++i) {
    std::string w = "accelerators[" + std::to_string(i) + "]";
    if (!acc[i].IsMap()) return ParseError(w + ": must be a mapping");
    AccelSpec a;
    VARIANT_RETURN_IF_ERROR(Req(acc[i], "name", w, &a.name));
    w = "accelerator '" + a.name + "'";
    if (p.AccelIndex(a.name) >= 0) return InvalidArgument(w + ": listed twice");
    VARIANT_RETURN_IF_ERROR(Num(acc[i], "cost_per_hour", w, &a.cost_per_hour, false, 0));
    if (a.cost_per_hour > 1e6) return InvalidArgument(w + ": cost_per_hour must be <= 1e6");
    VARIANT_RETURN_IF_ERROR(Int(acc[i], "count", w, &a.count, false, 0));
    for (const auto& kv : acc[i]) {
      const std::string k = kv.first.template as<std::string>();
      if (k == "name" || k == "cost_per_hour" || k == "count") continue;
      double v = 0;
      VARIANT_RETURN_IF_ERROR(Num(acc[i], k.c_str(), w, &v, true, 0));
      a.resources[k] = v;
    }
    p.accelerators.push_back(a);
  }
  if (const auto caps = root["caps"]) {
    if (!caps.IsSequence()) return ParseError("problem: 'caps' must be a list");
    for (size_t i = 0; i < caps.size(); ++i) {
      const std::string w = "caps[" + std::to_string(i) + "]";
      if (!caps[i].IsMap()) return ParseError(w + ": must be a mapping");
      GlobalCap c;
      VARIANT_RETURN_IF_ERROR(Req(caps[i], "resource", w, &c.resource));
      VARIANT_RETURN_IF_ERROR(Num(caps[i], "total", w, &c.total, true, 0));
      bool used = false;
      for (const auto& a : p.accelerators) used |= a.resources.count(c.resource) > 0;
      if (!used)
        return InvalidArgument(w + ": no accelerator declares resource '" + c.resource + "'");
      p.caps.push_back(c);
    }
  }

  // classes
  const auto cls = root["classes"];
  if (!cls) return MissingField("problem: missing required field 'classes'");
  if (!cls.IsSequence() || cls.size() == 0)
    return ParseError("problem: 'classes' must be a non-empty list");
  for (size_t i = 0; i < cls.size(); ++i) {
    std::string w = "classes[" + std::to_string(i) + "]";
    if (!cls[i].IsMap()) return ParseError(w + ": must be a mapping");
    ClassSpec c;
    VARIANT_RETURN_IF_ERROR(Req(cls[i], "name", w, &c.name));
    w = "class '" + c.name + "'";
    if (p.ClassIndex(c.name) >= 0) return InvalidArgument(w + ": listed twice");
    VARIANT_RETURN_IF_ERROR(CheckKeys(cls[i], w, {"name", "slo", "priority"}));
    if (!cls[i]["slo"]) return MissingField(w + ": missing required field 'slo'");
    VARIANT_RETURN_IF_ERROR(ParseSloNode(cls[i]["slo"], w, &c.slo));
    VARIANT_RETURN_IF_ERROR(Opt(cls[i], "priority", w, &c.priority));
    p.classes.push_back(c);
  }

  // models
  // Name sets for the duplicate checks (linear scans are quadratic at 1000s of models).
  std::unordered_set<std::string> model_names, demand_keys;
  const auto ms = root["models"];
  if (!ms) return MissingField("problem: missing required field 'models'");
  if (!ms.IsSequence() || ms.size() == 0)
    return ParseError("problem: 'models' must be a non-empty list");
  for (size_t i = 0; i < ms.size(); ++i) {
    std::string w = "models[" + std::to_string(i) + "]";
    if (!ms[i].IsMap()) return ParseError(w + ": must be a mapping");
    ModelSpec m;
    std::unordered_set<std::string> variant_names;
    VARIANT_RETURN_IF_ERROR(Req(ms[i], "name", w, &m.name));
    w = "model '" + m.name + "'";
    if (!model_names.insert(m.name).second) return InvalidArgument(w + ": listed twice");
    const auto vs = ms[i]["variants"];
    if (!vs) return MissingField(w + ": missing required field 'variants'");
    if (!vs.IsSequence() || vs.size() == 0)
      return ParseError(w + ": 'variants' must be a non-empty list");
    for (size_t j = 0; j < vs.size(); ++j) {
      std::string vw = w + ".variants[" + std::to_string(j) + "]";
      if (!vs[j].IsMap()) return ParseError(vw + ": must be a mapping");
      VARIANT_RETURN_IF_ERROR(CheckKeys(
          vs[j], vw,
          {"name", "accelerator", "tp", "max_batch", "max_tokens_per_step", "role",
           "min_replicas", "max_replicas", "capacity_rps", "kv_link_gbps", "gpu_memory_util"}));
      VariantSpec v;
      VARIANT_RETURN_IF_ERROR(Req(vs[j], "accelerator", vw, &v.accelerator));
      if (p.AccelIndex(v.accelerator) < 0)
        return Status(VARIANT_E_UNKNOWN_ACCELERATOR,
                      vw + ": accelerator '" + v.accelerator +
                          "' is not in the problem's 'accelerators' list");
      VARIANT_RETURN_IF_ERROR(Int(vs[j], "tp", vw, &v.tp, false, 1));
      if (v.tp != 1 && v.tp != 2 && v.tp != 4 && v.tp != 8)
        return InvalidArgument(vw + ": tp must be 1, 2, 4 or 8");
      VARIANT_RETURN_IF_ERROR(Int(vs[j], "max_batch", vw, &v.max_batch, false, 1));
      VARIANT_RETURN_IF_ERROR(Int(vs[j], "max_tokens_per_step", vw, &v.max_tokens_per_step, false, 1));
      std::string role = "pd";
      VARIANT_RETURN_IF_ERROR(Opt(vs[j], "role", vw, &role));
      auto r = ParseRole(role, vw);
      if (!r.ok()) return r.status();
      v.role = *r;
      VARIANT_RETURN_IF_ERROR(Int(vs[j], "min_replicas", vw, &v.min_replicas, false, 0));
      VARIANT_RETURN_IF_ERROR(Int(vs[j], "max_replicas", vw, &v.max_replicas, false, 0));
      if (vs[j]["max_replicas"] && v.max_replicas < v.min_replicas)
        return InvalidArgument(vw + ": max_replicas < min_replicas");
      VARIANT_RETURN_IF_ERROR(Num(vs[j], "capacity_rps", vw, &v.capacity_rps, false, 0, true));
      if (std::isfinite(v.capacity_rps) && (v.capacity_rps < 1e-6 || v.capacity_rps > 1e7))
        return InvalidArgument(vw + ": capacity_rps must be in [1e-6, 1e7]");
      VARIANT_RETURN_IF_ERROR(Num(vs[j], "kv_link_gbps", vw, &v.kv_link_gbps, false, 0, true));
      VARIANT_RETURN_IF_ERROR(Num(vs[j], "gpu_memory_util", vw, &v.gpu_memory_util, false, 0, true));
      if (v.gpu_memory_util > 1) return InvalidArgument(vw + ": gpu_memory_util must be <= 1");
      v.name = v.accelerator + "-tp" + std::to_string(v.tp) + "-" + RoleName(v.role) + "-b" +
               std::to_string(v.max_batch);
      VARIANT_RETURN_IF_ERROR(Opt(vs[j], "name", vw, &v.name));
      if (!variant_names.insert(v.name).second)
        return InvalidArgument(w + ": two variants are named '" + v.name + "' (give them names)");
      m.variants.push_back(v);
    }
    p.models.push_back(m);
  }

  // demand
  const auto dm = root["demand"];
  if (!dm) return MissingField("problem: missing required field 'demand'");
  if (!dm.IsSequence()) return ParseError("problem: 'demand' must be a list");
  for (size_t i = 0; i < dm.size(); ++i) {
    std::string w = "demand[" + std::to_string(i) + "]";
    if (!dm[i].IsMap()) return ParseError(w + ": must be a mapping");
    VARIANT_RETURN_IF_ERROR(CheckKeys(
        dm[i], w, {"model", "class", "rate_rps", "buckets", "grid", "prefix_hit_ratio", "stale"}));
    DemandSpec d;
    VARIANT_RETURN_IF_ERROR(Req(dm[i], "model", w, &d.model));
    if (!model_names.count(d.model))
      return Status(VARIANT_E_UNKNOWN_MODEL,
                    w + ": model '" + d.model + "' is not in the problem's 'models' list");
    VARIANT_RETURN_IF_ERROR(Req(dm[i], "class", w, &d.cls));
    if (p.ClassIndex(d.cls) < 0)
      return InvalidArgument(w + ": class '" + d.cls + "' is not in the problem's 'classes' list");
    w = "demand '" + d.model + "/" + d.cls + "'";
    if (!demand_keys.insert(d.model + '\n' + d.cls).second)
      return InvalidArgument(w + ": listed twice");
    // rate_rps: a number >= 0; null, NaN, "nan" or stale: true mean missing.
    const auto r = dm[i]["rate_rps"];
    if (!r) return MissingField(w + ": missing required field 'rate_rps' (use null if unknown)");
    if (!r.IsNull()) {
      if (!r.IsScalar()) return Wrong(w, "rate_rps", "must be a number or null");
      const std::string s = r.Scalar();
      if (s == ".nan" || s == ".NaN" || s == "nan" || s == "NaN") {
        d.rate_rps = NAN;
      } else {
        try {
          d.rate_rps = r.template as<double>();
        } catch (const std::exception&) {
          return Wrong(w, "rate_rps", "must be a number or null ('" + s + "')");
        }
        if (std::isinf(d.rate_rps) || d.rate_rps < 0 || d.rate_rps > 1e7)
          return InvalidArgument(w + ": rate_rps must be in [0, 1e7], got " + s);
      }
    }
    bool stale = false;
    VARIANT_RETURN_IF_ERROR(Opt(dm[i], "stale", w, &stale));
    if (stale) d.rate_rps = NAN;
    VARIANT_RETURN_IF_ERROR(Num(dm[i], "prefix_hit_ratio", w, &d.prefix_hit_ratio, false, 0));
    if (d.prefix_hit_ratio >= 1) return InvalidArgument(w + ": prefix_hit_ratio must be < 1");
    VARIANT_RETURN_IF_ERROR(ParseBuckets(dm[i], w, &d));
    p.demand.push_back(d);
  }

  // options
  if (const auto o = root["options"]) {
    if (!o.IsMap()) return ParseError("problem: 'options' must be a mapping");
    const std::string w = "options";
    VARIANT_RETURN_IF_ERROR(CheckKeys(
        o, w,
        {"transition_cost", "headroom", "scale_down_band", "scale_down_window_s",
         "decision_interval_s", "now_s", "max_changes_per_decision", "milp_time_limit_s",
         "forecast_horizon_s", "forecast_alpha", "forecast_beta", "stability"}));
    Options& op = p.options;
    VARIANT_RETURN_IF_ERROR(Num(o, "transition_cost", w, &op.transition_cost, false, 0));
    VARIANT_RETURN_IF_ERROR(Num(o, "headroom", w, &op.headroom, false, 0));
    VARIANT_RETURN_IF_ERROR(Num(o, "scale_down_band", w, &op.scale_down_band, false, 0));
    if (op.scale_down_band >= 1) return InvalidArgument("options: scale_down_band must be < 1");
    VARIANT_RETURN_IF_ERROR(Num(o, "scale_down_window_s", w, &op.scale_down_window_s, false, 0));
    VARIANT_RETURN_IF_ERROR(Num(o, "decision_interval_s", w, &op.decision_interval_s, false, 0, true));
    VARIANT_RETURN_IF_ERROR(Num(o, "now_s", w, &op.now_s, false, 0));
    VARIANT_RETURN_IF_ERROR(Int(o, "max_changes_per_decision", w, &op.max_changes_per_decision, false, 0));
    VARIANT_RETURN_IF_ERROR(Num(o, "milp_time_limit_s", w, &op.milp_time_limit_s, false, 0, true));
    VARIANT_RETURN_IF_ERROR(Num(o, "forecast_horizon_s", w, &op.forecast_horizon_s, false, 0));
    VARIANT_RETURN_IF_ERROR(Num(o, "forecast_alpha", w, &op.forecast_alpha, false, 0, true));
    VARIANT_RETURN_IF_ERROR(Num(o, "forecast_beta", w, &op.forecast_beta, false, 0));
    if (op.forecast_alpha > 1 || op.forecast_beta > 1)
      return InvalidArgument("options: forecast_alpha and forecast_beta must be <= 1");
    VARIANT_RETURN_IF_ERROR(Opt(o, "stability", w, &op.stability));
  }
  return p;
}

template <typename N>
Status ParseState(const N& s, State* st) {
  if (!s.IsMap()) return ParseError("current.state: must be a mapping");
  VARIANT_RETURN_IF_ERROR(Opt(s, "now_s", "current.state", &st->now_s));
  const auto ms = s["models"];
  if (!ms) return {};
  if (!ms.IsMap()) return ParseError("current.state.models: must be a mapping");
  for (const auto& kv : ms) {
    const std::string name = kv.first.template as<std::string>();
    const std::string w = "current.state.models." + name;
    ModelState m;
    if (!kv.second.IsMap()) return ParseError(w + ": must be a mapping");
    VARIANT_RETURN_IF_ERROR(Opt(kv.second, "below_since_s", w, &m.below_since_s));
    VARIANT_RETURN_IF_ERROR(Opt(kv.second, "below_peak_work", w, &m.below_peak_work));
    VARIANT_RETURN_IF_ERROR(Opt(kv.second, "pending", w, &m.pending));
    if (const auto t = kv.second["target"]) {
      try {
        m.target = t.template as<std::map<std::string, int>>();
      } catch (const std::exception&) {
        return ParseError(w + ".target: must map variant names to replica counts");
      }
    }
    if (const auto cs = kv.second["classes"]) {
      if (!cs.IsMap()) return ParseError(w + ".classes: must be a mapping");
      for (const auto& ckv : cs) {
        const std::string cn = ckv.first.template as<std::string>();
        const std::string cw = w + ".classes." + cn;
        ClassState c;
        const auto n = ckv.second;
        if (!n.IsMap()) return ParseError(cw + ": must be a mapping");
        VARIANT_RETURN_IF_ERROR(Opt(n, "level", cw, &c.level));
        VARIANT_RETURN_IF_ERROR(Opt(n, "trend", cw, &c.trend));
        VARIANT_RETURN_IF_ERROR(Opt(n, "last_rate", cw, &c.last_rate));
        VARIANT_RETURN_IF_ERROR(Opt(n, "last_diff", cw, &c.last_diff));
        if (!std::isfinite(c.last_diff)) c.last_diff = 0;
        try {
          if (n["held"]) c.held = n["held"].template as<std::vector<double>>();
          // A bucket list of the state: {input, output, weight} per entry.
          auto buckets = [&](const char* key, std::vector<Bucket>* out) {
            if (!n[key]) return;
            for (const auto& b : n[key])
              out->push_back({b["input"].template as<double>(), b["output"].template as<double>(),
                              b["weight"].template as<double>()});
          };
          buckets("held_buckets", &c.held_buckets);
          if (n["below_peak"]) c.below_peak = n["below_peak"].template as<std::vector<double>>();
          buckets("below_peak_buckets", &c.below_peak_buckets);
        } catch (const std::exception&) {
          return ParseError(cw + ": 'held' / 'held_buckets' / 'below_peak' malformed");
        }
        if (c.held.size() != c.held_buckets.size())
          return ParseError(cw + ": 'held' and 'held_buckets' differ in length");
        if (c.below_peak.size() != c.below_peak_buckets.size())
          return ParseError(cw + ": 'below_peak' and 'below_peak_buckets' differ in length");
        for (double h : c.below_peak)
          if (!std::isfinite(h) || h < 0) return InvalidArgument(cw + ": 'below_peak' must be >= 0");
        for (double h : c.held)
          if (!std::isfinite(h) || h < 0) return InvalidArgument(cw + ": 'held' must be >= 0");
        if (!std::isfinite(c.trend)) c.trend = 0;
        m.classes[cn] = c;
      }
    }
    st->models[name] = m;
  }
  return {};
}

template <typename N>
Result<Current> CurrentFrom(const N& root, const Problem& p) {
  Current c;
  if (root["schema_version"]) {
    int v = 0;
    VARIANT_RETURN_IF_ERROR(SchemaVersion(root, "current", &v));
  }
  const auto al = root["allocation"];
  if (!al) return MissingField("current: missing required field 'allocation'");
  if (!al.IsSequence()) return ParseError("current: 'allocation' must be a list");
  for (size_t i = 0; i < al.size(); ++i) {
    const std::string w = "current.allocation[" + std::to_string(i) + "]";
    if (!al[i].IsMap()) return ParseError(w + ": must be a mapping");
    CurrentEntry e;
    VARIANT_RETURN_IF_ERROR(Req(al[i], "model", w, &e.model));
    VARIANT_RETURN_IF_ERROR(Req(al[i], "variant", w, &e.variant));
    VARIANT_RETURN_IF_ERROR(Int(al[i], "replicas", w, &e.replicas, true, 0));
    VARIANT_RETURN_IF_ERROR(Int(al[i], "starting", w, &e.starting, false, 0));
    if (e.starting > e.replicas)
      return InvalidArgument(w + ": starting > replicas (replicas counts the starting ones)");
    const ModelSpec* m = p.FindModel(e.model);
    if (!m)
      return Status(VARIANT_E_UNKNOWN_MODEL, w + ": model '" + e.model + "' is not in the problem");
    bool found = false;
    for (const auto& v : m->variants) found |= v.name == e.variant;
    if (!found)
      return InvalidArgument(w + ": model '" + e.model + "' has no variant '" + e.variant + "'");
    for (const auto& o : c.allocation)
      if (o.model == e.model && o.variant == e.variant)
        return InvalidArgument(w + ": " + e.model + "/" + e.variant + " listed twice");
    c.allocation.push_back(e);
  }
  if (const auto s = root["state"]) {
    VARIANT_RETURN_IF_ERROR(ParseState(s, &c.state));
    c.has_state = true;
  }
  return c;
}

}  // namespace

Result<Problem> ParseProblem(std::string_view doc) {
  if (LooksLikeJson(doc)) {
    auto j = LoadJson(doc, "problem");
    if (!j.ok()) return j.status();
    return ProblemFrom(JNode((*j)->root));
  }
  auto y = LoadYaml(doc, "problem");
  if (!y.ok()) return y.status();
  // A mapping key that is itself a list or a map makes yaml-cpp's as<std::string>()
  // throw; it is bad input, not VARIANT_E_INTERNAL (found by test/fuzz/fuzz_problem).
  try {
    return ProblemFrom(*y);
  } catch (const std::exception& e) {
    return ParseError("problem: a key or value of the wrong kind: " + std::string(e.what()));
  }
}

Result<Current> ParseCurrent(std::string_view doc, const Problem& p) {
  if (doc.empty()) return Current();
  if (LooksLikeJson(doc)) {
    auto j = LoadJson(doc, "current");
    if (!j.ok()) return j.status();
    return CurrentFrom(JNode((*j)->root), p);
  }
  auto y = LoadYaml(doc, "current");
  if (!y.ok()) return y.status();
  try {
    return CurrentFrom(*y, p);
  } catch (const std::exception& e) {
    return ParseError("current: a key or value of the wrong kind: " + std::string(e.what()));
  }
}

}  // namespace variant::opt

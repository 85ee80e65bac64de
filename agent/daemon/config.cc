#include "config.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

namespace agent {
namespace {

using nlohmann::json;

// YAML -> JSON keeping numbers and booleans typed (plain scalars only; quoted ones
// stay strings).
json ToJson(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      json o = json::object();
      for (const auto& kv : n) o[kv.first.as<std::string>()] = ToJson(kv.second);
      return o;
    }
    case YAML::NodeType::Sequence: {
      json a = json::array();
      for (const auto& e : n) a.push_back(ToJson(e));
      return a;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = n.Scalar();
      if (n.Tag() == "!") return s;  // quoted
      if (s == "true" || s == "True") return true;
      if (s == "false" || s == "False") return false;
      if (s == "null" || s == "~") return nullptr;
      if (!s.empty()) {
        char* end = nullptr;
        long long i = std::strtoll(s.c_str(), &end, 10);
        if (*end == '\0') return i;
        double d = std::strtod(s.c_str(), &end);
        if (*end == '\0' && std::isfinite(d)) return d;
      }
      return s;
    }
    default:
      return nullptr;
  }
}

// Reads a YAML file; one whose first character is '{' is read as JSON directly (a
// JSON document is YAML too, but yaml-cpp's node tree for a large generated config
// costs ~100x its size in memory).
json LoadDoc(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot read " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string text = ss.str();
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '{') return json::parse(text);
  return ToJson(YAML::Load(text));
}

int RoleOf(const json& v) {
  if (v.is_number_integer()) return v.get<int>();
  if (!v.is_string()) return 0;
  std::string r = v.get<std::string>();
  if (r == "p" || r == "P" || r == "prefill") return 1;
  if (r == "d" || r == "D" || r == "decode") return 2;
  return 0;
}

template <typename T>
T Get(const json& o, const char* k, T def) {
  auto it = o.find(k);
  if (it == o.end() || it->is_null()) return def;
  return it->get<T>();
}

// As docs/problem.md: "<accel>-tp<tp>-<role>-b<max_batch>".
std::string DefaultVariantName(const VariantConfig& v) {
  static const char* roles[] = {"pd", "p", "d"};
  return v.accelerator + "-tp" + std::to_string(v.tp) + "-" +
         roles[v.role >= 0 && v.role < 3 ? v.role : 0] + "-b" +
         std::to_string(v.max_batch > 0 ? v.max_batch : 256);
}

VariantConfig ReadVariant(const json& v) {
  VariantConfig c;
  c.accelerator = Get<std::string>(v, "accelerator", "");
  c.tp = Get<int>(v, "tp", 1);
  c.max_batch = Get<int>(v, "max_batch", 0);
  if (v.contains("role")) c.role = RoleOf(v["role"]);
  c.cost_per_hour = Get<double>(v, "cost_per_hour", 0.0);
  c.name = Get<std::string>(v, "name", "");
  if (c.name.empty()) c.name = DefaultVariantName(c);
  return c;
}

// Extracts the models and their variants from the problem (variants either nested
// under each model or in a top-level `variants:` list with a `model:` field).
void ReadModels(const json& problem, Config* cfg) {
  std::map<std::string, size_t> idx;
  std::map<std::string, double> accel_cost;  // per accelerator, when the problem says
  if (problem.contains("accelerators") && problem["accelerators"].is_array())
    for (const auto& a : problem["accelerators"])
      if (a.is_object() && a.contains("name") && a.contains("cost_per_hour") &&
          a["cost_per_hour"].is_number())
        accel_cost[a["name"].get<std::string>()] = a["cost_per_hour"].get<double>();
  auto fill_cost = [&](VariantConfig* v) {
    auto it = accel_cost.find(v->accelerator);
    if (v->cost_per_hour == 0 && it != accel_cost.end()) v->cost_per_hour = v->tp * it->second;
  };
  if (problem.contains("models") && problem["models"].is_array()) {
    for (const auto& m : problem["models"]) {
      ModelConfig mc;
      mc.name = m.is_string() ? m.get<std::string>() : Get<std::string>(m, "name", "");
      if (mc.name.empty()) throw std::runtime_error("problem.models: an entry has no 'name'");
      if (m.is_object() && m.contains("variants") && m["variants"].is_array())
        for (const auto& v : m["variants"]) {
          mc.variants.push_back(ReadVariant(v));
          fill_cost(&mc.variants.back());
        }
      idx[mc.name] = cfg->models.size();
      cfg->models.push_back(std::move(mc));
    }
  }
  if (problem.contains("variants") && problem["variants"].is_array()) {
    for (const auto& v : problem["variants"]) {
      std::string model = Get<std::string>(v, "model", "");
      auto it = idx.find(model);
      if (it == idx.end()) {
        ModelConfig mc;
        mc.name = model;
        it = idx.emplace(model, cfg->models.size()).first;
        cfg->models.push_back(std::move(mc));
      }
      cfg->models[it->second].variants.push_back(ReadVariant(v));
      fill_cost(&cfg->models[it->second].variants.back());
    }
  }
  // Held for the agent's life: without the growth slack (40 variants sat in room for
  // 64; about 2 MB at 1,000 x 40).
  cfg->models.shrink_to_fit();
  for (auto& m : cfg->models) m.variants.shrink_to_fit();
}

// The bus.curve section (docs/bus.md, "Authentication").
void ReadCurve(const json& c, Config* cfg) {
  auto key = [&](const char* k, const char* which) -> std::string {
    std::string v = Get<std::string>(c, k, "");
    return v.empty() ? v : ReadCurveKey(v, which, std::string("bus.curve.") + k);
  };
  cfg->curve_server_secret = key("secret_key", "secret-key");
  cfg->curve_server_public = key("public_key", "public-key");
  if (c.contains("allowed_publishers"))
    for (const auto& k : c["allowed_publishers"])
      cfg->curve_allowed_publishers.push_back(
          ReadCurveKey(k.get<std::string>(), "public-key", "bus.curve.allowed_publishers"));
  cfg->curve_allowed_publishers_dir = Get<std::string>(c, "allowed_publishers_dir", "");
  if (c.contains("allowed_subscribers"))
    for (const auto& k : c["allowed_subscribers"])
      cfg->curve_allowed_subscribers.push_back(
          ReadCurveKey(k.get<std::string>(), "public-key", "bus.curve.allowed_subscribers"));
  cfg->curve_client_secret = key("client_secret_key", "secret-key");
  cfg->curve_client_public = key("client_public_key", "public-key");
  cfg->curve_server_key = key("server_public_key", "public-key");
  if (!cfg->curve_server_secret.empty() && cfg->curve_server_public.empty())
    throw std::runtime_error("bus.curve: secret_key given without public_key");
  if (!cfg->curve_server_secret.empty() && cfg->curve_allowed_publishers.empty() &&
      cfg->curve_allowed_publishers_dir.empty())
    throw std::runtime_error(
        "bus.curve: secret_key given but no allowed_publishers / allowed_publishers_dir "
        "(nobody could publish)");
  if (!cfg->curve_client_secret.empty() &&
      (cfg->curve_client_public.empty() || cfg->curve_server_key.empty()))
    throw std::runtime_error(
        "bus.curve: client_secret_key needs client_public_key and server_public_key");
}

}  // namespace

bool LoadConfig(const std::string& path, Config* cfg, std::string* err) {
  try {
    json r = LoadDoc(path);
    if (!r.is_object()) {
      *err = path + ": not a YAML mapping";
      return false;
    }
    cfg->mode = Get<std::string>(r, "mode", cfg->mode);
    cfg->source = Get<std::string>(r, "source", cfg->source);
    cfg->libvariant = Get<std::string>(r, "libvariant", "");
    cfg->data_dir = Get<std::string>(r, "data_dir", "");
    if (r.contains("plugin_dirs"))
      for (const auto& d : r["plugin_dirs"]) cfg->plugin_dirs.push_back(d.get<std::string>());
    if (r.contains("bus")) {
      const json& b = r["bus"];
      cfg->xsub = Get<std::string>(b, "xsub", cfg->xsub);
      cfg->xpub = Get<std::string>(b, "xpub", cfg->xpub);
      cfg->max_message_bytes = Get<size_t>(b, "max_message_bytes", cfg->max_message_bytes);
      cfg->heartbeat_s = Get<double>(b, "heartbeat_s", cfg->heartbeat_s);
      cfg->stale_after_s = Get<double>(b, "stale_after_s", cfg->stale_after_s);
      cfg->rate_limit_per_source =
          Get<double>(b, "rate_limit_per_source", cfg->rate_limit_per_source);
      cfg->rate_burst = Get<double>(b, "rate_burst", cfg->rate_burst);
      cfg->max_sources = Get<size_t>(b, "max_sources", cfg->max_sources);
      cfg->hwm = Get<int>(b, "hwm", cfg->hwm);
      if (!(cfg->rate_limit_per_source >= 0) || !(cfg->rate_burst >= 1) || cfg->max_sources < 1 ||
          cfg->hwm < 1 || cfg->max_message_bytes < 64) {
        *err = path + ": bus.rate_limit_per_source must be >= 0, bus.rate_burst >= 1, "
                      "bus.max_sources and bus.hwm >= 1, bus.max_message_bytes >= 64";
        return false;
      }
      if (b.contains("curve")) ReadCurve(b["curve"], cfg);
    }
    cfg->metrics_listen = Get<std::string>(r, "metrics_listen", "");
    cfg->state_file = Get<std::string>(r, "state_file", "");
    if (r.contains("solve")) {
      const json& s = r["solve"];
      cfg->solver = Get<std::string>(s, "solver", cfg->solver);
      cfg->threshold = Get<double>(s, "threshold", cfg->threshold);
      cfg->min_delta_rps = Get<double>(s, "min_delta_rps", cfg->min_delta_rps);
      cfg->debounce_ms = Get<double>(s, "debounce_ms", cfg->debounce_ms);
      cfg->max_staleness_s = Get<double>(s, "max_staleness_s", cfg->max_staleness_s);
    }
    if (cfg->heartbeat_s <= 0 || cfg->stale_after_s <= 0 || cfg->max_staleness_s <= 0 ||
        cfg->debounce_ms < 0 || cfg->threshold < 0) {
      *err = path + ": bus.heartbeat_s, bus.stale_after_s, solve.max_staleness_s must be > 0; "
                    "solve.debounce_ms and solve.threshold >= 0";
      return false;
    }
    json problem;
    if (r.contains("problem_file")) {
      std::string pf = r["problem_file"].get<std::string>();
      if (!pf.empty() && pf[0] != '/') {
        auto slash = path.rfind('/');
        if (slash != std::string::npos) pf = path.substr(0, slash + 1) + pf;
      }
      problem = LoadDoc(pf);
    } else if (r.contains("problem")) {
      problem = std::move(r["problem"]);  // no second copy of a large problem
    }
    if (!problem.is_null()) {
      if (!problem.is_object()) {
        *err = path + ": the problem is not a mapping";
        return false;
      }
      problem.erase("demand");
      ReadModels(problem, cfg);
    }
    if (r.contains("policies")) {
      for (const auto& [model, p] : r["policies"].items()) {
        bool found = false;
        for (auto& m : cfg->models) {
          if (m.name != model) continue;
          found = true;
          m.policy = p.is_string() ? p.get<std::string>() : Get<std::string>(p, "policy", "optimizer");
          if (p.is_object() && p.contains("params")) m.policy_params = p["params"].dump();
        }
        if (!found) {
          *err = path + ": policies: model '" + model + "' is not in the problem";
          return false;
        }
      }
    }
    if (r.contains("default_policy")) {
      std::string d = r["default_policy"].get<std::string>();
      json params = r.contains("default_policy_params") ? r["default_policy_params"] : json::object();
      for (auto& m : cfg->models)
        if (!r.contains("policies") || !r["policies"].contains(m.name)) {
          m.policy = d;
          m.policy_params = params.dump();
        }
    }
    if (problem.is_object()) {
      // The optimizer's share of the problem: without the plugin-decided models, and
      // with `options` kept aside (the agent adds now_s at each solve).
      std::set<std::string> plugin_models;
      for (const auto& m : cfg->models)
        if (m.policy != "optimizer" && !m.policy.empty()) plugin_models.insert(m.name);
      auto drop = [&](json* list, const char* key) {
        if (!list->is_array()) return;
        json kept = json::array();
        for (auto& e : *list) {
          std::string name = e.is_string() ? e.get<std::string>() : Get<std::string>(e, key, "");
          if (!plugin_models.count(name)) kept.push_back(std::move(e));
        }
        *list = std::move(kept);
      };
      if (problem.contains("models")) drop(&problem["models"], "name");
      if (problem.contains("variants")) drop(&problem["variants"], "model");
      if (problem.contains("options")) {
        cfg->problem_options = problem["options"].dump();
        problem.erase("options");
      }
      if (problem.contains("accelerators")) {
        cfg->problem_accelerators = problem["accelerators"].dump();
        problem.erase("accelerators");
      }
      if (problem.contains("classes") && problem["classes"].is_array()) {
        for (const auto& c : problem["classes"])
          if (c.is_object() && c.contains("name") && c["name"].is_string())
            cfg->class_names.push_back(c["name"].get<std::string>());
        if (!cfg->class_names.empty()) cfg->default_class = cfg->class_names[0];
      }
      cfg->problem_json = problem.dump();
    }
    if (r.contains("solve")) {
      const json& s = r["solve"];
      cfg->default_class = Get<std::string>(s, "default_class", cfg->default_class);
      cfg->default_input_tokens = Get<double>(s, "default_input_tokens", cfg->default_input_tokens);
      cfg->default_output_tokens =
          Get<double>(s, "default_output_tokens", cfg->default_output_tokens);
    }
    if (r.contains("node")) {
      const json& n = r["node"];
      cfg->node_cluster = Get<std::string>(n, "cluster", cfg->node_cluster);
      cfg->node_interval_s = Get<double>(n, "interval_s", cfg->node_interval_s);
      cfg->node_collector = Get<std::string>(n, "collector", cfg->node_collector);
      cfg->node_file = Get<std::string>(n, "file", "");
      if (n.contains("static"))
        for (const auto& e : n["static"]) {
          bus::Metrics m;
          m.model = Get<std::string>(e, "model", "");
          m.variant = Get<std::string>(e, "variant", "");
          m.service_class = Get<std::string>(e, "class", "");
          m.arrival_rate_rps = Get<double>(e, "arrival_rate_rps", m.arrival_rate_rps);
          m.input_mean = Get<double>(e, "input_mean", m.input_mean);
          m.output_mean = Get<double>(e, "output_mean", m.output_mean);
          m.running = Get<double>(e, "running", m.running);
          m.waiting = Get<double>(e, "waiting", m.waiting);
          m.kv_usage = Get<double>(e, "kv_usage", m.kv_usage);
          m.replicas_ready = Get<int>(e, "replicas_ready", m.replicas_ready);
          cfg->node_static.push_back(m);
        }
      if (n.contains("targets")) {
        if (!n["targets"].is_array()) throw std::runtime_error("node.targets must be a list");
        for (const auto& e : n["targets"]) {
          Config::NodeTarget t;
          t.url = Get<std::string>(e, "url", "");
          t.pod = Get<std::string>(e, "pod", "");
          t.variant = Get<std::string>(e, "variant", "");
          t.service_class = Get<std::string>(e, "class", "");
          if (t.url.empty() || t.variant.empty())
            throw std::runtime_error("node.targets entries need 'url' and 'variant'");
          cfg->node_targets.push_back(std::move(t));
        }
      }
    }
    if (cfg->mode != "cluster" && cfg->mode != "node") {
      *err = path + ": mode must be 'cluster' or 'node', not '" + cfg->mode + "'";
      return false;
    }
  } catch (const std::exception& e) {
    *err = path + ": " + e.what();
    return false;
  }
  return true;
}

}  // namespace agent

#include "variant/collector/prometheus_source.h"

#include <httplib.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <nlohmann/json.hpp>

namespace variant::collector {
namespace {
using json = nlohmann::json;

// One value per (model, variant), from an instant vector result.
using Vector = std::map<std::pair<std::string, std::string>, double>;

bool Query(httplib::Client& cli, const std::string& q, const std::string& variant_label,
           Vector* out, std::string* err) {
  auto res = cli.Get("/api/v1/query", httplib::Params{{"query", q}}, httplib::Headers{});
  if (!res) {
    *err = "query " + q + ": " + httplib::to_string(res.error());
    return false;
  }
  json j;
  try {
    j = json::parse(res->body);
  } catch (const std::exception& e) {
    *err = "query " + q + ": HTTP " + std::to_string(res->status) + ", not JSON";
    return false;
  }
  // Any shape Prometheus (or whatever answers on its port) sends is an error here,
  // never an uncaught exception or a const operator[] on a missing key (undefined
  // behaviour; `data` without `result` tripped nlohmann's assertion; found by
  // test/fuzz/fuzz_prometheus_api).
  try {
    if (res->status != 200 || !j.is_object() || j.value("status", "") != "success") {
      *err = "query " + q + ": HTTP " + std::to_string(res->status) + ": " +
             (j.is_object() ? j.value("error", std::string("?"))
                             : std::string("the answer is not a JSON object"));
      return false;
    }
    const json& data = j.at("data");
    if (data.value("resultType", "") != "vector") {
      *err = "query " + q + ": result is not an instant vector";
      return false;
    }
    for (const json& r : data.at("result")) {
      const json& m = r.at("metric");
      std::string model = m.value("model_name", std::string());
      std::string variant = m.value(variant_label, std::string());
      if (model.empty()) continue;
      // Values are strings: "1.5", "NaN", "+Inf".
      std::string v = r.at("value").at(1).get<std::string>();
      double d = std::strtod(v.c_str(), nullptr);
      if (v == "NaN" || !std::isfinite(d)) continue;
      (*out)[{model, variant}] = d;
    }
  } catch (const std::exception& e) {
    *err = "query " + q + ": unexpected answer: " + e.what();
    return false;
  }
  return true;
}

}  // namespace

std::map<std::string, std::string> PrometheusSource::Queries() const {
  const std::string by = " by (model_name, " + opt_.variant_label + ") ";
  const std::string sel = "{" + opt_.matchers + "}";
  const std::string w = "[" + opt_.window + "]";
  auto rate = [&](const std::string& m) { return "sum" + by + "(rate(" + m + sel + w + "))"; };
  auto ratio = [&](const std::string& num, const std::string& den) {
    return "(" + rate(num) + " / " + rate(den) + ")";
  };
  auto hist_mean = [&](const std::string& h) { return ratio(h + "_sum", h + "_count"); };
  return {
      {"arrival_rate_rps", rate("vllm:request_success_total")},
      {"input_mean", hist_mean("vllm:request_prompt_tokens")},
      {"output_mean", hist_mean("vllm:request_generation_tokens")},
      {"ttft_mean_ms", "1000 * " + hist_mean("vllm:time_to_first_token_seconds")},
      {"itl_mean_ms", "1000 * (" + hist_mean("vllm:inter_token_latency_seconds") + " or " +
                          hist_mean("vllm:time_per_output_token_seconds") + ")"},
      {"running", "sum" + by + "(vllm:num_requests_running" + sel + ")"},
      {"waiting", "sum" + by + "(vllm:num_requests_waiting" + sel + ")"},
      {"kv_usage", "avg" + by + "(vllm:kv_cache_usage_perc" + sel + ") or avg" + by +
                       "(vllm:gpu_cache_usage_perc" + sel + ")"},
      {"prefix_hit_ratio",
       ratio("vllm:prefix_cache_hits_total", "vllm:prefix_cache_queries_total") + " or avg" + by +
           "(vllm:gpu_prefix_cache_hit_rate" + sel + ")"},
      {"replicas_ready", "count" + by + "(vllm:num_requests_running" + sel + ")"},
  };
}

bool PrometheusSource::Collect(std::vector<bus::Metrics>* out, std::string* err) {
  out->clear();
  httplib::Client cli(opt_.server.host, opt_.server.port);
  time_t s = static_cast<time_t>(opt_.timeout_s);
  time_t us = static_cast<time_t>((opt_.timeout_s - static_cast<double>(s)) * 1e6);
  cli.set_connection_timeout(s, us);
  cli.set_read_timeout(s, us);
  std::map<std::string, Vector> values;
  for (const auto& [name, q] : Queries()) {
    if (!Query(cli, q, opt_.variant_label, &values[name], err)) return false;
  }
  std::map<std::pair<std::string, std::string>, bus::Metrics> by_key;
  for (const auto& [name, vec] : values) {
    for (const auto& [key, v] : vec) {
      bus::Metrics& m = by_key[key];
      m.model = key.first;
      m.variant = key.second;
      if (name == "arrival_rate_rps") m.arrival_rate_rps = std::max(0.0, v);
      else if (name == "input_mean") m.input_mean = v;
      else if (name == "output_mean") m.output_mean = v;
      else if (name == "ttft_mean_ms") m.ttft_mean_ms = v;
      else if (name == "itl_mean_ms") m.itl_mean_ms = v;
      else if (name == "running") m.running = v;
      else if (name == "waiting") m.waiting = v;
      else if (name == "kv_usage") m.kv_usage = std::clamp(v, 0.0, 1.0);
      else if (name == "prefix_hit_ratio") m.prefix_hit_ratio = std::clamp(v, 0.0, 1.0);
      // A count no int holds (1e300 came from fuzz_prometheus_api) stays unknown (-1).
      else if (name == "replicas_ready" && v >= 0 && v <= std::numeric_limits<int>::max())
        m.replicas_ready = static_cast<int>(v);
    }
  }
  for (auto& [k, m] : by_key) out->push_back(std::move(m));
  return true;
}

}  // namespace variant::collector

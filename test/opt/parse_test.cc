// JSON documents are parsed with nlohmann::json, YAML with yaml-cpp (problem.cc): the
// two paths must read the same text identically. YAML reads JSON too, so the same
// JSON text is fed to both (the YAML path forced by a leading comment), and the parsed
// problems, current allocations and error codes are compared.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>

#include "opt/problem.h"

namespace variant::opt::test {
namespace {

using nlohmann::json;

json Num(double x) { return std::isnan(x) ? json("nan") : json(x); }

// Everything a Problem holds, as JSON (NaN spelled "nan"), for comparison.
json Describe(const Problem& p) {
  json j;
  j["schema_version"] = p.schema_version;
  for (const auto& a : p.accelerators)
    j["acc"].push_back({a.name, Num(a.cost_per_hour), a.count, a.resources});
  for (const auto& c : p.caps) j["caps"].push_back({c.resource, c.total});
  for (const auto& c : p.classes) {
    json s = json::array();
    for (const auto& t : c.slo) s.push_back({t.metric, t.percentile, t.target_ms});
    j["classes"].push_back({c.name, c.priority, s});
  }
  for (const auto& m : p.models)
    for (const auto& v : m.variants)
      j["variants"].push_back({m.name, v.name, v.accelerator, v.tp, v.max_batch,
                               v.max_tokens_per_step, v.role, v.min_replicas, v.max_replicas,
                               Num(v.capacity_rps), v.kv_link_gbps, v.gpu_memory_util});
  for (const auto& d : p.demand) {
    json b = json::array();
    for (const auto& k : d.buckets) b.push_back({k.input, k.output, k.weight});
    j["demand"].push_back({d.model, d.cls, Num(d.rate_rps), d.prefix_hit_ratio, b});
  }
  const Options& o = p.options;
  j["options"] = {o.transition_cost, o.headroom, o.scale_down_band, o.scale_down_window_s,
                  o.decision_interval_s, Num(o.now_s), o.max_changes_per_decision,
                  o.milp_time_limit_s, o.forecast_horizon_s, o.forecast_alpha,
                  o.forecast_beta, o.stability};
  return j;
}

json Describe(const Current& c) {
  json j;
  for (const auto& e : c.allocation) j["alloc"].push_back({e.model, e.variant, e.replicas, e.starting});
  j["has_state"] = c.has_state;
  j["now"] = Num(c.state.now_s);
  for (const auto& [m, ms] : c.state.models) {
    json cl = json::object();
    for (const auto& [cn, cs] : ms.classes) {
      json hb = json::array();
      for (const auto& b : cs.held_buckets) hb.push_back({b.input, b.output, b.weight});
      cl[cn] = {Num(cs.level), cs.trend, Num(cs.last_rate), cs.last_diff, cs.held, hb};
    }
    j["models"][m] = {Num(ms.below_since_s), ms.pending, ms.target, cl};
  }
  return j;
}

json GoodProblem() {
  return json::parse(R"({
    "schema_version": 1,
    "accelerators": [{"name": "h100", "count": 8, "power_kw": 0.7},
                     {"name": "a100", "count": 8, "cost_per_hour": 2.0, "power_kw": 0.4}],
    "caps": [{"resource": "power_kw", "total": 9.5}],
    "classes": [{"name": "chat", "priority": 2, "slo": {"ttft_p95_ms": 800, "itl_p95_ms": 60, "tpot_p90_ms": 40}},
                {"name": "batch", "slo": "ttlt_p99_ms=60000,itl_mean_ms=80"}],
    "models": [{"name": "llama-3-8b", "variants": [
        {"name": "h", "accelerator": "h100", "capacity_rps": 10, "max_replicas": 6},
        {"accelerator": "a100", "tp": 2, "role": "p", "max_batch": 64, "kv_link_gbps": 50},
        {"accelerator": "a100", "tp": 2, "role": "d", "min_replicas": 1, "gpu_memory_util": 0.85,
         "max_tokens_per_step": 4096}]}],
    "demand": [
      {"model": "llama-3-8b", "class": "chat", "rate_rps": 20.5, "prefix_hit_ratio": 0.25,
       "buckets": [{"input": 400, "output": 200, "weight": 3}, {"input": 4000, "output": 20}]},
      {"model": "llama-3-8b", "class": "batch", "rate_rps": null,
       "grid": {"input_edges": [128, 1024, 8192], "output_edges": [16, 128, 1024],
                "weights": [[0.2, 0.3], [0.4, 0.1]]}}],
    "options": {"transition_cost": 0.2, "headroom": 0.15, "now_s": 600, "stability": false,
                "max_changes_per_decision": 4, "forecast_alpha": 0.3}
  })");
}

Result<Problem> ViaYaml(const json& j) { return ParseProblem("# yaml\n" + j.dump()); }
Result<Problem> ViaJson(const json& j) { return ParseProblem(j.dump()); }

TEST(Parse, JsonAndYamlReadTheSameProblem) {
  const json g = GoodProblem();
  auto a = ViaJson(g), b = ViaYaml(g);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(Describe(*a).dump(), Describe(*b).dump());
  EXPECT_EQ(a->demand[0].buckets.size(), 2u);
  EXPECT_TRUE(std::isnan(a->demand[1].rate_rps));
  EXPECT_EQ(a->demand[1].buckets.size(), 4u);
  EXPECT_EQ(a->accelerators[0].resources.at("power_kw"), 0.7);
  // A tpot key is its own metric (a request's mean gap), not an ITL percentile.
  bool tpot = false;
  for (const SloTerm& t : a->classes[0].slo)
    tpot = tpot || (t.metric == VARIANT_METRIC_TPOT && t.percentile == 90 && t.target_ms == 40);
  EXPECT_TRUE(tpot);
}

TEST(Parse, JsonAndYamlGiveTheSameErrorCodes) {
  struct Mut {
    const char* name;
    json::json_pointer at;
    json value;  // null with erase = remove the field
    bool erase;
  };
  using P = json::json_pointer;
  const Mut muts[] = {
      {"no schema_version", P("/schema_version"), nullptr, true},
      {"future schema", P("/schema_version"), 9, false},
      {"schema as string", P("/schema_version"), "one", false},
      {"accelerators not a list", P("/accelerators"), 3, false},
      {"count fractional", P("/accelerators/0/count"), 2.5, false},
      {"count negative", P("/accelerators/0/count"), -1, false},
      {"resource not a number", P("/accelerators/0/power_kw"), "lots", false},
      {"cap on unknown resource", P("/caps/0/resource"), "watts", false},
      {"slo bad key", P("/classes/0/slo"), json{{"ttft_q95_ms", 3}}, false},
      {"slo not a number", P("/classes/0/slo/ttft_p95_ms"), "fast", false},
      {"priority string", P("/classes/0/priority"), "high", false},
      {"unknown class field", P("/classes/0/colour"), "red", false},
      {"bad tp", P("/models/0/variants/0/tp"), 3, false},
      {"bad role", P("/models/0/variants/1/role"), "x", false},
      {"role number", P("/models/0/variants/1/role"), 7, false},
      {"max below min", P("/models/0/variants/2/max_replicas"), 0, false},
      {"unknown variant field", P("/models/0/variants/0/speed"), 1, false},
      {"variants empty", P("/models/0/variants"), json::array(), false},
      {"rate negative", P("/demand/0/rate_rps"), -3, false},
      {"rate string", P("/demand/0/rate_rps"), "lots", false},
      {"rate nan string", P("/demand/0/rate_rps"), "nan", false},
      {"rate missing", P("/demand/0/rate_rps"), nullptr, true},
      {"stale flag", P("/demand/0/stale"), true, false},
      {"stale string", P("/demand/0/stale"), "yes please", false},
      {"prefix one", P("/demand/0/prefix_hit_ratio"), 1, false},
      {"bucket not a map", P("/demand/0/buckets/0"), 5, false},
      {"input negative", P("/demand/0/buckets/0/input"), -4, false},
      {"weights ragged", P("/demand/1/grid/weights/0"), json::array({1}), false},
      {"edges strings", P("/demand/1/grid/input_edges"), json::array({"a", "b"}), false},
      {"unknown model", P("/demand/0/model"), "gpt-9", false},
      {"unknown option", P("/options/wobble"), 1, false},
      {"band too big", P("/options/scale_down_band"), 1.5, false},
      {"stability string", P("/options/stability"), "maybe", false},
  };
  int errors = 0;
  for (const auto& m : muts) {
    json d = GoodProblem();
    if (m.erase) {
      d[m.at.parent_pointer()].erase(m.at.back());
    } else {
      d[m.at] = m.value;
    }
    auto a = ViaJson(d), b = ViaYaml(d);
    EXPECT_EQ(a.ok(), b.ok()) << m.name << ": json " << a.status().ToString() << " / yaml "
                              << b.status().ToString();
    EXPECT_EQ(a.status().code(), b.status().code())
        << m.name << ": json " << a.status().ToString() << " / yaml " << b.status().ToString();
    errors += !a.ok();
    if (a.ok() && b.ok()) {
      EXPECT_EQ(Describe(*a).dump(), Describe(*b).dump()) << m.name;
    }
  }
  EXPECT_GE(errors, 28);  // all but the valid variations (nan rate, stale, missing-as-error...)
  // Not JSON at all, and JSON that is not an object.
  EXPECT_EQ(ParseProblem("{\"schema_version\": ").status().code(), VARIANT_E_PARSE);
  EXPECT_EQ(ParseProblem("  [1, 2]").status().code(), VARIANT_E_PARSE);
  EXPECT_EQ(ParseProblem("{} trailing").status().code(), VARIANT_E_PARSE);
}

TEST(Parse, JsonAndYamlReadTheSameCurrentAndState) {
  auto p = ViaJson(GoodProblem());
  ASSERT_TRUE(p.ok());
  const json cur = json::parse(R"({
    "schema_version": 1,
    "allocation": [{"model": "llama-3-8b", "variant": "h", "replicas": 3, "starting": 1}],
    "state": {"now_s": 570, "models": {"llama-3-8b": {"below_since_s": null, "pending": true,
      "target": {"h": 4},
      "classes": {"chat": {"level": 100.2, "trend": 0.05, "last_rate": 100, "last_diff": 0,
        "held": [110.8, 3], "held_buckets": [{"input": 500, "output": 200, "weight": 0.9},
                                           {"input": 50, "output": 20, "weight": 0.1}]}}}}}
  })");
  auto a = ParseCurrent(cur.dump(), *p), b = ParseCurrent("# yaml\n" + cur.dump(), *p);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(Describe(*a).dump(), Describe(*b).dump());
  EXPECT_EQ(a->state.models.at("llama-3-8b").target.at("h"), 4);
  json bad = cur;
  bad["state"]["models"]["llama-3-8b"]["classes"]["chat"]["held"] = json::array({1});
  EXPECT_EQ(ParseCurrent(bad.dump(), *p).status().code(),
            ParseCurrent("# yaml\n" + bad.dump(), *p).status().code());
  bad = cur;
  bad["allocation"][0]["replicas"] = "three";
  EXPECT_EQ(ParseCurrent(bad.dump(), *p).status().code(), VARIANT_E_PARSE);
  EXPECT_EQ(ParseCurrent("# yaml\n" + bad.dump(), *p).status().code(), VARIANT_E_PARSE);
}

}  // namespace
}  // namespace variant::opt::test

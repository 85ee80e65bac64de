// The problem format and variant_solve's bad-input discipline, through the C ABI.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "variant/variant.h"

namespace {

const char* kGood = R"(schema_version: 1
accelerators:
  - {name: h100, count: 8}
  - {name: a100, count: 8, cost_per_hour: 2.0}
classes:
  - {name: chat, priority: 2, slo: {ttft_p95_ms: 800, itl_p95_ms: 60}}
models:
  - name: llama-3-8b
    variants:
      - {name: h, accelerator: h100, capacity_rps: 10}
      - {name: a, accelerator: a100, capacity_rps: 6}
demand:
  - {model: llama-3-8b, class: chat, rate_rps: 20, buckets: [{input: 400, output: 200}]}
)";

class SolveApi : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(variant_ctx_create(nullptr, &ctx_, nullptr), VARIANT_OK); }
  void TearDown() override { variant_ctx_destroy(ctx_); }
  int Solve(const std::string& p, const std::string& cur = "", const char* solver = "fast") {
    char* out = nullptr;
    size_t len = 0;
    int rc = variant_solve(ctx_, p.data(), p.size(), cur.empty() ? nullptr : cur.data(),
                           cur.size(), solver, &out, &len);
    doc_ = out ? std::string(out, len) : "";
    variant_free(out);
    msg_ = variant_ctx_last_error(ctx_);
    return rc;
  }
  static std::string Replace(std::string s, const std::string& a, const std::string& b) {
    const size_t pos = s.find(a);
    EXPECT_NE(pos, std::string::npos) << a;
    return pos == std::string::npos ? s : s.replace(pos, a.size(), b);
  }
  variant_ctx* ctx_ = nullptr;
  std::string doc_, msg_;
};

TEST_F(SolveApi, GoodProblemGivesEveryField) {
  ASSERT_EQ(Solve(kGood), VARIANT_OK) << msg_;
  auto j = nlohmann::json::parse(doc_);
  for (const char* k : {"cost_per_hour", "lower_bound", "gap", "solve_ms", "allocation",
                        "unserved", "plan", "guidance", "state"})
    EXPECT_TRUE(j.contains(k)) << k;
  for (const auto& a : j["allocation"])
    for (const char* k : {"model", "variant", "accelerator", "tp", "role", "replicas"})
      EXPECT_TRUE(a.contains(k)) << k;
  // Guidance weights sum to 1 per slice.
  for (const auto& m : j["guidance"]["models"])
    for (const auto& s : m["slices"]) {
      double w = 0;
      for (auto& [k, v] : s["weights"].items()) w += v.get<double>();
      EXPECT_NEAR(w, 1.0, 1e-9);
    }
}

TEST_F(SolveApi, BothSolversSideBySide) {
  ASSERT_EQ(Solve(kGood, "", "both"), VARIANT_OK) << msg_;
  auto j = nlohmann::json::parse(doc_);
  ASSERT_TRUE(j.contains("solvers"));
  EXPECT_TRUE(j["solvers"].contains("fast"));
  EXPECT_TRUE(j["solvers"].contains("milp"));
  EXPECT_NEAR(j["solvers"]["fast"]["cost_per_hour"].get<double>(),
              j["solvers"]["milp"]["cost_per_hour"].get<double>(), 1e-9);
}

TEST_F(SolveApi, DecisionFeedsBackAsCurrent) {
  ASSERT_EQ(Solve(kGood), VARIANT_OK) << msg_;
  const std::string first = doc_;
  ASSERT_EQ(Solve(kGood, first), VARIANT_OK) << msg_;
  EXPECT_TRUE(nlohmann::json::parse(doc_)["plan"].empty());
}

TEST_F(SolveApi, PerfModelCapacityOnTheExample) {
  std::ifstream f(std::string(VARIANT_SOURCE_DIR) + "/examples/basic.yaml");
  std::stringstream ss;
  ss << f.rdbuf();
  ASSERT_EQ(Solve(ss.str(), "", "both"), VARIANT_OK) << msg_;
  auto j = nlohmann::json::parse(doc_);
  EXPECT_GT(j["cost_per_hour"].get<double>(), 0);
  EXPECT_TRUE(j["unserved"].empty());
}

// Regression: examples/basic.yaml reported lower_bound 32.61 above cost_per_hour 29.65
// (the bound was the objective's, which includes the transition cost of new replicas).
TEST_F(SolveApi, BasicExampleLowerBoundNotAboveCost) {
  std::ifstream f(std::string(VARIANT_SOURCE_DIR) + "/examples/basic.yaml");
  std::stringstream ss;
  ss << f.rdbuf();
  ASSERT_EQ(Solve(ss.str(), "", "both"), VARIANT_OK) << msg_;
  auto j = nlohmann::json::parse(doc_);
  for (const char* w : {"fast", "milp"}) {
    const auto& s = j["solvers"][w];
    const double cost = s["cost_per_hour"].get<double>();
    EXPECT_LE(s["lower_bound"].get<double>(), cost + 1e-9) << w;
    EXPECT_LE(s["objective_lower_bound"].get<double>(), s["objective"].get<double>() + 1e-9) << w;
    EXPECT_NEAR(s["gap"].get<double>(), (cost - s["lower_bound"].get<double>()) / cost, 1e-9) << w;
  }
  // The MILP is optimal here: its objective bound equals its objective.
  EXPECT_NEAR(j["solvers"]["milp"]["objective_gap"].get<double>(), 0, 1e-12);
}

// The homogeneous baseline: per model the cheapest single accelerator type sized by
// the same capacities. kGood: 20 rps + 10% headroom = 22 rps; h100 (10 rps, 4.25/h)
// needs 3 = 12.75/h, a100 (6 rps, 2.0/h) needs 4 = 8.0/h.
TEST_F(SolveApi, BaselineIsTheCheapestSingleType) {
  ASSERT_EQ(Solve(kGood), VARIANT_OK) << msg_;
  auto j = nlohmann::json::parse(doc_);
  ASSERT_EQ(j["baseline"].size(), 1u);
  const auto& b = j["baseline"][0];
  EXPECT_EQ(b["model"], "llama-3-8b");
  EXPECT_EQ(b["accelerator"], "a100");
  EXPECT_EQ(b["replicas"], 4);
  EXPECT_NEAR(b["cost_per_hour"].get<double>(), 8.0, 1e-9);
  EXPECT_NEAR(j["baseline_cost_per_hour"].get<double>(), 8.0, 1e-9);
  EXPECT_TRUE(j["baseline_complete"].get<bool>());
  // The optimizer may mix types but is never dearer than one type when nothing else
  // (caps, floors) constrains it.
  EXPECT_LE(j["cost_per_hour"].get<double>(), 8.0 + 1e-9);
  // With a100 capped at 2, a100 alone still defines the baseline (counts do not
  // limit it) while the answer must use h100 too.
  ASSERT_EQ(Solve(Replace(kGood, "{name: a100, count: 8,", "{name: a100, count: 2,")), VARIANT_OK) << msg_;
  j = nlohmann::json::parse(doc_);
  EXPECT_NEAR(j["baseline_cost_per_hour"].get<double>(), 8.0, 1e-9);
  EXPECT_GT(j["cost_per_hour"].get<double>(), 8.0);
}

TEST_F(SolveApi, HeteroExampleMixBeatsTheBaseline) {
  std::ifstream f(std::string(VARIANT_SOURCE_DIR) + "/examples/hetero.yaml");
  std::stringstream ss;
  ss << f.rdbuf();
  ASSERT_EQ(Solve(ss.str(), "", "milp"), VARIANT_OK) << msg_;
  auto j = nlohmann::json::parse(doc_);
  std::set<std::string> types;
  for (const auto& a : j["allocation"]) types.insert(a["accelerator"].get<std::string>());
  EXPECT_GE(types.size(), 2u);
  EXPECT_LT(j["cost_per_hour"].get<double>(), j["baseline_cost_per_hour"].get<double>());
}

struct Bad {
  const char* name;
  std::string doc;
  int code;
};

TEST_F(SolveApi, EveryBadInputGetsItsCode) {
  const std::string g = kGood;
  const Bad cases[] = {
      {"not yaml", "{[: nope", VARIANT_E_PARSE},
      {"not a mapping", "- 1\n- 2\n", VARIANT_E_PARSE},
      {"no schema_version", Replace(g, "schema_version: 1\n", ""), VARIANT_E_MISSING_FIELD},
      {"future schema", Replace(g, "schema_version: 1", "schema_version: 99"), VARIANT_E_SCHEMA_VERSION},
      {"no accelerators", Replace(g, "accelerators:", "accelerators_x:"), VARIANT_E_PARSE},
      {"no demand", g.substr(0, g.find("demand:")), VARIANT_E_MISSING_FIELD},
      {"no rate", Replace(g, "rate_rps: 20, ", ""), VARIANT_E_MISSING_FIELD},
      {"no buckets", Replace(g, ", buckets: [{input: 400, output: 200}]", ""), VARIANT_E_MISSING_FIELD},
      {"negative rate", Replace(g, "rate_rps: 20", "rate_rps: -3"), VARIANT_E_INVALID_ARGUMENT},
      {"rate not a number", Replace(g, "rate_rps: 20", "rate_rps: lots"), VARIANT_E_PARSE},
      {"negative length", Replace(g, "input: 400", "input: -4"), VARIANT_E_INVALID_ARGUMENT},
      {"bad role", Replace(g, "accelerator: h100,", "accelerator: h100, role: x,"), VARIANT_E_INVALID_ARGUMENT},
      {"bad tp", Replace(g, "accelerator: h100,", "accelerator: h100, tp: 3,"), VARIANT_E_INVALID_ARGUMENT},
      {"bad slo", Replace(g, "ttft_p95_ms: 800", "ttft_q95_ms: 800"), VARIANT_E_INVALID_ARGUMENT},
      {"unknown class", Replace(g, "class: chat", "class: gold"), VARIANT_E_INVALID_ARGUMENT},
      {"demand for unknown model", Replace(g, "{model: llama-3-8b", "{model: gpt-9"), VARIANT_E_UNKNOWN_MODEL},
      {"model not in catalog", Replace(Replace(Replace(g, "- name: llama-3-8b", "- name: gpt-9"), "{model: llama-3-8b", "{model: gpt-9"), ", capacity_rps: 10", ""), VARIANT_E_UNKNOWN_MODEL},
      {"variant accelerator not listed", Replace(g, "accelerator: h100,", "accelerator: tpu,"), VARIANT_E_UNKNOWN_ACCELERATOR},
      {"accelerator without price", Replace(Replace(g, "{name: h100, count: 8}", "{name: tpu, count: 8}"), "accelerator: h100,", "accelerator: tpu,"), VARIANT_E_UNKNOWN_ACCELERATOR},
      {"min replicas over the caps", Replace(g, "capacity_rps: 10}", "capacity_rps: 10, min_replicas: 9}"), VARIANT_E_INFEASIBLE},
      {"unknown option", Replace(g, "schema_version: 1\n", "schema_version: 1\noptions: {wobble: 1}\n"), VARIANT_E_PARSE},
      {"band out of range", Replace(g, "schema_version: 1\n", "schema_version: 1\noptions: {scale_down_band: 1.5}\n"), VARIANT_E_INVALID_ARGUMENT},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(Solve(c.doc), c.code) << c.name << ": " << msg_;
    EXPECT_FALSE(msg_.empty()) << c.name;
    EXPECT_TRUE(doc_.empty()) << c.name;
  }
  for (const char* s : {"fast", "milp"})
    EXPECT_EQ(Solve(Replace(g, "capacity_rps: 10}", "capacity_rps: 10, min_replicas: 9}"), "", s),
              VARIANT_E_INFEASIBLE) << s;
}

TEST_F(SolveApi, BadCurrentAndArguments) {
  EXPECT_EQ(Solve(kGood, "allocation: [{model: nope, variant: h, replicas: 1}]"), VARIANT_E_UNKNOWN_MODEL);
  EXPECT_EQ(Solve(kGood, "allocation: [{model: llama-3-8b, variant: zz, replicas: 1}]"), VARIANT_E_INVALID_ARGUMENT);
  EXPECT_EQ(Solve(kGood, "allocation: [{model: llama-3-8b, variant: h, replicas: -1}]"), VARIANT_E_INVALID_ARGUMENT);
  EXPECT_EQ(Solve(kGood, "state: {}"), VARIANT_E_MISSING_FIELD);
  EXPECT_EQ(Solve(kGood, "schema_version: 7\nallocation: []"), VARIANT_E_SCHEMA_VERSION);
  EXPECT_EQ(Solve(kGood, "", "greedy"), VARIANT_E_INVALID_ARGUMENT);
  char* out = nullptr;
  size_t len = 0;
  EXPECT_EQ(variant_solve(nullptr, kGood, 10, nullptr, 0, "fast", &out, &len), VARIANT_E_BAD_HANDLE);
  EXPECT_EQ(variant_solve(ctx_, nullptr, 0, nullptr, 0, "fast", &out, &len), VARIANT_E_INVALID_ARGUMENT);
  EXPECT_EQ(variant_solve(ctx_, kGood, 10, nullptr, 0, "fast", nullptr, &len), VARIANT_E_INVALID_ARGUMENT);
}

}  // namespace

#include "variant/collector/derive.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace variant::collector {
namespace {

Exposition Load(const std::string& name) {
  std::ifstream f(std::string(COLLECTOR_FIXTURES) + "/" + name);
  EXPECT_TRUE(f.good()) << name;
  std::stringstream ss;
  ss << f.rdbuf();
  Exposition e;
  ParseError err;
  EXPECT_TRUE(ParseExposition(ss.str(), &e, &err)) << name << ": " << FormatError(err);
  return e;
}

Exposition Parse(const std::string& text) {
  Exposition e;
  ParseError err;
  EXPECT_TRUE(ParseExposition(text, &e, &err)) << FormatError(err);
  return e;
}

const Observation& ForModel(const std::vector<Observation>& v, const std::string& m) {
  for (const Observation& o : v) {
    if (o.model == m) return o;
  }
  ADD_FAILURE() << "no observation for " << m;
  static Observation none;
  return none;
}

void ExpectNoNegativeRate(const Observation& o) {
  for (const auto* r : {&o.completion_rps, &o.arrival_rps, &o.prompt_tokens_per_s,
                        &o.generation_tokens_per_s}) {
    if (*r) {
      EXPECT_GE(**r, 0.0);
    }
  }
  for (const Distribution* d : {&o.input_len, &o.output_len, &o.ttft_s, &o.itl_s}) {
    EXPECT_GE(d->count, 0.0);
    for (const Bucket& b : d->buckets) {
      EXPECT_GE(b.count, 0.0);
    }
  }
}

TEST(Derive, FirstScrapeHasGaugesButNoRates) {
  Deriver d;
  auto obs = d.Update("pod-a", 100, Load("vllm_v1_t100.txt"));
  ASSERT_EQ(obs.size(), 2u);  // two models; the pod-wide process_* series are not one
  const Observation& o = ForModel(obs, "llama-3-8b");
  EXPECT_FALSE(o.rates_valid);
  EXPECT_FALSE(o.arrival_rps.has_value());
  EXPECT_DOUBLE_EQ(*o.running, 4.0);
  EXPECT_DOUBLE_EQ(*o.waiting, 1.0);
  EXPECT_DOUBLE_EQ(*o.kv_usage, 0.25);
}

// The expected figures are worked out by hand from the two fixtures (10 s apart).
TEST(Derive, V1NamesTwoScrapes) {
  Deriver d;
  d.Update("pod-a", 100, Load("vllm_v1_t100.txt"));
  auto obs = d.Update("pod-a", 110, Load("vllm_v1_t110.txt"));
  const Observation& o = ForModel(obs, "llama-3-8b");
  ASSERT_TRUE(o.rates_valid);
  EXPECT_FALSE(o.counter_reset);
  EXPECT_DOUBLE_EQ(o.window_s, 10.0);
  // 20 requests finished (stop 15, length 5); running 4->6, waiting 1->0: +1 in system.
  EXPECT_DOUBLE_EQ(*o.completion_rps, 2.0);
  EXPECT_DOUBLE_EQ(*o.arrival_rps, 2.1);
  EXPECT_EQ(o.sources.at("completion_rps"), "vllm:request_success_total");
  EXPECT_DOUBLE_EQ(*o.prompt_tokens_per_s, 1400.0);
  EXPECT_DOUBLE_EQ(*o.generation_tokens_per_s, 300.0);
  // Prompt lengths: 10 in (100,500], 10 in (500,1000]; sum 14000.
  EXPECT_DOUBLE_EQ(o.input_len.count, 20.0);
  ASSERT_EQ(o.input_len.buckets.size(), 5u);
  EXPECT_DOUBLE_EQ(o.input_len.buckets[1].count, 10.0);
  EXPECT_DOUBLE_EQ(o.input_len.buckets[2].count, 10.0);
  EXPECT_DOUBLE_EQ(*o.input_len.mean, 700.0);
  EXPECT_DOUBLE_EQ(*o.input_len.p50, 500.0);
  EXPECT_DOUBLE_EQ(*o.input_len.p95, 950.0);
  EXPECT_DOUBLE_EQ(*o.output_len.mean, 150.0);
  EXPECT_DOUBLE_EQ(o.output_len.buckets[1].count, 10.0);  // (50,100]
  EXPECT_DOUBLE_EQ(o.output_len.buckets[2].count, 10.0);  // (100,200]
  // TTFT: 5 in (0.05,0.1], 10 in (0.1,0.25], 4 in (0.25,0.5], 1 in (0.5,1].
  EXPECT_DOUBLE_EQ(*o.ttft_s.mean, 0.225);
  EXPECT_DOUBLE_EQ(*o.ttft_s.p95, 0.5);
  EXPECT_DOUBLE_EQ(*o.ttft_s.p50, 0.1 + 0.15 * 5.0 / 10.0);
  EXPECT_EQ(o.sources.at("itl_s"), "vllm:inter_token_latency_seconds");
  EXPECT_DOUBLE_EQ(*o.itl_s.mean, 0.02);
  EXPECT_DOUBLE_EQ(o.itl_s.count, 1000.0);
  EXPECT_DOUBLE_EQ(*o.prefix_hit_ratio, 0.25);  // 1000 hits of 4000 queries
  EXPECT_DOUBLE_EQ(*o.kv_usage, 0.375);
  EXPECT_EQ(o.sources.at("kv_usage"), "vllm:kv_cache_usage_perc");

  const Observation& q = ForModel(obs, "qwen-2.5-7b");
  EXPECT_DOUBLE_EQ(*q.completion_rps, 0.3);
  EXPECT_FALSE(q.prefix_hit_ratio.has_value());
  EXPECT_DOUBLE_EQ(q.input_len.count, 0.0);
}

TEST(Derive, V0NamesTwoScrapes) {
  Deriver d;
  d.Update("pod-b", 0, Load("vllm_v0_t0.txt"));
  auto obs = d.Update("pod-b", 30, Load("vllm_v0_t30.txt"));
  ASSERT_EQ(obs.size(), 1u);
  const Observation& o = obs[0];
  EXPECT_EQ(o.model, "mistral-7b");
  EXPECT_DOUBLE_EQ(*o.completion_rps, 2.0);  // 60 in 30 s
  EXPECT_DOUBLE_EQ(*o.arrival_rps, 59.0 / 30.0);  // running 3 -> 2
  EXPECT_DOUBLE_EQ(*o.kv_usage, 0.5);
  EXPECT_EQ(o.sources.at("kv_usage"), "vllm:gpu_cache_usage_perc");
  EXPECT_DOUBLE_EQ(*o.prefix_hit_ratio, 0.4);
  EXPECT_EQ(o.sources.at("prefix_hit_ratio"), "vllm:gpu_prefix_cache_hit_rate");
  EXPECT_EQ(o.sources.at("itl_s"), "vllm:time_per_output_token_seconds");
  EXPECT_DOUBLE_EQ(*o.itl_s.mean, 0.03);
  EXPECT_DOUBLE_EQ(o.itl_s.count, 2000.0);
}

const char* kRunA = R"(# TYPE vllm:request_success_total counter
vllm:request_success_total{finished_reason="stop",model_name="m"} 500
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="m"} 8
# TYPE vllm:request_prompt_tokens histogram
vllm:request_prompt_tokens_bucket{le="100",model_name="m"} 300
vllm:request_prompt_tokens_bucket{le="+Inf",model_name="m"} 500
vllm:request_prompt_tokens_sum{model_name="m"} 90000
vllm:request_prompt_tokens_count{model_name="m"} 500
)";
// After a restart of the pod: every counter starts over.
const char* kRunB = R"(# TYPE vllm:request_success_total counter
vllm:request_success_total{finished_reason="stop",model_name="m"} 4
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="m"} 2
# TYPE vllm:request_prompt_tokens histogram
vllm:request_prompt_tokens_bucket{le="100",model_name="m"} 3
vllm:request_prompt_tokens_bucket{le="+Inf",model_name="m"} 4
vllm:request_prompt_tokens_sum{model_name="m"} 700
vllm:request_prompt_tokens_count{model_name="m"} 4
)";
const char* kRunC = R"(# TYPE vllm:request_success_total counter
vllm:request_success_total{finished_reason="stop",model_name="m"} 14
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="m"} 2
# TYPE vllm:request_prompt_tokens histogram
vllm:request_prompt_tokens_bucket{le="100",model_name="m"} 8
vllm:request_prompt_tokens_bucket{le="+Inf",model_name="m"} 14
vllm:request_prompt_tokens_sum{model_name="m"} 2000
vllm:request_prompt_tokens_count{model_name="m"} 14
)";

TEST(Derive, CounterGoingBackwardsRestartsTheWindow) {
  Deriver d;
  d.Update("p", 0, Parse(kRunA));
  auto obs = d.Update("p", 10, Parse(kRunB));
  ASSERT_EQ(obs.size(), 1u);
  EXPECT_TRUE(obs[0].counter_reset);
  EXPECT_FALSE(obs[0].rates_valid);
  EXPECT_FALSE(obs[0].completion_rps.has_value());
  EXPECT_FALSE(obs[0].arrival_rps.has_value());
  EXPECT_DOUBLE_EQ(*obs[0].running, 2.0);  // gauges still reported
  // The next window starts at the reset scrape.
  obs = d.Update("p", 20, Parse(kRunC));
  ASSERT_TRUE(obs[0].rates_valid);
  EXPECT_FALSE(obs[0].counter_reset);
  EXPECT_DOUBLE_EQ(*obs[0].completion_rps, 1.0);
  EXPECT_DOUBLE_EQ(obs[0].input_len.count, 10.0);
  EXPECT_DOUBLE_EQ(obs[0].input_len.buckets[0].count, 5.0);
  EXPECT_DOUBLE_EQ(obs[0].input_len.buckets[1].count, 5.0);
  ExpectNoNegativeRate(obs[0]);
}

TEST(Derive, OneSeriesBackwardsIsAResetOfThePod) {
  // Only the histogram went back (the exporter restarted): no negative bucket.
  std::string b = kRunA;
  const std::string from = "le=\"100\",model_name=\"m\"} 300";
  b.replace(b.find(from), from.size(), "le=\"100\",model_name=\"m\"} 299");
  Deriver d;
  d.Update("p", 0, Parse(kRunA));
  auto obs = d.Update("p", 10, Parse(b));
  EXPECT_TRUE(obs[0].counter_reset);
  ExpectNoNegativeRate(obs[0]);
}

TEST(Derive, ProcessRestartWithHigherCountersIsDetected) {
  std::string a = std::string("process_start_time_seconds 1000\n") + kRunB;
  std::string b = std::string("process_start_time_seconds 2000\n") + kRunA;
  Deriver d;
  d.Update("p", 0, Parse(a));
  auto obs = d.Update("p", 10, Parse(b));
  EXPECT_TRUE(obs[0].counter_reset);
  EXPECT_FALSE(obs[0].completion_rps.has_value());
}

TEST(Derive, PodsAreIndependent) {
  Deriver d;
  d.Update("p1", 0, Parse(kRunA));
  d.Update("p2", 0, Parse(kRunB));
  auto o2 = d.Update("p2", 10, Parse(kRunC));
  EXPECT_FALSE(o2[0].counter_reset);
  EXPECT_DOUBLE_EQ(*o2[0].completion_rps, 1.0);
  auto o1 = d.Update("p1", 10, Parse(kRunB));
  EXPECT_TRUE(o1[0].counter_reset);
  EXPECT_EQ(d.pods(), 2u);
  d.Forget("p1");
  EXPECT_EQ(d.pods(), 1u);
}

TEST(Derive, ClockThatDoesNotAdvanceGivesNoRates) {
  Deriver d;
  d.Update("p", 10, Parse(kRunA));
  auto obs = d.Update("p", 10, Parse(kRunA));
  EXPECT_FALSE(obs[0].rates_valid);
  obs = d.Update("p", 5, Parse(kRunA));
  EXPECT_FALSE(obs[0].rates_valid);
}

TEST(Derive, NaNValuesAreAbsentNotZero) {
  const char* a = R"(# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="m"} NaN
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{model_name="m"} 3
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{model_name="m"} NaN
# TYPE vllm:request_success_total counter
vllm:request_success_total{finished_reason="stop",model_name="m"} NaN
)";
  Deriver d;
  d.Update("p", 0, Parse(a));
  auto obs = d.Update("p", 10, Parse(a));
  const Observation& o = obs[0];
  EXPECT_FALSE(o.running.has_value());
  EXPECT_DOUBLE_EQ(*o.waiting, 3.0);
  EXPECT_FALSE(o.kv_usage.has_value());
  EXPECT_FALSE(o.completion_rps.has_value());
  std::string js = ObservationToJson(o);
  EXPECT_EQ(js.find("NaN"), std::string::npos);
  EXPECT_EQ(js.find("null"), std::string::npos) << js;
  auto j = nlohmann::json::parse(js);
  EXPECT_FALSE(j.contains("running"));
  EXPECT_EQ(j["waiting"], 3.0);
}

TEST(Derive, JsonCarriesTheDistribution) {
  Deriver d;
  d.Update("pod-a", 100, Load("vllm_v1_t100.txt"));
  auto obs = d.Update("pod-a", 110, Load("vllm_v1_t110.txt"));
  auto j = nlohmann::json::parse(ObservationToJson(ForModel(obs, "llama-3-8b")));
  EXPECT_EQ(j["model"], "llama-3-8b");
  EXPECT_EQ(j["pod"], "pod-a");
  EXPECT_DOUBLE_EQ(j["arrival_rps"].get<double>(), 2.1);
  EXPECT_EQ(j["input_len"]["buckets"].back()["upper"], "+Inf");
  EXPECT_DOUBLE_EQ(j["ttft_s"]["p95"].get<double>(), 0.5);
}

}  // namespace
}  // namespace variant::collector

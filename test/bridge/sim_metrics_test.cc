// The simulated servers' /metrics (bridge/sim/metrics_http) read by the real
// collectors: the vLLM collector scraping them over HTTP, and the Prometheus collector
// through a real Prometheus (Debian's) scraping them on loopback.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <set>
#include <sstream>
#include <cmath>
#include <thread>

#include "sim_pods.h"
#include "test_servers.h"
#include "variant/collector/exposition.h"
#include "variant/collector/prometheus_source.h"
#include "variant/collector/vllm_source.h"

namespace variant {
namespace {

using sim::testing::SimPod;

double Value(const collector::Exposition& e, const std::string& name) {
  double v = NAN;
  for (const auto& s : e.samples)
    if (s.name == name) v = std::isnan(v) ? s.value : v + s.value;
  return v;
}

TEST(SimMetrics, ExpositionParsesAndMatchesTheSimulation) {
  for (sim::VllmNames names : {sim::VllmNames::kCurrent, sim::VllmNames::kLegacy}) {
    sim::ExpositionOptions opt;
    opt.names = names;
    opt.extra_labels = {{"engine", "0"}};
    SimPod pod("llama-3-8b", "h100", 5, 800, 120, 1, opt);
    pod.AdvanceTo(60);
    sim::VllmMetricsState st;
    st.Observe(pod.sim());
    const std::string text = st.Render(pod.sim(), opt);
    collector::Exposition e;
    collector::ParseError err;
    ASSERT_TRUE(collector::ParseExposition(text, &e, &err)) << collector::FormatError(err);
    const auto& c = pod.sim().counters();
    ASSERT_GT(c.requests_finished, 200u);
    EXPECT_EQ(Value(e, "vllm:request_success_total"), static_cast<double>(c.requests_finished));
    EXPECT_EQ(Value(e, "vllm:generation_tokens_total"), static_cast<double>(c.generation_tokens));
    EXPECT_EQ(Value(e, "vllm:time_to_first_token_seconds_count"), static_cast<double>(c.ttft_ms.count()));
    EXPECT_NEAR(Value(e, "vllm:time_to_first_token_seconds_sum"), c.ttft_ms.sum() / 1e3, 1e-6);
    const bool legacy = names == sim::VllmNames::kLegacy;
    EXPECT_EQ(std::isnan(Value(e, "vllm:kv_cache_usage_perc")), legacy);
    EXPECT_EQ(std::isnan(Value(e, "vllm:gpu_cache_usage_perc")), !legacy);
    EXPECT_EQ(std::isnan(Value(e, "vllm:inter_token_latency_seconds_count")), legacy);
    EXPECT_EQ(std::isnan(Value(e, "vllm:time_per_output_token_seconds_count")), !legacy);
    EXPECT_EQ(std::isnan(Value(e, "vllm:prefix_cache_hits_total")), legacy);
    EXPECT_EQ(std::isnan(Value(e, "vllm:gpu_prefix_cache_hit_rate")), !legacy);
  }
}

// Every vLLM metric the chart's dashboard, HPA and KEDA objects may query
// (charts/variant-autoscaler/metrics.txt) is one the simulated vLLM server exports,
// under the current or the legacy names.
TEST(SimMetrics, EveryVllmMetricTheChartQueriesIsExported) {
  std::set<std::string> exported;
  for (sim::VllmNames names : {sim::VllmNames::kCurrent, sim::VllmNames::kLegacy}) {
    sim::ExpositionOptions opt;
    opt.names = names;
    SimPod pod("llama-3-8b", "h100", 5, 800, 120, 1, opt);
    pod.AdvanceTo(5);
    sim::VllmMetricsState st;
    st.Observe(pod.sim());
    collector::Exposition e;
    collector::ParseError err;
    ASSERT_TRUE(collector::ParseExposition(st.Render(pod.sim(), opt), &e, &err));
    for (const auto& smp : e.samples) exported.insert(smp.name);
  }
  std::ifstream f(CHART_METRICS_TXT);
  ASSERT_TRUE(f.good()) << CHART_METRICS_TXT;
  std::string line;
  int checked = 0;
  while (std::getline(f, line)) {
    std::istringstream in(line);
    std::string source, name, type;
    if (!(in >> source >> name >> type) || source != "vllm") continue;
    const std::string probe = type == "histogram" ? name + "_count" : name;
    EXPECT_TRUE(exported.count(probe)) << name << " (" << type << ") is not exported";
    ++checked;
  }
  EXPECT_GE(checked, 10);
}

// Two pods of one variant at 4 rps each, 800 prompt / 120 generated tokens.
class SimPods : public ::testing::Test {
 protected:
  SimPods()
      : a_("llama-3-8b", "h100", 4, 800, 120, 11),
        b_("llama-3-8b", "h100", 4, 800, 120, 12),
        src_({{a_.url(), "pod-a", "h100-tp1", "interactive"},
              {b_.url(), "pod-b", "h100-tp1", "interactive"}}) {}
  bus::Metrics CollectAt(double t) {
    a_.AdvanceTo(t);
    b_.AdvanceTo(t);
    std::vector<bus::Metrics> out;
    std::string err;
    EXPECT_TRUE(src_.Collect(t, &out, &err)) << err;
    EXPECT_EQ(out.size(), 1u);
    return out.empty() ? bus::Metrics() : out[0];
  }
  SimPod a_, b_;
  collector::VllmSource src_;
};

TEST_F(SimPods, TheVllmCollectorDerivesTheSimulatedDemand) {
  CollectAt(30);
  const uint64_t before = a_.arrived() + b_.arrived();
  bus::Metrics m = CollectAt(150);
  const double offered = static_cast<double>(a_.arrived() + b_.arrived() - before) / 120.0;
  EXPECT_EQ(m.model, "llama-3-8b");
  EXPECT_EQ(m.variant, "h100-tp1");
  EXPECT_EQ(m.replicas_ready, 2);
  // Arrivals counted by the simulation over the window vs what the collector derived
  // from completions and the change of running + waiting.
  EXPECT_NEAR(m.arrival_rate_rps, offered, 0.05 * offered);
  EXPECT_NEAR(m.arrival_rate_rps, 8.0, 1.0);
  EXPECT_DOUBLE_EQ(m.input_mean, 800);
  EXPECT_DOUBLE_EQ(m.output_mean, 120);
  EXPECT_GT(m.ttft_mean_ms, 0);
  EXPECT_NEAR(m.ttft_mean_ms, a_.sim().counters().ttft_ms.mean(), 0.5 * a_.sim().counters().ttft_ms.mean());
  EXPECT_NEAR(m.itl_mean_ms, a_.sim().counters().itl_ms.mean(), 0.2 * a_.sim().counters().itl_ms.mean());
  EXPECT_GE(m.kv_usage, 0);
  EXPECT_LE(m.kv_usage, 1);
  std::cout << "sim pods -> VllmSource: arrival " << m.arrival_rate_rps << " rps (offered "
            << offered << "), ttft " << m.ttft_mean_ms << " ms, itl " << m.itl_mean_ms << " ms\n";
}

TEST_F(SimPods, ARestartedPodsCountersGoBackwardsWithoutANegativeRate) {
  CollectAt(30);
  ASSERT_GT(CollectAt(60).arrival_rate_rps, 0);
  // Pod a restarts: its counters drop to zero under a new process start time.
  a_.http().Restart(a_.sim(), 1.8e9);
  bus::Metrics m = CollectAt(90);
  EXPECT_TRUE(std::isnan(m.arrival_rate_rps)) << m.arrival_rate_rps;  // unknown, not negative
  EXPECT_EQ(m.replicas_ready, 2);
  // The window restarted at the reset; the next scrape has rates again.
  m = CollectAt(120);
  EXPECT_NEAR(m.arrival_rate_rps, 8.0, 1.5);
  // The same when only the counters go backwards (no new start time): still no rate.
  b_.http().Restart(b_.sim(), 1.7e9);
  m = CollectAt(150);
  EXPECT_TRUE(std::isnan(m.arrival_rate_rps) || m.arrival_rate_rps >= 0) << m.arrival_rate_rps;
  EXPECT_FALSE(m.arrival_rate_rps < 0);
}

TEST_F(SimPods, APodAnswering500IsNotCountedAndTheVariantIsUnknown) {
  CollectAt(30);
  b_.http().SetStatus(500);
  bus::Metrics m = CollectAt(60);
  EXPECT_EQ(m.replicas_ready, 1);
  EXPECT_TRUE(std::isnan(m.arrival_rate_rps));
  ASSERT_FALSE(src_.errors().empty());
  EXPECT_NE(src_.errors()[0].find("500"), std::string::npos) << src_.errors()[0];
}

TEST(SimMetricsPrometheus, ThePrometheusCollectorThroughARealPrometheus) {
  // Pods whose virtual clock follows the wall clock, so Prometheus' rate() over its
  // scrape timestamps sees the simulated rate.
  SimPod a("llama-3-8b", "h100", 10, 600, 100, 21), b("llama-3-8b", "h100", 10, 600, 100, 22);
  collector::testing::Prometheus prom({a.port(), b.port()});
  ASSERT_TRUE(prom.ready()) << prom.log();
  collector::PrometheusOptions opt;
  opt.server = {"127.0.0.1", prom.port(), ""};
  opt.window = "10s";
  collector::PrometheusSource src(opt);
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  std::vector<bus::Metrics> out;
  std::string err;
  bool ready = false;
  // Until the 10 s window is full (bounded: ~60 s).
  for (int i = 0; i < 600 && !ready; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    a.AdvanceTo(elapsed());
    b.AdvanceTo(elapsed());
    if (i % 5 != 0 || elapsed() < 16 || !src.Collect(&out, &err)) continue;
    ready = out.size() == 1 && out[0].replicas_ready == 2 && !std::isnan(out[0].arrival_rate_rps) &&
            !std::isnan(out[0].input_mean) && !std::isnan(out[0].itl_mean_ms);
  }
  ASSERT_TRUE(ready) << err;
  const bus::Metrics& m = out[0];
  EXPECT_EQ(m.variant, "h100-tp1");
  EXPECT_NEAR(m.arrival_rate_rps, 20.0, 5.0);  // Poisson over 10 s: sd 1.4 rps
  EXPECT_NEAR(m.input_mean, 600, 1e-6);
  EXPECT_NEAR(m.output_mean, 100, 1e-6);
  EXPECT_GT(m.ttft_mean_ms, 0);
  EXPECT_NEAR(m.itl_mean_ms, a.sim().counters().itl_ms.mean(), 0.3 * a.sim().counters().itl_ms.mean());
  std::cout << "sim pods -> Prometheus -> PrometheusSource: arrival " << m.arrival_rate_rps
            << " rps (offered 20), itl " << m.itl_mean_ms << " ms\n";
}

}  // namespace
}  // namespace variant

// PrometheusSource against a real Prometheus server (Debian's), started on loopback,
// scraping two vLLM-shaped pods whose counters grow with every scrape.
#include "variant/collector/prometheus_source.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <thread>

#include "test_servers.h"

namespace variant::collector {
namespace {

using testing::FreePort;
using testing::GrowingPod;
using testing::Prometheus;

TEST(PrometheusSource, DerivesDemandThroughARealPrometheus) {
  GrowingPod a, b;
  Prometheus prom({a.port(), b.port()});
  ASSERT_TRUE(prom.ready()) << prom.log();
  PrometheusOptions opt;
  opt.server = {"127.0.0.1", prom.port(), ""};
  opt.window = "10s";
  PrometheusSource src(opt);
  std::vector<bus::Metrics> out;
  std::string err;
  bool ready = false;
  // Until Prometheus has two scrapes of both pods in the window (bounded: ~60 s).
  for (int i = 0; i < 120 && !ready; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    if (!src.Collect(&out, &err)) continue;
    ready = out.size() == 1 && out[0].replicas_ready == 2 &&
            !std::isnan(out[0].arrival_rate_rps) && out[0].arrival_rate_rps > 0 &&
            !std::isnan(out[0].input_mean) && !std::isnan(out[0].itl_mean_ms);
  }
  ASSERT_TRUE(ready) << err;
  const bus::Metrics& m = out[0];
  EXPECT_EQ(m.model, "llama-3-8b");
  EXPECT_EQ(m.variant, "h100-tp1");
  EXPECT_NEAR(m.input_mean, 700.0, 1e-6);
  EXPECT_NEAR(m.output_mean, 150.0, 1e-6);
  EXPECT_NEAR(m.ttft_mean_ms, 225.0, 1e-6);
  EXPECT_NEAR(m.itl_mean_ms, 20.0, 1e-6);
  EXPECT_NEAR(m.prefix_hit_ratio, 0.25, 1e-9);
  EXPECT_DOUBLE_EQ(m.running, 12.0);
  EXPECT_DOUBLE_EQ(m.waiting, 2.0);
  EXPECT_DOUBLE_EQ(m.kv_usage, 0.375);

  // A malformed matcher: Prometheus' own error comes back.
  PrometheusOptions bad = opt;
  bad.matchers = "namespace==";
  PrometheusSource bsrc(bad);
  EXPECT_FALSE(bsrc.Collect(&out, &err));
  EXPECT_NE(err.find("HTTP 400"), std::string::npos) << err;
}

TEST(PrometheusSource, NoServerIsAnError) {
  PrometheusOptions opt;
  opt.server = {"127.0.0.1", FreePort(), ""};
  opt.timeout_s = 2;
  PrometheusSource src(opt);
  std::vector<bus::Metrics> out;
  std::string err;
  EXPECT_FALSE(src.Collect(&out, &err));
  EXPECT_FALSE(err.empty());
}

// The test helper itself: a port taken between FreePort and Prometheus' bind (a
// parallel ctest) must not leave the tests waiting on a Prometheus that never started.
TEST(PrometheusSource, TestPrometheusComesUpOnAnotherPortWhenItsPortIsTaken) {
  const int taken = FreePort();
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(taken));
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  GrowingPod a;
  Prometheus prom({a.port()}, taken);
  ::close(fd);
  ASSERT_TRUE(prom.ready()) << prom.log();
  EXPECT_NE(prom.port(), taken);
}

}  // namespace
}  // namespace variant::collector

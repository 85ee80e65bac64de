// The plugin loader's refusals (one fixture per broken rule) and the bundled
// policies' behaviour, driven on a virtual clock through the same host code the agent
// uses.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "policy_host.h"

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string Fixture(const char* name) {
  return std::string(FIXTURE_DIR) + "/libpolicy_fixture_" + name + ".so";
}

TEST(PolicyLoader, RefusesPluginWithoutEntryPoint) {
  std::string err;
  EXPECT_EQ(policy::PolicyPlugin::Load(Fixture("no_entry"), &err), nullptr);
  EXPECT_NE(err.find("no entry point"), std::string::npos) << err;
  EXPECT_NE(err.find("variant_policy_entry"), std::string::npos) << err;
}

TEST(PolicyLoader, RefusesPluginBuiltForNewerAbi) {
  std::string err;
  EXPECT_EQ(policy::PolicyPlugin::Load(Fixture("newer_abi"), &err), nullptr);
  EXPECT_NE(err.find("built for a newer ABI"), std::string::npos) << err;
}

TEST(PolicyLoader, RefusesTooShortDescriptor) {
  std::string err;
  EXPECT_EQ(policy::PolicyPlugin::Load(Fixture("short_descriptor"), &err), nullptr);
  EXPECT_NE(err.find("descriptor too short"), std::string::npos) << err;
}

TEST(PolicyLoader, RefusesOtherMajor) {
  std::string err;
  EXPECT_EQ(policy::PolicyPlugin::Load(Fixture("old_major"), &err), nullptr);
  EXPECT_NE(err.find("ABI major version mismatch"), std::string::npos) << err;
}

TEST(PolicyLoader, RefusesMissingFile) {
  std::string err;
  EXPECT_EQ(policy::PolicyPlugin::Load(Fixture("does_not_exist"), &err), nullptr);
  EXPECT_NE(err.find("dlopen failed"), std::string::npos) << err;
}

TEST(PolicyLoader, FindsBundledPluginsByName) {
  for (const char* n : {"static-peak", "hpa", "wva"}) {
    std::string path = policy::FindPlugin({PLUGIN_DIR}, n);
    ASSERT_FALSE(path.empty()) << n;
    std::string err;
    auto p = policy::PolicyPlugin::Load(path, &err);
    ASSERT_NE(p, nullptr) << err;
    EXPECT_EQ(p->name(), n);
    EXPECT_EQ(p->abi_major(), VARIANT_POLICY_ABI_MAJOR);
  }
}

// One model with one variant, as the agent (or the simulator) would present it.
struct Harness {
  std::unique_ptr<policy::PolicyPlugin> plugin;
  std::unique_ptr<policy::PolicyInstance> inst;
  variant_policy_variant v{};
  variant_policy_input in{};
  std::string err;

  Harness(const char* name, const std::string& params) {
    plugin = policy::PolicyPlugin::Load(policy::FindPlugin({PLUGIN_DIR}, name), &err);
    EXPECT_NE(plugin, nullptr) << err;
    if (plugin) inst = plugin->Create("m", params, &err);
    v.struct_size = sizeof(v);
    v.name = "h100-tp1";
    v.accelerator = "h100";
    v.tp = 1;
    v.max_batch = 64;
    v.cost_per_hour = 4;
    v.replicas_current = v.replicas_ready = v.replicas_starting = -1;
    v.arrival_rate_rps = v.running = v.waiting = v.kv_usage = kNaN;
    v.ttft_mean_ms = v.itl_mean_ms = v.input_mean = v.output_mean = kNaN;
    in.struct_size = sizeof(in);
    in.model = "m";
    in.arrival_rate_rps = in.input_mean = in.output_mean = kNaN;
    in.n_variants = 1;
    in.variants = &v;
  }
  // Runs one decision at virtual time t; returns the desired replicas (-1 on error).
  int At(double t, policy::PolicyDecision* d = nullptr) {
    in.now_s = t;
    policy::PolicyDecision local;
    policy::PolicyDecision* out = d ? d : &local;
    if (!inst->Decide(in, {std::max(v.replicas_current, 0)}, out, &err)) return -1;
    return out->desired_replicas[0];
  }
  // The actuator follows the decision at once.
  void Actuate(int r) { v.replicas_current = v.replicas_ready = r; }
};

TEST(StaticPeak, SizesForThePeakWhateverTheLoad) {
  Harness h("static-peak", R"({"peak_rps": 25, "replica_rps": 4})");
  ASSERT_NE(h.inst, nullptr) << h.err;
  h.in.arrival_rate_rps = 0.5;
  EXPECT_EQ(h.At(0), 7);
  h.in.arrival_rate_rps = 100;
  EXPECT_EQ(h.At(1000), 7);
}

TEST(StaticPeak, RejectsMissingParams) {
  Harness h("static-peak", "{}");
  EXPECT_EQ(h.inst, nullptr);
  EXPECT_NE(h.err.find("peak_rps"), std::string::npos) << h.err;
}

TEST(Hpa, ScalesUpByTheRatio) {
  Harness h("hpa", R"({"target": 8})");
  ASSERT_NE(h.inst, nullptr) << h.err;
  h.Actuate(2);
  h.v.running = 40;
  h.v.waiting = 8;  // 24 per replica vs 8: x3
  policy::PolicyDecision d;
  EXPECT_EQ(h.At(0, &d), 6);
  EXPECT_DOUBLE_EQ(d.load_signal[0], 1.0);
}

TEST(Hpa, NoChangeWithinTolerance) {
  Harness h("hpa", R"({"target": 10})");
  h.Actuate(4);
  h.v.running = 43;  // 10.75 per replica: ratio 1.075 within 10%
  EXPECT_EQ(h.At(0), 4);
  h.v.running = 45;  // ratio 1.125: ceil(4 * 1.125) = 5
  EXPECT_EQ(h.At(1), 5);
}

TEST(Hpa, ScaleDownWaitsForTheStabilizationWindow) {
  Harness h("hpa", R"({"target": 10})");
  h.Actuate(6);
  h.v.running = 60;
  EXPECT_EQ(h.At(0), 6);
  h.v.running = 20;  // wants 2
  for (double t = 15; t <= 300; t += 15) EXPECT_EQ(h.At(t), 6) << t;
  EXPECT_EQ(h.At(315), 2);
}

TEST(Hpa, ScaleUpIsImmediateAfterADip) {
  Harness h("hpa", R"({"target": 10})");
  h.Actuate(4);
  h.v.running = 10;
  EXPECT_EQ(h.At(0), 4);  // held by the window
  h.v.running = 80;
  EXPECT_EQ(h.At(15), 8);
}

TEST(Hpa, MissingMetricsKeepTheCount) {
  Harness h("hpa", R"({"target": 10})");
  h.Actuate(5);
  EXPECT_EQ(h.At(0), 5);
}

TEST(Hpa, StaleDataNeverScalesDown) {
  Harness h("hpa", R"({"target": 10, "scale_down_window_s": 0})");
  h.Actuate(6);
  h.v.running = 10;
  h.v.stale = 1;
  EXPECT_EQ(h.At(0), 6);
  h.v.stale = 0;
  EXPECT_EQ(h.At(1), 1);
}

TEST(Hpa, BadParamsAreRefused) {
  Harness h("hpa", R"({"target": 10, "metric": "vibes"})");
  EXPECT_EQ(h.inst, nullptr);
  EXPECT_NE(h.err.find("metric"), std::string::npos) << h.err;
  Harness h2("hpa", "not json");
  EXPECT_EQ(h2.inst, nullptr);
  EXPECT_NE(h2.err.find("JSON"), std::string::npos) << h2.err;
}

TEST(Wva, MoreDemandNeedsMoreReplicas) {
  Harness h("wva", R"({"interval_s": 0})");
  ASSERT_NE(h.inst, nullptr) << h.err;
  h.in.input_mean = 512;
  h.in.output_mean = 128;
  int prev = 0;
  for (double rate : {1.0, 5.0, 20.0, 80.0}) {
    h.in.arrival_rate_rps = rate;
    int r = h.At(rate);
    EXPECT_GE(r, prev) << rate;
    EXPECT_GE(r, 1);
    prev = r;
  }
  EXPECT_GT(prev, 1);
}

TEST(Wva, LoadSignalAtMostOneAfterSizing) {
  Harness h("wva", R"({"interval_s": 0})");
  h.in.input_mean = 512;
  h.in.output_mean = 128;
  h.in.arrival_rate_rps = 37;
  policy::PolicyDecision d;
  int r = h.At(0, &d);
  ASSERT_GT(r, 0);
  EXPECT_LE(d.load_signal[0], 1.0);
  EXPECT_GT(d.load_signal[0], 0.0);
}

TEST(Wva, DecidesOnlyEveryInterval) {
  Harness h("wva", R"({"interval_s": 30})");
  h.in.input_mean = 512;
  h.in.output_mean = 128;
  h.in.arrival_rate_rps = 2;
  int low = h.At(0);
  h.in.arrival_rate_rps = 80;
  EXPECT_EQ(h.At(10), low);  // not yet due
  EXPECT_GT(h.At(30), low);
}

TEST(Wva, StaleDataNeverScalesDown) {
  Harness h("wva", R"({"interval_s": 0})");
  h.in.input_mean = 512;
  h.in.output_mean = 128;
  h.in.arrival_rate_rps = 80;
  int high = h.At(0);
  h.Actuate(high);
  h.in.arrival_rate_rps = 1;
  h.in.stale = 1;
  EXPECT_EQ(h.At(1), high);
  h.in.stale = 0;
  EXPECT_LT(h.At(2), high);
}

TEST(Wva, UnattainableSloIsAnError) {
  Harness h("wva", R"({"interval_s": 0, "itl_ms": 1})");  // alpha alone is 7 ms
  h.in.arrival_rate_rps = 1;
  EXPECT_EQ(h.At(0), -1);
  EXPECT_NE(h.err.find("cannot be met"), std::string::npos) << h.err;
}

}  // namespace

namespace {

// Regression for issue 4 (4): the HPA window was lost on an agent restart.
TEST(PolicyMemory, HpaWindowSurvivesSaveAndRestore) {
  Harness a("hpa", R"({"target": 10})");
  ASSERT_NE(a.inst, nullptr) << a.err;
  a.Actuate(2);
  a.v.running = 100;  // 50 per replica: wants 10
  EXPECT_EQ(a.At(0), 10);
  a.Actuate(10);
  a.v.running = 10;  // wants 1, held by the window
  EXPECT_EQ(a.At(10), 10);
  std::string mem;
  ASSERT_TRUE(a.inst->Save(&mem));
  EXPECT_EQ(mem.rfind("hpa/1 ", 0), 0u) << mem;

  // A restarted host: one instance gets the memory back, one starts empty.
  Harness restored("hpa", R"({"target": 10})"), fresh("hpa", R"({"target": 10})");
  ASSERT_TRUE(restored.inst->Restore(mem, &restored.err)) << restored.err;
  for (Harness* h : {&restored, &fresh}) {
    h->Actuate(10);
    h->v.running = 10;
    EXPECT_EQ(h->At(20), 10);
  }
  // The window of the first decisions (t = 0, 10) has passed for the restored one;
  // the fresh one's window started at its first call (t = 20).
  EXPECT_EQ(restored.At(311), 1);
  EXPECT_EQ(fresh.At(311), 10);
}

TEST(PolicyMemory, GarbageMemoryIsRefusedWithAMessage) {
  Harness h("hpa", R"({"target": 10})");
  std::string err;
  EXPECT_FALSE(h.inst->Restore("hpa/1 3 2 0.5", &err));
  EXPECT_NE(err.find("recommendation 0"), std::string::npos) << err;
  EXPECT_FALSE(h.inst->Restore("wva/1 1 2 3", &err));
  Harness w("wva", R"({"interval_s": 0})");
  ASSERT_NE(w.inst, nullptr) << w.err;
  std::string wmem;
  EXPECT_TRUE(w.inst->Save(&wmem));
  EXPECT_TRUE(w.inst->Restore(wmem, &err)) << err;
  Harness s("static-peak", R"({"peak_rps": 25, "replica_rps": 4})");
  std::string mem;
  EXPECT_FALSE(s.inst->Save(&mem));  // keeps no memory
  EXPECT_TRUE(mem.empty());
}

TEST(PluginPlan, AdditionsComeBeforeRemovals) {
  const auto steps = policy::MakeBeforeBreak({3, 0, 2, -1}, {1, 4, 2, 5});
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_TRUE(steps[0].add);
  EXPECT_EQ(steps[0].variant, 1u);
  EXPECT_EQ(steps[0].replicas, 4);
  EXPECT_FALSE(steps[1].add);
  EXPECT_EQ(steps[1].variant, 0u);
  EXPECT_EQ(steps[1].replicas, 2);
  EXPECT_TRUE(policy::MakeBeforeBreak({2}, {2}).empty());
}

}  // namespace

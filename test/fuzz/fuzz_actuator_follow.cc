// The agent's `decision` and `plan` bus bodies as the actuator's follower reads them
// (bridge/actuator/follow.cc): msgpack decoded to JSON, then PlanFromDecision.
// Input: the decision body (msgpack), then "\n#--plan--\n", then the plan body (msgpack).
#include <nlohmann/json.hpp>

#include "fuzz_util.h"
#include "variant/actuator/follow.h"

using nlohmann::json;

namespace {
bool FromMsgpack(const std::string& s, json* out) {
  try {
    *out = json::from_msgpack(s.begin(), s.end());
    return true;
  } catch (const std::exception&) {
    return false;
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const variant::actuator::WorkloadMap workloads = [] {
    variant::actuator::WorkloadMap m;
    std::string err;
    if (!variant::actuator::ParseWorkloadMap(
            R"([{"model":"llama-3-8b","variant":"h100-tp1","namespace":"llm","name":"l8-h100"},
                {"model":"llama-3-8b","variant":"a100-tp1","namespace":"llm","name":"l8-a100"},
                {"model":"llama-3-70b","variant":"h100-tp4","kind":"LeaderWorkerSet",
                 "namespace":"llm","name":"l70-h100"}])",
            &m, &err))
      std::abort();
    return m;
  }();
  auto [d, p] = fuzz::Split(fuzz::View(data, size), "\n#--plan--\n");
  json decision, plan;
  if (!FromMsgpack(d, &decision) || !FromMsgpack(p, &plan)) return 0;
  variant::actuator::Plan out;
  std::vector<std::string> skipped;
  std::string err;
  if (variant::actuator::PlanFromDecision(decision, plan, workloads, &out, &skipped, &err)) {
    for (const auto& s : out.steps) FUZZ_CHECK(s.replicas >= 0);
  } else {
    FUZZ_CHECK(!err.empty());
  }
  return 0;
}

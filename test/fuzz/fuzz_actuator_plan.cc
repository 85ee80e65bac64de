// The actuator's input files (bridge/actuator): `variant-actuate --plan plan.json`
// and `--workloads workloads.json`, both JSON.
#include "fuzz_util.h"
#include "variant/actuator/follow.h"
#include "variant/actuator/k8s.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view doc = fuzz::View(data, size);
  variant::actuator::Plan plan;
  std::string err;
  if (variant::actuator::ParsePlanJson(doc, &plan, &err)) {
    for (const auto& s : plan.steps) {
      FUZZ_CHECK(s.replicas >= 0 && s.replicas <= 1000000 && !s.name.empty());
      variant::actuator::ScalePath(s);
      variant::actuator::WorkloadPath(s);
    }
  } else {
    FUZZ_CHECK(!err.empty());
  }
  variant::actuator::WorkloadMap map;
  err.clear();
  if (!variant::actuator::ParseWorkloadMap(doc, &map, &err)) FUZZ_CHECK(!err.empty());
  return 0;
}

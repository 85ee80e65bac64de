// The bus `inventory` body (docs/bus.md).
#include "bus/protocol.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  bus::Inventory inv;
  bus::DecodeError err;
  if (!bus::DecodeInventory(data, size, &inv, &err)) {
    FUZZ_CHECK(err.reason != bus::Reject::kNone && !err.detail.empty());
    return 0;
  }
  for (const auto& a : inv.accelerators) FUZZ_CHECK(a.count >= 0);
  for (const auto& r : inv.replicas)
    FUZZ_CHECK(!r.model.empty() && !r.variant.empty() && r.ready >= 0 && r.starting >= 0);
  std::string again = bus::EncodeInventory(inv);
  bus::Inventory inv2;
  FUZZ_CHECK(bus::DecodeInventory(again.data(), again.size(), &inv2, &err));
  FUZZ_CHECK(inv2.accelerators.size() == inv.accelerators.size() &&
             inv2.replicas.size() == inv.replicas.size());
  return 0;
}

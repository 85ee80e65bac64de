// The bus `heartbeat` body (docs/bus.md): any msgpack map.
#include "bus/protocol.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  bus::DecodeError err;
  if (!bus::DecodeHeartbeat(data, size, &err))
    FUZZ_CHECK(err.reason != bus::Reject::kNone && !err.detail.empty());
  return 0;
}

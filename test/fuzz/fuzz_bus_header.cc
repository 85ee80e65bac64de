// The bus header frame (docs/bus.md): msgpack map {v, src, seq, ts}.
#include "bus/protocol.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  bus::Header h;
  bus::DecodeError err;
  if (bus::DecodeHeader(data, size, &h, &err)) {
    FUZZ_CHECK(err.reason == bus::Reject::kNone);
    // What we accepted re-encodes to something we accept again, unchanged.
    std::string again = bus::EncodeHeader(h);
    bus::Header h2;
    FUZZ_CHECK(bus::DecodeHeader(again.data(), again.size(), &h2, &err));
    FUZZ_CHECK(h2.source == h.source && h2.sequence == h.sequence &&
               h2.timestamp == h.timestamp);
  } else {
    FUZZ_CHECK(err.reason != bus::Reject::kNone && !err.detail.empty());
  }
  return 0;
}

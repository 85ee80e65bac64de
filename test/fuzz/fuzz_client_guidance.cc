// The bus `guidance` message as the guidance client reads it (bridge/client,
// libvariant-client's variant_client_feed), then the scheduler's queries on what was
// accepted. Input: the body (msgpack); the header is a valid one with a growing seq.
#include <cmath>
#include <cstring>

#include "bus/protocol.h"
#include "fuzz_util.h"
#include "variant/client.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static variant_client* client = [] {
    variant_client_options o = VARIANT_CLIENT_OPTIONS_INIT;
    variant_client* c = nullptr;
    if (variant_client_create(&o, &c, nullptr) != VARIANT_CLIENT_OK) std::abort();
    return c;
  }();
  static uint64_t seq = 0;
  bus::Header h;
  h.source = "agent";
  h.sequence = ++seq;
  h.timestamp = 1.7e9;
  std::string header = bus::EncodeHeader(h);
  char* err = nullptr;
  int rc = variant_client_feed(client, header.data(), header.size(), data, size, &err);
  if (rc != VARIANT_CLIENT_OK) FUZZ_CHECK(err != nullptr && std::strlen(err) > 0);
  variant_client_free(err);
  // Queries never fail in a way the header does not allow, whatever was accepted.
  variant_client_weight w[16];
  size_t n = 0;
  for (const char* model : {"llama", "mistral", ""}) {
    for (const char* cls : {"chat", static_cast<const char*>(nullptr)}) {
      int q = variant_client_weights(client, model, cls, 300, 150, w, 16, &n, nullptr);
      if (q == VARIANT_CLIENT_OK) {
        double sum = 0;
        for (size_t i = 0; i < n; ++i) {
          FUZZ_CHECK(w[i].weight >= 0 && w[i].weight <= 1);
          sum += w[i].weight;
        }
        FUZZ_CHECK(n == 0 || std::fabs(sum - 1) < 1e-6 || sum == 0);
      }
    }
    double load = 0;
    variant_client_load(client, model, "h100", &load);
  }
  return 0;
}

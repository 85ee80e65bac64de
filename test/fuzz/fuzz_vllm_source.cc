// A vLLM pod's /metrics answer as the vLLM collector reads it
// (bridge/collector/vllm_source.cc: scrape, parse, derive, aggregate), served over
// loopback. Input: the first scrape, optionally "\n#--scrape--\n" and the second,
// collected 30 s later.
#include "bus/protocol.h"
#include "fuzz_http.h"
#include "fuzz_util.h"
#include "variant/collector/vllm_source.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::BodyServer* server = new fuzz::BodyServer();  // lives for the process
  auto [first, second] = fuzz::Split(fuzz::View(data, size), "\n#--scrape--\n");
  std::string url = "http://127.0.0.1:" + std::to_string(server->port()) + "/metrics";
  variant::collector::VllmSource src({{url, "pod-0", "h100-tp1", ""}});
  double now = 100;
  for (const std::string* body : {&first, &second}) {
    if (body == &second && second.empty()) break;
    server->Set(*body);
    std::vector<bus::Metrics> out;
    std::string err;
    if (!src.Collect(now, &out, &err)) FUZZ_CHECK(!err.empty());
    for (const bus::Metrics& m : out) {
      std::string enc = bus::EncodeMetrics(m);  // what the collector would publish
      bus::Metrics back;
      bus::DecodeError derr;
      bus::DecodeMetrics(enc.data(), enc.size(), &back, &derr);
    }
    now += 30;
  }
  return 0;
}

// Answers of a Prometheus server's HTTP API (/api/v1/query) as the Prometheus collector
// reads them (bridge/collector/prometheus_source.cc), served over loopback. The first
// byte picks the HTTP status (200 unless it is '4' or '5'); the rest is the body.
#include "bus/protocol.h"
#include "fuzz_http.h"
#include "fuzz_util.h"
#include "variant/collector/prometheus_source.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::BodyServer* server = new fuzz::BodyServer();  // lives for the process
  std::string_view in = fuzz::View(data, size);
  int status = 200;
  if (!in.empty() && (in[0] == '4' || in[0] == '5')) status = in[0] == '4' ? 400 : 503;
  if (!in.empty()) in.remove_prefix(1);
  server->Set(std::string(in), status, "application/json");
  variant::collector::PrometheusOptions opt;
  opt.server = {"127.0.0.1", server->port(), ""};
  opt.timeout_s = 5;
  variant::collector::PrometheusSource src(opt);
  std::vector<bus::Metrics> out;
  std::string err;
  if (!src.Collect(&out, &err)) {
    FUZZ_CHECK(!err.empty());
    return 0;
  }
  for (const bus::Metrics& m : out) {
    FUZZ_CHECK(!m.model.empty());
    std::string body = bus::EncodeMetrics(m);  // what the collector would publish
    bus::Metrics back;
    bus::DecodeError derr;
    bus::DecodeMetrics(body.data(), body.size(), &back, &derr);
  }
  return 0;
}

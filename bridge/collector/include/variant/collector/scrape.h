// Plain-HTTP scrape of a model server's /metrics endpoint (GET, no TLS: vLLM serves
// its metrics on the pod network or loopback), with connect and read timeouts and a
// cap on the body size.
//
// Thread-safety: Scrape() is reentrant; each call opens its own connection.
#ifndef VARIANT_COLLECTOR_SCRAPE_H_
#define VARIANT_COLLECTOR_SCRAPE_H_

#include <cstddef>
#include <string>

namespace variant::collector {

struct ScrapeOptions {
  double connect_timeout_s = 2.0;
  double read_timeout_s = 5.0;
  size_t max_body_bytes = 32u << 20;
};

struct ScrapeResult {
  bool ok = false;       // a 200 with a body within the cap
  int http_status = 0;   // 0 when no HTTP answer arrived
  std::string body;
  std::string error;     // why not ok: "connect: ...", "HTTP 503", "body exceeds ..."
};

struct Endpoint {
  std::string host;
  int port = 80;
  std::string path = "/metrics";
};

// Parses "http://host:port/path" (path defaults to /metrics, port to 80). Returns
// false with *err set for anything else (https, missing host, bad port).
bool ParseEndpoint(const std::string& url, Endpoint* out, std::string* err);

ScrapeResult Scrape(const Endpoint& ep, const ScrapeOptions& opt = ScrapeOptions());

}  // namespace variant::collector

#endif  // VARIANT_COLLECTOR_SCRAPE_H_

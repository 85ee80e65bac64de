#include "variant/collector/scrape.h"

#include <httplib.h>

#include <cmath>

namespace variant::collector {
namespace {
void SetTimeout(double s, time_t* sec, time_t* usec) {
  if (!(s > 0)) s = 0.001;
  *sec = static_cast<time_t>(s);
  *usec = static_cast<time_t>(std::lround((s - static_cast<double>(*sec)) * 1e6));
}
}  // namespace

bool ParseEndpoint(const std::string& url, Endpoint* out, std::string* err) {
  const std::string scheme = "http://";
  if (url.compare(0, scheme.size(), scheme) != 0) {
    *err = "endpoint must start with http:// (got \"" + url + "\")";
    return false;
  }
  std::string rest = url.substr(scheme.size());
  size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  Endpoint ep;
  ep.path = slash == std::string::npos ? "/metrics" : rest.substr(slash);
  size_t colon = hostport.rfind(':');
  bool bracketed = !hostport.empty() && hostport[0] == '[';
  if (colon != std::string::npos && (!bracketed || hostport.find(']') < colon)) {
    std::string port = hostport.substr(colon + 1);
    hostport = hostport.substr(0, colon);
    if (port.empty() || port.size() > 5 ||
        port.find_first_not_of("0123456789") != std::string::npos) {
      *err = "bad port in \"" + url + "\"";
      return false;
    }
    ep.port = std::stoi(port);
    if (ep.port < 1 || ep.port > 65535) {
      *err = "port out of range in \"" + url + "\"";
      return false;
    }
  }
  if (bracketed && hostport.size() > 2 && hostport.back() == ']') {
    hostport = hostport.substr(1, hostport.size() - 2);
  }
  if (hostport.empty()) {
    *err = "missing host in \"" + url + "\"";
    return false;
  }
  ep.host = hostport;
  *out = ep;
  return true;
}

ScrapeResult Scrape(const Endpoint& ep, const ScrapeOptions& opt) {
  ScrapeResult r;
  httplib::Client cli(ep.host, ep.port);
  time_t s, us;
  SetTimeout(opt.connect_timeout_s, &s, &us);
  cli.set_connection_timeout(s, us);
  SetTimeout(opt.read_timeout_s, &s, &us);
  cli.set_read_timeout(s, us);
  cli.set_write_timeout(s, us);
  cli.set_keep_alive(false);
  bool too_big = false;
  std::string body;
  httplib::Headers headers = {{"Accept", "text/plain;version=0.0.4"}};
  auto res = cli.Get(ep.path, headers, [&](const char* data, size_t len) {
    if (body.size() + len > opt.max_body_bytes) {
      too_big = true;
      return false;
    }
    body.append(data, len);
    return true;
  });
  if (too_big) {
    r.error = "body exceeds " + std::to_string(opt.max_body_bytes) + " bytes";
    return r;
  }
  if (!res) {
    r.error = "GET http://" + ep.host + ":" + std::to_string(ep.port) + ep.path + ": " +
              httplib::to_string(res.error());
    return r;
  }
  r.http_status = res->status;
  if (res->status != 200) {
    r.error = "HTTP " + std::to_string(res->status);
    return r;
  }
  r.body = std::move(body);
  r.ok = true;
  return r;
}

}  // namespace variant::collector

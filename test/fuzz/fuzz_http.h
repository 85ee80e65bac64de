// A loopback HTTP server for the fuzz targets whose input arrives over HTTP (the vLLM
// /metrics scrape, Prometheus' query API): every GET answers the current fuzz input.
#ifndef VARIANT_TEST_FUZZ_FUZZ_HTTP_H_
#define VARIANT_TEST_FUZZ_FUZZ_HTTP_H_

#include <httplib.h>

#include <mutex>
#include <string>
#include <thread>

namespace fuzz {

class BodyServer {
 public:
  BodyServer() {
    srv_.Get(".*", [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard<std::mutex> l(mu_);
      res.status = status_;
      res.set_content(body_, content_type_);
    });
    port_ = srv_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { srv_.listen_after_bind(); });
    while (!srv_.is_running()) std::this_thread::yield();
  }
  ~BodyServer() {
    srv_.stop();
    thread_.join();
  }
  void Set(std::string body, int status = 200, std::string content_type = "text/plain") {
    std::lock_guard<std::mutex> l(mu_);
    body_ = std::move(body);
    status_ = status;
    content_type_ = std::move(content_type);
  }
  int port() const { return port_; }

 private:
  httplib::Server srv_;
  std::thread thread_;
  std::mutex mu_;
  std::string body_, content_type_ = "text/plain";
  int status_ = 200;
  int port_ = 0;
};

}  // namespace fuzz

#endif  // VARIANT_TEST_FUZZ_FUZZ_HTTP_H_

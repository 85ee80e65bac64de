// A plain-HTTP server on loopback for the collector tests: serves a settable body at
// /metrics (or a settable status), 404 at /missing, and holds /hang until destroyed.
#ifndef VARIANT_TEST_COLLECTOR_LOOPBACK_SERVER_H_
#define VARIANT_TEST_COLLECTOR_LOOPBACK_SERVER_H_

#include <httplib.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace variant::collector::testing {

class LoopbackServer {
 public:
  LoopbackServer() {
    srv_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard<std::mutex> l(mu_);
      res.status = status_;
      res.set_content(body_, "text/plain; version=0.0.4");
    });
    srv_.Get("/missing", [](const httplib::Request&, httplib::Response& res) {
      res.status = 404;
      res.set_content("not found", "text/plain");
    });
    srv_.Get("/hang", [this](const httplib::Request&, httplib::Response& res) {
      // Holds the answer until the test is over, so the client's timeout fires.
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [this] { return released_; });
      res.set_content("late 1\n", "text/plain");
    });
    port_ = srv_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { srv_.listen_after_bind(); });
    while (!srv_.is_running()) std::this_thread::yield();
  }
  ~LoopbackServer() {
    {
      std::lock_guard<std::mutex> l(mu_);
      released_ = true;
    }
    cv_.notify_all();
    srv_.stop();
    thread_.join();
  }
  void Serve(const std::string& body) {
    std::lock_guard<std::mutex> l(mu_);
    body_ = body;
  }
  void Status(int status) {
    std::lock_guard<std::mutex> l(mu_);
    status_ = status;
  }
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/metrics"; }

 private:
  httplib::Server srv_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
  std::string body_;
  int status_ = 200;
  int port_ = 0;
};

}  // namespace variant::collector::testing

#endif  // VARIANT_TEST_COLLECTOR_LOOPBACK_SERVER_H_

// Test servers shared by the collector and end-to-end tests: a free loopback port, a
// vLLM-shaped pod whose counters grow with every scrape, and a real Prometheus
// (Debian's, PROMETHEUS_BIN) started on loopback with a given scrape config.
#ifndef VARIANT_TEST_COLLECTOR_TEST_SERVERS_H_
#define VARIANT_TEST_COLLECTOR_TEST_SERVERS_H_

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "free_port.h"

namespace variant::collector::testing {

// A pod whose counters advance by one "tick" of traffic per scrape: 10 requests of
// 700 prompt and 150 generated tokens, TTFT 0.225 s, ITL 0.02 s, 25% prefix hits.
class GrowingPod {
 public:
  GrowingPod() {
    srv_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      double n = static_cast<double>(++ticks_);
      std::ostringstream o;
      const std::string l = "{model_name=\"llama-3-8b\"}";
      o << "# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running" << l << " 6\n"
        << "# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting" << l << " 1\n"
        << "# TYPE vllm:kv_cache_usage_perc gauge\nvllm:kv_cache_usage_perc" << l << " 0.375\n"
        << "# TYPE vllm:request_success_total counter\n"
        << "vllm:request_success_total{finished_reason=\"stop\",model_name=\"llama-3-8b\"} "
        << 10 * n << "\n"
        << "# TYPE vllm:prefix_cache_hits_total counter\nvllm:prefix_cache_hits_total" << l << " "
        << 1000 * n << "\n"
        << "# TYPE vllm:prefix_cache_queries_total counter\nvllm:prefix_cache_queries_total" << l
        << " " << 4000 * n << "\n";
      auto hist = [&](const char* name, double sum, double count) {
        o << "# TYPE " << name << " histogram\n"
          << name << "_bucket{le=\"+Inf\",model_name=\"llama-3-8b\"} " << count << "\n"
          << name << "_sum" << l << " " << sum << "\n"
          << name << "_count" << l << " " << count << "\n";
      };
      hist("vllm:request_prompt_tokens", 7000 * n, 10 * n);
      hist("vllm:request_generation_tokens", 1500 * n, 10 * n);
      hist("vllm:time_to_first_token_seconds", 2.25 * n, 10 * n);
      hist("vllm:inter_token_latency_seconds", 30 * n, 1500 * n);
      res.set_content(o.str(), "text/plain; version=0.0.4");
    });
    port_ = srv_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { srv_.listen_after_bind(); });
    while (!srv_.is_running()) std::this_thread::yield();
  }
  ~GrowingPod() {
    srv_.stop();
    thread_.join();
  }
  int port() const { return port_; }

 private:
  httplib::Server srv_;
  std::thread thread_;
  std::atomic<int> ticks_{0};
  int port_ = 0;
};

// A real Prometheus on loopback. The constructor returns once it answers /-/ready.
// If it exits before that (another process took the port between FreePort and its
// bind, which happens under a parallel ctest), it is started again on a new port, up
// to four times; read the port it serves on from port(), and check ready() (log()
// holds its last output when it never came up).
class Prometheus {
 public:
  // port 0: a free one.
  explicit Prometheus(const std::vector<int>& targets, int port = 0)
      : port_(port > 0 ? port : FreePort()) {
    char tmpl[] = "/tmp/prom-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
    std::ofstream cfg(dir_ + "/prometheus.yml");
    cfg << "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        << "scrape_configs:\n  - job_name: vllm\n    static_configs:\n      - targets: [";
    for (size_t i = 0; i < targets.size(); ++i) {
      cfg << (i ? ", " : "") << "\"127.0.0.1:" << targets[i] << "\"";
    }
    cfg << "]\n        labels: {variant: h100-tp1}\n";
    cfg.close();
    for (int attempt = 0; attempt < 4 && !ready_; ++attempt) {
      if (attempt > 0) port_ = FreePort();
      Start();
      ready_ = WaitReady();
      if (!ready_) Stop();
    }
  }
  ~Prometheus() {
    Stop();
    std::system(("rm -rf " + dir_).c_str());
  }
  int port() const { return port_; }
  bool ready() const { return ready_; }
  std::string log() const {
    std::ifstream f(dir_ + "/prometheus.log");
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }

 private:
  void Start() {
    pid_ = fork();
    if (pid_ == 0) {
      FILE* f = freopen((dir_ + "/prometheus.log").c_str(), "w", stderr);
      (void)f;
      std::string c = "--config.file=" + dir_ + "/prometheus.yml";
      std::string d = "--storage.tsdb.path=" + dir_ + "/data";
      std::string w = "--web.listen-address=127.0.0.1:" + std::to_string(port_);
      execl(PROMETHEUS_BIN, PROMETHEUS_BIN, c.c_str(), d.c_str(), w.c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  // Up to 30 s: true once /-/ready answers 200; false as soon as the process exited.
  bool WaitReady() {
    httplib::Client cli("127.0.0.1", port_);
    cli.set_connection_timeout(1);
    cli.set_read_timeout(1);
    for (int i = 0; i < 300; ++i) {
      int st;
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      if (auto r = cli.Get("/-/ready"); r && r->status == 200) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }
  void Stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int st;
      waitpid(pid_, &st, 0);
    }
    pid_ = -1;
  }

  std::string dir_;
  int port_;
  bool ready_ = false;
  pid_t pid_ = -1;
};

}  // namespace variant::collector::testing

#endif  // VARIANT_TEST_COLLECTOR_TEST_SERVERS_H_

// variant-collect: scrapes vLLM pods (or asks a Prometheus server that scrapes them)
// and either prints what it derives (--once) or publishes the bus's metrics messages
// to the agent (--bus), one per model and variant, every --interval seconds.
//
//   variant-collect --target http://10.0.0.5:8000/metrics=h100-tp1 [--target ...] --once
//   variant-collect --targets-file targets.json --bus tcp://agent:5555 --source node-a
//   variant-collect --prometheus http://prometheus:9090 --bus tcp://agent:5555
//
// targets.json: [{"url": "...", "variant": "...", "pod": "...", "class": "..."}].
// Exit codes: 0 ok, 1 no target answered (--once), 2 usage.
#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cmath>
#include <memory>
#include <csignal>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <zmq.hpp>

#include "bus/curve_key.h"
#include "bus/protocol.h"
#include "variant/collector/derive.h"
#include "variant/collector/exposition.h"
#include "variant/collector/prometheus_source.h"
#include "variant/collector/scrape.h"
#include "variant/collector/vllm_source.h"

namespace {
std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop = true; }

double Mono() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
double Wall() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

int main(int argc, char** argv) {
  using namespace variant::collector;
  CLI::App app{"Scrape vLLM /metrics and derive per-model demand"};
  std::vector<std::string> target_args;
  std::string targets_file, bus, source = "vllm-collector";
  bool once = false;
  double interval = 5, window = 5, timeout = 5;
  app.add_option("--target", target_args, "URL=VARIANT (repeatable)");
  app.add_option("--targets-file", targets_file, "JSON list of {url, variant, pod, class}");
  auto* once_opt = app.add_flag("--once", once, "scrape twice, --window apart, print JSON, exit");
  auto* bus_opt = app.add_option("--bus", bus, "the agent's XSUB endpoint to publish to");
  once_opt->excludes(bus_opt);
  app.add_option("--source", source, "identity on the bus")->capture_default_str();
  // A CURVE bus (docs/bus.md, "Authentication"): z85 keys or key/certificate files.
  std::string curve_secret, curve_public, curve_server;
  app.add_option("--curve-secret-key", curve_secret, "this collector's CURVE secret key (--bus)");
  app.add_option("--curve-public-key", curve_public, "this collector's CURVE public key (--bus)");
  app.add_option("--curve-server-key", curve_server, "the agent's CURVE public key (--bus)");
  app.add_option("--interval", interval, "seconds between scrapes (--bus)")->capture_default_str();
  app.add_option("--window", window, "seconds between the two scrapes (--once)")
      ->capture_default_str();
  app.add_option("--timeout", timeout, "read timeout per scrape, seconds")->capture_default_str();
  std::string prometheus, prom_window = "1m", prom_matchers, variant_label = "variant";
  app.add_option("--prometheus", prometheus, "read from this Prometheus server instead of pods");
  app.add_option("--prom-window", prom_window, "rate() range for --prometheus")
      ->capture_default_str();
  app.add_option("--prom-matchers", prom_matchers, "extra label matchers, e.g. namespace=\"llm\"");
  app.add_option("--variant-label", variant_label, "label naming the variant (--prometheus)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  std::unique_ptr<PrometheusSource> prom;
  if (!prometheus.empty()) {
    PrometheusOptions po;
    std::string err;
    if (!ParseEndpoint(prometheus, &po.server, &err)) {
      std::cerr << "variant-collect: --prometheus: " << err << "\n";
      return 2;
    }
    po.window = prom_window;
    po.matchers = prom_matchers;
    po.variant_label = variant_label;
    po.timeout_s = timeout;
    prom = std::make_unique<PrometheusSource>(po);
  }

  std::vector<Target> targets;
  for (const std::string& t : target_args) {
    size_t eq = t.rfind('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == t.size()) {
      std::cerr << "variant-collect: --target must be URL=VARIANT, not " << t << "\n";
      return 2;
    }
    targets.push_back({t.substr(0, eq), "", t.substr(eq + 1), ""});
  }
  if (!targets_file.empty()) {
    std::ifstream f(targets_file);
    std::stringstream ss;
    ss << f.rdbuf();
    try {
      for (const auto& e : nlohmann::json::parse(ss.str())) {
        targets.push_back({e.at("url").get<std::string>(), e.value("pod", std::string()),
                           e.at("variant").get<std::string>(), e.value("class", std::string())});
      }
    } catch (const std::exception& e) {
      std::cerr << "variant-collect: " << targets_file << ": " << e.what() << "\n";
      return 2;
    }
  }
  if ((targets.empty() == !prom) || (!once && bus.empty())) {
    std::cerr << "variant-collect: give targets or --prometheus, and --once or --bus\n";
    return 2;
  }
  ScrapeOptions opt;
  opt.read_timeout_s = timeout;

  if (prom && once) {
    std::vector<bus::Metrics> out;
    std::string err;
    if (!prom->Collect(&out, &err)) {
      std::cerr << "variant-collect: " << err << "\n";
      return 1;
    }
    for (const bus::Metrics& m : out) {
      nlohmann::json j = {{"model", m.model}, {"variant", m.variant}};
      auto put = [&](const char* k, double v) {
        if (!std::isnan(v)) j[k] = v;
      };
      put("arrival_rate_rps", m.arrival_rate_rps);
      put("input_mean", m.input_mean);
      put("output_mean", m.output_mean);
      put("running", m.running);
      put("waiting", m.waiting);
      put("kv_usage", m.kv_usage);
      put("ttft_mean_ms", m.ttft_mean_ms);
      put("itl_mean_ms", m.itl_mean_ms);
      put("prefix_hit_ratio", m.prefix_hit_ratio);
      if (m.replicas_ready >= 0) j["replicas_ready"] = m.replicas_ready;
      std::cout << j.dump() << "\n";
    }
    return 0;
  }

  if (once) {
    // Two scrapes of each target, printed as one observation per model and pod.
    Deriver d;
    bool any = false;
    for (int round = 0; round < 2; ++round) {
      if (round == 1) std::this_thread::sleep_for(std::chrono::duration<double>(window));
      for (const Target& t : targets) {
        Endpoint ep;
        std::string err;
        if (!ParseEndpoint(t.url, &ep, &err)) {
          std::cerr << "variant-collect: " << err << "\n";
          return 2;
        }
        ScrapeResult r = Scrape(ep, opt);
        Exposition e;
        ParseError pe;
        if (!r.ok) {
          std::cerr << "variant-collect: " << t.url << ": " << r.error << "\n";
          continue;
        }
        if (!ParseExposition(r.body, &e, &pe)) {
          std::cerr << "variant-collect: " << t.url << ": " << FormatError(pe) << "\n";
          continue;
        }
        any = true;
        auto obs = d.Update(t.pod.empty() ? t.url : t.pod, Mono(), e);
        if (round == 1) {
          for (const Observation& o : obs) std::cout << ObservationToJson(o) << "\n";
        }
      }
    }
    return any ? 0 : 1;
  }

  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  zmq::context_t ctx(1);
  zmq::socket_t pub(ctx, zmq::socket_type::pub);
  pub.set(zmq::sockopt::linger, 1000);
  try {
    const bus::CurveClientKeys curve =
        bus::ReadCurveClientKeys(curve_secret, curve_public, curve_server);
    if (curve.enabled()) {  // before connect: the handshake uses them
      pub.set(zmq::sockopt::curve_secretkey, curve.secret_key);
      pub.set(zmq::sockopt::curve_publickey, curve.public_key);
      pub.set(zmq::sockopt::curve_serverkey, curve.server_key);
    }
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
  pub.connect(bus);
  VllmSource src(targets, opt);
  uint64_t seq = 0;
  const double start = Mono();
  auto send = [&](std::string_view topic, const std::string& body) {
    bus::Header h;
    h.source = source;
    h.sequence = ++seq;
    h.timestamp = Wall();
    std::string hb = bus::EncodeHeader(h);
    pub.send(zmq::buffer(topic), zmq::send_flags::sndmore);
    pub.send(zmq::buffer(hb), zmq::send_flags::sndmore);
    pub.send(zmq::buffer(body), zmq::send_flags::none);
  };
  double next = Mono();
  while (!g_stop) {
    std::vector<bus::Metrics> out;
    std::string err;
    if (prom) {
      if (!prom->Collect(&out, &err)) std::cerr << "variant-collect: " << err << "\n";
    } else {
      if (!src.Collect(Mono(), &out, &err)) std::cerr << "variant-collect: " << err << "\n";
      for (const std::string& e : src.errors()) std::cerr << "variant-collect: " << e << "\n";
    }
    for (const bus::Metrics& m : out) send(bus::kTopicMetrics, bus::EncodeMetrics(m));
    // Something every interval: the agent tells a quiet collector from a dead one.
    if (out.empty()) send(bus::kTopicHeartbeat, bus::EncodeHeartbeat(Mono() - start));
    next += interval;
    while (!g_stop && Mono() < next) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return 0;
}

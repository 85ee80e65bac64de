// variant-actuate: executes a plan (JSON, see ParsePlanJson) against the Kubernetes
// API through the scale subresource and prints the report as JSON; or, with
// --follow, subscribes to the agent's decision/plan topics and executes each new
// plan, printing one report per line.
// Exit codes: 0 every step done (or accepted in dry-run), 1 a step failed, timed out
// or is pending, 2 usage or an unreadable plan.
#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <mutex>
#include <thread>
#include <iostream>
#include <sstream>
#include <stdexcept>

#include "bus/curve_key.h"
#include "variant/actuator/follow.h"
#include "variant/actuator/k8s.h"

namespace {
std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop = true; }

bool ReadFile(const std::string& path, std::string* out) {
  std::stringstream ss;
  if (path == "-") {
    ss << std::cin.rdbuf();
  } else {
    std::ifstream f(path);
    if (!f) return false;
    ss << f.rdbuf();
  }
  *out = ss.str();
  return true;
}
}  // namespace

int main(int argc, char** argv) {
  using namespace variant::actuator;
  CLI::App app{"Execute a scaling plan through the Kubernetes scale subresource"};
  std::string plan_path, server, follow, workloads_path;
  int max_plans = 0;
  Config cfg;
  auto* plan_opt = app.add_option("--plan", plan_path, "plan JSON file, - for stdin");
  auto* follow_opt = app.add_option("--follow", follow,
                                    "the agent's XPUB endpoint: execute each new plan");
  plan_opt->excludes(follow_opt);
  app.add_option("--workloads", workloads_path,
                 "with --follow: JSON list of {model, variant, kind, namespace, name}")
      ->needs(follow_opt);
  app.add_option("--max-plans", max_plans, "with --follow: exit after this many plans (0: never)")
      ->needs(follow_opt);
  // A CURVE bus (docs/bus.md, "Authentication"): z85 keys or key/certificate files.
  std::string curve_secret, curve_public, curve_server;
  app.add_option("--curve-secret-key", curve_secret, "this actuator's CURVE secret key (--follow)")
      ->needs(follow_opt);
  app.add_option("--curve-public-key", curve_public, "this actuator's CURVE public key (--follow)")
      ->needs(follow_opt);
  app.add_option("--curve-server-key", curve_server, "the agent's CURVE public key (--follow)")
      ->needs(follow_opt);
  app.add_flag("--dry-run", cfg.dry_run, "send ?dryRun=All; change nothing, wait for nothing");
  app.add_option("--server", server,
                 "API server host:port (default: KUBERNETES_SERVICE_HOST/PORT)");
  app.add_option("--token-file", cfg.token_path, "bearer token file")->capture_default_str();
  app.add_option("--ca-file", cfg.ca_path, "CA bundle for the API server")->capture_default_str();
  app.add_option("--max-attempts", cfg.max_attempts, "requests per call, first included")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  app.add_option("--ready-timeout", cfg.ready_timeout_s, "seconds per step to become ready")
      ->capture_default_str();
  app.add_option("--poll-interval", cfg.poll_interval_s, "seconds between readiness polls")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  if (plan_path.empty() && follow.empty()) {
    std::cerr << "variant-actuate: give --plan or --follow\n";
    return 2;
  }
  std::string err;
  Plan plan;
  WorkloadMap workloads;
  CurveKeys curve;
  try {
    curve = bus::ReadCurveClientKeys(curve_secret, curve_public, curve_server);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
  if (!plan_path.empty()) {
    std::string doc;
    if (!ReadFile(plan_path, &doc)) {
      std::cerr << "variant-actuate: cannot read " << plan_path << "\n";
      return 2;
    }
    if (!ParsePlanJson(doc, &plan, &err)) {
      std::cerr << "variant-actuate: " << err << "\n";
      return 2;
    }
  } else {
    std::string doc;
    if (workloads_path.empty() || !ReadFile(workloads_path, &doc)) {
      std::cerr << "variant-actuate: --follow needs a readable --workloads file\n";
      return 2;
    }
    if (!ParseWorkloadMap(doc, &workloads, &err)) {
      std::cerr << "variant-actuate: " << err << "\n";
      return 2;
    }
  }
  if (server.empty()) {
    if (!ConfigFromEnvironment(&cfg, &err)) {
      std::cerr << "variant-actuate: " << err << "; pass --server\n";
      return 2;
    }
  } else {
    size_t colon = server.rfind(':');
    if (colon == std::string::npos || colon == 0) {
      std::cerr << "variant-actuate: --server must be host:port\n";
      return 2;
    }
    cfg.host = server.substr(0, colon);
    try {
      cfg.port = std::stoi(server.substr(colon + 1));
    } catch (...) {
      std::cerr << "variant-actuate: bad port in --server\n";
      return 2;
    }
  }
  Actuator act(cfg);
  if (!follow.empty()) {
    std::signal(SIGINT, OnSignal);
    std::signal(SIGTERM, OnSignal);
    std::mutex mu;
    bool all_complete = true;
    Follower f(follow, workloads, &act, [&](const PlanReport& r) {
      std::lock_guard<std::mutex> l(mu);
      all_complete = all_complete && r.complete;
      std::cout << ReportToJson(r) << std::endl;
    }, curve);
    f.Start();
    while (!g_stop && (max_plans <= 0 || f.executed() < static_cast<size_t>(max_plans))) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    f.Stop();
    return all_complete ? 0 : 1;
  }
  PlanReport rep = act.Execute(plan);
  std::cout << ReportToJson(rep) << "\n";
  return rep.complete ? 0 : 1;
}

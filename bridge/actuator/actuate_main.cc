// variant-actuate: executes a plan (JSON, see ParsePlanJson) against the Kubernetes
// API through the scale subresource and prints the report as JSON.
// Exit codes: 0 every step done (or accepted in dry-run), 1 a step failed, timed out
// or is pending, 2 usage or an unreadable plan.
#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <sstream>

#include "variant/actuator/k8s.h"

int main(int argc, char** argv) {
  using namespace variant::actuator;
  CLI::App app{"Execute a scaling plan through the Kubernetes scale subresource"};
  std::string plan_path, server;
  Config cfg;
  app.add_option("--plan", plan_path, "plan JSON file, - for stdin")->required();
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

  std::stringstream ss;
  if (plan_path == "-") {
    ss << std::cin.rdbuf();
  } else {
    std::ifstream f(plan_path);
    if (!f) {
      std::cerr << "variant-actuate: cannot read " << plan_path << "\n";
      return 2;
    }
    ss << f.rdbuf();
  }
  Plan plan;
  std::string err;
  if (!ParsePlanJson(ss.str(), &plan, &err)) {
    std::cerr << "variant-actuate: " << err << "\n";
    return 2;
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
  PlanReport rep = act.Execute(plan);
  std::cout << ReportToJson(rep) << "\n";
  return rep.complete ? 0 : 1;
}

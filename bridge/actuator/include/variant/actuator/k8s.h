// The direct Kubernetes actuator: executes a plan (ordered scaling steps) through the
// scale subresource of Deployments and LeaderWorkerSets, one step at a time, waiting
// for each step's workload to be ready before the next.
//
// Contract with the API server (checked by test/actuator's contract tests; the list
// of calls is bridge/actuator/k8s_api_calls.txt):
//   GET   .../{deployments|leaderworkersets}/NAME/scale     current replicas
//   PATCH .../{deployments|leaderworkersets}/NAME/scale     Content-Type
//         application/merge-patch+json, body {"spec":{"replicas":N}}; ?dryRun=All in
//         dry-run mode
//   GET   .../{deployments|leaderworkersets}/NAME           readiness from .status
// Every request carries "Authorization: Bearer <token>"; the token file is re-read
// for each plan (projected service-account tokens rotate). TLS is verified against
// the configured CA.
//
// Failures: 409, 429, 5xx and transport errors are retried with exponential back-off
// (Retry-After honoured, capped), at most max_attempts times per request; other 4xx
// fail at once. A failed or timed-out step stops its plan: the remaining steps are
// reported pending, never run out of order (each step is only safe after the ones
// before it). Execute() always returns within a bound set by the configuration.
//
// Thread-safety: an Actuator may run several plans at once (ExecuteAsync, or
// Execute from several threads); each plan has its own connection. The Clock must
// then be thread-safe.
#ifndef VARIANT_ACTUATOR_K8S_H_
#define VARIANT_ACTUATOR_K8S_H_

#include <functional>
#include <future>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace variant::actuator {

enum class WorkloadKind { kDeployment, kLeaderWorkerSet };
const char* KindName(WorkloadKind k);  // "Deployment", "LeaderWorkerSet"

struct Step {
  WorkloadKind kind = WorkloadKind::kDeployment;
  std::string ns;
  std::string name;
  int replicas = 0;
};

struct Plan {
  std::string id;
  std::vector<Step> steps;
};

// {"id": "...", "steps": [{"kind": "Deployment"|"LeaderWorkerSet", "namespace": "ns",
//   "name": "n", "replicas": 3}, ...]}. kind defaults to Deployment. Names are checked
// as DNS-1123 labels/subdomains, replicas as 0..1000000.
bool ParsePlanJson(std::string_view doc, Plan* out, std::string* err);

enum class StepState {
  kPending,   // not attempted (an earlier step did not complete)
  kDone,      // scaled and ready
  kDryRun,    // accepted by the server with dryRun=All; nothing changed
  kFailed,    // the request failed (non-retryable status, or retries exhausted)
  kTimedOut   // scaled, but not ready within ready_timeout_s
};
const char* StepStateName(StepState s);

struct StepReport {
  Step step;
  StepState state = StepState::kPending;
  std::optional<int> from_replicas;  // spec.replicas before the step
  int attempts = 0;                  // HTTP requests sent for this step
  int last_http_status = 0;          // 0: none or transport error
  std::string error;
};

struct PlanReport {
  std::string plan_id;
  bool complete = false;  // every step kDone or kDryRun
  std::vector<StepReport> steps;
};
std::string ReportToJson(const PlanReport& r);

// Time source; tests inject one whose Sleep only advances Now.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual double Now() = 0;  // seconds, monotonic
  virtual void Sleep(double seconds) = 0;
};
Clock* SystemClock();  // process-wide, thread-safe

struct Config {
  std::string host;  // API server host or IP; see ConfigFromEnvironment
  int port = 443;
  std::string token_path = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  std::string ca_path = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
  bool dry_run = false;
  double connect_timeout_s = 5;
  double request_timeout_s = 10;
  int max_attempts = 5;             // per request, including the first
  double backoff_initial_s = 0.2;   // doubles after each retry
  double backoff_max_s = 5;
  double ready_timeout_s = 900;     // per step
  double poll_interval_s = 2;
  std::string user_agent = "variant-actuator/0.1";
};

// Fills host and port from KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT as read
// through `getenv` (std::getenv when empty). Returns false with *err when unset.
bool ConfigFromEnvironment(Config* cfg, std::string* err,
                           std::function<const char*(const char*)> getenv = {});

class Actuator {
 public:
  // `clock` is borrowed and must outlive the Actuator; nullptr: SystemClock().
  explicit Actuator(Config cfg, Clock* clock = nullptr);

  PlanReport Execute(const Plan& plan);
  // Runs the plan on its own thread, so a stuck plan blocks nothing else.
  std::future<PlanReport> ExecuteAsync(Plan plan);

  const Config& config() const { return cfg_; }

 private:
  Config cfg_;
  Clock* clock_;
};

// The API path of a step's workload, and of its scale subresource.
std::string WorkloadPath(const Step& s);
std::string ScalePath(const Step& s);

}  // namespace variant::actuator

#endif  // VARIANT_ACTUATOR_K8S_H_

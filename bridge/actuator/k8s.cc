#include "variant/actuator/k8s.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

namespace variant::actuator {
namespace {

using json = nlohmann::json;

class RealClock : public Clock {
 public:
  double Now() override {
    return std::chrono::duration<double>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  void Sleep(double s) override {
    if (s > 0) std::this_thread::sleep_for(std::chrono::duration<double>(s));
  }
};

void SplitSeconds(double s, time_t* sec, time_t* usec) {
  if (!(s > 0)) s = 0.001;
  *sec = static_cast<time_t>(s);
  *usec = static_cast<time_t>(std::lround((s - static_cast<double>(*sec)) * 1e6));
}

bool IsDns1123Label(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return s.front() != '-' && s.back() != '-';
}

bool IsDns1123Subdomain(const std::string& s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string part = s.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!IsDns1123Label(part)) return false;
    if (dot == std::string::npos) return true;
    start = dot + 1;
  }
}

bool Retryable(int status) { return status == 409 || status == 429 || status >= 500; }

struct HttpResult {
  int status = 0;  // 0: no HTTP answer
  std::string body;
  std::string error;
  double retry_after_s = 0;
};

// One connection per plan: TLS verified against the CA, bearer token on each request.
class ApiClient {
 public:
  ApiClient(const Config& cfg, std::string token, Clock* clock)
      : cfg_(cfg), clock_(clock), cli_(cfg.host, cfg.port) {
    cli_.set_ca_cert_path(cfg.ca_path);
    cli_.enable_server_certificate_verification(true);
    time_t s, us;
    SplitSeconds(cfg.connect_timeout_s, &s, &us);
    cli_.set_connection_timeout(s, us);
    SplitSeconds(cfg.request_timeout_s, &s, &us);
    cli_.set_read_timeout(s, us);
    cli_.set_write_timeout(s, us);
    headers_ = {{"Authorization", "Bearer " + token},
                {"Accept", "application/json"},
                {"User-Agent", cfg.user_agent}};
  }

  // One request, retried on 409/429/5xx/transport errors. *attempts counts requests.
  HttpResult Call(const std::string& method, const std::string& path, const std::string& body,
                  int* attempts) {
    HttpResult r;
    double backoff = cfg_.backoff_initial_s;
    for (int i = 0; i < std::max(1, cfg_.max_attempts); ++i) {
      if (i > 0) {
        double wait = std::max(backoff, r.retry_after_s);
        clock_->Sleep(std::min(wait, cfg_.backoff_max_s));
        backoff = std::min(backoff * 2, cfg_.backoff_max_s);
      }
      ++*attempts;
      r = Once(method, path, body);
      if (r.status != 0 && !Retryable(r.status)) return r;
    }
    return r;
  }

 private:
  HttpResult Once(const std::string& method, const std::string& path, const std::string& body) {
    HttpResult r;
    httplib::Result res = method == "PATCH"
                              ? cli_.Patch(path, headers_, body, "application/merge-patch+json")
                              : cli_.Get(path, headers_);
    if (!res) {
      r.error = method + " " + path + ": " + httplib::to_string(res.error());
      auto ssl = cli_.get_openssl_verify_result();
      if (ssl != X509_V_OK) {
        r.error += " (TLS: " + std::string(X509_verify_cert_error_string(ssl)) + ")";
      }
      return r;
    }
    r.status = res->status;
    r.body = res->body;
    if (res->has_header("Retry-After")) {
      r.retry_after_s = std::atof(res->get_header_value("Retry-After").c_str());
    }
    if (r.status < 200 || r.status >= 300) {
      std::string msg;
      try {
        json j = json::parse(r.body);
        if (j.contains("message") && j["message"].is_string()) msg = j["message"];
      } catch (...) {
      }
      r.error = method + " " + path + ": HTTP " + std::to_string(r.status) +
                (msg.empty() ? "" : " (" + msg + ")");
    }
    return r;
  }

  const Config& cfg_;
  Clock* clock_;
  httplib::SSLClient cli_;
  httplib::Headers headers_;
};

std::optional<int64_t> IntAt(const json& j, std::initializer_list<const char*> path) {
  const json* p = &j;
  for (const char* k : path) {
    if (!p->is_object() || !p->contains(k)) return std::nullopt;
    p = &(*p)[k];
  }
  if (!p->is_number_integer()) return std::nullopt;
  return p->get<int64_t>();
}

// Ready: the controller has seen the change, and exactly `target` replicas exist
// and all are ready (so a scale-down has also finished terminating).
bool IsReady(const Step& s, const json& obj) {
  int64_t ready = IntAt(obj, {"status", "readyReplicas"}).value_or(0);
  int64_t have = IntAt(obj, {"status", "replicas"}).value_or(0);
  if (s.kind == WorkloadKind::kDeployment) {
    auto gen = IntAt(obj, {"metadata", "generation"});
    auto seen = IntAt(obj, {"status", "observedGeneration"});
    if (gen && (!seen || *seen < *gen)) return false;
  }
  return ready >= s.replicas && have == s.replicas;
}

class StepRunner {
 public:
  StepRunner(const Config& cfg, Clock* clock, ApiClient* api)
      : cfg_(cfg), clock_(clock), api_(api) {}

  void Run(StepReport* rep) {
    const Step& s = rep->step;
    HttpResult r = api_->Call("GET", ScalePath(s), "", &rep->attempts);
    rep->last_http_status = r.status;
    if (r.status != 200) return Fail(rep, r);
    try {
      rep->from_replicas = static_cast<int>(
          IntAt(json::parse(r.body), {"spec", "replicas"}).value_or(0));
    } catch (const std::exception& e) {
      return Fail(rep, "GET " + ScalePath(s) + ": unparsable scale: " + e.what());
    }
    bool changed = rep->from_replicas != s.replicas;
    if (changed || cfg_.dry_run) {
      std::string path = ScalePath(s) + (cfg_.dry_run ? "?dryRun=All" : "");
      json body = {{"spec", {{"replicas", s.replicas}}}};
      r = api_->Call("PATCH", path, body.dump(), &rep->attempts);
      rep->last_http_status = r.status;
      if (r.status != 200) return Fail(rep, r);
      try {
        auto got = IntAt(json::parse(r.body), {"spec", "replicas"});
        if (got && *got != s.replicas) {
          return Fail(rep, "PATCH " + path + ": server answered spec.replicas " +
                               std::to_string(*got) + ", not " + std::to_string(s.replicas));
        }
      } catch (const std::exception& e) {
        return Fail(rep, "PATCH " + path + ": unparsable answer: " + e.what());
      }
    }
    if (cfg_.dry_run) {
      rep->state = StepState::kDryRun;
      return;
    }
    WaitReady(rep);
  }

 private:
  void WaitReady(StepReport* rep) {
    const Step& s = rep->step;
    double deadline = clock_->Now() + cfg_.ready_timeout_s;
    for (;;) {
      HttpResult r = api_->Call("GET", WorkloadPath(s), "", &rep->attempts);
      rep->last_http_status = r.status;
      if (r.status != 200) return Fail(rep, r);
      try {
        if (IsReady(s, json::parse(r.body))) {
          rep->state = StepState::kDone;
          return;
        }
      } catch (const std::exception& e) {
        return Fail(rep, "GET " + WorkloadPath(s) + ": unparsable object: " + e.what());
      }
      if (clock_->Now() + cfg_.poll_interval_s > deadline) {
        rep->state = StepState::kTimedOut;
        rep->error = std::string(KindName(s.kind)) + " " + s.ns + "/" + s.name + " not ready with " +
                     std::to_string(s.replicas) + " replicas within " +
                     std::to_string(cfg_.ready_timeout_s) + " s";
        return;
      }
      clock_->Sleep(cfg_.poll_interval_s);
    }
  }

  void Fail(StepReport* rep, const HttpResult& r) {
    Fail(rep, r.error.empty() ? "HTTP " + std::to_string(r.status) : r.error);
    if (r.status != 0 && Retryable(r.status)) {
      rep->error += " after " + std::to_string(rep->attempts) + " requests";
    }
  }
  void Fail(StepReport* rep, const std::string& msg) {
    rep->state = StepState::kFailed;
    rep->error = msg;
  }

  const Config& cfg_;
  Clock* clock_;
  ApiClient* api_;
};

bool ReadToken(const std::string& path, std::string* token, std::string* err) {
  std::ifstream f(path);
  if (!f) {
    *err = "cannot read the service-account token " + path;
    return false;
  }
  std::stringstream ss;
  ss << f.rdbuf();
  std::string t = ss.str();
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
  if (t.empty() || t.find_first_of("\r\n") != std::string::npos) {
    *err = "the service-account token " + path + " is empty or not one line";
    return false;
  }
  *token = t;
  return true;
}

}  // namespace

const char* KindName(WorkloadKind k) {
  return k == WorkloadKind::kLeaderWorkerSet ? "LeaderWorkerSet" : "Deployment";
}

const char* StepStateName(StepState s) {
  switch (s) {
    case StepState::kPending: return "pending";
    case StepState::kDone: return "done";
    case StepState::kDryRun: return "dry-run";
    case StepState::kFailed: return "failed";
    case StepState::kTimedOut: return "timed-out";
  }
  return "unknown";
}

Clock* SystemClock() {
  static RealClock clock;
  return &clock;
}

std::string WorkloadPath(const Step& s) {
  if (s.kind == WorkloadKind::kLeaderWorkerSet) {
    return "/apis/leaderworkerset.x-k8s.io/v1/namespaces/" + s.ns + "/leaderworkersets/" + s.name;
  }
  return "/apis/apps/v1/namespaces/" + s.ns + "/deployments/" + s.name;
}

std::string ScalePath(const Step& s) { return WorkloadPath(s) + "/scale"; }

bool ParsePlanJson(std::string_view doc, Plan* out, std::string* err) {
  json j;
  try {
    j = json::parse(doc);
  } catch (const std::exception& e) {
    *err = std::string("plan is not JSON: ") + e.what();
    return false;
  }
  if (!j.is_object() || !j.contains("steps") || !j["steps"].is_array()) {
    *err = "plan must be an object with a \"steps\" array";
    return false;
  }
  Plan p;
  if (j.contains("id")) {
    if (!j["id"].is_string()) {
      *err = "plan id must be a string";
      return false;
    }
    p.id = j["id"];
  }
  size_t i = 0;
  for (const json& s : j["steps"]) {
    std::string where = "steps[" + std::to_string(i++) + "]";
    if (!s.is_object()) {
      *err = where + " is not an object";
      return false;
    }
    Step st;
    // value() throws on a kind that is not a string (found by test/fuzz/fuzz_actuator_plan).
    if (s.contains("kind") && !s["kind"].is_string()) {
      *err = where + ".kind must be a string: Deployment or LeaderWorkerSet";
      return false;
    }
    std::string kind = s.value("kind", std::string("Deployment"));
    if (kind == "Deployment") st.kind = WorkloadKind::kDeployment;
    else if (kind == "LeaderWorkerSet") st.kind = WorkloadKind::kLeaderWorkerSet;
    else {
      *err = where + ".kind must be Deployment or LeaderWorkerSet, not \"" + kind + "\"";
      return false;
    }
    for (const char* k : {"namespace", "name"}) {
      if (!s.contains(k) || !s[k].is_string()) {
        *err = where + "." + k + " is missing or not a string";
        return false;
      }
    }
    st.ns = s["namespace"];
    st.name = s["name"];
    if (!IsDns1123Label(st.ns)) {
      *err = where + ".namespace \"" + st.ns + "\" is not a DNS-1123 label";
      return false;
    }
    if (!IsDns1123Subdomain(st.name)) {
      *err = where + ".name \"" + st.name + "\" is not a DNS-1123 subdomain";
      return false;
    }
    if (!s.contains("replicas") || !s["replicas"].is_number_integer() ||
        s["replicas"].get<int64_t>() < 0 || s["replicas"].get<int64_t>() > 1000000) {
      *err = where + ".replicas must be an integer in [0, 1000000]";
      return false;
    }
    st.replicas = s["replicas"].get<int>();
    p.steps.push_back(st);
  }
  *out = std::move(p);
  return true;
}

std::string ReportToJson(const PlanReport& r) {
  json steps = json::array();
  for (const StepReport& s : r.steps) {
    json e = {{"kind", KindName(s.step.kind)},
              {"namespace", s.step.ns},
              {"name", s.step.name},
              {"replicas", s.step.replicas},
              {"state", StepStateName(s.state)},
              {"attempts", s.attempts},
              {"last_http_status", s.last_http_status}};
    if (s.from_replicas) e["from_replicas"] = *s.from_replicas;
    if (!s.error.empty()) e["error"] = s.error;
    steps.push_back(e);
  }
  return json{{"plan_id", r.plan_id}, {"complete", r.complete}, {"steps", steps}}.dump();
}

bool ConfigFromEnvironment(Config* cfg, std::string* err,
                           std::function<const char*(const char*)> getenv) {
  if (!getenv) getenv = [](const char* k) { return std::getenv(k); };
  const char* host = getenv("KUBERNETES_SERVICE_HOST");
  const char* port = getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !*host) {
    *err = "KUBERNETES_SERVICE_HOST is not set (not running in a cluster?)";
    return false;
  }
  cfg->host = host;
  if (port && *port) {
    char* end = nullptr;
    long p = std::strtol(port, &end, 10);
    if (*end != '\0' || p < 1 || p > 65535) {
      *err = std::string("KUBERNETES_SERVICE_PORT \"") + port + "\" is not a port";
      return false;
    }
    cfg->port = static_cast<int>(p);
  }
  return true;
}

Actuator::Actuator(Config cfg, Clock* clock)
    : cfg_(std::move(cfg)), clock_(clock ? clock : SystemClock()) {}

PlanReport Actuator::Execute(const Plan& plan) {
  PlanReport rep;
  rep.plan_id = plan.id;
  for (const Step& s : plan.steps) rep.steps.push_back(StepReport{s, StepState::kPending, {}, 0, 0, ""});
  if (plan.steps.empty()) {
    rep.complete = true;
    return rep;
  }
  std::string token, err;
  if (!ReadToken(cfg_.token_path, &token, &err)) {
    rep.steps[0].state = StepState::kFailed;
    rep.steps[0].error = err;
    return rep;
  }
  ApiClient api(cfg_, token, clock_);
  StepRunner runner(cfg_, clock_, &api);
  for (StepReport& s : rep.steps) {
    runner.Run(&s);
    if (s.state != StepState::kDone && s.state != StepState::kDryRun) return rep;
  }
  rep.complete = true;
  return rep;
}

std::future<PlanReport> Actuator::ExecuteAsync(Plan plan) {
  return std::async(std::launch::async, [this, p = std::move(plan)] { return Execute(p); });
}

}  // namespace variant::actuator

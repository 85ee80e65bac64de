#include "fake_apiserver.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

namespace variant::actuator::testing {
namespace {
using json = nlohmann::json;

void Run(const std::string& cmd) {
  if (std::system((cmd + " >/dev/null 2>&1").c_str()) != 0) {
    std::fprintf(stderr, "test PKI: command failed: %s\n", cmd.c_str());
    std::abort();
  }
}

json Status(int code, const std::string& reason, const std::string& msg) {
  return {{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Failure"},
          {"message", msg},   {"reason", reason},   {"code", code}};
}

const std::regex kPath(
    R"(^/apis/(apps/v1|leaderworkerset\.x-k8s\.io/v1)/namespaces/([a-z0-9-]+)/(deployments|leaderworkersets)/([a-z0-9.-]+)(/scale)?$)");
}  // namespace

TestPki TestPki::Create() {
  char tmpl[] = "/tmp/k8s-contract-XXXXXX";
  char* d = mkdtemp(tmpl);
  if (!d) std::abort();
  TestPki p;
  p.dir = d;
  p.ca_crt = p.dir + "/ca.crt";
  p.server_crt = p.dir + "/server.crt";
  p.server_key = p.dir + "/server.key";
  p.other_ca_crt = p.dir + "/other-ca.crt";
  const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  Run("openssl req -x509 " + ec + " -keyout " + p.dir + "/ca.key -out " + p.ca_crt +
      " -days 2 -subj /CN=contract-test-ca");
  Run("openssl req " + ec + " -keyout " + p.server_key + " -out " + p.dir +
      "/server.csr -subj /CN=localhost");
  std::ofstream(p.dir + "/ext.cnf")
      << "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n";
  Run("openssl x509 -req -in " + p.dir + "/server.csr -CA " + p.ca_crt + " -CAkey " + p.dir +
      "/ca.key -CAcreateserial -out " + p.server_crt + " -days 2 -extfile " + p.dir +
      "/ext.cnf");
  Run("openssl req -x509 " + ec + " -keyout " + p.dir + "/other.key -out " + p.other_ca_crt +
      " -days 2 -subj /CN=some-other-ca");
  return p;
}

FakeApiServer::FakeApiServer(const TestPki& pki, std::string token)
    : srv_(pki.server_crt.c_str(), pki.server_key.c_str()), token_(std::move(token)) {
  const char* pattern = R"(/apis/.*)";
  srv_.Get(pattern, [this](const httplib::Request& q, httplib::Response& r) { Handle("GET", q, r); });
  srv_.Patch(pattern,
             [this](const httplib::Request& q, httplib::Response& r) { Handle("PATCH", q, r); });
  port_ = srv_.bind_to_any_port("127.0.0.1");
  thread_ = std::thread([this] { srv_.listen_after_bind(); });
  while (!srv_.is_running()) std::this_thread::yield();
}

FakeApiServer::~FakeApiServer() {
  srv_.stop();
  thread_.join();
}

void FakeApiServer::AddObject(const std::string& kind, const std::string& ns,
                              const std::string& name, int replicas) {
  std::lock_guard<std::mutex> l(mu_);
  FakeObject o;
  o.spec = o.status_replicas = o.ready = replicas;
  objects_[kind + "/" + ns + "/" + name] = o;
}

FakeObject FakeApiServer::Object(const std::string& kind, const std::string& ns,
                                 const std::string& name) {
  std::lock_guard<std::mutex> l(mu_);
  return objects_.at(kind + "/" + ns + "/" + name);
}

void FakeApiServer::SetNeverReady(const std::string& kind, const std::string& ns,
                                  const std::string& name) {
  std::lock_guard<std::mutex> l(mu_);
  objects_.at(kind + "/" + ns + "/" + name).never_ready = true;
}

void FakeApiServer::Script(const std::string& path, std::vector<int> statuses) {
  std::lock_guard<std::mutex> l(mu_);
  for (int s : statuses) scripted_[path].push_back(s);
}

void FakeApiServer::AlwaysFail(const std::string& path, int status) {
  std::lock_guard<std::mutex> l(mu_);
  always_[path] = status;
}

std::vector<Recorded> FakeApiServer::Log() {
  std::lock_guard<std::mutex> l(mu_);
  return log_;
}

std::vector<std::string> FakeApiServer::Violations() {
  std::lock_guard<std::mutex> l(mu_);
  return violations_;
}

void FakeApiServer::Handle(const std::string& method, const httplib::Request& req,
                           httplib::Response& res) {
  std::lock_guard<std::mutex> l(mu_);
  Recorded rec{method,
               req.path,
               req.get_param_value("dryRun"),
               req.get_header_value("Authorization"),
               req.get_header_value("Content-Type"),
               req.get_header_value("Accept"),
               req.body,
               req.has_param("dryRun")};
  log_.push_back(rec);
  auto answer = [&](int code, const json& body) {
    res.status = code;
    res.set_content(body.dump(), "application/json");
  };
  auto violation = [&](int code, const std::string& reason, const std::string& msg) {
    violations_.push_back(method + " " + req.path + ": " + msg);
    answer(code, Status(code, reason, msg));
  };

  if (rec.authorization != "Bearer " + token_) {
    return violation(401, "Unauthorized", "missing or wrong bearer token");
  }
  std::smatch m;
  if (!std::regex_match(req.path, m, kPath)) {
    return violation(404, "NotFound", "no such API path");
  }
  std::string group = m[1], ns = m[2], kind = m[3], name = m[4];
  bool scale = m[5].matched;
  if ((group == "apps/v1") != (kind == "deployments")) {
    return violation(404, "NotFound", "resource not served by group " + group);
  }
  if (method == "PATCH" && !scale) {
    return violation(405, "MethodNotAllowed", "the actuator may only patch /scale");
  }
  auto sc = scripted_.find(req.path);
  if (sc != scripted_.end() && !sc->second.empty()) {
    int code = sc->second.front();
    sc->second.pop_front();
    if (code == 429) res.set_header("Retry-After", "3");
    return answer(code, Status(code, "Injected", "injected failure"));
  }
  auto al = always_.find(req.path);
  if (al != always_.end()) {
    return answer(al->second, Status(al->second, "InternalError", "injected, forever"));
  }
  auto it = objects_.find(kind + "/" + ns + "/" + name);
  if (it == objects_.end()) {
    return answer(404, Status(404, "NotFound", kind + " \"" + name + "\" not found"));
  }
  FakeObject& o = it->second;
  auto scale_json = [&](int spec) {
    return json{{"apiVersion", "autoscaling/v1"},
                {"kind", "Scale"},
                {"metadata", {{"name", name}, {"namespace", ns}}},
                {"spec", {{"replicas", spec}}},
                {"status", {{"replicas", o.status_replicas}, {"selector", "app=" + name}}}};
  };

  if (method == "GET" && scale) return answer(200, scale_json(o.spec));
  if (method == "GET") {
    if (++o.polls >= o.polls_to_ready && !o.never_ready) {
      o.status_replicas = o.ready = o.spec;
      o.observed = o.generation;
    }
    json status = {{"replicas", o.status_replicas}, {"observedGeneration", o.observed}};
    if (o.ready > 0) status["readyReplicas"] = o.ready;  // omitted when 0, as the API does
    return answer(200, {{"metadata", {{"name", name}, {"namespace", ns}, {"generation", o.generation}}},
                        {"spec", {{"replicas", o.spec}}},
                        {"status", status}});
  }
  // PATCH .../scale
  if (rec.content_type != "application/merge-patch+json") {
    return violation(415, "UnsupportedMediaType", "Content-Type " + rec.content_type);
  }
  if (rec.has_dry_run && rec.dry_run != "All") {
    return violation(400, "BadRequest", "dryRun must be All");
  }
  json body;
  try {
    body = json::parse(req.body);
  } catch (...) {
    return violation(400, "BadRequest", "body is not JSON");
  }
  if (!body.is_object() || body.size() != 1 || !body.contains("spec") ||
      !body["spec"].is_object() || body["spec"].size() != 1 ||
      !body["spec"].contains("replicas") || !body["spec"]["replicas"].is_number_integer() ||
      body["spec"]["replicas"].get<int64_t>() < 0) {
    return violation(422, "Invalid", "body must be {\"spec\":{\"replicas\":N}}: " + req.body);
  }
  int want = body["spec"]["replicas"].get<int>();
  if (rec.has_dry_run) return answer(200, scale_json(want));
  if (want != o.spec) {
    o.spec = want;
    ++o.generation;
    o.polls = 0;
  }
  return answer(200, scale_json(o.spec));
}

}  // namespace variant::actuator::testing

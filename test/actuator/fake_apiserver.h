// A local HTTPS server that answers like the Kubernetes API server for the calls the
// actuator makes, and checks the contract on every request: method, path, bearer
// token, Content-Type, body shape, dryRun parameter. It simulates rollouts (a
// workload becomes ready a few polls after a PATCH) and injects failures.
#ifndef VARIANT_TEST_ACTUATOR_FAKE_APISERVER_H_
#define VARIANT_TEST_ACTUATOR_FAKE_APISERVER_H_

#include <httplib.h>

#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace variant::actuator::testing {

// A throwaway CA and a server certificate for 127.0.0.1/localhost signed by it,
// plus an unrelated CA, made with the openssl CLI in a fresh temp directory.
struct TestPki {
  std::string dir, ca_crt, server_crt, server_key, other_ca_crt;
  static TestPki Create();  // aborts the test binary with a message on failure
};

struct Recorded {
  std::string method, path, dry_run, authorization, content_type, accept, body;
  bool has_dry_run = false;
};

struct FakeObject {
  int spec = 0;
  int status_replicas = 0;
  int ready = 0;
  int64_t generation = 1;
  int64_t observed = 1;
  int polls_to_ready = 2;  // GETs of the workload after a PATCH until it is ready
  int polls = 0;
  bool never_ready = false;
};

class FakeApiServer {
 public:
  FakeApiServer(const TestPki& pki, std::string token);
  ~FakeApiServer();

  int port() const { return port_; }
  // kind: "deployments" or "leaderworkersets".
  void AddObject(const std::string& kind, const std::string& ns, const std::string& name,
                 int replicas);
  FakeObject Object(const std::string& kind, const std::string& ns, const std::string& name);
  void SetNeverReady(const std::string& kind, const std::string& ns, const std::string& name);
  // The next answers for `path` (any method) are these statuses, in order.
  void Script(const std::string& path, std::vector<int> statuses);
  void AlwaysFail(const std::string& path, int status);
  std::vector<Recorded> Log();
  // Contract violations seen (a well-behaved client causes none).
  std::vector<std::string> Violations();

 private:
  void Handle(const std::string& method, const httplib::Request& req, httplib::Response& res);

  httplib::SSLServer srv_;
  std::thread thread_;
  int port_ = 0;
  std::string token_;
  std::mutex mu_;
  std::map<std::string, FakeObject> objects_;
  std::map<std::string, std::deque<int>> scripted_;
  std::map<std::string, int> always_;
  std::vector<Recorded> log_;
  std::vector<std::string> violations_;
};

}  // namespace variant::actuator::testing

#endif  // VARIANT_TEST_ACTUATOR_FAKE_APISERVER_H_

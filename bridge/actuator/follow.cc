#include "variant/actuator/follow.h"

#include <spdlog/spdlog.h>

#include <deque>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "bus/protocol.h"

namespace variant::actuator {
namespace {
using json = nlohmann::json;

std::string Str(const json& j, const char* k) {
  return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string();
}
}  // namespace

bool ParseWorkloadMap(std::string_view doc, WorkloadMap* out, std::string* err) {
  json j;
  try {
    j = json::parse(doc);
  } catch (const std::exception& e) {
    *err = std::string("workload map is not JSON: ") + e.what();
    return false;
  }
  if (!j.is_array()) {
    *err = "workload map must be an array";
    return false;
  }
  WorkloadMap m;
  for (size_t i = 0; i < j.size(); ++i) {
    const json& e = j[i];
    std::string where = "workloads[" + std::to_string(i) + "]";
    // Checked first: value() below throws on an entry that is not an object (found by
    // test/fuzz/fuzz_actuator_plan).
    if (!e.is_object() || Str(e, "model").empty() || Str(e, "variant").empty()) {
      *err = where + ": needs model and variant";
      return false;
    }
    // Reuse the plan parser's checks of kind, namespace and name.
    json step;
    try {
      step = {{"kind", e.value("kind", std::string("Deployment"))},
              {"namespace", e.value("namespace", std::string())},
              {"name", e.value("name", std::string())},
              {"replicas", 0}};
    } catch (const std::exception& ex) {  // kind, namespace or name not a string
      *err = where + ": kind, namespace and name must be strings (" + ex.what() + ")";
      return false;
    }
    Plan p;
    if (!ParsePlanJson(json{{"steps", {step}}}.dump(), &p, err)) {
      *err = where + ": " + err->substr(err->find(' ') + 1);
      return false;
    }
    m[{Str(e, "model"), Str(e, "variant")}] = {p.steps[0].kind, p.steps[0].ns, p.steps[0].name};
  }
  *out = std::move(m);
  return true;
}

bool PlanFromDecision(const json& decision, const json& plan, const WorkloadMap& workloads,
                      Plan* out, std::vector<std::string>* skipped, std::string* err) {
  if (!decision.is_object() || !plan.is_object() || !plan.contains("steps") ||
      !plan["steps"].is_array()) {
    *err = "decision or plan is not an object with steps";
    return false;
  }
  using Key = std::pair<std::string, std::string>;
  std::map<Key, int> final_replicas;
  if (decision.contains("allocation") && decision["allocation"].is_array()) {
    for (const json& a : decision["allocation"]) {
      if (!a.is_object() || !a.contains("replicas") || !a["replicas"].is_number_integer()) {
        *err = "decision.allocation entry without integer replicas";
        return false;
      }
      final_replicas[{Str(a, "model"), Str(a, "variant")}] += a["replicas"].get<int>();
    }
  }
  // Each plan step as signed changes, in order (a flip: the add first).
  std::vector<std::pair<Key, int>> changes;
  for (const json& s : plan["steps"]) {
    std::string action = Str(s, "action"), model = Str(s, "model"), variant = Str(s, "variant");
    if (!s.contains("replicas") || !s["replicas"].is_number_integer() || model.empty() ||
        variant.empty()) {
      *err = "plan step without model, variant or integer replicas";
      return false;
    }
    int n = s["replicas"].get<int>();
    if (action == "add") {
      changes.push_back({{model, variant}, n});
    } else if (action == "remove") {
      changes.push_back({{model, variant}, -n});
    } else if (action == "flip") {
      std::string to = Str(s, "to_variant");
      if (to.empty()) {
        *err = "flip step without to_variant";
        return false;
      }
      changes.push_back({{model, to}, n});
      changes.push_back({{model, variant}, -n});
    } else {
      *err = "unknown plan action \"" + action + "\"";
      return false;
    }
  }
  std::map<Key, int> running = final_replicas;
  for (const auto& [k, d] : changes) running[k] -= d;  // the replicas before the plan
  for (const auto& [k, n] : running) {
    if (n < 0) {
      *err = "decision and plan disagree: " + k.first + "/" + k.second + " would have had " +
             std::to_string(n) + " replicas before the plan";
      return false;
    }
  }
  Plan p;
  p.id = decision.contains("decision_id") ? "decision-" + decision["decision_id"].dump() : "";
  for (const auto& [k, d] : changes) {
    int target = running[k] + d;
    running[k] = target;
    auto w = workloads.find(k);
    if (w == workloads.end()) {
      skipped->push_back(k.first + "/" + k.second);
      continue;
    }
    if (target < 0) {
      *err = "plan takes " + k.first + "/" + k.second + " below zero replicas";
      return false;
    }
    p.steps.push_back({w->second.kind, w->second.ns, w->second.name, target});
  }
  *out = std::move(p);
  return true;
}

Follower::Follower(std::string endpoint, WorkloadMap workloads, Actuator* actuator,
                   ReportFn on_report, CurveKeys curve)
    : endpoint_(std::move(endpoint)),
      workloads_(std::move(workloads)),
      actuator_(actuator),
      on_report_(std::move(on_report)),
      curve_(std::move(curve)) {}

Follower::~Follower() { Stop(); }

void Follower::Start() {
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
}

void Follower::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void Follower::Run() {
  zmq::context_t ctx(1);
  zmq::socket_t sub(ctx, zmq::socket_type::sub);
  sub.set(zmq::sockopt::linger, 0);
  if (curve_.enabled()) {  // before connect: the handshake uses them
    sub.set(zmq::sockopt::curve_secretkey, curve_.secret_key);
    sub.set(zmq::sockopt::curve_publickey, curve_.public_key);
    sub.set(zmq::sockopt::curve_serverkey, curve_.server_key);
  }
  sub.set(zmq::sockopt::subscribe, std::string(bus::kTopicDecision));
  sub.set(zmq::sockopt::subscribe, std::string(bus::kTopicPlan));
  sub.connect(endpoint_);
  std::deque<std::pair<int64_t, json>> decisions;  // the last few, by id
  int64_t last_done = -1;
  while (!stop_) {
    zmq::pollitem_t item{sub.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(100));
    if (!(item.revents & ZMQ_POLLIN)) continue;
    std::vector<zmq::message_t> frames;
    if (!zmq::recv_multipart(sub, std::back_inserter(frames), zmq::recv_flags::dontwait)) {
      continue;
    }
    if (frames.size() != 3) {
      spdlog::warn("follow: dropped a message of {} frames", frames.size());
      continue;
    }
    bus::Header h;
    bus::DecodeError derr;
    if (!bus::DecodeHeader(frames[1].data(), frames[1].size(), &h, &derr)) {
      spdlog::warn("follow: bad header: {}", derr.detail);
      continue;
    }
    json body;
    try {
      body = json::from_msgpack(static_cast<const uint8_t*>(frames[2].data()),
                                static_cast<const uint8_t*>(frames[2].data()) + frames[2].size());
    } catch (const std::exception& e) {
      spdlog::warn("follow: bad body from {}: {}", h.source, e.what());
      continue;
    }
    if (!body.is_object() || !body.contains("decision_id") ||
        !body["decision_id"].is_number_integer()) {
      continue;
    }
    int64_t id = body["decision_id"].get<int64_t>();
    std::string topic = frames[0].to_string();
    if (topic == bus::kTopicDecision) {
      decisions.emplace_back(id, std::move(body));
      if (decisions.size() > 8) decisions.pop_front();
      continue;
    }
    if (id == last_done) continue;  // already executed (a republished plan)
    const json* decision = nullptr;
    for (const auto& d : decisions) {
      if (d.first == id) decision = &d.second;
    }
    if (!decision) {
      spdlog::warn("follow: plan {} without its decision; waiting for the next", id);
      continue;
    }
    Plan plan;
    std::vector<std::string> skipped;
    std::string err;
    if (!PlanFromDecision(*decision, body, workloads_, &plan, &skipped, &err)) {
      spdlog::error("follow: decision {}: {}", id, err);
      last_done = id;
      continue;
    }
    for (const std::string& s : skipped) {
      spdlog::info("follow: decision {}: no workload for {}, skipped", id, s);
    }
    last_done = id;
    PlanReport rep = actuator_->Execute(plan);
    ++executed_;
    if (on_report_) on_report_(rep);
  }
}

}  // namespace variant::actuator

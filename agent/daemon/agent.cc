#include "agent.h"

#include <spdlog/spdlog.h>
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <msgpack.hpp>
#include <sstream>

namespace agent {

using nlohmann::json;

double MonoNow() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
double WallNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kRejectSummaryS = 10.0;
constexpr int kMaxDrain = 4096;
constexpr uint64_t kTrimAfterMessages = 10000;
constexpr double kStateDelayS = 0.05;  // state file written within 50 ms of a decision  // messages handled per poll wake-up before deadlines

bool Known(double x) { return std::isfinite(x); }
// Keeps the old value where the update does not carry one: absent is not zero.
void Merge(double* old, double upd) {
  if (Known(upd)) *old = upd;
}

uint64_t Key(int src, int model, int variant, int cls) {
  return (static_cast<uint64_t>(src) << 48) | (static_cast<uint64_t>(model) << 24) |
         (static_cast<uint64_t>(variant + 1) << 8) | static_cast<uint64_t>(cls);
}

const char* RoleName(int r) { return r == 1 ? "p" : r == 2 ? "d" : "pd"; }

// Finds {variant, load} (or load_signal) objects anywhere in the optimizer's guidance, so the
// exporter does not depend on the exact nesting of docs/decision.md.
void FindLoads(const json& j, const std::string& model, std::vector<Exporter::Load>* out) {
  if (j.is_object()) {
    std::string m = j.contains("model") && j["model"].is_string() ? j["model"].get<std::string>()
                                                                   : model;
    for (const char* key : {"load", "load_signal"})
      if (j.contains("variant") && j["variant"].is_string() && j.contains(key) &&
          j[key].is_number()) {
        out->push_back({m, j["variant"].get<std::string>(), j[key].get<double>()});
        break;
      }
    for (const auto& [k, v] : j.items()) FindLoads(v, m, out);
  } else if (j.is_array()) {
    for (const auto& v : j) FindLoads(v, model, out);
  }
}

}  // namespace

struct Agent::Entry {
  int source = 0, model = 0, variant = -1, cls = 0;
  bus::Metrics m;  // model/variant/class strings left empty: the indices name them
  bool observe = false;  // TTFT/ITL arrived since the last solve (online correction)
};

struct Agent::Source {
  std::string name;
  uint64_t last_seq = 0;
  double last_seen = 0;  // monotonic
  bool stale = false;
  std::vector<uint64_t> keys;  // its entries
  // rejection log limiter
  uint32_t logged_reasons = 0;
  double last_summary = 0;
  uint64_t suppressed = 0;
  // token bucket (bus.rate_limit_per_source)
  double tokens = -1;  // -1: full at its first message
  double refilled = 0;
};

struct Agent::Model {
  const ModelConfig* cfg = nullptr;
  std::unordered_map<std::string, int> vindex;
  double rate_model_level = 0, rate_variant_level = 0;
  int n_model_level = 0;
  double solved_rate = kNaN;
  bool dirty = true;  // re-decide its plugin at the next (event-driven) decision
  std::vector<uint64_t> keys;
  std::unique_ptr<policy::PolicyInstance> policy;  // null: the optimizer
  bool has_plugin_decision = false;
  policy::PolicyDecision last;
  std::vector<int> current;  // replicas per variant at its last decision, -1 unknown
  // Its share of the published decision and guidance, as encoded msgpack.
  std::string alloc_mp, guid_mp, plan_mp;
  uint32_t alloc_n = 0, plan_n = 0;
  double cost = 0;
};

Agent::Agent(Config cfg, std::unique_ptr<VariantApi> api, zmq::context_t* zctx)
    : cfg_(std::move(cfg)), api_(std::move(api)), zctx_(zctx) {}

Agent::~Agent() {
  if (zap_.joinable()) {
    zap_stop_.store(true);
    zap_.join();
  }
  if (solver_.joinable()) {
    {
      std::lock_guard<std::mutex> l(solver_mu_);
      solver_stop_ = true;
    }
    solver_cv_.notify_all();
    solver_.join();  // after the current solve, if any
  }
  solver_rx_.reset();
  if (writer_.joinable()) {
    {
      std::lock_guard<std::mutex> l(writer_mu_);
      writer_stop_ = true;
    }
    writer_cv_.notify_all();
    writer_.join();  // writes what is pending first
  }
  for (auto& m : models_) m.policy.reset();  // before the plugins unload
}

bool Agent::Init(std::string* err) {
  start_mono_ = MonoNow();
  models_.resize(cfg_.models.size());
  if (cfg_.models.size() >= (1u << 24)) {
    *err = "too many models";
    return false;
  }
  std::vector<std::string> dirs = cfg_.plugin_dirs;
  if (dirs.empty()) {
    std::string lib = VariantApi::DefaultPath();
    dirs.push_back(lib.substr(0, lib.rfind('/')));
  }
  std::unordered_map<std::string, policy::PolicyPlugin*> loaded;
  for (size_t i = 0; i < cfg_.models.size(); ++i) {
    Model& m = models_[i];
    m.cfg = &cfg_.models[i];
    model_index_[m.cfg->name] = static_cast<int>(i);
    for (size_t v = 0; v < m.cfg->variants.size(); ++v)
      m.vindex[m.cfg->variants[v].name] = static_cast<int>(v);
    const std::string& pol = m.cfg->policy;
    if (pol == "optimizer" || pol.empty()) {
      any_optimizer_ = true;
      continue;
    }
    policy::PolicyPlugin* plugin = nullptr;
    auto it = loaded.find(pol);
    if (it != loaded.end()) {
      plugin = it->second;
    } else {
      std::string path = policy::FindPlugin(dirs, pol);
      if (path.empty()) {
        *err = "model '" + m.cfg->name + "': policy plugin '" + pol + "' not found in plugin_dirs";
        return false;
      }
      std::string perr;
      // A child process tries it first: a plugin that crashes at load makes the agent
      // refuse to start with a message, not die of its signal.
      if (!policy::ProbePlugin(path, m.cfg->policy_params, &perr)) {
        *err = "model '" + m.cfg->name + "': " + perr;
        return false;
      }
      auto p = policy::PolicyPlugin::Load(path, &perr);
      if (!p) {
        *err = perr;
        return false;
      }
      spdlog::info("loaded policy plugin '{}' {} (ABI {}.{}) from {}", p->name(), p->version(),
                   p->abi_major(), p->abi_minor(), path);
      plugin = p.get();
      plugins_.push_back(std::move(p));
      loaded[pol] = plugin;
    }
    std::string perr;
    m.policy = plugin->Create(m.cfg->name, m.cfg->policy_params, &perr);
    if (!m.policy) {
      *err = perr;
      return false;
    }
  }
  accelerators_ = json::parse(cfg_.problem_accelerators, nullptr, false);
  if (any_optimizer_ && !api_) {
    *err = "models use the optimizer but libvariant is not loaded";
    return false;
  }
  exporter_ = std::make_unique<Exporter>(cfg_.metrics_listen);  // serves after the binds
  // The ZAP handler is bound before any socket that asks it.
  if (!cfg_.curve_server_secret.empty() && !StartZap(err)) return false;
  try {
    xsub_ = std::make_unique<zmq::socket_t>(*zctx_, zmq::socket_type::xsub);
    xpub_ = std::make_unique<zmq::socket_t>(*zctx_, zmq::socket_type::xpub);
    // Bounded memory under a flood: a queue limit on every direction of every socket
    // (a slow subscriber loses messages, a fast publisher is paced by its own HWM),
    // and frames above the limit are refused by the transport before they are
    // buffered: the peer is disconnected. The transport's limit is 4x the
    // application's, so moderately oversized messages are still seen, counted and
    // logged as `oversized`; a frame beyond 4x never takes memory.
    for (zmq::socket_t* s : {xsub_.get(), xpub_.get()}) {
      s->set(zmq::sockopt::rcvhwm, cfg_.hwm);
      s->set(zmq::sockopt::sndhwm, cfg_.hwm);
      s->set(zmq::sockopt::linger, 0);
    }
    xsub_->set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(4 * cfg_.max_message_bytes));
    xpub_->set(zmq::sockopt::maxmsgsize, int64_t{4096});  // subscriptions only
    xpub_->set(zmq::sockopt::xpub_verbose, 1);  // every subscription, for the cache
    if (!cfg_.curve_server_secret.empty()) {
      for (zmq::socket_t* s : {xsub_.get(), xpub_.get()}) {
        s->set(zmq::sockopt::curve_server, 1);
        s->set(zmq::sockopt::curve_secretkey, cfg_.curve_server_secret);
      }
      xsub_->set(zmq::sockopt::zap_domain, "publishers");
      xpub_->set(zmq::sockopt::zap_domain, "subscribers");
      spdlog::info("bus: CURVE on: encrypted, publishers authenticated against {} key(s){}",
                   cfg_.curve_allowed_publishers.size(),
                   cfg_.curve_allowed_publishers_dir.empty()
                       ? std::string()
                       : " and the keys in " + cfg_.curve_allowed_publishers_dir);
    } else {
      spdlog::warn("bus: NO AUTHENTICATION: bus.curve.secret_key is not set, so anyone who can "
                   "reach {} can publish metrics and steer the autoscaler, and anyone who can "
                   "reach {} can read its decisions (docs/bus.md, \"Authentication\")",
                   cfg_.xsub, cfg_.xpub);
    }
    xsub_->bind(cfg_.xsub);
    xpub_->bind(cfg_.xpub);
    const char sub_all[1] = {1};  // receive every topic: the agent ingests them all
    xsub_->send(zmq::buffer(sub_all, 1), zmq::send_flags::none);
  } catch (const zmq::error_t& e) {
    *err = std::string("bus: cannot bind ") + cfg_.xsub + " / " + cfg_.xpub + ": " + e.what();
    return false;
  }
  try {
    exporter_->Serve();  // last: tests take a scrapeable exporter for a bound bus
  } catch (const std::exception& e) {
    *err = "exporter: cannot listen on '" + cfg_.metrics_listen + "': " + e.what();
    return false;
  }
  RestoreState();
  if (!cfg_.state_file.empty()) writer_ = std::thread([this] { WriterLoop(); });
  if (any_optimizer_) {
    solver_endpoint_ = "inproc://variant-agent-solver-" + std::to_string(reinterpret_cast<uintptr_t>(this));
    solver_rx_ = std::make_unique<zmq::socket_t>(*zctx_, zmq::socket_type::pair);
    solver_rx_->set(zmq::sockopt::rcvhwm, 16);  // one wake-up per solve
    solver_rx_->bind(solver_endpoint_);  // bound before the thread connects
    solver_ = std::thread([this] { SolverLoop(); });
  }
  spdlog::info("agent '{}' up: xsub {} xpub {} metrics {} models {} ({} by plugins)", cfg_.source,
               cfg_.xsub, cfg_.xpub, cfg_.metrics_listen.empty() ? "off" : cfg_.metrics_listen,
               models_.size(), std::count_if(models_.begin(), models_.end(),
                                             [](const Model& m) { return m.policy != nullptr; }));
  return true;
}

// ZAP (ZeroMQ RFC 27) handler for the CURVE sockets: publishers (domain
// "publishers") must hold an allowed public key; subscribers (domain "subscribers")
// too when bus.curve.allowed_subscribers is set, else any CURVE client may read.
bool Agent::StartZap(std::string* err) {
  auto sock = std::make_shared<zmq::socket_t>(*zctx_, zmq::socket_type::rep);
  try {
    sock->set(zmq::sockopt::linger, 0);
    sock->bind("inproc://zeromq.zap.01");
  } catch (const zmq::error_t& e) {
    *err = std::string("bus: cannot bind the ZAP handler: ") + e.what();
    return false;
  }
  zap_ = std::thread([this, sock] {
    // The socket moves to this thread (the thread start is the memory barrier).
    zmq::socket_t& s = *sock;
    while (!zap_stop_.load()) {
      zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
      try {
        if (zmq::poll(&item, 1, std::chrono::milliseconds(200)) == 0) continue;
      } catch (const zmq::error_t& e) {
        if (e.num() == EINTR) continue;
        return;
      }
      std::vector<zmq::message_t> req;
      zmq::message_t part;
      do {
        if (!s.recv(part, zmq::recv_flags::none)) break;
        const bool more = part.more();
        req.push_back(std::move(part));
        if (!more) break;
      } while (true);
      // version, request id, domain, address, identity, mechanism, credentials...
      std::string status = "400", text = "refused", user;
      const bool pub_side = req.size() > 2 && req[2].to_string() == "publishers";
      if (req.size() >= 7 && req[0].to_string() == "1.0" && req[5].to_string() == "CURVE" &&
          req[6].size() == 32) {
        char z85[41] = {0};
        zmq_z85_encode(z85, static_cast<const uint8_t*>(req[6].data()), 32);
        user = z85;
        bool ok;
        if (pub_side) {
          ok = AllowedPublisher(user);
        } else {
          const auto& subs = cfg_.curve_allowed_subscribers;
          ok = subs.empty() || std::find(subs.begin(), subs.end(), user) != subs.end();
        }
        exporter_->AuthResult(pub_side, ok);
        if (ok) {
          status = "200";
          text = "OK";
        } else if (zap_logged_.size() < 1000 && zap_logged_.emplace(user, true).second) {
          spdlog::warn("bus: refused a {} with CURVE key {} from {} (not in the allowlist; "
                       "further refusals of this key are only counted)",
                       pub_side ? "publisher" : "subscriber", user, req[3].to_string());
        }
      }
      try {
        const std::string version = "1.0";
        s.send(zmq::buffer(version), zmq::send_flags::sndmore);
        if (req.size() > 1)
          s.send(req[1], zmq::send_flags::sndmore);
        else
          s.send(zmq::message_t(), zmq::send_flags::sndmore);
        s.send(zmq::buffer(status), zmq::send_flags::sndmore);
        s.send(zmq::buffer(text), zmq::send_flags::sndmore);
        s.send(zmq::buffer(user), zmq::send_flags::sndmore);
        s.send(zmq::message_t(), zmq::send_flags::none);
      } catch (const zmq::error_t& e) {
        spdlog::error("bus: ZAP reply failed: {}", e.what());
      }
    }
  });
  return true;
}

bool Agent::AllowedPublisher(const std::string& z85) {
  const auto& keys = cfg_.curve_allowed_publishers;
  if (std::find(keys.begin(), keys.end(), z85) != keys.end()) return true;
  if (cfg_.curve_allowed_publishers_dir.empty()) return false;
  // Re-read at each handshake (they are rare), so a key added to or removed from the
  // directory (e.g. a Kubernetes Secret update) counts from the next connection on.
  std::error_code ec;
  for (const auto& f : std::filesystem::directory_iterator(cfg_.curve_allowed_publishers_dir, ec)) {
    const std::string name = f.path().filename().string();
    if (name.empty() || name[0] == '.' || !f.is_regular_file(ec)) continue;
    try {
      if (ReadCurveKey(f.path().string(), "public-key", "allowed_publishers_dir") == z85)
        return true;
    } catch (const std::exception&) {
      // not a key file: ignored
    }
  }
  return false;
}

int Agent::Run(const std::atomic<bool>* stop) {
  zmq::pollitem_t items[] = {{xsub_->handle(), 0, ZMQ_POLLIN, 0},
                             {xpub_->handle(), 0, ZMQ_POLLIN, 0},
                             {solver_rx_ ? solver_rx_->handle() : nullptr, 0, ZMQ_POLLIN, 0}};
  const int n_items = solver_rx_ ? 3 : 2;
  last_publish_ = MonoNow();
  next_stale_check_ = MonoNow() + cfg_.stale_after_s / 4;
  zmq::message_t frames[3];
  zmq::message_t extra;
  while (!stop->load()) {
    double now = MonoNow();
    double next = last_publish_ + cfg_.heartbeat_s;
    next = std::min(next, next_stale_check_);
    if (pending_solve_ >= 0) next = std::min(next, pending_solve_);
    if (last_decide_ >= 0) next = std::min(next, last_decide_ + cfg_.max_staleness_s);
    if (state_due_ >= 0) next = std::min(next, state_due_);
    long timeout_ms = std::max(0L, static_cast<long>(std::ceil((next - now) * 1000)));
    timeout_ms = std::min(timeout_ms, 500L);  // bounded so a stop request is seen
    try {
      zmq::poll(items, n_items, std::chrono::milliseconds(timeout_ms));
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      spdlog::error("poll: {}", e.what());
      return 1;
    }
    if (items[0].revents & ZMQ_POLLIN) {
      for (int k = 0; k < kMaxDrain; ++k) {
        if (!xsub_->recv(frames[0], zmq::recv_flags::dontwait)) break;
        size_t n = 1, bytes = frames[0].size();
        bool more = frames[0].more();
        while (more) {  // frames past the third are drained into `extra` and counted
          zmq::message_t& dst = n < 3 ? frames[n] : extra;
          (void)xsub_->recv(dst, zmq::recv_flags::none);
          bytes += dst.size();
          ++n;
          more = dst.more();
        }
        OnMessage(frames, n, bytes);
        ++received_since_trim_;
      }
    } else if (received_since_trim_ >= kTrimAfterMessages) {
      // Quiet after a burst: hand back what ZeroMQ's queues held during it (measured
      // at 1,000 x 40 with the optimizer: 72 -> 33-40 MB after a flood; docs/bus.md).
      malloc_trim(0);
      received_since_trim_ = 0;
    }
    if (items[1].revents & ZMQ_POLLIN) {
      zmq::message_t sub;
      while (xpub_->recv(sub, zmq::recv_flags::dontwait)) OnSubscription(sub);
    }
    if (n_items > 2 && (items[2].revents & ZMQ_POLLIN)) {
      zmq::message_t wake;
      while (solver_rx_->recv(wake, zmq::recv_flags::dontwait)) OnSolveResult();
    }
    now = MonoNow();
    if (now >= next_stale_check_) {
      CheckStale();
      next_stale_check_ = now + cfg_.stale_after_s / 4;
    }
    const bool periodic = last_decide_ >= 0 && now >= last_decide_ + cfg_.max_staleness_s;
    if (periodic || (pending_solve_ >= 0 && now >= pending_solve_)) Decide(periodic);
    if (state_due_ >= 0 && MonoNow() >= state_due_) {
      const double ts = MonoNow();
      SaveState();
      spdlog::debug("state file written in {:.3f} ms", (MonoNow() - ts) * 1e3);
      state_due_ = -1;
    }
    if (MonoNow() >= last_publish_ + cfg_.heartbeat_s) Heartbeat();
  }
  spdlog::info("agent stopping");
  SaveState();
  return 0;
}

void Agent::Reject(const std::string& source, bus::Reject r, const std::string& detail) {
  exporter_->Rejected(bus::RejectName(r));
  int si = -1;
  auto it = source_index_.find(source);
  if (it != source_index_.end()) {
    si = it->second;
  } else if (sources_.size() < cfg_.max_sources) {
    si = SourceIndex(source);
  }
  if (si < 0) return;  // too many distinct sources: counted, not logged
  Source& s = sources_[si];
  const uint32_t bit = 1u << static_cast<int>(r);
  double now = MonoNow();
  if (!(s.logged_reasons & bit)) {
    s.logged_reasons |= bit;
    spdlog::warn("bus: rejected a message from '{}': {}: {} (further ones from this source "
                 "are counted, summarised every {} s)",
                 source, bus::RejectName(r), detail, kRejectSummaryS);
    s.last_summary = now;
    return;
  }
  ++s.suppressed;
  if (now - s.last_summary >= kRejectSummaryS) {
    spdlog::warn("bus: {} more rejected messages from '{}' (last: {}: {})", s.suppressed, source,
                 bus::RejectName(r), detail);
    s.suppressed = 0;
    s.last_summary = now;
  }
}

int Agent::SourceIndex(const std::string& name) {
  auto it = source_index_.find(name);
  if (it != source_index_.end()) return it->second;
  int i = static_cast<int>(sources_.size());
  sources_.emplace_back();
  sources_.back().name = name;
  source_index_.emplace(name, i);
  return i;
}

void Agent::CheckSequence(Source* s, uint64_t seq) {
  if (s->last_seq != 0 && seq > s->last_seq + 1) {
    double missing = static_cast<double>(seq - s->last_seq - 1);
    exporter_->SequenceGap(missing);
    spdlog::warn("bus: source '{}' skipped {} message(s) (sequence {} after {})", s->name,
                 missing, seq, s->last_seq);
  } else if (s->last_seq != 0 && seq <= s->last_seq) {
    spdlog::info("bus: source '{}' restarted its sequence ({} after {})", s->name, seq,
                 s->last_seq);
  }
  s->last_seq = seq;
}

void Agent::OnMessage(zmq::message_t* f, size_t n, size_t bytes) {
  static const std::string kUnknown = "<no header>";
  if (n != 3) {
    Reject(kUnknown, bus::Reject::kFrames, std::to_string(n) + " frames, expected 3");
    return;
  }
  if (bytes > cfg_.max_message_bytes) {
    Reject(kUnknown, bus::Reject::kOversized,
           std::to_string(bytes) + " bytes > bus.max_message_bytes " +
               std::to_string(cfg_.max_message_bytes));
    return;
  }
  bus::Header h;
  bus::DecodeError err;
  if (!bus::DecodeHeader(f[1].data(), f[1].size(), &h, &err)) {
    Reject(kUnknown, err.reason, "header: " + err.detail);
    return;
  }
  std::string_view topic(static_cast<const char*>(f[0].data()), f[0].size());
  int si;
  if (auto sit = source_index_.find(h.source); sit != source_index_.end()) {
    si = sit->second;
  } else if (sources_.size() >= cfg_.max_sources) {
    Reject(h.source, bus::Reject::kSourceLimit,
           "already " + std::to_string(sources_.size()) + " sources (bus.max_sources)");
    return;
  } else {
    si = SourceIndex(h.source);
  }
  {
    // Sequence and liveness count every message with a readable header, including
    // those dropped below: a rate-limited source is alive, and its drops are not
    // transport gaps.
    Source& s = sources_[si];
    CheckSequence(&s, h.sequence);
    s.last_seen = MonoNow();
  }
  if (cfg_.rate_limit_per_source > 0) {
    // Token bucket per source: a flooding source loses its excess, counted, and
    // cannot crowd out the others' share of the loop.
    Source& s = sources_[si];
    const double now = MonoNow();
    s.tokens = s.tokens < 0 ? cfg_.rate_burst
                            : std::min(cfg_.rate_burst,
                                       s.tokens + (now - s.refilled) * cfg_.rate_limit_per_source);
    s.refilled = now;
    if (s.tokens < 1) {
      Reject(h.source, bus::Reject::kRateLimited,
             "over bus.rate_limit_per_source " + std::to_string(cfg_.rate_limit_per_source) +
                 " msg/s");
      return;
    }
    s.tokens -= 1;
  }
  bool ok = true;
  if (topic == bus::kTopicMetrics) {
    bus::Metrics m;
    ok = bus::DecodeMetrics(f[2].data(), f[2].size(), &m, &err) && IngestMetrics(si, m, &err);
  } else if (topic == bus::kTopicInventory) {
    bus::Inventory inv;
    ok = bus::DecodeInventory(f[2].data(), f[2].size(), &inv, &err) && IngestInventory(inv, &err);
  } else if (topic == bus::kTopicHeartbeat) {
    ok = bus::DecodeHeartbeat(f[2].data(), f[2].size(), &err);
  } else if (topic == bus::kTopicDecision || topic == bus::kTopicPlan ||
             topic == bus::kTopicGuidance) {
    ok = false;
    err = {bus::Reject::kUnknownTopic,
           "topic '" + std::string(topic) + "' is published only by the cluster agent"};
  } else {
    ok = false;
    err = {bus::Reject::kUnknownTopic, "topic '" + std::string(topic) + "'"};
  }
  if (!ok) {
    Reject(h.source, err.reason, err.detail);
    return;
  }
  Source& s = sources_[si];
  if (s.stale) {
    s.stale = false;
    --stale_sources_;
    exporter_->SetStaleSources(stale_sources_);
    spdlog::info("bus: source '{}' is back", s.name);
    exporter_->SetSourceStale(s.name, false);
  }
  exporter_->MessageIn(std::string(topic));
  exporter_->Event(WallNow());
  // Forward to subscribers unchanged.
  xpub_->send(f[0], zmq::send_flags::sndmore);
  xpub_->send(f[1], zmq::send_flags::sndmore);
  xpub_->send(f[2], zmq::send_flags::none);
}

bool Agent::IngestMetrics(int si, const bus::Metrics& in, bus::DecodeError* err) {
  auto mit = model_index_.find(in.model);
  if (mit == model_index_.end()) {
    *err = {bus::Reject::kUnknownModel, "model '" + in.model + "' is not configured"};
    return false;
  }
  Model& m = models_[mit->second];
  int vi = -1;
  if (!in.variant.empty()) {
    auto vit = m.vindex.find(in.variant);
    if (vit == m.vindex.end()) {
      *err = {bus::Reject::kUnknownModel,
              "variant '" + in.variant + "' of model '" + in.model + "' is not configured"};
      return false;
    }
    vi = vit->second;
  }
  int ci = 0;
  if (!in.service_class.empty()) {
    auto cit = class_index_.find(in.service_class);
    if (cit == class_index_.end() && !cfg_.class_names.empty() &&
        std::find(cfg_.class_names.begin(), cfg_.class_names.end(), in.service_class) ==
            cfg_.class_names.end()) {
      *err = {bus::Reject::kUnknownModel, "class '" + in.service_class + "' is not configured"};
      return false;
    }
    if (cit == class_index_.end()) {
      if (classes_.size() >= 255) {
        *err = {bus::Reject::kBadValue, "too many distinct classes"};
        return false;
      }
      if (classes_.empty()) classes_.push_back("");  // index 0 = default class
      cit = class_index_.emplace(in.service_class, static_cast<int>(classes_.size())).first;
      classes_.push_back(in.service_class);
    }
    ci = cit->second;
  }
  if (si >= (1 << 16)) {
    *err = {bus::Reject::kBadValue, "too many sources"};
    return false;
  }
  const uint64_t key = Key(si, mit->second, vi, ci);
  auto [it, inserted] = entries_.try_emplace(key);
  Entry& e = it->second;
  double old_rate = Known(e.m.arrival_rate_rps) ? e.m.arrival_rate_rps : 0;
  bool had_rate = Known(e.m.arrival_rate_rps);
  if (inserted) {
    e.source = si;
    e.model = mit->second;
    e.variant = vi;
    e.cls = ci;
    sources_[si].keys.push_back(key);
    m.keys.push_back(key);
  }
  Merge(&e.m.arrival_rate_rps, in.arrival_rate_rps);
  Merge(&e.m.input_mean, in.input_mean);
  Merge(&e.m.output_mean, in.output_mean);
  Merge(&e.m.running, in.running);
  Merge(&e.m.waiting, in.waiting);
  Merge(&e.m.kv_usage, in.kv_usage);
  Merge(&e.m.ttft_mean_ms, in.ttft_mean_ms);
  Merge(&e.m.itl_mean_ms, in.itl_mean_ms);
  Merge(&e.m.prefix_hit_ratio, in.prefix_hit_ratio);
  if (in.replicas_ready >= 0) e.m.replicas_ready = in.replicas_ready;
  if (vi >= 0 && (Known(in.ttft_mean_ms) || Known(in.itl_mean_ms))) e.observe = true;
  if (in.replicas_starting >= 0) e.m.replicas_starting = in.replicas_starting;
  if (Known(e.m.arrival_rate_rps)) {
    double& sum = vi < 0 ? m.rate_model_level : m.rate_variant_level;
    sum += e.m.arrival_rate_rps - old_rate;
    if (vi < 0 && !had_rate) ++m.n_model_level;
  }
  MarkDirty(&m);
  return true;
}

double Agent::ModelRate(const Model& m) const {
  return std::max(0.0, m.n_model_level > 0 ? m.rate_model_level : m.rate_variant_level);
}

void Agent::MarkDirty(Model* m) {
  double rate = ModelRate(*m);
  bool moved = !Known(m->solved_rate) ||
               std::fabs(rate - m->solved_rate) >
                   std::max(cfg_.threshold * m->solved_rate, cfg_.min_delta_rps);
  if (!moved) return;
  m->dirty = true;
  if (pending_solve_ < 0) pending_solve_ = MonoNow() + cfg_.debounce_ms / 1000.0;
}

bool Agent::IngestInventory(const bus::Inventory& inv, bus::DecodeError* err) {
  for (const auto& r : inv.replicas) {
    auto mit = model_index_.find(r.model);
    if (mit == model_index_.end() || !models_[mit->second].vindex.count(r.variant)) {
      *err = {bus::Reject::kUnknownModel,
              "inventory names model/variant '" + r.model + "/" + r.variant + "' not configured"};
      return false;
    }
  }
  bool changed = false;
  for (const auto& a : inv.accelerators) {
    auto [it, fresh] = inventory_accel_.try_emplace(a.name, a.count);
    if (fresh || it->second != a.count) changed = true;
    it->second = a.count;
  }
  for (const auto& r : inv.replicas) {
    auto& slot = inventory_[r.model + '\0' + r.variant];
    if (slot != std::make_pair(r.ready, r.starting)) {
      changed = true;
      models_[model_index_[r.model]].dirty = true;
    }
    slot = {r.ready, r.starting};
  }
  have_inventory_ = true;
  if (changed && pending_solve_ < 0) pending_solve_ = MonoNow() + cfg_.debounce_ms / 1000.0;
  return true;
}

// The accelerator counts handed to variant_solve. Inventory's count is what exists;
// the configured `count` is the most the operator lets the autoscaler use. So with
// inventory the optimizer gets min(configured, inventory) minus what the
// plugin-decided models hold now (their replicas x tp on that type), never below 0;
// a type the problem lists without `count` gets the inventory's figure. Without
// inventory for a type, its configured entry is used unchanged.
std::string Agent::AcceleratorsJson() const {
  if (inventory_accel_.empty() || !accelerators_.is_array()) return cfg_.problem_accelerators;
  std::unordered_map<std::string, long> plugin_use;
  for (const Model& m : models_) {
    if (!m.policy) continue;
    for (size_t i = 0; i < m.cfg->variants.size(); ++i) {
      const VariantConfig& vc = m.cfg->variants[i];
      auto inv = inventory_.find(m.cfg->name + '\0' + vc.name);
      long r = inv != inventory_.end() ? inv->second.first + inv->second.second
               : m.has_plugin_decision ? m.last.desired_replicas[i]
                                       : 0;
      plugin_use[vc.accelerator] += r * std::max(vc.tp, 1);
    }
  }
  json accs = accelerators_;
  for (auto& a : accs) {
    if (!a.is_object() || !a.contains("name") || !a["name"].is_string()) continue;
    auto it = inventory_accel_.find(a["name"].get<std::string>());
    if (it == inventory_accel_.end()) continue;
    long avail = it->second;
    if (a.contains("count") && a["count"].is_number_integer())
      avail = std::min<long>(avail, a["count"].get<long>());
    auto use = plugin_use.find(it->first);
    if (use != plugin_use.end()) avail -= use->second;
    a["count"] = std::max(0L, avail);
  }
  return accs.dump();
}

void Agent::CheckStale() {
  double now = MonoNow();
  for (Source& s : sources_) {
    if (s.stale || s.last_seen == 0 || s.keys.empty()) continue;
    if (now - s.last_seen > cfg_.stale_after_s) {
      s.stale = true;
      ++stale_sources_;
      spdlog::warn("bus: source '{}' silent for {:.1f} s: its data is held (not read as zero)",
                   s.name, now - s.last_seen);
      exporter_->SetSourceStale(s.name, true);
    }
  }
  exporter_->SetStaleSources(stale_sources_);
}

void Agent::OnSubscription(const zmq::message_t& msg) {
  if (msg.size() == 0) return;
  const char* d = static_cast<const char*>(msg.data());
  if (d[0] != 1) return;  // unsubscribe
  std::string_view prefix(d + 1, msg.size() - 1);
  for (const auto& [topic, c] : cache_)
    if (topic.compare(0, prefix.size(), prefix) == 0) SendCached(c);
}

void Agent::SendCached(const Cached& c) {
  xpub_->send(zmq::buffer(c.topic), zmq::send_flags::sndmore);
  xpub_->send(zmq::buffer(c.header), zmq::send_flags::sndmore);
  xpub_->send(zmq::buffer(c.body), zmq::send_flags::none);
  exporter_->MessageOut(c.topic);
  last_publish_ = MonoNow();
}

void Agent::Publish(std::string_view topic, const json& body) {
  std::vector<uint8_t> mp = json::to_msgpack(body);
  PublishRaw(topic, std::string(mp.begin(), mp.end()));
}

void Agent::PublishRaw(std::string_view topic, std::string body) {
  bus::Header h;
  h.source = cfg_.source;
  h.sequence = ++seq_;
  h.timestamp = WallNow();
  Cached c{std::string(topic), bus::EncodeHeader(h), std::move(body)};
  SendCached(c);
  if (topic != bus::kTopicHeartbeat) cache_[c.topic] = std::move(c);
}

void Agent::Heartbeat() {
  bus::Header h;
  h.source = cfg_.source;
  h.sequence = ++seq_;
  h.timestamp = WallNow();
  Cached c{std::string(bus::kTopicHeartbeat), bus::EncodeHeader(h),
           bus::EncodeHeartbeat(MonoNow() - start_mono_)};
  SendCached(c);
}

std::string Agent::DemandJson() const {
  // Per optimizer model and class: rate (model-level entries if any, else the sum of
  // variant-level ones), rate-weighted mean lengths and prefix hit ratio, and whether
  // any of it is held from a stale source.
  json demand = json::array();
  struct Acc {
    double rate_m = 0, rate_v = 0, w = 0, in = 0, out = 0, pw = 0, prefix = 0;
    int n_m = 0;
    bool stale = false;
  };
  for (const Model& m : models_) {
    if (m.policy) continue;
    std::vector<Acc> acc(std::max<size_t>(1, classes_.size()));
    for (uint64_t k : m.keys) {
      const Entry& e = entries_.at(k);
      Acc& a = acc[e.cls];
      double r = Known(e.m.arrival_rate_rps) ? e.m.arrival_rate_rps : 0;
      if (e.variant < 0) {
        a.rate_m += r;
        a.n_m++;
      } else {
        a.rate_v += r;
      }
      if (Known(e.m.input_mean) && Known(e.m.output_mean)) {
        double w = std::max(r, 1e-9);
        a.w += w;
        a.in += w * e.m.input_mean;
        a.out += w * e.m.output_mean;
      }
      if (Known(e.m.prefix_hit_ratio)) {
        a.pw += std::max(r, 1e-9);
        a.prefix += std::max(r, 1e-9) * e.m.prefix_hit_ratio;
      }
      if (sources_[e.source].stale) a.stale = true;
    }
    for (size_t c = 0; c < acc.size(); ++c) {
      const Acc& a = acc[c];
      if (a.n_m == 0 && a.rate_v == 0 && a.w == 0) continue;
      // docs/problem.md demand entry; one bucket at the rate-weighted mean lengths.
      json d = {{"model", m.cfg->name}, {"rate_rps", a.n_m > 0 ? a.rate_m : a.rate_v}};
      d["class"] = !classes_.empty() && !classes_[c].empty() ? classes_[c] : cfg_.default_class;
      d["buckets"] = json::array({{{"input", a.w > 0 ? a.in / a.w : cfg_.default_input_tokens},
                                   {"output", a.w > 0 ? a.out / a.w : cfg_.default_output_tokens},
                                   {"weight", 1.0}}});
      if (a.pw > 0) d["prefix_hit_ratio"] = std::min(a.prefix / a.pw, 0.99);
      if (a.stale) d["stale"] = true;  // held: never a reason to scale down
      demand.push_back(std::move(d));
    }
  }
  return demand.dump();
}

std::string Agent::CurrentJson() const {
  json alloc = json::array();
  if (have_inventory_) {
    for (const auto& [k, v] : inventory_) {
      auto z = k.find('\0');
      std::string model = k.substr(0, z);
      auto mit = model_index_.find(model);
      if (mit == model_index_.end() || models_[mit->second].policy) continue;
      alloc.push_back({{"model", model}, {"variant", k.substr(z + 1)},
                       {"replicas", v.first + v.second}, {"starting", v.second}});
    }
  } else if (have_optimizer_) {
    // The previous decision is a valid current document (docs/problem.md), and carries
    // the optimizer's stability memory.
    return optimizer_text_;
  } else {
    return "";
  }
  std::string cur = json{{"allocation", alloc}}.dump();
  if (!optimizer_state_.empty()) {  // the stability memory, as text: no re-parse
    cur.pop_back();
    cur += ",\"state\":" + optimizer_state_ + "}";
  }
  return cur;
}

bool Agent::DecidePlugin(Model* m, std::string* err) {
  const ModelConfig& mc = *m->cfg;
  const size_t n = mc.variants.size();
  std::vector<variant_policy_variant> vs(n);
  std::vector<int> initial(n, 0);
  double rate_w = 0, in_sum = 0, out_sum = 0;
  bool any_stale = false;
  struct Agg {
    double rate = kNaN, running = kNaN, waiting = kNaN, kv = 0, ttft = 0, itl = 0, in = 0, out = 0;
    int kv_n = 0, ttft_n = 0, itl_n = 0, len_n = 0, ready = -1, starting = -1;
    bool stale = false;
  };
  std::vector<Agg> agg(n);
  auto add = [](double* acc, double v) {
    if (!Known(v)) return;
    *acc = Known(*acc) ? *acc + v : v;
  };
  for (uint64_t k : m->keys) {
    const Entry& e = entries_.at(k);
    bool st = sources_[e.source].stale;
    any_stale |= st;
    if (Known(e.m.input_mean) && Known(e.m.output_mean)) {
      double w = Known(e.m.arrival_rate_rps) ? std::max(e.m.arrival_rate_rps, 1e-9) : 1e-9;
      rate_w += w;
      in_sum += w * e.m.input_mean;
      out_sum += w * e.m.output_mean;
    }
    if (e.variant < 0) continue;
    Agg& a = agg[e.variant];
    a.stale |= st;
    add(&a.rate, e.m.arrival_rate_rps);
    add(&a.running, e.m.running);
    add(&a.waiting, e.m.waiting);
    if (Known(e.m.kv_usage)) a.kv += e.m.kv_usage, ++a.kv_n;
    if (Known(e.m.ttft_mean_ms)) a.ttft += e.m.ttft_mean_ms, ++a.ttft_n;
    if (Known(e.m.itl_mean_ms)) a.itl += e.m.itl_mean_ms, ++a.itl_n;
    if (Known(e.m.input_mean) && Known(e.m.output_mean))
      a.in += e.m.input_mean, a.out += e.m.output_mean, ++a.len_n;
    if (e.m.replicas_ready >= 0) a.ready = std::max(a.ready, 0) + e.m.replicas_ready;
    if (e.m.replicas_starting >= 0) a.starting = std::max(a.starting, 0) + e.m.replicas_starting;
  }
  for (size_t i = 0; i < n; ++i) {
    const VariantConfig& vc = mc.variants[i];
    const Agg& a = agg[i];
    variant_policy_variant& v = vs[i];
    v.struct_size = sizeof(v);
    v.name = vc.name.c_str();
    v.accelerator = vc.accelerator.c_str();
    v.tp = vc.tp;
    v.max_batch = vc.max_batch;
    v.role = vc.role;
    v.cost_per_hour = vc.cost_per_hour;
    int ready = a.ready, starting = a.starting;
    auto inv = inventory_.find(mc.name + '\0' + vc.name);
    if (inv != inventory_.end()) ready = inv->second.first, starting = inv->second.second;
    v.replicas_ready = ready;
    v.replicas_starting = starting;
    v.replicas_current = ready >= 0 ? ready + std::max(starting, 0)
                         : m->has_plugin_decision ? m->last.desired_replicas[i]
                                                  : -1;
    v.arrival_rate_rps = a.rate;
    v.running = a.running;
    v.waiting = a.waiting;
    v.kv_usage = a.kv_n ? a.kv / a.kv_n : kNaN;
    v.ttft_mean_ms = a.ttft_n ? a.ttft / a.ttft_n : kNaN;
    v.itl_mean_ms = a.itl_n ? a.itl / a.itl_n : kNaN;
    v.input_mean = a.len_n ? a.in / a.len_n : kNaN;
    v.output_mean = a.len_n ? a.out / a.len_n : kNaN;
    v.stale = a.stale ? 1 : 0;
    initial[i] = std::max(v.replicas_current, 0);
  }
  m->current.resize(n);
  for (size_t i = 0; i < n; ++i) m->current[i] = vs[i].replicas_current;
  variant_policy_input in;
  in.struct_size = sizeof(in);
  in.model = mc.name.c_str();
  in.now_s = WallNow();
  in.arrival_rate_rps = m->keys.empty() ? kNaN : ModelRate(*m);
  in.input_mean = rate_w > 0 ? in_sum / rate_w : kNaN;
  in.output_mean = rate_w > 0 ? out_sum / rate_w : kNaN;
  in.stale = any_stale ? 1 : 0;
  in.n_variants = n;
  in.variants = vs.data();
  policy::PolicyDecision d;
  if (!m->policy->Decide(in, initial, &d, err)) return false;
  m->last = std::move(d);
  m->has_plugin_decision = true;
  return true;
}

void Agent::SubmitSolve() {
  // The whole optimizer problem: configured part + live demand + now_s. The configured
  // part (3.3 MB at 1,000 x 40) is held once, as the head of problem_buf_: each solve
  // cuts the buffer back to it and appends the live part, and the solver thread hands
  // the buffer back with its result. A copy per solve was 3.3 MB more at the agent's
  // peak, and a copy appended to reallocated it while the old one was held (docs/bus.md).
  std::string problem = std::move(problem_buf_);
  problem_buf_.clear();
  if (problem_head_ == std::string::npos) {  // first solve: take the configured part
    std::string& base = cfg_.problem_json;
    if (base.size() >= 2 && base.back() == '}') {
      base.pop_back();
      if (base.size() > 1) base += ',';
      problem_head_ = base.size();
    } else {
      problem_head_ = 0;  // no problem configured: handed over as it is (an error)
    }
    problem = std::move(base);
    base = std::string();
  }
  if (problem_head_ > 0) {
    if (problem.size() < problem_head_) {  // the buffer did not come back: a bug
      spdlog::error("internal: the problem buffer is missing; not solving");
      return;
    }
    problem.resize(problem_head_);
    json options = json::parse(cfg_.problem_options, nullptr, false);
    if (!options.is_object()) options = json::object();
    options["now_s"] = WallNow();
    const std::string accelerators = AcceleratorsJson(), demand = DemandJson(),
                      opts = options.dump();
    problem.reserve(problem_head_ + accelerators.size() + demand.size() + opts.size() + 48);
    problem.append("\"accelerators\":").append(accelerators);
    problem.append(",\"demand\":").append(demand);
    problem.append(",\"options\":").append(opts).append("}");
  }
  // Each variant's fresh latency means, per replica, for the library's online
  // correction (variant_model_observe): capacities then follow what the servers do.
  std::vector<VariantApi::Observation> obs;
  for (auto& [key, e] : entries_) {
    if (!e.observe || e.variant < 0) continue;
    e.observe = false;
    const ModelConfig& mc = *models_[e.model].cfg;
    if (mc.policy != "optimizer") continue;
    const bus::Metrics& x = e.m;
    if (!Known(x.arrival_rate_rps) || x.arrival_rate_rps <= 0 || !Known(x.input_mean) ||
        !Known(x.output_mean))
      continue;
    const VariantConfig& vc = mc.variants[e.variant];
    const double n = x.replicas_ready > 0 ? x.replicas_ready : 1;
    VariantApi::Observation o;
    o.model = mc.name;
    o.accelerator = vc.accelerator;
    o.tp = vc.tp;
    o.max_batch = vc.max_batch;
    o.role = vc.role;
    o.rate_rps = x.arrival_rate_rps / n;
    o.ttft_mean_ms = x.ttft_mean_ms;
    o.itl_mean_ms = x.itl_mean_ms;
    o.input_mean = std::max(1.0, x.input_mean);
    o.output_mean = std::max(1.0, x.output_mean);
    o.mean_batch = Known(x.running) ? x.running / n : std::nan("");
    obs.push_back(std::move(o));
  }
  {
    std::lock_guard<std::mutex> l(solver_mu_);
    solver_job_problem_ = std::move(problem);
    solver_job_current_ = CurrentJson();
    for (auto& o : obs) solver_job_obs_.push_back(std::move(o));
    solver_has_job_ = true;
  }
  solver_busy_ = true;
  solver_again_ = false;
  solver_cv_.notify_one();
}

void Agent::SolverLoop() {
  // The only thread that touches api_ once Run() started (a variant_ctx is used by
  // one thread at a time). Results go back through the inproc PAIR socket.
  zmq::socket_t tx(*zctx_, zmq::socket_type::pair);
  tx.connect(solver_endpoint_);
  std::unique_lock<std::mutex> l(solver_mu_);
  while (true) {
    solver_cv_.wait(l, [&] { return solver_has_job_ || solver_stop_; });
    if (solver_stop_) break;
    std::string problem = std::move(solver_job_problem_), current = std::move(solver_job_current_);
    std::vector<VariantApi::Observation> obs = std::move(solver_job_obs_);
    solver_job_obs_.clear();
    solver_has_job_ = false;
    l.unlock();
    // What the loop thread freed since the last solve (the parsed decision, about
    // 9 MB of nodes at 1,000 x 40) goes back before this solve's parse maps its own.
    malloc_trim(0);
    for (const auto& o : obs) {
      int accepted = 0;
      int rc = api_->Observe(o, &accepted);
      if (rc != VARIANT_OK && rc != VARIANT_E_UNSUPPORTED)
        spdlog::debug("correction: observation of {} on {} not used (code {})", o.model,
                      o.accelerator, rc);
    }
    SolveResult r;
    const double t0 = MonoNow();
    r.rc = api_->Solve(problem, current, cfg_.solver, &r.out, &r.err);
    r.seconds = MonoNow() - t0;
    r.problem = std::move(problem);  // back to the loop thread, for the next solve
    current = std::string();
    // Give back what the solve's parsing took before the next one (one malloc arena,
    // main.cc): measured at 1,000 x 40, it is most of the agent's resident memory.
    malloc_trim(0);
    l.lock();
    solver_result_ = std::move(r);
    solver_has_result_ = true;
    l.unlock();
    const char wake = 1;
    tx.send(zmq::buffer(&wake, 1), zmq::send_flags::none);
    l.lock();
  }
  l.unlock();
  tx.close();
}

void Agent::OnSolveResult() {
  SolveResult r;
  {
    std::lock_guard<std::mutex> l(solver_mu_);
    if (!solver_has_result_) return;
    r = std::move(solver_result_);
    solver_has_result_ = false;
  }
  solver_busy_ = false;
  problem_buf_ = std::move(r.problem);
  exporter_->ObserveSolve(r.seconds);
  json parsed;
  if (r.rc == VARIANT_OK) {
    parsed = json::parse(r.out, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object()) {
      r.rc = VARIANT_E_INTERNAL;
      r.err = "VARIANT_E_INTERNAL: variant_solve returned a decision that is not a JSON object";
    }
  }
  bool ok = r.rc == VARIANT_OK;
  const bool was_ok = optimizer_status_.is_null() || optimizer_status_.value("status", "") == "ok";
  if (ok) {
    AdoptOptimizer(parsed);
    parsed = json();  // only the encoded parts are kept
    optimizer_text_ = std::move(r.out);
    optimizer_text_.shrink_to_fit();
    optimizer_status_ = {{"status", "ok"}};
    exporter_->SolverOk();
  } else {
    std::string code = r.err.substr(0, r.err.find(':'));
    exporter_->SolverError(code);
    optimizer_status_ = {{"status", code}, {"error", r.err}};
    if (MonoNow() - last_solve_error_log_ > 10) {
      spdlog::error("solve failed, keeping the last decision: {}", r.err);
      last_solve_error_log_ = MonoNow();
    }
  }
  // A failure is published once, when the status turns (the held allocation with
  // optimizer.status = the error code); later failures only count.
  if (ok || was_ok) PublishDecision();
  // Demand moved again while it solved: solve once more on the newest demand.
  if (solver_again_) SubmitSolve();
}

void Agent::Decide(bool full) {
  pending_solve_ = -1;
  const double t0 = MonoNow();
  last_decide_ = t0;
  bool any_ok = false;
  // 1. The optimizer, for every model without a plugin policy, on the solver thread;
  //    OnSolveResult() publishes its answer. One solve at a time: a request while one
  //    runs is folded into a single re-solve when it returns.
  if (any_optimizer_) {
    if (solver_busy_)
      solver_again_ = true;
    else
      SubmitSolve();
  }
  // 2. Plugin policies, here and now.
  bool any_plugin = false;
  for (Model& m : models_) {
    if (!m.policy) {
      m.solved_rate = ModelRate(m);
      m.dirty = false;
      continue;
    }
    if (!full && !m.dirty) continue;
    any_plugin = true;
    m.solved_rate = ModelRate(m);
    m.dirty = false;
    std::string err;
    if (DecidePlugin(&m, &err)) {
      RebuildPluginFragments(&m);
      any_ok = true;
    } else {
      exporter_->SolverError("POLICY_PLUGIN");
      spdlog::error("{} (keeping its last decision)", err);
    }
  }
  if (any_plugin) exporter_->ObserveSolve(MonoNow() - t0);
  if (any_ok) PublishDecision();
}

void Agent::PublishDecision() {
  const double t0 = MonoNow();
  // 3. Merge and publish. Each model's share of the decision and guidance is kept
  // as encoded msgpack and re-encoded only when that model was re-decided, so a
  // decision over 1,000 models where one moved costs little more than one model.
  const double t1 = MonoNow();
  double cost = optimizer_cost_;
  size_t n_alloc = optimizer_alloc_n_, n_guid = 0;
  for (const Model& m : models_) {
    cost += m.cost;
    n_alloc += m.alloc_n;
    n_guid += m.guid_mp.empty() ? 0 : 1;
  }
  ++decision_id_;
  const double now = WallNow();
  auto raw = [](msgpack::sbuffer* b, const std::string& bytes) {
    b->write(bytes.data(), bytes.size());
  };
  auto raw_json = [&](msgpack::sbuffer* b, const json& j) {
    std::vector<uint8_t> v = json::to_msgpack(j);
    b->write(reinterpret_cast<const char*>(v.data()), v.size());
  };
  msgpack::sbuffer db(4096);
  {
    msgpack::packer<msgpack::sbuffer> pk(db);
    pk.pack_map(static_cast<uint32_t>(7 + optimizer_extra_mp_.size()));
    pk.pack("decision_id");
    pk.pack(decision_id_);
    pk.pack("time");
    pk.pack(now);
    pk.pack("cost_per_hour");
    pk.pack(cost);
    pk.pack("allocation");
    pk.pack_array(static_cast<uint32_t>(n_alloc));
    raw(&db, optimizer_alloc_mp_);
    for (const Model& m : models_) raw(&db, m.alloc_mp);
    pk.pack("unserved");
    if (!optimizer_unserved_mp_.empty())
      raw(&db, optimizer_unserved_mp_);
    else
      pk.pack_array(0);
    pk.pack("optimizer");
    raw_json(&db, optimizer_status_);
    for (const auto& [k, v] : optimizer_extra_mp_) {
      pk.pack(k);
      raw(&db, v);
    }
    pk.pack("stale_sources");
    uint32_t n_stale = 0;
    for (const Source& src : sources_) n_stale += src.stale ? 1 : 0;
    pk.pack_array(n_stale);
    for (const Source& src : sources_)
      if (src.stale) pk.pack(src.name);
  }
  msgpack::sbuffer pb(256);
  {
    msgpack::packer<msgpack::sbuffer> pk(pb);
    pk.pack_map(2);
    pk.pack("decision_id");
    pk.pack(decision_id_);
    pk.pack("steps");  // the optimizer's, then each plugin-decided model's
    uint32_t n_steps = optimizer_plan_n_;
    for (const Model& m : models_) n_steps += m.plan_n;
    pk.pack_array(n_steps);
    raw(&pb, optimizer_plan_mp_);
    for (const Model& m : models_) raw(&pb, m.plan_mp);
  }
  msgpack::sbuffer gb(4096);
  {
    msgpack::packer<msgpack::sbuffer> pk(gb);
    const bool og = !optimizer_guidance_mp_.empty();
    pk.pack_map(og ? 3 : 2);
    pk.pack("decision_id");
    pk.pack(decision_id_);
    pk.pack("models");
    pk.pack_array(static_cast<uint32_t>(n_guid));
    for (const Model& m : models_) raw(&gb, m.guid_mp);
    if (og) {
      pk.pack("optimizer");
      raw(&gb, optimizer_guidance_mp_);
    }
  }
  const double t2 = MonoNow();
  PublishRaw(bus::kTopicDecision, std::string(db.data(), db.size()));
  PublishRaw(bus::kTopicPlan, std::string(pb.data(), pb.size()));
  PublishRaw(bus::kTopicGuidance, std::string(gb.data(), gb.size()));
  const double t3 = MonoNow();
  exporter_->SetCost(cost);
  spdlog::debug("decision {}: assemble {:.3f} ms, publish {:.3f} ms", decision_id_,
                (t2 - t1) * 1e3, (t3 - t2) * 1e3);
  (void)t0;
  // The state file is written shortly after, off the event-to-decision path; a burst
  // of decisions is written once.
  if (state_due_ < 0) state_due_ = MonoNow() + kStateDelayS;
}

void Agent::RebuildPluginFragments(Model* m) {
  const ModelConfig& mc = *m->cfg;
  msgpack::sbuffer ab(256), gb(256);
  msgpack::packer<msgpack::sbuffer> apk(ab), gpk(gb);
  const std::string& pname = m->policy->plugin().name();
  uint32_t n_alloc = 0, n_guid = 0;
  double cost = 0;
  std::vector<Exporter::Replicas> reps;
  std::vector<Exporter::Load> loads;
  for (size_t i = 0; i < mc.variants.size(); ++i) {
    const VariantConfig& vc = mc.variants[i];
    const int r = m->last.desired_replicas[i];
    cost += r * vc.cost_per_hour;
    if (r > 0) {
      ++n_alloc;
      apk.pack_map(7);
      apk.pack("model");
      apk.pack(mc.name);
      apk.pack("variant");
      apk.pack(vc.name);
      apk.pack("accelerator");
      apk.pack(vc.accelerator);
      apk.pack("tp");
      apk.pack(vc.tp);
      apk.pack("role");
      apk.pack(RoleName(vc.role));
      apk.pack("replicas");
      apk.pack(r);
      apk.pack("policy");
      apk.pack(pname);
      reps.push_back({mc.name, vc.name, RoleName(vc.role), static_cast<double>(r)});
    }
    const double w = m->last.weight[i], ls = m->last.load_signal[i];
    if (r <= 0 && !(Known(w) && w > 0)) continue;  // guidance lists only variants in use
    ++n_guid;
    if (Known(ls)) loads.push_back({mc.name, vc.name, ls});
  }
  gpk.pack_map(2);
  gpk.pack("model");
  gpk.pack(mc.name);
  gpk.pack("variants");
  gpk.pack_array(n_guid);
  for (size_t i = 0; i < mc.variants.size(); ++i) {
    const int r = m->last.desired_replicas[i];
    const double w = m->last.weight[i], ls = m->last.load_signal[i];
    if (r <= 0 && !(Known(w) && w > 0)) continue;
    gpk.pack_map(3);
    gpk.pack("variant");
    gpk.pack(mc.variants[i].name);
    gpk.pack("weight");
    if (Known(w)) gpk.pack(w); else gpk.pack_nil();
    gpk.pack("load_signal");
    if (Known(ls)) gpk.pack(ls); else gpk.pack_nil();
  }
  // Its plan: from the replicas it had when it decided (inventory, else the metrics'
  // replica counts, else its previous decision) to the target, additions first.
  msgpack::sbuffer pb(128);
  msgpack::packer<msgpack::sbuffer> ppk(pb);
  std::vector<int> current = m->current;
  if (current.size() != mc.variants.size()) current.assign(mc.variants.size(), -1);
  for (size_t i = 0; i < mc.variants.size(); ++i) {  // after a restore: inventory only
    auto inv = inventory_.find(mc.name + '\0' + mc.variants[i].name);
    if (current[i] < 0 && inv != inventory_.end())
      current[i] = inv->second.first + inv->second.second;
  }
  const auto steps = policy::MakeBeforeBreak(current, m->last.desired_replicas);
  int k = 0;
  for (const auto& st : steps) {
    ppk.pack_map(7);
    ppk.pack("step");
    ppk.pack(++k);
    ppk.pack("action");
    ppk.pack(st.add ? "add" : "remove");
    ppk.pack("model");
    ppk.pack(mc.name);
    ppk.pack("variant");
    ppk.pack(mc.variants[st.variant].name);
    ppk.pack("replicas");
    ppk.pack(st.replicas);
    ppk.pack("safe");
    ppk.pack(true);
    ppk.pack("policy");
    ppk.pack(pname);
  }
  m->plan_mp.assign(pb.data(), pb.size());
  m->plan_n = static_cast<uint32_t>(steps.size());
  m->alloc_mp.assign(ab.data(), ab.size());
  m->alloc_n = n_alloc;
  m->guid_mp.assign(gb.data(), gb.size());
  m->cost = cost;
  exporter_->SetModelDesired(mc.name, reps);
  exporter_->SetModelLoad(mc.name, loads);
}

void Agent::AdoptOptimizer(const json& d) {
  optimizer_alloc_mp_.clear();
  optimizer_alloc_n_ = 0;
  optimizer_cost_ = 0;
  optimizer_state_.clear();
  optimizer_unserved_mp_.clear();
  optimizer_plan_mp_.clear();
  optimizer_plan_n_ = 0;
  optimizer_guidance_mp_.clear();
  optimizer_extra_mp_.clear();
  have_optimizer_ = d.is_object();
  if (!have_optimizer_) return;
  auto mp = [](const json& j) {
    std::vector<uint8_t> v = json::to_msgpack(j);
    return std::string(v.begin(), v.end());
  };
  std::map<std::string, std::vector<Exporter::Replicas>> reps;
  auto alloc = d.find("allocation");
  if (alloc != d.end() && alloc->is_array())
    for (auto a : *alloc) {
      if (!a.is_object()) continue;
      a["policy"] = "optimizer";
      optimizer_alloc_mp_ += mp(a);
      ++optimizer_alloc_n_;
      auto str = [&](const char* k) {
        return a.contains(k) && a[k].is_string() ? a[k].get<std::string>() : std::string();
      };
      std::string role = str("role").empty() ? "pd" : str("role");
      double r = a.contains("replicas") && a["replicas"].is_number() ? a["replicas"].get<double>() : 0;
      reps[str("model")].push_back({str("model"), str("variant"), role, r});
    }
  if (d.contains("cost_per_hour") && d["cost_per_hour"].is_number())
    optimizer_cost_ = d["cost_per_hour"].get<double>();
  if (d.contains("state")) optimizer_state_ = d["state"].dump();
  optimizer_unserved_mp_ = mp(d.contains("unserved") ? d["unserved"] : json::array());
  if (d.contains("plan") && d["plan"].is_array()) {
    for (const auto& step : d["plan"]) optimizer_plan_mp_ += mp(step);
    optimizer_plan_n_ = static_cast<uint32_t>(d["plan"].size());
  }
  if (d.contains("guidance")) optimizer_guidance_mp_ = mp(d["guidance"]);
  for (const char* k : {"lower_bound", "gap", "solve_ms", "baseline_cost_per_hour"})
    if (d.contains(k)) optimizer_extra_mp_.emplace_back(k, mp(d[k]));
  // Exporter: replace the optimizer models' series (models that left the allocation
  // drop to no series).
  for (const Model& m : models_)
    if (!m.policy) {
      auto it = reps.find(m.cfg->name);
      exporter_->SetModelDesired(m.cfg->name, it == reps.end() ? std::vector<Exporter::Replicas>{}
                                                                : it->second);
    }
  std::vector<Exporter::Load> loads;
  if (d.contains("guidance")) FindLoads(d["guidance"], "", &loads);
  std::map<std::string, std::vector<Exporter::Load>> by_model;
  for (auto& l : loads) by_model[l.model].push_back(l);
  for (const Model& m : models_)
    if (!m.policy) {
      auto it = by_model.find(m.cfg->name);
      exporter_->SetModelLoad(m.cfg->name,
                              it == by_model.end() ? std::vector<Exporter::Load>{} : it->second);
    }
  std::vector<Exporter::Unserved> un;
  const json unserved = d.value("unserved", json::array());
  if (unserved.is_array())
    for (const auto& u : unserved)
      if (u.is_object() && u.contains("rate_rps") && u["rate_rps"].is_number()) {
        auto str = [&](const char* k) {
          return u.contains(k) && u[k].is_string() ? u[k].get<std::string>() : std::string();
        };
        un.push_back({str("model"), str("class"), u["rate_rps"].get<double>()});
      }
  exporter_->SetUnserved(un);
  // The homogeneous baseline (docs/decision.md), when this libvariant reports one:
  // `baseline_cost_per_hour`, and per model `baseline: {accelerator, cost_per_hour}`
  // on an entry that names the model (wherever the decision lists models).
  std::vector<Exporter::Baseline> base;
  std::function<void(const json&, int)> find_base = [&](const json& j, int depth) {
    if (depth > 4) return;
    if (j.is_object()) {
      auto b = j.find("baseline");
      auto m = j.find("model");
      if (b != j.end() && b->is_object() && m != j.end() && m->is_string() &&
          b->contains("cost_per_hour") && (*b)["cost_per_hour"].is_number())
        base.push_back({m->get<std::string>(),
                        b->contains("accelerator") && (*b)["accelerator"].is_string()
                            ? (*b)["accelerator"].get<std::string>()
                            : std::string(),
                        (*b)["cost_per_hour"].get<double>()});
      for (const auto& [k, v] : j.items())
        if (k != "allocation" && k != "plan" && k != "state" && k != "guidance")
          find_base(v, depth + 1);
    } else if (j.is_array()) {
      for (const auto& v : j) find_base(v, depth + 1);
    }
  };
  find_base(d, 0);
  const double total = d.contains("baseline_cost_per_hour") &&
                               d["baseline_cost_per_hour"].is_number()
                           ? d["baseline_cost_per_hour"].get<double>()
                           : kNaN;
  exporter_->SetBaseline(total, base);
}

void Agent::UpdateExporter(const json& d, const json& gj) {
  if (!d.is_object() || !d.contains("allocation") || !d["allocation"].is_array()) return;
  std::vector<Exporter::Replicas> reps;
  for (const auto& a : d["allocation"]) {
    auto str = [&](const char* k) {
      return a.contains(k) && a[k].is_string() ? a[k].get<std::string>() : std::string();
    };
    double r = a.contains("replicas") && a["replicas"].is_number() ? a["replicas"].get<double>() : 0;
    reps.push_back({str("model"), str("variant"), str("role").empty() ? "pd" : str("role"), r});
  }
  exporter_->SetDesired(reps);
  if (d.contains("cost_per_hour") && d["cost_per_hour"].is_number())
    exporter_->SetCost(d["cost_per_hour"].get<double>());
  std::vector<Exporter::Unserved> un;
  const json unserved = d.value("unserved", json::array());
  if (unserved.is_array())
    for (const auto& u : unserved)
      if (u.is_object() && u.contains("rate_rps") && u["rate_rps"].is_number()) {
        auto str = [&](const char* k) {
          return u.contains(k) && u[k].is_string() ? u[k].get<std::string>() : std::string();
        };
        un.push_back({str("model"), str("class"), u["rate_rps"].get<double>()});
      }
  exporter_->SetUnserved(un);
  std::vector<Exporter::Load> loads;
  FindLoads(gj, "", &loads);
  exporter_->SetLoad(loads);
}

// The state file is msgpack (docs/bus.md, "State file"): the published bodies are
// stored as they went out (bin), so saving costs copies, not re-encoding. The loop
// thread encodes (about a millisecond at 1,000 models); the writer thread does the
// file I/O, keeping only the newest pending snapshot.
void Agent::SaveState() {
  if (cfg_.state_file.empty()) return;
  msgpack::sbuffer b(64 * 1024);
  msgpack::packer<msgpack::sbuffer> pk(b);
  // Plugin memory (ABI 1.1 save): model -> bytes, for the policies that keep some.
  std::vector<std::pair<const Model*, std::string>> memory;
  for (const Model& m : models_) {
    std::string bytes;
    if (m.policy && m.policy->Save(&bytes)) memory.emplace_back(&m, std::move(bytes));
  }
  pk.pack_map(10);
  pk.pack("inventory_accelerators");
  pk.pack_map(static_cast<uint32_t>(inventory_accel_.size()));
  for (const auto& [name, count] : inventory_accel_) {
    pk.pack(name);
    pk.pack(count);
  }
  pk.pack("plugin_memory");
  pk.pack_map(static_cast<uint32_t>(memory.size()));
  for (const auto& [m, bytes] : memory) {
    pk.pack(m->cfg->name);
    pk.pack_bin(static_cast<uint32_t>(bytes.size()));
    pk.pack_bin_body(bytes.data(), static_cast<uint32_t>(bytes.size()));
  }
  pk.pack("version");
  pk.pack(2);
  pk.pack("source");
  pk.pack(cfg_.source);
  pk.pack("decision_id");
  pk.pack(decision_id_);
  pk.pack("optimizer");  // variant_solve's last good answer, JSON text as it came
  pk.pack(optimizer_text_);
  pk.pack("published");
  pk.pack_map(static_cast<uint32_t>(cache_.size()));
  for (const auto& [t, c] : cache_) {
    pk.pack(t);
    pk.pack_bin(static_cast<uint32_t>(c.body.size()));
    pk.pack_bin_body(c.body.data(), static_cast<uint32_t>(c.body.size()));
  }
  // Plugin decisions, sparse: [variant index, replicas, weight, load_signal] for the
  // variants in use (NaN as nil).
  uint32_t n_plugin = 0;
  for (const Model& m : models_) n_plugin += m.has_plugin_decision ? 1 : 0;
  pk.pack("plugin_decisions");
  pk.pack_map(n_plugin);
  auto num = [&](double v) {
    if (Known(v)) pk.pack(v); else pk.pack_nil();
  };
  for (const Model& m : models_) {
    if (!m.has_plugin_decision) continue;
    pk.pack(m.cfg->name);
    uint32_t used = 0;
    for (size_t i = 0; i < m.last.desired_replicas.size(); ++i)
      used += (m.last.desired_replicas[i] > 0 || (Known(m.last.weight[i]) && m.last.weight[i] > 0));
    pk.pack_array(used);
    for (size_t i = 0; i < m.last.desired_replicas.size(); ++i) {
      if (!(m.last.desired_replicas[i] > 0 || (Known(m.last.weight[i]) && m.last.weight[i] > 0)))
        continue;
      pk.pack_array(4);
      pk.pack(static_cast<uint32_t>(i));
      pk.pack(m.last.desired_replicas[i]);
      num(m.last.weight[i]);
      num(m.last.load_signal[i]);
    }
  }
  pk.pack("entries");
  pk.pack_array(static_cast<uint32_t>(entries_.size()));
  for (const auto& [k, e] : entries_) {
    const Model& m = models_[e.model];
    pk.pack_map(15);
    pk.pack("source");
    pk.pack(sources_[e.source].name);
    pk.pack("model");
    pk.pack(m.cfg->name);
    pk.pack("variant");
    pk.pack(e.variant >= 0 ? m.cfg->variants[e.variant].name : std::string());
    pk.pack("class");
    pk.pack(e.cls > 0 ? classes_[e.cls] : std::string());
    const std::pair<const char*, double> f[] = {
        {"arrival_rate_rps", e.m.arrival_rate_rps}, {"input_mean", e.m.input_mean},
        {"output_mean", e.m.output_mean},           {"running", e.m.running},
        {"waiting", e.m.waiting},                   {"kv_usage", e.m.kv_usage},
        {"ttft_mean_ms", e.m.ttft_mean_ms},         {"itl_mean_ms", e.m.itl_mean_ms},
        {"prefix_hit_ratio", e.m.prefix_hit_ratio}};
    for (const auto& [name, v] : f) {
      pk.pack(name);
      num(v);
    }
    pk.pack("replicas_ready");
    pk.pack(e.m.replicas_ready);
    pk.pack("replicas_starting");
    pk.pack(e.m.replicas_starting);
  }
  pk.pack("inventory");
  pk.pack_array(static_cast<uint32_t>(inventory_.size()));
  for (const auto& [k, v] : inventory_) {
    auto z = k.find('\0');
    pk.pack_map(4);
    pk.pack("model");
    pk.pack(k.substr(0, z));
    pk.pack("variant");
    pk.pack(k.substr(z + 1));
    pk.pack("ready");
    pk.pack(v.first);
    pk.pack("starting");
    pk.pack(v.second);
  }
  {
    std::lock_guard<std::mutex> l(writer_mu_);
    writer_pending_.assign(b.data(), b.size());
    writer_has_ = true;
  }
  writer_cv_.notify_one();
}

void Agent::WriterLoop() {
  std::unique_lock<std::mutex> l(writer_mu_);
  while (true) {
    writer_cv_.wait(l, [&] { return writer_has_ || writer_stop_; });
    if (!writer_has_ && writer_stop_) return;
    std::string data = std::move(writer_pending_);
    writer_has_ = false;
    l.unlock();
    WriteFileAtomically(data);
    l.lock();
    ++writer_done_;
    writer_cv_.notify_all();
  }
}

void Agent::WriteFileAtomically(const std::string& data) const {
  // Write-then-rename so a kill at any moment leaves the old or the new file whole.
  const std::string tmp = cfg_.state_file + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!f) {
      spdlog::error("state: cannot write {}", tmp);
      return;
    }
  }
  if (std::rename(tmp.c_str(), cfg_.state_file.c_str()) != 0)
    spdlog::error("state: cannot rename {} to {}", tmp, cfg_.state_file);
}

void Agent::RestoreState() {
  if (cfg_.state_file.empty()) return;
  std::ifstream f(cfg_.state_file, std::ios::binary);
  if (!f) return;
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string bytes = ss.str();
  json st = json::from_msgpack(bytes, true, false);
  if (st.is_discarded() || !st.is_object() || st.value("version", 0) != 2) {
    spdlog::warn("state: {} is unreadable or of another version; starting empty",
                 cfg_.state_file);
    return;
  }
  decision_id_ = st.value("decision_id", uint64_t{0});
  optimizer_text_ = st.value("optimizer", std::string());
  json restored_optimizer;
  if (!optimizer_text_.empty()) {
    restored_optimizer = json::parse(optimizer_text_, nullptr, false);
    if (restored_optimizer.is_discarded()) restored_optimizer = json(), optimizer_text_.clear();
  }
  auto num = [](const json& o, const char* k) {
    auto it = o.find(k);
    return it != o.end() && it->is_number() ? it->get<double>() : kNaN;
  };
  auto str = [](const json& o, const char* k) {
    auto it = o.find(k);
    return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  auto count = [](const json& o, const char* k) {
    auto it = o.find(k);
    return it != o.end() && it->is_number_integer() ? it->get<int>() : -1;
  };
  const json entries = st.value("entries", json::array());
  for (const auto& e : entries) {
    if (!e.is_object()) continue;
    bus::Metrics m;
    m.model = str(e, "model");
    m.variant = str(e, "variant");
    m.service_class = str(e, "class");
    m.arrival_rate_rps = num(e, "arrival_rate_rps");
    m.input_mean = num(e, "input_mean");
    m.output_mean = num(e, "output_mean");
    m.running = num(e, "running");
    m.waiting = num(e, "waiting");
    m.kv_usage = num(e, "kv_usage");
    m.ttft_mean_ms = num(e, "ttft_mean_ms");
    m.itl_mean_ms = num(e, "itl_mean_ms");
    m.prefix_hit_ratio = num(e, "prefix_hit_ratio");
    m.replicas_ready = count(e, "replicas_ready");
    m.replicas_starting = count(e, "replicas_starting");
    bus::DecodeError err;
    const std::string src = str(e, "source");
    int si = SourceIndex(src.empty() ? "<restored>" : src);
    if (!IngestMetrics(si, m, &err))
      spdlog::warn("state: dropped a held entry: {}", err.detail);
  }
  // Restored sources count as stale until they speak: their data is held.
  for (Source& s : sources_)
    if (!s.keys.empty() && !s.stale) {
      s.stale = true;
      ++stale_sources_;
      exporter_->SetSourceStale(s.name, true);
      s.last_seen = MonoNow();
    }
  const json inventory = st.value("inventory", json::array());
  for (const auto& r : inventory) {
    if (!r.is_object()) continue;
    inventory_[str(r, "model") + '\0' + str(r, "variant")] = {std::max(0, count(r, "ready")),
                                                             std::max(0, count(r, "starting"))};
    have_inventory_ = true;
  }
  const json inv_accel = st.value("inventory_accelerators", json::object());
  for (const auto& [name, count] : inv_accel.items())
    if (count.is_number_integer()) inventory_accel_[name] = std::max(0, count.get<int>());
  const json plugin_decisions = st.value("plugin_decisions", json::object());
  for (const auto& [name, pd] : plugin_decisions.items()) {
    auto it = model_index_.find(name);
    if (it == model_index_.end() || !models_[it->second].policy || !pd.is_array()) continue;
    Model& m = models_[it->second];
    const size_t n = m.cfg->variants.size();
    m.last.desired_replicas.assign(n, 0);
    m.last.weight.assign(n, kNaN);
    m.last.load_signal.assign(n, kNaN);
    for (const auto& v : pd) {  // [variant index, replicas, weight, load_signal]
      if (!v.is_array() || v.size() != 4 || !v[0].is_number_unsigned() || v[0].get<size_t>() >= n)
        continue;
      const size_t i = v[0].get<size_t>();
      if (v[1].is_number_integer()) m.last.desired_replicas[i] = std::max(0, v[1].get<int>());
      if (v[2].is_number()) m.last.weight[i] = v[2].get<double>();
      if (v[3].is_number()) m.last.load_signal[i] = v[3].get<double>();
    }
    m.has_plugin_decision = true;
    RebuildPluginFragments(&m);
  }
  const json memory = st.value("plugin_memory", json::object());
  int n_memory = 0;
  for (const auto& [name, bytes] : memory.items()) {
    auto it = model_index_.find(name);
    if (it == model_index_.end() || !models_[it->second].policy || !bytes.is_binary()) continue;
    const auto& bin = bytes.get_binary();
    std::string perr;
    if (models_[it->second].policy->Restore(std::string(bin.begin(), bin.end()), &perr))
      ++n_memory;
    else
      spdlog::warn("state: model '{}': {} (it starts without memory)", name, perr);
  }
  if (n_memory > 0) spdlog::info("state: restored the memory of {} plugin policies", n_memory);
    AdoptOptimizer(restored_optimizer);
  restored_optimizer = json();
  for (Model& m : models_) m.solved_rate = m.keys.empty() ? kNaN : ModelRate(m);
  pending_solve_ = -1;
  // Republish what was last published, so late joiners get it at once.
  // The bodies are republished byte for byte (with a new header).
  const json published = st.value("published", json::object());
  json decision, guidance;
  for (const auto& [topic, body] : published.items()) {
    if (!body.is_binary()) continue;
    const auto& bin = body.get_binary();
    PublishRaw(topic, std::string(bin.begin(), bin.end()));
    if (topic == bus::kTopicDecision) decision = json::from_msgpack(bin, true, false);
    if (topic == bus::kTopicGuidance) guidance = json::from_msgpack(bin, true, false);
  }
  if (!cache_.empty()) last_decide_ = MonoNow();
  exporter_->SetStaleSources(stale_sources_);
  UpdateExporter(decision.is_discarded() ? json() : decision,
                 guidance.is_discarded() ? json() : guidance);
  spdlog::info("state: restored decision {} and {} held entries from {}", decision_id_,
               entries_.size(), cfg_.state_file);
}

}  // namespace agent

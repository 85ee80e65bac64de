// libvariant-client: the guidance client behind include/variant/client.h.
//
// Design: one subscriber thread per client owns the SUB socket (and one end of an
// inproc PAIR used only to stop it). Each accepted guidance message is decoded into an
// immutable Snapshot and published by swapping one shared_ptr (RCU-like: readers keep
// the snapshot they loaded alive by their reference; the last reader frees an old one).
// Writers (the subscriber thread, variant_client_feed) serialize among themselves on
// write_mu, which readers never take. The pointer itself is guarded by ptr_mu, held only
// to copy or swap the shared_ptr (a reference-count increment), never while decoding
// or freeing. Not std::atomic<std::shared_ptr>: libstdc++ 12's implementation releases
// its internal lock with relaxed order after a load, which ThreadSanitizer reports as
// a race against the next store (formally one under the C++ memory model).
#include "variant/client.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "bus/protocol.h"

namespace {

using json = nlohmann::json;
constexpr uint64_t kMagic = 0x7661726331656e74ULL;  // "varc1ent"
constexpr size_t kDefaultMaxBytes = 8u << 20;

using Weights = std::vector<std::pair<std::string, double>>;

struct Slice {
  std::string cls;
  double input = 1, output = 1, rate = 0, unserved = 0;
  Weights weights;
};

struct ModelGuidance {
  bool per_bucket = false;
  std::vector<Slice> slices;  // per_bucket
  Weights flat;               // plugin models
  std::map<std::string, std::optional<double>> loads;
};

struct Snapshot {
  int64_t decision_id = -1;
  double received_unix_s = 0;
  std::unordered_map<std::string, ModelGuidance> models;
};

// Thrown only inside Decode, turned into a rejection there.
struct BadGuidance {
  std::string what;
};

[[noreturn]] void Bad(std::string w) { throw BadGuidance{std::move(w)}; }

const json* Field(const json& o, const char* k) {
  auto it = o.find(k);
  return it == o.end() ? nullptr : &*it;
}

std::string Name(const json& o, const char* k, const std::string& where) {
  const json* v = Field(o, k);
  if (v == nullptr) Bad(where + " has no '" + k + "'");
  if (!v->is_string()) Bad(where + " '" + k + "' is not a string");
  std::string s = v->get<std::string>();
  if (s.empty()) Bad(where + " '" + k + "' is empty");
  if (s.size() >= VARIANT_CLIENT_NAME_MAX)
    Bad(where + " '" + k + "' is longer than " + std::to_string(VARIANT_CLIENT_NAME_MAX - 1) +
        " bytes");
  return s;
}

// A finite number >= 0; nil (or absent) gives nullopt.
std::optional<double> Number(const json& o, const char* k, const std::string& where) {
  const json* v = Field(o, k);
  if (v == nullptr || v->is_null()) return std::nullopt;
  if (!v->is_number()) Bad(where + " '" + k + "' is not a number");
  double d = v->get<double>();
  if (!std::isfinite(d) || d < 0) Bad(where + " '" + k + "' is " + std::to_string(d));
  return d;
}

const json& Array(const json& o, const char* k, const std::string& where) {
  static const json empty = json::array();
  const json* v = Field(o, k);
  if (v == nullptr || v->is_null()) return empty;
  if (!v->is_array()) Bad(where + " '" + k + "' is not an array");
  return *v;
}

void Normalize(Weights* w) {
  double sum = 0;
  for (auto& [n, x] : *w) sum += x;
  for (auto& [n, x] : *w) x = sum > 0 ? x / sum : 0;
  std::erase_if(*w, [](const auto& p) { return p.second <= 0; });
  std::sort(w->begin(), w->end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
}

std::shared_ptr<const Snapshot> Decode(const json& body) {
  if (!body.is_object()) Bad("guidance body is not a map");
  auto s = std::make_shared<Snapshot>();
  const json* id = Field(body, "decision_id");
  if (id == nullptr) Bad("guidance has no 'decision_id'");
  if (!id->is_number_integer()) Bad("guidance 'decision_id' is not an integer");
  s->decision_id = id->get<int64_t>();

  // Plugin-decided models: one weight and load per variant.
  for (const json& m : Array(body, "models", "guidance")) {
    if (!m.is_object()) Bad("guidance 'models' entry is not a map");
    std::string model = Name(m, "model", "guidance model");
    ModelGuidance& g = s->models[model];
    const std::string where = "guidance model '" + model + "' variant";
    for (const json& v : Array(m, "variants", "guidance model '" + model + "'")) {
      if (!v.is_object()) Bad(where + " entry is not a map");
      std::string name = Name(v, "variant", where);
      if (auto w = Number(v, "weight", where + " '" + name + "'")) g.flat.push_back({name, *w});
      g.loads[name] = Number(v, "load_signal", where + " '" + name + "'");
    }
    Normalize(&g.flat);
  }

  const json* opt = Field(body, "optimizer");
  if (opt != nullptr && !opt->is_null()) {
    if (!opt->is_object()) Bad("guidance 'optimizer' is not a map");
    for (const json& m : Array(*opt, "models", "optimizer")) {
      if (!m.is_object()) Bad("optimizer 'models' entry is not a map");
      std::string model = Name(m, "model", "optimizer model");
      ModelGuidance& g = s->models[model];
      g.per_bucket = true;
      const std::string where = "optimizer model '" + model + "' slice";
      for (const json& sl : Array(m, "slices", "optimizer model '" + model + "'")) {
        if (!sl.is_object()) Bad(where + " is not a map");
        Slice x;
        const json* c = Field(sl, "class");
        if (c != nullptr && !c->is_null()) {
          if (!c->is_string()) Bad(where + " 'class' is not a string");
          x.cls = c->get<std::string>();
        }
        auto in = Number(sl, "input", where), out = Number(sl, "output", where);
        if (!in || !out) Bad(where + " lacks 'input' or 'output'");
        x.input = std::max(1.0, *in);
        x.output = std::max(1.0, *out);
        x.rate = Number(sl, "rate_rps", where).value_or(0);
        x.unserved = Number(sl, "unserved_fraction", where).value_or(0);
        const json* w = Field(sl, "weights");
        if (w != nullptr && !w->is_null()) {
          if (!w->is_object()) Bad(where + " 'weights' is not a map");
          for (const auto& [k, v] : w->items()) {
            if (k.empty() || k.size() >= VARIANT_CLIENT_NAME_MAX) Bad(where + " has a bad variant name");
            if (!v.is_number()) Bad(where + " weight of '" + k + "' is not a number");
            double d = v.get<double>();
            if (!std::isfinite(d) || d < 0) Bad(where + " weight of '" + k + "' is " + std::to_string(d));
            x.weights.push_back({k, d});
          }
        }
        g.slices.push_back(std::move(x));
      }
    }
    for (const json& v : Array(*opt, "variants", "optimizer")) {
      if (!v.is_object()) Bad("optimizer 'variants' entry is not a map");
      std::string model = Name(v, "model", "optimizer variant");
      std::string name = Name(v, "variant", "optimizer variant");
      s->models[model].loads[name] =
          Number(v, "load", "optimizer variant '" + model + "/" + name + "'");
    }
  }
  s->received_unix_s =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  return s;
}

}  // namespace

struct variant_client {
  uint64_t magic = kMagic;
  size_t max_bytes = kDefaultMaxBytes;
  // The current snapshot; Load/Publish only.
  std::shared_ptr<const Snapshot> Load() const {
    std::lock_guard<std::mutex> l(ptr_mu);
    return current;
  }
  void Publish(std::shared_ptr<const Snapshot> s) {
    {
      std::lock_guard<std::mutex> l(ptr_mu);
      current.swap(s);
    }
    // s (the old snapshot) is released here, outside the lock.
  }
  mutable std::mutex ptr_mu;
  std::shared_ptr<const Snapshot> current;
  std::atomic<uint64_t> accepted{0}, rejected{0};
  std::mutex write_mu;  // writers only: decode + swap, last_rejection
  std::string last_rejection;

  zmq::context_t ctx{1};
  std::unique_ptr<zmq::socket_t> stop_tx;  // owned by the thread calling destroy
  std::thread thread;

  // Decodes and publishes one message; false (with *why) when rejected.
  bool Ingest(const void* h, size_t hl, const void* b, size_t bl, std::string* why) {
    std::string reason;
    std::shared_ptr<const Snapshot> snap;
    bus::Header hdr;
    bus::DecodeError err;
    if (hl + bl > max_bytes) {
      reason = "oversized: " + std::to_string(hl + bl) + " bytes (limit " +
               std::to_string(max_bytes) + ")";
    } else if (!bus::DecodeHeader(h, hl, &hdr, &err)) {
      reason = std::string(bus::RejectName(err.reason)) + ": " + err.detail;
    } else {
      json body = json::from_msgpack(static_cast<const uint8_t*>(b),
                                     static_cast<const uint8_t*>(b) + bl, true, false);
      if (body.is_discarded()) {
        reason = "truncated: guidance body is not one msgpack object";
      } else {
        try {
          snap = Decode(body);
        } catch (const BadGuidance& e) {
          reason = "bad_value: " + e.what;
        }
      }
    }
    std::lock_guard<std::mutex> l(write_mu);
    if (!snap) {
      rejected.fetch_add(1);
      last_rejection = reason;
      if (why != nullptr) *why = reason;
      return false;
    }
    Publish(std::move(snap));
    accepted.fetch_add(1);
    return true;
  }

  void Run(std::unique_ptr<zmq::socket_t> sub, std::unique_ptr<zmq::socket_t> stop_rx) {
    std::vector<zmq::message_t> frames;
    while (true) {
      zmq::pollitem_t items[] = {{stop_rx->handle(), 0, ZMQ_POLLIN, 0},
                                 {sub->handle(), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, 2, std::chrono::milliseconds(-1));
      if (items[0].revents & ZMQ_POLLIN) break;
      if (!(items[1].revents & ZMQ_POLLIN)) continue;
      frames.clear();
      if (!zmq::recv_multipart(*sub, std::back_inserter(frames), zmq::recv_flags::dontwait))
        continue;
      if (frames.size() != 3) {
        std::lock_guard<std::mutex> l(write_mu);
        rejected.fetch_add(1);
        last_rejection = "frames: " + std::to_string(frames.size()) + " frames (expected 3)";
        continue;
      }
      if (frames[0].to_string_view() != bus::kTopicGuidance) continue;  // prefix match only
      Ingest(frames[1].data(), frames[1].size(), frames[2].data(), frames[2].size(), nullptr);
    }
  }
};

namespace {

bool Valid(const variant_client* c) { return c != nullptr && c->magic == kMagic; }

char* Dup(const std::string& s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (p != nullptr) std::memcpy(p, s.c_str(), s.size() + 1);
  return p;
}

template <typename F>
int Guard(F&& f) {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return VARIANT_CLIENT_E_OUT_OF_MEMORY;
  } catch (...) {
    return VARIANT_CLIENT_E_INTERNAL;
  }
}

// The current snapshot and the model's guidance in it; nullptr with *rc set if none.
const ModelGuidance* Find(variant_client* c, const char* model,
                          std::shared_ptr<const Snapshot>* s, int* rc) {
  *s = c->Load();
  if (!*s) {
    *rc = VARIANT_CLIENT_E_NO_GUIDANCE;
    return nullptr;
  }
  auto it = (*s)->models.find(model);
  if (it == (*s)->models.end()) {
    *rc = VARIANT_CLIENT_E_UNKNOWN_MODEL;
    return nullptr;
  }
  return &it->second;
}

double LogDist(const Slice& s, double in, double out) {
  double a = std::log(in / s.input), b = std::log(out / s.output);
  return a * a + b * b;
}

}  // namespace

extern "C" {

const char* variant_client_status_name(int code) {
  switch (code) {
    case VARIANT_CLIENT_OK: return "VARIANT_CLIENT_OK";
    case VARIANT_CLIENT_E_INVALID_ARGUMENT: return "VARIANT_CLIENT_E_INVALID_ARGUMENT";
    case VARIANT_CLIENT_E_BAD_HANDLE: return "VARIANT_CLIENT_E_BAD_HANDLE";
    case VARIANT_CLIENT_E_NO_GUIDANCE: return "VARIANT_CLIENT_E_NO_GUIDANCE";
    case VARIANT_CLIENT_E_UNKNOWN_MODEL: return "VARIANT_CLIENT_E_UNKNOWN_MODEL";
    case VARIANT_CLIENT_E_UNKNOWN_VARIANT: return "VARIANT_CLIENT_E_UNKNOWN_VARIANT";
    case VARIANT_CLIENT_E_UNKNOWN_CLASS: return "VARIANT_CLIENT_E_UNKNOWN_CLASS";
    case VARIANT_CLIENT_E_NO_SIGNAL: return "VARIANT_CLIENT_E_NO_SIGNAL";
    case VARIANT_CLIENT_E_CAPACITY: return "VARIANT_CLIENT_E_CAPACITY";
    case VARIANT_CLIENT_E_CONNECT: return "VARIANT_CLIENT_E_CONNECT";
    case VARIANT_CLIENT_E_INTERNAL: return "VARIANT_CLIENT_E_INTERNAL";
    case VARIANT_CLIENT_E_OUT_OF_MEMORY: return "VARIANT_CLIENT_E_OUT_OF_MEMORY";
  }
  return "VARIANT_CLIENT_E_UNKNOWN";
}

const char* variant_client_version(void) { return VARIANT_CLIENT_VERSION_STRING; }
int variant_client_abi_version(void) { return VARIANT_CLIENT_ABI_VERSION; }
void variant_client_free(void* p) { std::free(p); }

int variant_client_create(const variant_client_options* opt, variant_client** out,
                          char** errptr) {
  if (out == nullptr) return VARIANT_CLIENT_E_INVALID_ARGUMENT;
  *out = nullptr;
  if (errptr != nullptr) *errptr = nullptr;
  auto fail = [&](int code, const std::string& msg) {
    if (errptr != nullptr) *errptr = Dup(msg);
    return code;
  };
  if (opt == nullptr || opt->struct_size < offsetof(variant_client_options, endpoint) + sizeof(const char*))
    return fail(VARIANT_CLIENT_E_INVALID_ARGUMENT, "options are NULL or too small");
  try {
    auto c = std::make_unique<variant_client>();
    if (opt->struct_size >= offsetof(variant_client_options, max_message_bytes) + sizeof(size_t) &&
        opt->max_message_bytes > 0)
      c->max_bytes = opt->max_message_bytes;
    const std::string endpoint = opt->endpoint != nullptr ? opt->endpoint : "";
    if (!endpoint.empty()) {
      auto sub = std::make_unique<zmq::socket_t>(c->ctx, zmq::socket_type::sub);
      sub->set(zmq::sockopt::linger, 0);
      sub->set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(c->max_bytes));
      sub->set(zmq::sockopt::subscribe, std::string(bus::kTopicGuidance));
      try {
        sub->connect(endpoint);
      } catch (const zmq::error_t& e) {
        return fail(VARIANT_CLIENT_E_CONNECT, "cannot connect to '" + endpoint + "': " + e.what());
      }
      // The PAIR that stops the thread; unique per client (the address is its pointer).
      const std::string addr = "inproc://variant-client-stop-" +
                               std::to_string(reinterpret_cast<uintptr_t>(c.get()));
      auto rx = std::make_unique<zmq::socket_t>(c->ctx, zmq::socket_type::pair);
      rx->bind(addr);
      c->stop_tx = std::make_unique<zmq::socket_t>(c->ctx, zmq::socket_type::pair);
      c->stop_tx->set(zmq::sockopt::linger, 0);
      c->stop_tx->connect(addr);
      variant_client* raw = c.get();
      c->thread = std::thread([raw, s = std::move(sub), r = std::move(rx)]() mutable {
        raw->Run(std::move(s), std::move(r));
      });
    }
    *out = c.release();
    return VARIANT_CLIENT_OK;
  } catch (const std::bad_alloc&) {
    return fail(VARIANT_CLIENT_E_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return fail(VARIANT_CLIENT_E_INTERNAL, e.what());
  }
}

void variant_client_destroy(variant_client* c) {
  if (!Valid(c)) return;
  try {
    if (c->thread.joinable()) {
      c->stop_tx->send(zmq::str_buffer("stop"), zmq::send_flags::none);
      c->thread.join();
    }
    c->stop_tx.reset();
  } catch (...) {
  }
  c->magic = 0;
  delete c;
}

int variant_client_feed(variant_client* c, const void* header, size_t header_len,
                        const void* body, size_t body_len, char** errptr) {
  if (errptr != nullptr) *errptr = nullptr;
  if (!Valid(c)) return VARIANT_CLIENT_E_BAD_HANDLE;
  if ((header == nullptr && header_len > 0) || (body == nullptr && body_len > 0))
    return VARIANT_CLIENT_E_INVALID_ARGUMENT;
  return Guard([&] {
    std::string why;
    if (c->Ingest(header, header_len, body, body_len, &why)) return VARIANT_CLIENT_OK;
    if (errptr != nullptr) *errptr = Dup(why);
    return VARIANT_CLIENT_E_INVALID_ARGUMENT;
  });
}

int variant_client_weights(variant_client* c, const char* model, const char* cls,
                           double input_tokens, double output_tokens,
                           variant_client_weight* out, size_t cap, size_t* n,
                           variant_client_pick* pick) {
  if (!Valid(c)) return VARIANT_CLIENT_E_BAD_HANDLE;
  if (model == nullptr || n == nullptr || (out == nullptr && cap > 0) ||
      std::isnan(input_tokens) || std::isnan(output_tokens))
    return VARIANT_CLIENT_E_INVALID_ARGUMENT;
  return Guard([&]() -> int {
    std::shared_ptr<const Snapshot> s;
    int rc = VARIANT_CLIENT_OK;
    const ModelGuidance* found = Find(c, model, &s, &rc);
    if (found == nullptr) return rc;
    const ModelGuidance& g = *found;
    variant_client_pick p = VARIANT_CLIENT_PICK_INIT;
    p.decision_id = s->decision_id;
    Weights w;
    if (!g.per_bucket) {
      w = g.flat;
    } else {
      const std::string want = cls != nullptr ? cls : "";
      const double in = std::max(1.0, input_tokens), outl = std::max(1.0, output_tokens);
      const Slice* best = nullptr;
      double bd = 0;
      for (const Slice& sl : g.slices) {
        if (!want.empty() && sl.cls != want) continue;
        double d = LogDist(sl, in, outl);
        if (best == nullptr || d < bd) best = &sl, bd = d;
      }
      if (best == nullptr) return g.slices.empty() ? VARIANT_CLIENT_E_UNKNOWN_MODEL
                                                   : VARIANT_CLIENT_E_UNKNOWN_CLASS;
      // Every slice of these lengths (one per class when no class is asked for),
      // combined by demand.
      std::map<std::string, double> acc;
      double total_rate = 0, unserved = 0;
      int k = 0;
      for (const Slice& sl : g.slices) {
        if ((!want.empty() && sl.cls != want) || sl.input != best->input || sl.output != best->output)
          continue;
        ++k;
        total_rate += sl.rate;
      }
      for (const Slice& sl : g.slices) {
        if ((!want.empty() && sl.cls != want) || sl.input != best->input || sl.output != best->output)
          continue;
        const double share = total_rate > 0 ? sl.rate / total_rate : 1.0 / k;
        double sum = 0;
        for (const auto& [v, x] : sl.weights) sum += x;
        for (const auto& [v, x] : sl.weights) acc[v] += share * (sum > 0 ? x / sum : 0);
        unserved += share * sl.unserved;
      }
      w.assign(acc.begin(), acc.end());
      p.per_bucket = 1;
      p.bucket_input = best->input;
      p.bucket_output = best->output;
      p.unserved_fraction = unserved;
    }
    Normalize(&w);
    *n = w.size();
    if (cap < w.size()) return VARIANT_CLIENT_E_CAPACITY;
    for (size_t i = 0; i < w.size(); ++i) {
      std::memset(out[i].variant, 0, sizeof out[i].variant);
      std::memcpy(out[i].variant, w[i].first.data(), w[i].first.size());
      out[i].weight = w[i].second;
    }
    if (pick != nullptr && pick->struct_size > sizeof(size_t)) {
      const size_t sz = std::min(pick->struct_size, sizeof p);
      std::memcpy(reinterpret_cast<char*>(pick) + sizeof(size_t),
                  reinterpret_cast<const char*>(&p) + sizeof(size_t), sz - sizeof(size_t));
    }
    return VARIANT_CLIENT_OK;
  });
}

int variant_client_load(variant_client* c, const char* model, const char* variant,
                        double* load) {
  if (!Valid(c)) return VARIANT_CLIENT_E_BAD_HANDLE;
  if (model == nullptr || variant == nullptr || load == nullptr)
    return VARIANT_CLIENT_E_INVALID_ARGUMENT;
  return Guard([&]() -> int {
    std::shared_ptr<const Snapshot> s;
    int rc = VARIANT_CLIENT_OK;
    const ModelGuidance* g = Find(c, model, &s, &rc);
    if (g == nullptr) return rc;
    auto v = g->loads.find(variant);
    if (v == g->loads.end()) return VARIANT_CLIENT_E_UNKNOWN_VARIANT;
    if (!v->second) return VARIANT_CLIENT_E_NO_SIGNAL;
    *load = *v->second;
    return VARIANT_CLIENT_OK;
  });
}

int variant_client_get_stats(variant_client* c, variant_client_stats* out) {
  if (!Valid(c)) return VARIANT_CLIENT_E_BAD_HANDLE;
  if (out == nullptr || out->struct_size <= sizeof(size_t)) return VARIANT_CLIENT_E_INVALID_ARGUMENT;
  variant_client_stats st = VARIANT_CLIENT_STATS_INIT;
  std::shared_ptr<const Snapshot> s = c->Load();
  st.accepted = c->accepted.load();
  st.rejected = c->rejected.load();
  st.generation = st.accepted;
  if (s) {
    st.decision_id = s->decision_id;
    st.received_unix_s = s->received_unix_s;
  }
  const size_t sz = std::min(out->struct_size, sizeof st);
  std::memcpy(reinterpret_cast<char*>(out) + sizeof(size_t),
              reinterpret_cast<const char*>(&st) + sizeof(size_t), sz - sizeof(size_t));
  return VARIANT_CLIENT_OK;
}

int variant_client_last_rejection(variant_client* c, char** out) {
  if (!Valid(c)) return VARIANT_CLIENT_E_BAD_HANDLE;
  if (out == nullptr) return VARIANT_CLIENT_E_INVALID_ARGUMENT;
  return Guard([&] {
    std::lock_guard<std::mutex> l(c->write_mu);
    *out = Dup(c->last_rejection);
    return *out != nullptr ? VARIANT_CLIENT_OK : VARIANT_CLIENT_E_OUT_OF_MEMORY;
  });
}

}  // extern "C"

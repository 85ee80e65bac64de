// Tests of libvariant-client (bridge/client) through its C ABI: bucket lookup, plugin
// models, load signals, rejected and future-schema messages, real ZeroMQ delivery,
// and readers racing a writer that swaps snapshots.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "bus/protocol.h"
#include "variant/client.h"

namespace {

using json = nlohmann::json;

std::string Header(int version = 1, uint64_t seq = 1) {
  if (version == 1) {
    bus::Header h;
    h.source = "test-agent";
    h.sequence = seq;
    h.timestamp = 1.7e9;
    return bus::EncodeHeader(h);
  }
  std::vector<uint8_t> v = json::to_msgpack(json{{"v", version}, {"src", "x"}, {"seq", seq}, {"ts", 1.0}});
  return std::string(v.begin(), v.end());
}

std::string Msgpack(const json& j) {
  std::vector<uint8_t> v = json::to_msgpack(j);
  return std::string(v.begin(), v.end());
}

// Two classes, two length buckets each, on llama; a plugin-decided model "mistral".
json Guidance(int64_t id = 7) {
  return {
      {"decision_id", id},
      {"models",
       {{{"model", "mistral"},
         {"variants",
          {{{"variant", "l40s"}, {"weight", 3.0}, {"load_signal", 0.5}},
           {{"variant", "a100"}, {"weight", 1.0}, {"load_signal", nullptr}}}}}}},
      {"optimizer",
       {{"models",
         {{{"model", "llama"},
           {"slices",
            {{{"class", "chat"}, {"input", 300}, {"output", 150}, {"rate_rps", 30},
              {"weights", {{"h100", 0.25}, {"a100", 0.75}}}, {"unserved_fraction", 0.0}},
             {{"class", "chat"}, {"input", 4000}, {"output", 400}, {"rate_rps", 5},
              {"weights", {{"h100", 1.0}}}, {"unserved_fraction", 0.1}},
             {{"class", "batch"}, {"input", 300}, {"output", 150}, {"rate_rps", 10},
              {"weights", {{"l40s", 1.0}}}, {"unserved_fraction", 0.0}}}}}}},
        {"variants",
         {{{"model", "llama"}, {"variant", "h100"}, {"replicas", 2}, {"load", 0.83}},
          {{"model", "llama"}, {"variant", "a100"}, {"replicas", 3}, {"load", 1.2}}}}}}};
}

struct Client {
  variant_client* c = nullptr;
  explicit Client(const char* endpoint = nullptr) {
    variant_client_options o = VARIANT_CLIENT_OPTIONS_INIT;
    o.endpoint = endpoint;
    char* err = nullptr;
    int rc = variant_client_create(&o, &c, &err);
    EXPECT_EQ(rc, VARIANT_CLIENT_OK) << (err ? err : "");
    variant_client_free(err);
  }
  ~Client() { variant_client_destroy(c); }
  int Feed(const json& body, int version = 1, std::string* why = nullptr) {
    return FeedRaw(Header(version), Msgpack(body), why);
  }
  int FeedRaw(const std::string& h, const std::string& b, std::string* why = nullptr) {
    char* err = nullptr;
    int rc = variant_client_feed(c, h.data(), h.size(), b.data(), b.size(), &err);
    if (why != nullptr) *why = err ? err : "";
    variant_client_free(err);
    return rc;
  }
  std::vector<std::pair<std::string, double>> Weights(const char* model, const char* cls, double in,
                                                      double out, int* rc,
                                                      variant_client_pick* pick = nullptr) {
    variant_client_weight w[8];
    size_t n = 0;
    *rc = variant_client_weights(c, model, cls, in, out, w, 8, &n, pick);
    std::vector<std::pair<std::string, double>> r;
    if (*rc == VARIANT_CLIENT_OK)
      for (size_t i = 0; i < n; ++i) r.push_back({w[i].variant, w[i].weight});
    return r;
  }
  variant_client_stats Stats() {
    variant_client_stats s = VARIANT_CLIENT_STATS_INIT;
    EXPECT_EQ(variant_client_get_stats(c, &s), VARIANT_CLIENT_OK);
    return s;
  }
};

TEST(Client, BeforeAnyGuidanceAndBadHandles) {
  Client cl;
  int rc;
  cl.Weights("llama", nullptr, 100, 100, &rc);
  EXPECT_EQ(rc, VARIANT_CLIENT_E_NO_GUIDANCE);
  double load;
  EXPECT_EQ(variant_client_load(cl.c, "llama", "h100", &load), VARIANT_CLIENT_E_NO_GUIDANCE);
  EXPECT_EQ(cl.Stats().decision_id, -1);
  EXPECT_EQ(variant_client_load(nullptr, "m", "v", &load), VARIANT_CLIENT_E_BAD_HANDLE);
  uint64_t not_a_client[8] = {};  // a foreign object (at least the size of the tag)
  EXPECT_EQ(variant_client_load(reinterpret_cast<variant_client*>(not_a_client), "m", "v", &load),
            VARIANT_CLIENT_E_BAD_HANDLE);
  EXPECT_STREQ(variant_client_status_name(VARIANT_CLIENT_E_NO_SIGNAL), "VARIANT_CLIENT_E_NO_SIGNAL");
  EXPECT_STREQ(variant_client_status_name(999), "VARIANT_CLIENT_E_UNKNOWN");
  EXPECT_EQ(variant_client_abi_version(), VARIANT_CLIENT_ABI_VERSION);
}

TEST(Client, BadEndpointIsAConnectError) {
  variant_client_options o = VARIANT_CLIENT_OPTIONS_INIT;
  o.endpoint = "not-a-transport://x";
  variant_client* c = nullptr;
  char* err = nullptr;
  EXPECT_EQ(variant_client_create(&o, &c, &err), VARIANT_CLIENT_E_CONNECT);
  EXPECT_EQ(c, nullptr);
  ASSERT_NE(err, nullptr);
  EXPECT_NE(std::string(err).find("not-a-transport://x"), std::string::npos) << err;
  variant_client_free(err);
}

TEST(Client, NearestBucketOfTheClass) {
  Client cl;
  ASSERT_EQ(cl.Feed(Guidance()), VARIANT_CLIENT_OK);
  int rc;
  variant_client_pick pick = VARIANT_CLIENT_PICK_INIT;
  // A long prompt is nearest (in log length) to the 4000/400 bucket.
  auto w = cl.Weights("llama", "chat", 3000, 300, &rc, &pick);
  ASSERT_EQ(rc, VARIANT_CLIENT_OK);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].first, "h100");
  EXPECT_DOUBLE_EQ(pick.bucket_input, 4000);
  EXPECT_DOUBLE_EQ(pick.unserved_fraction, 0.1);
  EXPECT_EQ(pick.decision_id, 7);
  EXPECT_EQ(pick.per_bucket, 1);
  // A short one to 300/150, sorted by weight.
  w = cl.Weights("llama", "chat", 200, 100, &rc);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].first, "a100");
  EXPECT_DOUBLE_EQ(w[0].second, 0.75);
  EXPECT_DOUBLE_EQ(w[1].second, 0.25);
  // No class: the chat and batch slices of 300/150 combine by rate (30 : 10).
  w = cl.Weights("llama", nullptr, 200, 100, &rc);
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(w[0].first, "a100");
  EXPECT_DOUBLE_EQ(w[0].second, 0.75 * 0.75);
  EXPECT_EQ(w[1].first, "l40s");
  EXPECT_DOUBLE_EQ(w[1].second, 0.25);
  EXPECT_DOUBLE_EQ(w[2].second, 0.25 * 0.75);
  // Errors.
  cl.Weights("llama", "nope", 200, 100, &rc);
  EXPECT_EQ(rc, VARIANT_CLIENT_E_UNKNOWN_CLASS);
  cl.Weights("gpt", nullptr, 200, 100, &rc);
  EXPECT_EQ(rc, VARIANT_CLIENT_E_UNKNOWN_MODEL);
  variant_client_weight one[1];
  size_t n = 0;
  EXPECT_EQ(variant_client_weights(cl.c, "llama", nullptr, 200, 100, one, 1, &n, nullptr),
            VARIANT_CLIENT_E_CAPACITY);
  EXPECT_EQ(n, 3u);
  EXPECT_EQ(variant_client_weights(cl.c, "llama", nullptr, NAN, 100, one, 1, &n, nullptr),
            VARIANT_CLIENT_E_INVALID_ARGUMENT);
}

TEST(Client, PluginModelsAndLoadSignals) {
  Client cl;
  ASSERT_EQ(cl.Feed(Guidance()), VARIANT_CLIENT_OK);
  int rc;
  variant_client_pick pick = VARIANT_CLIENT_PICK_INIT;
  auto w = cl.Weights("mistral", nullptr, 10, 10000, &rc, &pick);
  ASSERT_EQ(rc, VARIANT_CLIENT_OK);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].first, "l40s");
  EXPECT_DOUBLE_EQ(w[0].second, 0.75);  // normalized 3 : 1
  EXPECT_EQ(pick.per_bucket, 0);
  double load = 0;
  EXPECT_EQ(variant_client_load(cl.c, "llama", "a100", &load), VARIANT_CLIENT_OK);
  EXPECT_DOUBLE_EQ(load, 1.2);
  EXPECT_EQ(variant_client_load(cl.c, "mistral", "l40s", &load), VARIANT_CLIENT_OK);
  EXPECT_DOUBLE_EQ(load, 0.5);
  EXPECT_EQ(variant_client_load(cl.c, "mistral", "a100", &load), VARIANT_CLIENT_E_NO_SIGNAL);
  EXPECT_EQ(variant_client_load(cl.c, "llama", "mi300x", &load), VARIANT_CLIENT_E_UNKNOWN_VARIANT);
  EXPECT_EQ(variant_client_load(cl.c, "gpt", "x", &load), VARIANT_CLIENT_E_UNKNOWN_MODEL);
}

TEST(Client, BadMessagesAreRejectedAndThePreviousGuidanceStays) {
  Client cl;
  ASSERT_EQ(cl.Feed(Guidance(7)), VARIANT_CLIENT_OK);
  struct Case {
    const char* name;
    std::string header, body, reason;
  };
  json neg = Guidance(8);
  neg["optimizer"]["models"][0]["slices"][0]["weights"]["h100"] = -1;
  json nan_load = Guidance(8);
  nan_load["optimizer"]["variants"][0]["load"] = "high";
  json no_id = Guidance(8);
  no_id.erase("decision_id");
  json models_map = Guidance(8);
  models_map["models"] = json::object();
  json long_name = Guidance(8);
  long_name["models"][0]["variants"][0]["variant"] = std::string(200, 'x');
  std::vector<Case> cases = {
      {"garbage body", Header(), "\xc1\xff garbage", "truncated"},
      {"trailing bytes", Header(), Msgpack(Guidance(8)) + "x", "truncated"},
      {"garbage header", "nope", Msgpack(Guidance(8)), "truncated"},
      {"future schema", Header(2), Msgpack(Guidance(8)), "schema_version"},
      {"body not a map", Header(), Msgpack(json::array({1, 2})), "not a map"},
      {"negative weight", Header(), Msgpack(neg), "weight of 'h100'"},
      {"load of wrong type", Header(), Msgpack(nan_load), "'load' is not a number"},
      {"no decision id", Header(), Msgpack(no_id), "decision_id"},
      {"models is a map", Header(), Msgpack(models_map), "'models' is not an array"},
      {"name too long", Header(), Msgpack(long_name), "longer than 127"},
  };
  uint64_t rejected = 0;
  for (const Case& k : cases) {
    std::string why;
    EXPECT_EQ(cl.FeedRaw(k.header, k.body, &why), VARIANT_CLIENT_E_INVALID_ARGUMENT) << k.name;
    EXPECT_NE(why.find(k.reason), std::string::npos) << k.name << ": " << why;
    EXPECT_EQ(cl.Stats().rejected, ++rejected) << k.name;
    char* last = nullptr;
    ASSERT_EQ(variant_client_last_rejection(cl.c, &last), VARIANT_CLIENT_OK);
    EXPECT_EQ(std::string(last), why);
    variant_client_free(last);
  }
  // Still the decision 7 guidance.
  EXPECT_EQ(cl.Stats().decision_id, 7);
  EXPECT_EQ(cl.Stats().accepted, 1u);
  int rc;
  EXPECT_EQ(cl.Weights("llama", "chat", 3000, 300, &rc)[0].first, "h100");
}

TEST(Client, UnknownKeysOfTheSameSchemaAreIgnored) {
  Client cl;
  json g = Guidance(9);
  g["future_field"] = {{"anything", {1, 2, 3}}};
  g["optimizer"]["models"][0]["slices"][0]["new_per_slice"] = "x";
  g["optimizer"]["models"][0]["slices"][0]["decode_weights"] = {{"d-var", 1.0}};
  g["optimizer"]["new_section"] = json::array();
  ASSERT_EQ(cl.Feed(g), VARIANT_CLIENT_OK);
  EXPECT_EQ(cl.Stats().decision_id, 9);
  int rc;
  EXPECT_EQ(cl.Weights("llama", "chat", 300, 150, &rc).size(), 2u);
}

TEST(Client, ReceivesGuidanceOverZeroMQ) {
  zmq::context_t ctx(1);
  zmq::socket_t pub(ctx, zmq::socket_type::pub);
  pub.set(zmq::sockopt::linger, 0);
  pub.bind("tcp://127.0.0.1:*");
  const std::string ep = pub.get(zmq::sockopt::last_endpoint);
  Client cl(ep.c_str());
  // Other topics and malformed guidance frames on the wire are ignored or rejected.
  const std::string h = Header(), b = Msgpack(Guidance(11));
  for (int i = 0; i < 500 && cl.Stats().accepted == 0; ++i) {
    pub.send(zmq::str_buffer("decision"), zmq::send_flags::sndmore);
    pub.send(zmq::buffer(h), zmq::send_flags::sndmore);
    pub.send(zmq::buffer(b), zmq::send_flags::none);
    pub.send(zmq::str_buffer("guidance"), zmq::send_flags::sndmore);
    pub.send(zmq::buffer(h), zmq::send_flags::none);  // two frames
    pub.send(zmq::str_buffer("guidance"), zmq::send_flags::sndmore);
    pub.send(zmq::buffer(h), zmq::send_flags::sndmore);
    pub.send(zmq::buffer(b), zmq::send_flags::none);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  variant_client_stats s = cl.Stats();
  ASSERT_GE(s.accepted, 1u);
  EXPECT_EQ(s.decision_id, 11);
  EXPECT_GE(s.rejected, 1u);  // the two-frame messages
  char* last = nullptr;
  variant_client_last_rejection(cl.c, &last);
  EXPECT_NE(std::string(last).find("frames"), std::string::npos) << last;
  variant_client_free(last);
  int rc;
  EXPECT_EQ(cl.Weights("llama", "chat", 3000, 300, &rc)[0].first, "h100");
}

TEST(Client, ReadersRacingAWriterSeeWholeSnapshots) {
  // Snapshot k gives llama/chat weights {a: 1/(k+2), b: rest} and is decision k; a
  // reader checks that the weights it got belong to the decision it was told.
  Client cl;
  auto snapshot = [](int k) {
    const double a = 1.0 / (k + 2);
    return json{{"decision_id", k},
                {"optimizer",
                 {{"models",
                   {{{"model", "llama"},
                     {"slices",
                      {{{"class", "chat"}, {"input", 100}, {"output", 100}, {"rate_rps", 1},
                        {"weights", {{"a", a}, {"b", 1 - a}}}}}}}}},
                  {"variants", {{{"model", "llama"}, {"variant", "a"}, {"load", k}}}}}}};
  };
  ASSERT_EQ(cl.Feed(snapshot(0)), VARIANT_CLIENT_OK);
  constexpr int kWrites = 2000;
  std::atomic<bool> done{false};
  std::atomic<long> reads{0}, torn{0}, errors{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      variant_client_weight w[4];
      int64_t last_id = 0;
      while (!done.load()) {
        size_t n = 0;
        variant_client_pick p = VARIANT_CLIENT_PICK_INIT;
        if (variant_client_weights(cl.c, "llama", "chat", 100, 100, w, 4, &n, &p) != VARIANT_CLIENT_OK) {
          ++errors;
          continue;
        }
        const double a = 1.0 / (p.decision_id + 2);
        double got_a = -1;
        for (size_t i = 0; i < n; ++i)
          if (std::string(w[i].variant) == "a") got_a = w[i].weight;
        if (std::abs(got_a - a) > 1e-12 || p.decision_id < last_id) ++torn;
        last_id = p.decision_id;
        double load = 0;
        if (variant_client_load(cl.c, "llama", "a", &load) != VARIANT_CLIENT_OK || load < last_id) ++torn;
        ++reads;
      }
    });
  }
  for (int k = 1; k <= kWrites; ++k) ASSERT_EQ(cl.Feed(snapshot(k)), VARIANT_CLIENT_OK);
  done = true;
  for (auto& r : readers) r.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(cl.Stats().decision_id, kWrites);
  EXPECT_EQ(cl.Stats().accepted, static_cast<uint64_t>(kWrites + 1));
}

}  // namespace

// The bus codecs: round trips, and each kind of bad input mapped to its reason.
#include <gtest/gtest.h>

#include <cmath>
#include <msgpack.hpp>
#include <string>

#include "bus/protocol.h"

namespace {


template <typename T>
std::string PackValue(const T& v) {
  msgpack::sbuffer b;
  msgpack::pack(b, v);
  return std::string(b.data(), b.size());
}

TEST(BusProtocol, HeaderRoundTrip) {
  bus::Header h;
  h.source = "node-a";
  h.sequence = 42;
  h.timestamp = 1700000000.5;
  std::string s = bus::EncodeHeader(h);
  bus::Header out;
  bus::DecodeError err;
  ASSERT_TRUE(bus::DecodeHeader(s.data(), s.size(), &out, &err)) << err.detail;
  EXPECT_EQ(out.source, "node-a");
  EXPECT_EQ(out.sequence, 42u);
  EXPECT_DOUBLE_EQ(out.timestamp, 1700000000.5);
}

TEST(BusProtocol, MetricsRoundTripKeepsAbsentFieldsAbsent) {
  bus::Metrics m;
  m.model = "llama-3-8b";
  m.variant = "h100-tp1";
  m.arrival_rate_rps = 3.5;
  m.running = 12;
  m.replicas_ready = 2;
  std::string s = bus::EncodeMetrics(m);
  bus::Metrics out;
  bus::DecodeError err;
  ASSERT_TRUE(bus::DecodeMetrics(s.data(), s.size(), &out, &err)) << err.detail;
  EXPECT_EQ(out.model, "llama-3-8b");
  EXPECT_EQ(out.variant, "h100-tp1");
  EXPECT_DOUBLE_EQ(out.arrival_rate_rps, 3.5);
  EXPECT_DOUBLE_EQ(out.running, 12);
  EXPECT_TRUE(std::isnan(out.waiting));  // absent, not zero
  EXPECT_EQ(out.replicas_ready, 2);
  EXPECT_EQ(out.replicas_starting, -1);
}

TEST(BusProtocol, InventoryRoundTrip) {
  bus::Inventory inv;
  inv.accelerators.push_back({"h100", 16});
  inv.replicas.push_back({"m", "v", 3, 1});
  std::string s = bus::EncodeInventory(inv);
  bus::Inventory out;
  bus::DecodeError err;
  ASSERT_TRUE(bus::DecodeInventory(s.data(), s.size(), &out, &err)) << err.detail;
  ASSERT_EQ(out.replicas.size(), 1u);
  EXPECT_EQ(out.replicas[0].ready, 3);
  EXPECT_EQ(out.replicas[0].starting, 1);
  EXPECT_EQ(out.accelerators[0].count, 16);
}

bus::Reject MetricsReject(const std::string& s) {
  bus::Metrics out;
  bus::DecodeError err;
  EXPECT_FALSE(bus::DecodeMetrics(s.data(), s.size(), &out, &err));
  return err.reason;
}

TEST(BusProtocol, TruncatedMsgpack) {
  bus::Metrics m;
  m.model = "x";
  m.running = 3;
  std::string s = bus::EncodeMetrics(m);
  for (size_t cut = 0; cut < s.size(); ++cut)
    EXPECT_EQ(MetricsReject(s.substr(0, cut)), bus::Reject::kTruncated) << cut;
  EXPECT_EQ(MetricsReject(s + "\x01"), bus::Reject::kTruncated);  // trailing bytes
}

TEST(BusProtocol, WrongTypes) {
  std::map<std::string, std::string> m{{"model", "x"}, {"running", "many"}};
  EXPECT_EQ(MetricsReject(PackValue(m)), bus::Reject::kWrongType);
  EXPECT_EQ(MetricsReject(PackValue(std::vector<int>{1, 2})), bus::Reject::kWrongType);
  std::map<std::string, int> n{{"model", 3}};
  EXPECT_EQ(MetricsReject(PackValue(n)), bus::Reject::kWrongType);
}

TEST(BusProtocol, NaNNegativeAndOutOfRange) {
  auto with = [](const char* k, double v) {
    std::map<std::string, msgpack::type::variant> m;
    m["model"] = std::string("x");
    m[k] = v;
    return PackValue(m);
  };
  EXPECT_EQ(MetricsReject(with("arrival_rate_rps", NAN)), bus::Reject::kBadValue);
  EXPECT_EQ(MetricsReject(with("arrival_rate_rps", INFINITY)), bus::Reject::kBadValue);
  EXPECT_EQ(MetricsReject(with("running", -1)), bus::Reject::kBadValue);
  EXPECT_EQ(MetricsReject(with("kv_usage", 1.5)), bus::Reject::kBadValue);
  EXPECT_EQ(MetricsReject(with("prefix_hit_ratio", -0.1)), bus::Reject::kBadValue);
  EXPECT_EQ(MetricsReject(with("replicas_ready", 2.5)), bus::Reject::kBadValue);
}

TEST(BusProtocol, MissingModel) {
  std::map<std::string, double> m{{"running", 1}};
  EXPECT_EQ(MetricsReject(PackValue(m)), bus::Reject::kMissingField);
}

TEST(BusProtocol, UnknownSchemaVersion) {
  bus::Header h;
  h.version = 2;
  h.source = "s";
  std::string s = bus::EncodeHeader(h);
  bus::Header out;
  bus::DecodeError err;
  EXPECT_FALSE(bus::DecodeHeader(s.data(), s.size(), &out, &err));
  EXPECT_EQ(err.reason, bus::Reject::kSchemaVersion);
  EXPECT_NE(err.detail.find("schema version 2"), std::string::npos);
}

TEST(BusProtocol, HeaderMissingFields) {
  std::map<std::string, int> m{{"v", 1}};
  std::string s = PackValue(m);
  bus::Header out;
  bus::DecodeError err;
  EXPECT_FALSE(bus::DecodeHeader(s.data(), s.size(), &out, &err));
  EXPECT_EQ(err.reason, bus::Reject::kMissingField);
}

TEST(BusProtocol, RejectNamesAreStable) {
  EXPECT_STREQ(bus::RejectName(bus::Reject::kTruncated), "truncated");
  EXPECT_STREQ(bus::RejectName(bus::Reject::kUnknownModel), "unknown_model");
  EXPECT_STREQ(bus::RejectName(bus::Reject::kOversized), "oversized");
}

}  // namespace

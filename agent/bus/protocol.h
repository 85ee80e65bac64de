// The bus protocol (docs/bus.md): message framing, the header, and the typed bodies
// the agent reads (metrics, inventory, heartbeat). Decision, plan and guidance bodies
// are produced by libvariant as JSON and re-encoded to msgpack unchanged in shape, so
// they have no C++ type here.
//
// Thread-safety: everything here is a pure function of its arguments; no state.
#ifndef VARIANT_AGENT_BUS_PROTOCOL_H_
#define VARIANT_AGENT_BUS_PROTOCOL_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bus {

// Bumped when a field changes meaning or type; additions of optional fields do not
// bump it. Receivers reject any other major version.
inline constexpr int kSchemaVersion = 1;
// The latest header timestamp accepted: 9999-12-31T23:59:59Z in Unix seconds.
inline constexpr double kMaxTimestamp = 253402300799.0;

// Topic frames, exactly these bytes.
inline constexpr std::string_view kTopicMetrics = "metrics";
inline constexpr std::string_view kTopicInventory = "inventory";
inline constexpr std::string_view kTopicDecision = "decision";
inline constexpr std::string_view kTopicPlan = "plan";
inline constexpr std::string_view kTopicGuidance = "guidance";
inline constexpr std::string_view kTopicHeartbeat = "heartbeat";

struct Header {
  int version = kSchemaVersion;
  std::string source;     // publisher identity, stable across restarts
  uint64_t sequence = 0;  // per source, +1 per message (any topic), starts at 1
  double timestamp = 0;   // publisher's clock, Unix seconds
};

// One model/variant as seen by one collector over its last window. Every numeric field
// is optional on the wire; absent fields are NaN (or -1 for the counts), never zero.
struct Metrics {
  std::string model;
  std::string variant;  // "" = model-level demand (e.g. from the gateway)
  std::string service_class;  // "" = the model's default class
  double arrival_rate_rps = kNaN();
  double input_mean = kNaN();
  double output_mean = kNaN();
  double running = kNaN();
  double waiting = kNaN();
  double kv_usage = kNaN();  // fraction in [0, 1]
  double ttft_mean_ms = kNaN();
  double itl_mean_ms = kNaN();
  double prefix_hit_ratio = kNaN();  // [0, 1]
  int replicas_ready = -1;
  int replicas_starting = -1;
  static double kNaN();
};

struct InventoryReplica {
  std::string model, variant;
  int ready = 0, starting = 0;
};
struct InventoryAccelerator {
  std::string name;
  int count = 0;
};
struct Inventory {
  std::vector<InventoryAccelerator> accelerators;
  std::vector<InventoryReplica> replicas;
};

// Why a message was rejected. Stable strings: they are Prometheus label values.
enum class Reject {
  kNone = 0,
  kFrames,         // not exactly 3 frames
  kOversized,      // larger than the configured limit
  kUnknownTopic,
  kTruncated,      // msgpack that does not parse (truncated or garbage)
  kSchemaVersion,  // header version we do not know
  kWrongType,      // a field has the wrong msgpack type
  kMissingField,
  kBadValue,       // NaN, infinite, negative, or out of range
  kUnknownModel,   // model (or variant) not in the agent's config
  kRateLimited,    // over its source's token bucket (bus.rate_limit_per_source)
  kSourceLimit,    // a new source name while bus.max_sources are already tracked
};
const char* RejectName(Reject r);
inline constexpr int kRejectCount = 12;

struct DecodeError {
  Reject reason = Reject::kNone;
  std::string detail;  // names the field and the value
};

// Decoders: return false and fill *err on any problem. They never throw.
bool DecodeHeader(const void* data, size_t len, Header* out, DecodeError* err);
bool DecodeMetrics(const void* data, size_t len, Metrics* out, DecodeError* err);
bool DecodeInventory(const void* data, size_t len, Inventory* out, DecodeError* err);
// A heartbeat body is informational; it must be one msgpack map.
bool DecodeHeartbeat(const void* data, size_t len, DecodeError* err);

// Encoders (msgpack bytes).
std::string EncodeHeader(const Header& h);
std::string EncodeMetrics(const Metrics& m);
std::string EncodeInventory(const Inventory& inv);
std::string EncodeHeartbeat(double uptime_s);

}  // namespace bus

#endif  // VARIANT_AGENT_BUS_PROTOCOL_H_

#include "protocol.h"

#include <cmath>
#include <limits>
#include <msgpack.hpp>

namespace bus {

double Metrics::kNaN() { return std::numeric_limits<double>::quiet_NaN(); }

const char* RejectName(Reject r) {
  switch (r) {
    case Reject::kNone: return "none";
    case Reject::kFrames: return "frames";
    case Reject::kOversized: return "oversized";
    case Reject::kUnknownTopic: return "unknown_topic";
    case Reject::kTruncated: return "truncated";
    case Reject::kSchemaVersion: return "schema_version";
    case Reject::kWrongType: return "wrong_type";
    case Reject::kMissingField: return "missing_field";
    case Reject::kBadValue: return "bad_value";
    case Reject::kUnknownModel: return "unknown_model";
    case Reject::kRateLimited: return "rate_limited";
    case Reject::kSourceLimit: return "source_limit";
  }
  return "unknown";
}

namespace {

bool Fail(DecodeError* err, Reject r, std::string detail) {
  if (err != nullptr) {
    err->reason = r;
    err->detail = std::move(detail);
  }
  return false;
}

// Parses one complete msgpack object; trailing bytes or a short buffer are errors.
bool Parse(const void* data, size_t len, msgpack::object_handle* oh, DecodeError* err) {
  try {
    size_t off = 0;
    // Every element, key or byte takes at least one byte of input, so no count in a
    // well-formed message exceeds len. Without this limit a 5-byte array32 header
    // claiming 2^31 elements makes msgpack allocate 32 GiB before it notices the
    // message is short (found by test/fuzz/fuzz_bus_metrics).
    const msgpack::unpack_limit limit(len, len, len, len, len, 64);
    *oh = msgpack::unpack(static_cast<const char*>(data), len, off, nullptr, nullptr, limit);
    if (off != len)
      return Fail(err, Reject::kTruncated,
                  std::to_string(len - off) + " bytes after the msgpack object");
  } catch (const std::exception& e) {
    return Fail(err, Reject::kTruncated, std::string("msgpack: ") + e.what());
  }
  return true;
}

std::string_view Key(const msgpack::object& k) {
  if (k.type != msgpack::type::STR) return {};
  return {k.via.str.ptr, k.via.str.size};
}

// Reads a number (int or float); nil leaves *out untouched.
bool Num(const msgpack::object& v, std::string_view name, double* out, DecodeError* err) {
  switch (v.type) {
    case msgpack::type::NIL: return true;
    case msgpack::type::POSITIVE_INTEGER: *out = static_cast<double>(v.via.u64); return true;
    case msgpack::type::NEGATIVE_INTEGER: *out = static_cast<double>(v.via.i64); return true;
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64: *out = v.via.f64; return true;
    default:
      return Fail(err, Reject::kWrongType, "field '" + std::string(name) + "' is not a number");
  }
}

bool Str(const msgpack::object& v, std::string_view name, std::string* out, DecodeError* err) {
  if (v.type != msgpack::type::STR)
    return Fail(err, Reject::kWrongType, "field '" + std::string(name) + "' is not a string");
  out->assign(v.via.str.ptr, v.via.str.size);
  return true;
}

// A value that must be finite, >= 0 and <= hi when present (NaN means absent).
bool CheckRange(double v, std::string_view name, double hi, DecodeError* err) {
  if (std::isnan(v)) return true;  // absent
  if (!std::isfinite(v) || v < 0 || v > hi)
    return Fail(err, Reject::kBadValue,
                "field '" + std::string(name) + "' = " + std::to_string(v) + " is out of range");
  return true;
}

// Like Num, but an explicit NaN on the wire is a bad value (absent is spelled by
// leaving the field out or sending nil).
bool NumStrict(const msgpack::object& v, std::string_view name, double* out,
               DecodeError* err) {
  if (!Num(v, name, out, err)) return false;
  if ((v.type == msgpack::type::FLOAT32 || v.type == msgpack::type::FLOAT64) &&
      !std::isfinite(v.via.f64))
    return Fail(err, Reject::kBadValue, "field '" + std::string(name) + "' is NaN or infinite");
  return true;
}

bool Int(const msgpack::object& v, std::string_view name, int* out, DecodeError* err) {
  double d = -1;
  if (!NumStrict(v, name, &d, err)) return false;
  if (v.type == msgpack::type::NIL) return true;
  if (d < 0 || d > 1e6 || d != std::floor(d))
    return Fail(err, Reject::kBadValue,
                "field '" + std::string(name) + "' = " + std::to_string(d) +
                    " is not a count in [0, 1e6]");
  *out = static_cast<int>(d);
  return true;
}

}  // namespace

bool DecodeHeader(const void* data, size_t len, Header* out, DecodeError* err) {
  msgpack::object_handle oh;
  if (!Parse(data, len, &oh, err)) return false;
  const msgpack::object& o = oh.get();
  if (o.type != msgpack::type::MAP) return Fail(err, Reject::kWrongType, "header is not a map");
  bool have_v = false, have_src = false, have_seq = false;
  for (uint32_t i = 0; i < o.via.map.size; ++i) {
    const auto& kv = o.via.map.ptr[i];
    std::string_view k = Key(kv.key);
    if (k == "v") {
      if (kv.val.type != msgpack::type::POSITIVE_INTEGER)
        return Fail(err, Reject::kWrongType, "header 'v' is not a positive integer");
      if (kv.val.via.u64 != static_cast<uint64_t>(kSchemaVersion))
        return Fail(err, Reject::kSchemaVersion,
                    "schema version " + std::to_string(kv.val.via.u64) + " (this agent speaks " +
                        std::to_string(kSchemaVersion) + ")");
      have_v = true;
    } else if (k == "src") {
      if (!Str(kv.val, "src", &out->source, err)) return false;
      have_src = true;
    } else if (k == "seq") {
      if (kv.val.type != msgpack::type::POSITIVE_INTEGER)
        return Fail(err, Reject::kWrongType, "header 'seq' is not a positive integer");
      out->sequence = kv.val.via.u64;
      have_seq = true;
    } else if (k == "ts") {
      double ts = 0;
      if (!NumStrict(kv.val, "ts", &ts, err)) return false;
      if (ts < 0) return Fail(err, Reject::kBadValue, "header 'ts' is negative");
      // Unix seconds past the year 9999 are no clock; they also include 2^64, which
      // msgpack's pack_double would cast to uint64 (undefined) when re-encoding.
      if (ts > kMaxTimestamp)
        return Fail(err, Reject::kBadValue, "header 'ts' is past the year 9999");
      out->timestamp = ts;
    }
  }
  if (!have_v) return Fail(err, Reject::kMissingField, "header has no 'v'");
  if (!have_src) return Fail(err, Reject::kMissingField, "header has no 'src'");
  if (!have_seq) return Fail(err, Reject::kMissingField, "header has no 'seq'");
  out->version = kSchemaVersion;
  return true;
}

bool DecodeMetrics(const void* data, size_t len, Metrics* m, DecodeError* err) {
  msgpack::object_handle oh;
  if (!Parse(data, len, &oh, err)) return false;
  const msgpack::object& o = oh.get();
  if (o.type != msgpack::type::MAP) return Fail(err, Reject::kWrongType, "metrics body is not a map");
  bool have_model = false;
  for (uint32_t i = 0; i < o.via.map.size; ++i) {
    const auto& kv = o.via.map.ptr[i];
    std::string_view k = Key(kv.key);
    bool ok = true;
    if (k == "model") {
      ok = Str(kv.val, k, &m->model, err);
      have_model = true;
    } else if (k == "variant") {
      ok = Str(kv.val, k, &m->variant, err);
    } else if (k == "class") {
      ok = Str(kv.val, k, &m->service_class, err);
    } else if (k == "arrival_rate_rps") {
      ok = NumStrict(kv.val, k, &m->arrival_rate_rps, err);
    } else if (k == "input_mean") {
      ok = NumStrict(kv.val, k, &m->input_mean, err);
    } else if (k == "output_mean") {
      ok = NumStrict(kv.val, k, &m->output_mean, err);
    } else if (k == "running") {
      ok = NumStrict(kv.val, k, &m->running, err);
    } else if (k == "waiting") {
      ok = NumStrict(kv.val, k, &m->waiting, err);
    } else if (k == "kv_usage") {
      ok = NumStrict(kv.val, k, &m->kv_usage, err);
    } else if (k == "ttft_mean_ms") {
      ok = NumStrict(kv.val, k, &m->ttft_mean_ms, err);
    } else if (k == "itl_mean_ms") {
      ok = NumStrict(kv.val, k, &m->itl_mean_ms, err);
    } else if (k == "prefix_hit_ratio") {
      ok = NumStrict(kv.val, k, &m->prefix_hit_ratio, err);
    } else if (k == "replicas_ready") {
      ok = Int(kv.val, k, &m->replicas_ready, err);
    } else if (k == "replicas_starting") {
      ok = Int(kv.val, k, &m->replicas_starting, err);
    }  // unknown keys are ignored: fields may be added within a schema version
    if (!ok) return false;
  }
  if (!have_model || m->model.empty())
    return Fail(err, Reject::kMissingField, "metrics body has no 'model'");
  constexpr double kBig = 1e12;
  return CheckRange(m->arrival_rate_rps, "arrival_rate_rps", kBig, err) &&
         CheckRange(m->input_mean, "input_mean", kBig, err) &&
         CheckRange(m->output_mean, "output_mean", kBig, err) &&
         CheckRange(m->running, "running", kBig, err) &&
         CheckRange(m->waiting, "waiting", kBig, err) &&
         CheckRange(m->kv_usage, "kv_usage", 1.0, err) &&
         CheckRange(m->ttft_mean_ms, "ttft_mean_ms", kBig, err) &&
         CheckRange(m->itl_mean_ms, "itl_mean_ms", kBig, err) &&
         CheckRange(m->prefix_hit_ratio, "prefix_hit_ratio", 1.0, err);
}

bool DecodeInventory(const void* data, size_t len, Inventory* inv, DecodeError* err) {
  msgpack::object_handle oh;
  if (!Parse(data, len, &oh, err)) return false;
  const msgpack::object& o = oh.get();
  if (o.type != msgpack::type::MAP)
    return Fail(err, Reject::kWrongType, "inventory body is not a map");
  for (uint32_t i = 0; i < o.via.map.size; ++i) {
    const auto& kv = o.via.map.ptr[i];
    std::string_view k = Key(kv.key);
    if (k == "accelerators") {
      if (kv.val.type != msgpack::type::MAP)
        return Fail(err, Reject::kWrongType, "'accelerators' is not a map of name to count");
      for (uint32_t j = 0; j < kv.val.via.map.size; ++j) {
        InventoryAccelerator a;
        if (!Str(kv.val.via.map.ptr[j].key, "accelerators key", &a.name, err)) return false;
        if (!Int(kv.val.via.map.ptr[j].val, "accelerators." + a.name, &a.count, err)) return false;
        inv->accelerators.push_back(std::move(a));
      }
    } else if (k == "replicas") {
      if (kv.val.type != msgpack::type::ARRAY)
        return Fail(err, Reject::kWrongType, "'replicas' is not an array");
      for (uint32_t j = 0; j < kv.val.via.array.size; ++j) {
        const msgpack::object& r = kv.val.via.array.ptr[j];
        if (r.type != msgpack::type::MAP)
          return Fail(err, Reject::kWrongType, "'replicas' entry is not a map");
        InventoryReplica rep;
        for (uint32_t q = 0; q < r.via.map.size; ++q) {
          std::string_view rk = Key(r.via.map.ptr[q].key);
          const auto& rv = r.via.map.ptr[q].val;
          bool ok = true;
          if (rk == "model") ok = Str(rv, rk, &rep.model, err);
          else if (rk == "variant") ok = Str(rv, rk, &rep.variant, err);
          else if (rk == "ready") ok = Int(rv, rk, &rep.ready, err);
          else if (rk == "starting") ok = Int(rv, rk, &rep.starting, err);
          if (!ok) return false;
        }
        if (rep.model.empty() || rep.variant.empty())
          return Fail(err, Reject::kMissingField, "'replicas' entry needs 'model' and 'variant'");
        inv->replicas.push_back(std::move(rep));
      }
    }
  }
  return true;
}

bool DecodeHeartbeat(const void* data, size_t len, DecodeError* err) {
  msgpack::object_handle oh;
  if (!Parse(data, len, &oh, err)) return false;
  if (oh.get().type != msgpack::type::MAP)
    return Fail(err, Reject::kWrongType, "heartbeat body is not a map");
  return true;
}

std::string EncodeHeader(const Header& h) {
  msgpack::sbuffer buf(64);
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(4);
  pk.pack("v");
  pk.pack(h.version);
  pk.pack("src");
  pk.pack(h.source);
  pk.pack("seq");
  pk.pack(h.sequence);
  pk.pack("ts");
  pk.pack(h.timestamp);
  return std::string(buf.data(), buf.size());
}

std::string EncodeMetrics(const Metrics& m) {
  msgpack::sbuffer buf(256);
  msgpack::packer<msgpack::sbuffer> pk(buf);
  struct F {
    const char* k;
    double v;
  };
  const F nums[] = {{"arrival_rate_rps", m.arrival_rate_rps}, {"input_mean", m.input_mean},
                    {"output_mean", m.output_mean},           {"running", m.running},
                    {"waiting", m.waiting},                   {"kv_usage", m.kv_usage},
                    {"ttft_mean_ms", m.ttft_mean_ms},         {"itl_mean_ms", m.itl_mean_ms},
                    {"prefix_hit_ratio", m.prefix_hit_ratio}};
  uint32_t n = 1 + (m.variant.empty() ? 0 : 1) + (m.service_class.empty() ? 0 : 1) +
               (m.replicas_ready >= 0 ? 1 : 0) + (m.replicas_starting >= 0 ? 1 : 0);
  for (const F& f : nums) n += std::isnan(f.v) ? 0 : 1;
  pk.pack_map(n);
  pk.pack("model");
  pk.pack(m.model);
  if (!m.variant.empty()) {
    pk.pack("variant");
    pk.pack(m.variant);
  }
  if (!m.service_class.empty()) {
    pk.pack("class");
    pk.pack(m.service_class);
  }
  for (const F& f : nums) {
    if (std::isnan(f.v)) continue;
    pk.pack(f.k);
    pk.pack(f.v);
  }
  if (m.replicas_ready >= 0) {
    pk.pack("replicas_ready");
    pk.pack(m.replicas_ready);
  }
  if (m.replicas_starting >= 0) {
    pk.pack("replicas_starting");
    pk.pack(m.replicas_starting);
  }
  return std::string(buf.data(), buf.size());
}

std::string EncodeInventory(const Inventory& inv) {
  msgpack::sbuffer buf(256);
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(2);
  pk.pack("accelerators");
  pk.pack_map(static_cast<uint32_t>(inv.accelerators.size()));
  for (const auto& a : inv.accelerators) {
    pk.pack(a.name);
    pk.pack(a.count);
  }
  pk.pack("replicas");
  pk.pack_array(static_cast<uint32_t>(inv.replicas.size()));
  for (const auto& r : inv.replicas) {
    pk.pack_map(4);
    pk.pack("model");
    pk.pack(r.model);
    pk.pack("variant");
    pk.pack(r.variant);
    pk.pack("ready");
    pk.pack(r.ready);
    pk.pack("starting");
    pk.pack(r.starting);
  }
  return std::string(buf.data(), buf.size());
}

std::string EncodeHeartbeat(double uptime_s) {
  msgpack::sbuffer buf(32);
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(1);
  pk.pack("uptime_s");
  pk.pack(uptime_s);
  return std::string(buf.data(), buf.size());
}

}  // namespace bus

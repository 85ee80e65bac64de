// CURVE keys of the bus (docs/bus.md, "Authentication"), shared by the agent and the
// other bus clients (collector, actuator).
#ifndef VARIANT_AGENT_BUS_CURVE_KEY_H_
#define VARIANT_AGENT_BUS_CURVE_KEY_H_

#include <string>

namespace bus {

// Reads a z85 CURVE key from `value` (40 characters) or, if `value` is a path, from
// that file: a bare z85 key or a ZeroMQ certificate (`public-key = "..."` /
// `secret-key = "..."`, as zmq.auth writes them; `which` picks the line). Throws
// std::runtime_error naming `field` on anything else.
std::string ReadCurveKey(const std::string& value, const char* which, const std::string& field);

// A bus client's CURVE keys (raw z85, 40 characters each). All empty: no CURVE.
struct CurveClientKeys {
  std::string secret_key, public_key, server_key;
  bool enabled() const { return !secret_key.empty(); }
};

// The --curve-secret-key / --curve-public-key / --curve-server-key options of a bus
// client (variant-collect, variant-actuate): none given, no CURVE; all three, each read
// by ReadCurveKey. Throws std::runtime_error when only some are given or a key is bad.
CurveClientKeys ReadCurveClientKeys(const std::string& secret, const std::string& pub,
                                    const std::string& server);

}  // namespace bus

#endif  // VARIANT_AGENT_BUS_CURVE_KEY_H_

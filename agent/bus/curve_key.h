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

}  // namespace bus

#endif  // VARIANT_AGENT_BUS_CURVE_KEY_H_

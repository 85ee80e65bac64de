#include "bus/curve_key.h"

#include <cstring>
#include <fstream>
#include <stdexcept>

namespace bus {

namespace {

bool IsZ85Key(const std::string& s) {
  static const std::string kZ85 =
      "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
  return s.size() == 40 && s.find_first_not_of(kZ85) == std::string::npos;
}

}  // namespace

std::string ReadCurveKey(const std::string& value, const char* which, const std::string& field) {
  if (IsZ85Key(value)) return value;
  std::ifstream f(value);
  if (!f)
    throw std::runtime_error(field + ": '" + value +
                             "' is neither a z85 key (40 characters) nor a readable file");
  std::string line, bare;
  while (std::getline(f, line)) {
    auto b = line.find_first_not_of(" \t\r");
    if (b == std::string::npos || line[b] == '#') continue;
    line = line.substr(b);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (IsZ85Key(line) && bare.empty()) bare = line;
    if (line.compare(0, std::strlen(which), which) == 0) {
      auto q1 = line.find('"'), q2 = line.rfind('"');
      if (q1 != std::string::npos && q2 > q1 + 1 && IsZ85Key(line.substr(q1 + 1, q2 - q1 - 1)))
        return line.substr(q1 + 1, q2 - q1 - 1);
    }
  }
  if (!bare.empty()) return bare;
  throw std::runtime_error(field + ": " + value + " holds no z85 " + which);
}

CurveClientKeys ReadCurveClientKeys(const std::string& secret, const std::string& pub,
                                    const std::string& server) {
  CurveClientKeys k;
  if (secret.empty() && pub.empty() && server.empty()) return k;
  if (secret.empty() || pub.empty() || server.empty())
    throw std::runtime_error(
        "--curve-secret-key, --curve-public-key and --curve-server-key go together");
  k.secret_key = ReadCurveKey(secret, "secret-key", "--curve-secret-key");
  k.public_key = ReadCurveKey(pub, "public-key", "--curve-public-key");
  k.server_key = ReadCurveKey(server, "public-key", "--curve-server-key");
  return k;
}

}  // namespace bus

// Small helpers shared by the bundled policy plugins (header-only: each plugin is a
// self-contained .so).
#ifndef VARIANT_PLUGINS_COMMON_PLUGIN_UTIL_H_
#define VARIANT_PLUGINS_COMMON_PLUGIN_UTIL_H_

#include <cmath>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>

#include "variant/policy_plugin.h"

namespace policy_util {

inline void SetError(char* buf, size_t cap, const std::string& msg) {
  if (buf == nullptr || cap == 0) return;
  std::snprintf(buf, cap, "%s", msg.c_str());
}

// Parses the params JSON object; on failure writes err and returns false.
inline bool ParseParams(const char* text, size_t len, nlohmann::json* out, char* err,
                        size_t cap) {
  try {
    *out = len == 0 ? nlohmann::json::object() : nlohmann::json::parse(text, text + len);
  } catch (const std::exception& e) {
    SetError(err, cap, std::string("params are not valid JSON: ") + e.what());
    return false;
  }
  if (!out->is_object()) {
    SetError(err, cap, "params must be a JSON object");
    return false;
  }
  return true;
}

// Reads a number param; false (with err) if present but not a finite number.
inline bool Number(const nlohmann::json& p, const char* key, double* v, char* err, size_t cap) {
  auto it = p.find(key);
  if (it == p.end() || it->is_null()) return true;
  if (!it->is_number() || !std::isfinite(it->get<double>())) {
    SetError(err, cap, std::string("param '") + key + "' must be a finite number");
    return false;
  }
  *v = it->get<double>();
  return true;
}

// Index of the variant named `name`, or 0 when name is empty; -1 if absent.
inline long FindVariant(const variant_policy_input* in, const std::string& name) {
  if (in->n_variants == 0) return -1;
  if (name.empty()) return 0;
  for (size_t i = 0; i < in->n_variants; ++i)
    if (in->variants[i].name != nullptr && name == in->variants[i].name)
      return static_cast<long>(i);
  return -1;
}

inline bool Known(double x) { return std::isfinite(x); }

}  // namespace policy_util

#endif  // VARIANT_PLUGINS_COMMON_PLUGIN_UTIL_H_

// Helpers shared by the fuzz targets (test/fuzz, docs/fuzzing.md).
#ifndef VARIANT_TEST_FUZZ_FUZZ_UTIL_H_
#define VARIANT_TEST_FUZZ_FUZZ_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>

namespace fuzz {

inline std::string_view View(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Splits a two-document input at the first `sep` (the seeds use it between the two
// parts); without it, the whole input is the first part and the second is empty.
inline std::pair<std::string, std::string> Split(std::string_view in, std::string_view sep) {
  size_t at = in.find(sep);
  if (at == std::string_view::npos) return {std::string(in), std::string()};
  return {std::string(in.substr(0, at)), std::string(in.substr(at + sep.size()))};
}

// A property the code under test promised and broke: abort so the fuzzer keeps the
// input (a crash, like a sanitizer report).
#define FUZZ_CHECK(cond)                                                          \
  do {                                                                            \
    if (!(cond)) {                                                                \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                               \
    }                                                                             \
  } while (0)

}  // namespace fuzz

#endif  // VARIANT_TEST_FUZZ_FUZZ_UTIL_H_

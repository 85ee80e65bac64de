// Parser for the Prometheus text exposition format (version 0.0.4), as served by
// vLLM's /metrics endpoint.
//
// Strict about structure, forgiving about whitespace: a line that is not a comment,
// a blank line or a well-formed sample is an error naming the line and what was
// wrong; trailing "\r", runs of blanks, a trailing comma in a label set, missing
// HELP/TYPE lines and unknown comment lines are accepted. Values may be NaN, +Inf,
// -Inf (any case, as Prometheus' own parser accepts).
//
// Thread-safety: the functions are pure; a parsed Exposition is a plain value.
#ifndef VARIANT_COLLECTOR_EXPOSITION_H_
#define VARIANT_COLLECTOR_EXPOSITION_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace variant::collector {

enum class MetricType { kUntyped, kCounter, kGauge, kHistogram, kSummary };

const char* MetricTypeName(MetricType t);

// Labels sorted by name; names are unique within one sample.
using Labels = std::vector<std::pair<std::string, std::string>>;

struct Sample {
  std::string name;  // the full sample name, e.g. "vllm:foo_bucket"
  Labels labels;
  double value = 0;
  std::optional<int64_t> timestamp_ms;

  // Value of label `key`, or nullptr.
  const std::string* Label(std::string_view key) const;
};

struct Family {
  std::string name;
  MetricType type = MetricType::kUntyped;
  std::string help;
};

struct Exposition {
  std::vector<Sample> samples;           // in input order
  std::map<std::string, Family> families;  // from HELP/TYPE lines, by family name

  // The declared type of the family a sample name belongs to: the exact name, or
  // the name without a _bucket/_sum/_count/_total/_created suffix. kUntyped if none.
  MetricType TypeOf(std::string_view sample_name) const;
};

struct ParseError {
  size_t line = 0;  // 1-based
  std::string message;
};

struct ParseLimits {
  size_t max_bytes = 64u << 20;    // whole document
  size_t max_line = 1u << 16;      // one line
  size_t max_samples = 1u << 20;
  size_t max_labels = 64;          // per sample
};

// Parses `text`. On success returns true and fills *out (replacing its content);
// on failure returns false, fills *err, and leaves *out unspecified.
bool ParseExposition(std::string_view text, Exposition* out, ParseError* err,
                     const ParseLimits& limits = ParseLimits());

// "line N: message", for logs.
std::string FormatError(const ParseError& e);

}  // namespace variant::collector

#endif  // VARIANT_COLLECTOR_EXPOSITION_H_

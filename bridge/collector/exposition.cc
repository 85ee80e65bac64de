#include "variant/collector/exposition.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <set>

namespace variant::collector {
namespace {

bool IsNameStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }
bool IsLabelStart(char c) { return c != ':' && IsNameStart(c); }
bool IsLabelChar(char c) { return c != ':' && IsNameChar(c); }
bool IsBlank(char c) { return c == ' ' || c == '\t'; }

// A cursor over one line. Every Expect*/Read* either advances or reports why not.
class Cursor {
 public:
  explicit Cursor(std::string_view s) : s_(s) {}
  bool AtEnd() const { return i_ >= s_.size(); }
  char Peek() const { return AtEnd() ? '\0' : s_[i_]; }
  void Advance() { ++i_; }
  void SkipBlanks() {
    while (!AtEnd() && IsBlank(s_[i_])) ++i_;
  }
  size_t pos() const { return i_; }
  std::string_view Rest() const { return s_.substr(std::min(i_, s_.size())); }

  std::string_view ReadWhile(bool (*pred)(char)) {
    size_t start = i_;
    while (!AtEnd() && pred(s_[i_])) ++i_;
    return s_.substr(start, i_ - start);
  }
  std::string_view ReadToken() {
    size_t start = i_;
    while (!AtEnd() && !IsBlank(s_[i_])) ++i_;
    return s_.substr(start, i_ - start);
  }

 private:
  std::string_view s_;
  size_t i_ = 0;
};

std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s.substr(0, 60)) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      out += '?';
    } else {
      out += c;
    }
  }
  if (s.size() > 60) out += "...";
  out += '"';
  return out;
}

// Parses a float the way Prometheus does: decimal or exponent notation, NaN and
// [+-]Inf in any case. Hex floats and trailing garbage are refused.
bool ParseValue(std::string_view tok, double* out) {
  if (tok.empty() || tok.size() > 64) return false;
  std::string lower;
  for (char c : tok) lower += static_cast<char>((c >= 'A' && c <= 'Z') ? c + 32 : c);
  std::string_view body = lower;
  bool neg = false;
  if (!body.empty() && (body[0] == '+' || body[0] == '-')) {
    neg = body[0] == '-';
    body.remove_prefix(1);
  }
  if (body == "nan") {
    *out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  if (body == "inf" || body == "infinity") {
    *out = neg ? -std::numeric_limits<double>::infinity()
               : std::numeric_limits<double>::infinity();
    return true;
  }
  if (body.empty()) return false;
  for (char c : body) {
    if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == '+' || c == '-')) {
      return false;
    }
  }
  std::string copy(tok);
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size()) return false;
  *out = v;
  return true;
}

bool ParseTimestamp(std::string_view tok, int64_t* out) {
  if (tok.empty() || tok.size() > 20) return false;
  size_t i = 0;
  bool neg = false;
  if (tok[0] == '-' || tok[0] == '+') {
    neg = tok[0] == '-';
    i = 1;
  }
  if (i == tok.size()) return false;
  int64_t v = 0;
  for (; i < tok.size(); ++i) {
    if (tok[i] < '0' || tok[i] > '9') return false;
    int d = tok[i] - '0';
    if (v > (std::numeric_limits<int64_t>::max() - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = neg ? -v : v;
  return true;
}

bool ParseType(std::string_view s, MetricType* t) {
  if (s == "counter") *t = MetricType::kCounter;
  else if (s == "gauge") *t = MetricType::kGauge;
  else if (s == "histogram") *t = MetricType::kHistogram;
  else if (s == "summary") *t = MetricType::kSummary;
  else if (s == "untyped" || s == "unknown") *t = MetricType::kUntyped;
  else return false;
  return true;
}

std::string UnescapeHelp(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      char n = s[i + 1];
      if (n == 'n') { out += '\n'; ++i; continue; }
      if (n == '\\') { out += '\\'; ++i; continue; }
    }
    out += s[i];
  }
  return out;
}

class LineParser {
 public:
  LineParser(Exposition* out, const ParseLimits& limits) : out_(out), limits_(limits) {}

  // Returns an empty string on success, else the message.
  std::string Line(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    Cursor c(line);
    c.SkipBlanks();
    if (c.AtEnd()) return "";
    if (c.Peek() == '#') return Comment(c);
    return SampleLine(c);
  }

 private:
  std::string Comment(Cursor& c) {
    c.Advance();
    c.SkipBlanks();
    std::string_view keyword = c.ReadToken();
    if (keyword != "HELP" && keyword != "TYPE") return "";  // a plain comment
    c.SkipBlanks();
    std::string_view name = c.ReadWhile(IsNameChar);
    if (name.empty() || !IsNameStart(name[0])) {
      return "# " + std::string(keyword) + " without a valid metric name";
    }
    if (!c.AtEnd() && !IsBlank(c.Peek())) {
      return "invalid character in metric name after " + Quote(name);
    }
    c.SkipBlanks();
    Family& f = out_->families[std::string(name)];
    f.name = std::string(name);
    if (keyword == "HELP") {
      f.help = UnescapeHelp(c.Rest());
      return "";
    }
    std::string_view type = c.ReadToken();
    c.SkipBlanks();
    if (!c.AtEnd()) return "trailing text after # TYPE " + std::string(name);
    MetricType t;
    if (!ParseType(type, &t)) return "unknown metric type " + Quote(type);
    if (typed_.count(std::string(name))) {
      return "second # TYPE line for " + std::string(name);
    }
    typed_.insert(std::string(name));
    f.type = t;
    return "";
  }

  std::string SampleLine(Cursor& c) {
    if (out_->samples.size() >= limits_.max_samples) return "too many samples";
    Sample s;
    if (!IsNameStart(c.Peek())) {
      return "expected a metric name, found " + Quote(c.Rest());
    }
    s.name = std::string(c.ReadWhile(IsNameChar));
    if (!c.AtEnd() && !IsBlank(c.Peek()) && c.Peek() != '{') {
      return "invalid character in metric name " + Quote(s.name + std::string(c.Rest()));
    }
    c.SkipBlanks();
    if (c.Peek() == '{') {
      c.Advance();
      std::string e = LabelSet(c, &s.labels);
      if (!e.empty()) return e + " in " + s.name;
      c.SkipBlanks();
    }
    std::string_view vtok = c.ReadToken();
    if (vtok.empty()) return "missing value for " + s.name;
    if (!ParseValue(vtok, &s.value)) {
      return "invalid value " + Quote(vtok) + " for " + s.name;
    }
    c.SkipBlanks();
    if (!c.AtEnd()) {
      std::string_view ttok = c.ReadToken();
      int64_t ts;
      if (!ParseTimestamp(ttok, &ts)) {
        return "invalid timestamp " + Quote(ttok) + " for " + s.name;
      }
      s.timestamp_ms = ts;
      c.SkipBlanks();
      if (!c.AtEnd()) return "trailing text after sample " + s.name;
    }
    out_->samples.push_back(std::move(s));
    return "";
  }

  std::string LabelSet(Cursor& c, Labels* labels) {
    for (;;) {
      c.SkipBlanks();
      if (c.Peek() == '}') {
        c.Advance();
        break;
      }
      if (c.AtEnd()) return "unterminated label set";
      if (!IsLabelStart(c.Peek())) return "invalid label name at " + Quote(c.Rest());
      std::string key(c.ReadWhile(IsLabelChar));
      c.SkipBlanks();
      if (c.Peek() != '=') return "expected '=' after label " + key;
      c.Advance();
      c.SkipBlanks();
      if (c.Peek() != '"') return "expected '\"' to open the value of label " + key;
      c.Advance();
      std::string value;
      bool closed = false;
      while (!c.AtEnd()) {
        char ch = c.Peek();
        c.Advance();
        if (ch == '"') {
          closed = true;
          break;
        }
        if (ch == '\\') {
          if (c.AtEnd()) break;
          char n = c.Peek();
          c.Advance();
          if (n == 'n') value += '\n';
          else if (n == '\\') value += '\\';
          else if (n == '"') value += '"';
          else {
            // Not an escape the format defines: keep it literally, as written.
            value += '\\';
            value += n;
          }
          continue;
        }
        value += ch;
      }
      if (!closed) return "unterminated value of label " + key;
      if (labels->size() >= limits_.max_labels) return "too many labels";
      for (const auto& kv : *labels) {
        if (kv.first == key) return "duplicate label " + key;
      }
      labels->emplace_back(std::move(key), std::move(value));
      c.SkipBlanks();
      if (c.Peek() == ',') {
        c.Advance();
        continue;
      }
      if (c.Peek() == '}') {
        c.Advance();
        break;
      }
      return "expected ',' or '}' in label set at " + Quote(c.Rest());
    }
    std::sort(labels->begin(), labels->end());
    return "";
  }

  Exposition* out_;
  const ParseLimits& limits_;
  std::set<std::string> typed_;  // families that already had a # TYPE line
};

}  // namespace

const char* MetricTypeName(MetricType t) {
  switch (t) {
    case MetricType::kCounter: return "counter";
    case MetricType::kGauge: return "gauge";
    case MetricType::kHistogram: return "histogram";
    case MetricType::kSummary: return "summary";
    case MetricType::kUntyped: break;
  }
  return "untyped";
}

const std::string* Sample::Label(std::string_view key) const {
  for (const auto& kv : labels) {
    if (kv.first == key) return &kv.second;
  }
  return nullptr;
}

MetricType Exposition::TypeOf(std::string_view sample_name) const {
  auto it = families.find(std::string(sample_name));
  if (it != families.end() && it->second.type != MetricType::kUntyped) return it->second.type;
  for (std::string_view suf : {"_bucket", "_sum", "_count", "_total", "_created"}) {
    if (sample_name.size() > suf.size() &&
        sample_name.substr(sample_name.size() - suf.size()) == suf) {
      auto f = families.find(std::string(sample_name.substr(0, sample_name.size() - suf.size())));
      if (f != families.end()) return f->second.type;
    }
  }
  return MetricType::kUntyped;
}

bool ParseExposition(std::string_view text, Exposition* out, ParseError* err,
                     const ParseLimits& limits) {
  *out = Exposition();
  if (text.size() > limits.max_bytes) {
    *err = {0, "document of " + std::to_string(text.size()) + " bytes exceeds the limit of " +
                   std::to_string(limits.max_bytes)};
    return false;
  }
  if (text.find('\0') != std::string_view::npos) {
    size_t line = 1 + std::count(text.begin(), text.begin() + text.find('\0'), '\n');
    *err = {line, "NUL byte in input (binary data, not the text format)"};
    return false;
  }
  LineParser p(out, limits);
  size_t line_no = 0;
  size_t start = 0;
  while (start <= text.size()) {
    size_t nl = text.find('\n', start);
    size_t end = nl == std::string_view::npos ? text.size() : nl;
    ++line_no;
    std::string_view line = text.substr(start, end - start);
    if (line.size() > limits.max_line) {
      *err = {line_no, "line longer than " + std::to_string(limits.max_line) + " bytes"};
      return false;
    }
    std::string e = p.Line(line);
    if (!e.empty()) {
      *err = {line_no, e};
      return false;
    }
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  return true;
}

std::string FormatError(const ParseError& e) {
  return "line " + std::to_string(e.line) + ": " + e.message;
}

}  // namespace variant::collector

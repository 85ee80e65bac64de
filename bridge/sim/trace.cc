#include "sim/trace.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <utility>

namespace variant::sim {
namespace {

std::string Where(const std::string& name, size_t line) {
  return name + ":" + std::to_string(line) + ": ";
}

std::string Trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\r')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r')) --e;
  return s.substr(b, e - b);
}

std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t p = s.find(',', start);
    out.push_back(Trim(s.substr(start, p == std::string::npos ? std::string::npos : p - start)));
    if (p == std::string::npos) break;
    start = p + 1;
  }
  return out;
}

// Strict number: the whole field must parse. NaN/inf parse (and are rejected by the
// callers with a specific message).
bool ParseDouble(const std::string& f, double* v) {
  if (f.empty()) return false;
  char* end = nullptr;
  *v = std::strtod(f.c_str(), &end);
  return end == f.c_str() + f.size();
}

Status ParseLength(const std::string& f, const char* what, const std::string& at,
                   const TraceOptions& opt, int* out) {
  double v = 0;
  if (!ParseDouble(f, &v)) return ParseError(at + what + " '" + f + "' is not a number");
  if (std::isnan(v)) return ParseError(at + what + " is NaN");
  if (v < 0) return ParseError(at + what + " " + f + " is negative");
  if (!std::isfinite(v) || v > 1e8) return ParseError(at + what + " " + f + " is too large");
  if (v != std::floor(v)) return ParseError(at + what + " " + f + " is not a whole number");
  if (v == 0) {
    if (!opt.clamp_zero_lengths) return ParseError(at + what + " is 0");
    v = 1;
  }
  *out = static_cast<int>(v);
  return Status::Ok();
}

// "YYYY-MM-DD HH:MM:SS[.fffffff]" → seconds since the epoch.
bool ParseAzureTime(const std::string& s, double* out) {
  int y, mo, d, h, mi;
  int n = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2d %2d:%2d:%n", &y, &mo, &d, &h, &mi, &n) != 5 || n == 0)
    return false;
  std::string sec = s.substr(static_cast<size_t>(n));
  double secs = 0;
  if (sec.empty() || !ParseDouble(sec, &secs) || !(secs >= 0 && secs < 61)) return false;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59) return false;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  const time_t whole = timegm(&tm);  // UTC; glibc
  *out = static_cast<double>(whole) + secs;
  return true;
}

double NormCdf(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

double NormQuantile(double p) {
  double lo = -12, hi = 12;
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    (NormCdf(mid) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

}  // namespace

Result<std::vector<TraceRequest>> ParseTrace(const std::string& text, const std::string& name,
                                             const TraceOptions& opt) {
  if (!(opt.time_scale > 0) || !std::isfinite(opt.time_scale))
    return InvalidArgument("time scale must be a positive number");
  if (!(opt.rate_scale > 0) || !std::isfinite(opt.rate_scale))
    return InvalidArgument("rate scale must be a positive number");
  std::vector<TraceRequest> out;
  std::istringstream in(text);
  std::string line;
  size_t lineno = 0;
  bool azure = false, first_content = true;
  double t0 = 0, prev = 0;
  bool have_prev = false;
  while (std::getline(in, line)) {
    ++lineno;
    const std::string t = Trim(line);
    if (t.empty() || t[0] == '#') continue;
    const std::string at = Where(name, lineno);
    std::vector<std::string> f = SplitComma(t);
    if (first_content) {
      first_content = false;
      if (f[0] == "TIMESTAMP") {
        if (f.size() != 3 || f[1] != "ContextTokens" || f[2] != "GeneratedTokens")
          return ParseError(at + "Azure header must be TIMESTAMP,ContextTokens,GeneratedTokens");
        azure = true;
        continue;
      }
      // A generic header: its first two fields are names, not numbers.
      double probe;
      if (f.size() >= 2 && !ParseDouble(f[0], &probe) && !ParseDouble(f[1], &probe)) continue;
    }
    TraceRequest r;
    double ts = 0;
    if (azure) {
      if (f.size() != 3)
        return ParseError(at + "expected 3 fields (TIMESTAMP,ContextTokens,GeneratedTokens), got " +
                          std::to_string(f.size()));
      if (!ParseAzureTime(f[0], &ts))
        return ParseError(at + "bad timestamp '" + f[0] + "' (want YYYY-MM-DD HH:MM:SS.fffffff)");
    } else {
      if (f.size() < 3 || f.size() > 5)
        return ParseError(at + "expected 3 to 5 fields (timestamp_s,input_tokens,output_tokens"
                          "[,model][,class]), got " + std::to_string(f.size()));
      if (!ParseDouble(f[0], &ts)) return ParseError(at + "timestamp '" + f[0] + "' is not a number");
      if (std::isnan(ts)) return ParseError(at + "timestamp is NaN");
      if (!std::isfinite(ts)) return ParseError(at + "timestamp is infinite");
      if (ts < 0) return ParseError(at + "timestamp " + f[0] + " is negative");
      if (f.size() >= 4) r.model = f[3];
      if (f.size() >= 5) r.cls = f[4];
    }
    VARIANT_RETURN_IF_ERROR(ParseLength(f[1], azure ? "ContextTokens" : "input_tokens", at, opt,
                                        &r.input_tokens));
    VARIANT_RETURN_IF_ERROR(ParseLength(f[2], azure ? "GeneratedTokens" : "output_tokens", at,
                                        opt, &r.output_tokens));
    if (have_prev && ts < prev)
      return ParseError(at + "timestamps are not sorted (" + f[0] + " is earlier than the line before)");
    if (out.empty()) t0 = ts;
    prev = ts;
    have_prev = true;
    r.arrival_s = ts - t0;
    out.push_back(std::move(r));
  }
  if (out.empty()) return ParseError(name + ": the trace has no requests");
  if (opt.time_scale != 1 || opt.rate_scale != 1) return ScaleTrace(out, opt);
  return out;
}

Result<std::vector<TraceRequest>> ReadTrace(const std::string& path, const TraceOptions& opt) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status(VARIANT_E_IO, path + ": cannot open the trace file");
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) return Status(VARIANT_E_IO, path + ": read error");
  return ParseTrace(ss.str(), path, opt);
}

std::vector<TraceRequest> ScaleTrace(const std::vector<TraceRequest>& in,
                                     const TraceOptions& opt) {
  std::vector<TraceRequest> out;
  const double ts = opt.time_scale > 0 ? opt.time_scale : 1;
  const double rs = opt.rate_scale > 0 ? opt.rate_scale : 1;
  if (rs == 1) {
    out = in;
    for (auto& r : out) r.arrival_s /= ts;
    return out;
  }
  std::mt19937_64 rng(opt.seed);
  std::uniform_real_distribution<double> u(0, 1);
  out.reserve(static_cast<size_t>(static_cast<double>(in.size()) * rs) + 16);
  const int copies = static_cast<int>(std::ceil(rs));
  for (size_t i = 0; i < in.size(); ++i) {
    const double gap = i + 1 < in.size() ? in[i + 1].arrival_s - in[i].arrival_s : 0;
    for (int j = 0; j < copies; ++j) {
      const double keep = std::min(1.0, rs - j);
      if (keep < 1 && u(rng) >= keep) continue;
      TraceRequest r = in[i];
      if (j > 0) r.arrival_s += u(rng) * gap;
      r.arrival_s /= ts;
      out.push_back(std::move(r));
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const TraceRequest& a, const TraceRequest& b) {
    return a.arrival_s < b.arrival_s;
  });
  if (!out.empty()) {
    const double t0 = out.front().arrival_s;
    for (auto& r : out) r.arrival_s -= t0;
  }
  return out;
}

Workload LengthMix(const std::vector<TraceRequest>& reqs, double ratio) {
  if (!(ratio > 1)) ratio = 2;
  const double lr = std::log(ratio);
  struct Acc {
    double in = 0, out = 0, n = 0;
  };
  std::map<std::pair<int, int>, Acc> b;
  for (const TraceRequest& r : reqs) {
    const int bi = static_cast<int>(std::floor(std::log(std::max(1, r.input_tokens)) / lr + 1e-9));
    const int bo = static_cast<int>(std::floor(std::log(std::max(1, r.output_tokens)) / lr + 1e-9));
    Acc& a = b[{bi, bo}];
    a.in += r.input_tokens;
    a.out += r.output_tokens;
    a.n += 1;
  }
  Workload w;
  for (const auto& [k, a] : b) {
    w.input.push_back(a.in / a.n);
    w.output.push_back(a.out / a.n);
    w.weight.push_back(a.n);
  }
  return w;
}

Workload RoutedLengthMix(const std::vector<TraceRequest>& reqs, double ratio) {
  Workload w = LengthMix(reqs, ratio);
  if (w.input.size() < 2 || reqs.empty()) return w;
  std::vector<double> li(reqs.size()), lo(reqs.size());
  for (size_t k = 0; k < reqs.size(); ++k) {
    li[k] = std::log(std::max(1, reqs[k].input_tokens));
    lo[k] = std::log(std::max(1, reqs[k].output_tokens));
  }
  std::vector<size_t> of(reqs.size());
  for (int pass = 0; pass < 4; ++pass) {
    const size_t nb = w.input.size();
    std::vector<double> bi(nb), bo(nb), sin(nb, 0), sout(nb, 0), n(nb, 0);
    for (size_t b = 0; b < nb; ++b) {
      bi[b] = std::log(w.input[b]);
      bo[b] = std::log(w.output[b]);
    }
    for (size_t k = 0; k < reqs.size(); ++k) {
      size_t best = 0;
      double bd = std::numeric_limits<double>::infinity();
      for (size_t b = 0; b < nb; ++b) {
        const double d = std::fabs(li[k] - bi[b]) + std::fabs(lo[k] - bo[b]);
        if (d < bd) {
          bd = d;
          best = b;
        }
      }
      of[k] = best;
      sin[best] += std::max(1, reqs[k].input_tokens);
      sout[best] += std::max(1, reqs[k].output_tokens);
      n[best] += 1;
    }
    // Representatives that lost every request are dropped; the others move to the mean
    // of what they would be sent. The last pass keeps the representatives it routed by
    // and only counts, so weights and representatives agree exactly.
    Workload next;
    for (size_t b = 0; b < nb; ++b) {
      if (n[b] <= 0) continue;
      const bool last = pass == 3;
      next.input.push_back(last ? w.input[b] : sin[b] / n[b]);
      next.output.push_back(last ? w.output[b] : sout[b] / n[b]);
      next.weight.push_back(n[b]);
    }
    w = std::move(next);
    if (w.input.size() < 2) break;
  }
  return w;
}

Workload LognormalMix(double input_mean, double output_mean) {
  constexpr int kBins = 7;
  constexpr double kSigma = 0.6;
  std::vector<double> factor;
  for (int k = 0; k < kBins; ++k) {
    const double a = k == 0 ? -1e9 : NormQuantile(static_cast<double>(k) / kBins);
    const double b = k == kBins - 1 ? 1e9 : NormQuantile(static_cast<double>(k + 1) / kBins);
    // E[e^{σZ} | a<Z<b] / E[e^{σZ}] = (Φ(b−σ) − Φ(a−σ)) / (Φ(b) − Φ(a))
    factor.push_back((NormCdf(b - kSigma) - NormCdf(a - kSigma)) * kBins);
  }
  Workload w;
  for (int i = 0; i < kBins; ++i) {
    for (int o = 0; o < kBins; ++o) {
      w.input.push_back(std::max(1.0, input_mean * factor[static_cast<size_t>(i)]));
      w.output.push_back(std::max(1.0, output_mean * factor[static_cast<size_t>(o)]));
      w.weight.push_back(1.0);
    }
  }
  return w;
}

Workload LongContextMix() {
  Workload w;
  // Input bucket edges 8192·2^(k/4), k = 0..4; output edges 128·2^(k/1.5)… take the
  // geometric centre of each.
  for (int i = 0; i < 4; ++i) {
    const double in = 8192.0 * std::pow(2.0, (i + 0.5) / 4.0);
    for (int o = 0; o < 3; ++o) {
      const double out = 128.0 * std::pow(4.0, (o + 0.5) / 3.0);
      w.input.push_back(std::round(in));
      w.output.push_back(std::round(out));
      w.weight.push_back(1.0);
    }
  }
  return w;
}

}  // namespace variant::sim

// The simulate report as one HTML page: tables in HTML, plots as inline SVG drawn
// here (no library, no network). See report_html.h for the contract and
// docs/report.md for what each part shows.
#include "report_html.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace variant::report {

using nlohmann::json;

// ---------------------------------------------------------------------------
// Text and numbers.

namespace {
const char kDash[] = "\xE2\x80\x94";  // em dash: a number that is not there

std::string Sprintf(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

// Up to `sig` significant digits, no trailing zeros: 0.5, 2, 1000, 2.25.
std::string Compact(double v, int sig = 4) {
  if (!std::isfinite(v)) return kDash;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", sig, v);
  std::string s = buf;
  if (s.find('e') != std::string::npos) return FormatFixed(v, 0);
  return s;
}
}  // namespace

std::string EscapeHtml(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 16);
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string FormatFixed(double v, int decimals) {
  if (!std::isfinite(v)) return kDash;
  decimals = std::clamp(decimals, 0, 9);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, std::fabs(v));
  std::string digits = buf;
  size_t int_len = digits.find('.');
  if (int_len == std::string::npos) int_len = digits.size();
  std::string out;
  for (size_t i = 0; i < int_len; ++i) {
    out += digits[i];
    size_t left = int_len - i - 1;
    if (left > 0 && left % 3 == 0) out += ',';
  }
  out += digits.substr(int_len);
  // No "-0.0": a minus only when the printed magnitude is not zero.
  bool nonzero = digits.find_first_of("123456789") != std::string::npos;
  return (v < 0 && nonzero ? "-" : "") + out;
}

std::string FormatUsd(double v) {
  if (!std::isfinite(v)) return kDash;
  std::string mag = FormatFixed(std::fabs(v), std::fabs(v) >= 999.995 ? 0 : 2);
  bool nonzero = mag.find_first_of("123456789") != std::string::npos;
  return (v < 0 && nonzero ? "-$" : "$") + mag;
}

std::string FormatPercent(double fraction, int decimals) {
  if (!std::isfinite(fraction)) return kDash;
  return FormatFixed(fraction * 100.0, decimals) + "%";
}

std::string FormatMs(double ms) {
  if (!std::isfinite(ms)) return kDash;
  double a = std::fabs(ms);
  if (a < 9.995) return FormatFixed(ms, 2) + " ms";
  if (a < 99.95) return FormatFixed(ms, 1) + " ms";
  if (a < 9999.5) return FormatFixed(ms, 0) + " ms";
  return FormatFixed(ms / 1000.0, a < 99950 ? 1 : 0) + " s";
}

std::string FormatDuration(double seconds) {
  if (!std::isfinite(seconds)) return kDash;
  long long s = std::llround(std::fabs(seconds));
  std::string sign = seconds < 0 && s > 0 ? "-" : "";
  long long h = s / 3600, m = (s % 3600) / 60, sec = s % 60;
  std::vector<std::string> parts;
  if (h) parts.push_back(std::to_string(h) + " h");
  if (m) parts.push_back(std::to_string(m) + " min");
  if (sec && !h) parts.push_back(std::to_string(sec) + " s");
  if (parts.empty()) return "0 s";
  std::string out = sign + parts[0];
  if (parts.size() > 1) out += " " + parts[1];
  return out;
}

namespace {

// ---------------------------------------------------------------------------
// Reading the result without trusting it.

const json* Field(const json& j, const std::string& key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

std::optional<double> Num(const json& j, const std::string& key) {
  const json* f = Field(j, key);
  if (!f || !f->is_number()) return std::nullopt;
  double v = f->get<double>();
  if (!std::isfinite(v)) return std::nullopt;
  return v;
}

std::optional<std::string> Str(const json& j, const std::string& key) {
  const json* f = Field(j, key);
  if (!f || !f->is_string()) return std::nullopt;
  return f->get<std::string>();
}

// Non-numbers (null for a non-finite value) become NaN: gaps in a line.
std::vector<double> Numbers(const json* arr) {
  std::vector<double> out;
  if (!arr || !arr->is_array()) return out;
  out.reserve(arr->size());
  for (const json& v : *arr) out.push_back(v.is_number() ? v.get<double>() : NAN);
  return out;
}

// A named series: "llama/h100-tp1-pd" -> values.
using Named = std::vector<std::pair<std::string, std::vector<double>>>;

Named NamedSeries(const json* obj) {
  Named out;
  if (!obj || !obj->is_object()) return out;
  for (auto it = obj->begin(); it != obj->end(); ++it) {
    if (it.value().is_array()) out.emplace_back(it.key(), Numbers(&it.value()));
  }
  return out;
}

struct Hist {
  std::vector<double> edges, counts;
  double total = 0;
};

struct Policy {
  std::string name;
  const json* j = nullptr;
  std::string color;
  bool dashed = false;
  std::vector<double> t;
  std::vector<double> cost_per_hour;
  Named demand, replicas, attainment;
  std::optional<Hist> ttft, itl;
};

struct Ctx {
  const json& r;
  std::vector<std::string> missing;  // plain text; escaped when printed
  std::vector<Policy> policies;
  double t_lo = 0, t_hi = 0;         // the shared time axis, seconds
  int next_id = 0;                   // unique ids for clip paths
  void Miss(std::string s) { missing.push_back(std::move(s)); }
};

const std::vector<std::string> kKnownPolicies = {"static", "hpa", "wva", "variant", "oracle"};

std::string PolicyTitle(const std::string& name) {
  if (name == "static") return "static (peak-sized)";
  if (name == "hpa") return "hpa (tuned target)";
  if (name == "wva") return "wva (queueing model)";
  if (name == "variant") return "variant (this optimizer)";
  if (name == "oracle") return "oracle (lower bound)";
  return name;
}

std::string PolicyColor(const std::string& name, int& unknown_index) {
  if (name == "static") return "#7f7f7f";
  if (name == "hpa") return "#d62728";
  if (name == "wva") return "#9467bd";
  if (name == "variant") return "#1f77b4";
  if (name == "oracle") return "#2ca02c";
  static const char* extra[] = {"#8c564b", "#e377c2", "#bcbd22", "#17becf", "#ff7f0e"};
  return extra[unknown_index++ % 5];
}

// Histogram from {"edges": [...], "counts": [...]}; nullopt (and a note) when it
// cannot be drawn on a log axis.
std::optional<Hist> ReadHist(Ctx& c, const std::string& policy, const json& p,
                             const std::string& key) {
  const json* h = Field(p, key);
  if (!h) {
    c.Miss(policy + ": no " + key);
    return std::nullopt;
  }
  Hist out;
  out.edges = Numbers(Field(*h, "edges"));
  out.counts = Numbers(Field(*h, "counts"));
  if (out.counts.empty() || out.edges.size() != out.counts.size() + 1) {
    c.Miss(policy + ": " + key + " needs counts and one edge more than counts (has " +
           std::to_string(out.edges.size()) + " edges, " + std::to_string(out.counts.size()) +
           " counts)");
    return std::nullopt;
  }
  for (size_t i = 0; i < out.edges.size(); ++i) {
    if (!std::isfinite(out.edges[i]) || (i > 0 && !(out.edges[i] > out.edges[i - 1]))) {
      c.Miss(policy + ": " + key + ".edges are not finite and increasing");
      return std::nullopt;
    }
  }
  for (double& n : out.counts) {
    if (!std::isfinite(n) || n < 0) n = 0;
    out.total += n;
  }
  if (out.total <= 0) {
    c.Miss(policy + ": " + key + " has no counts");
    return std::nullopt;
  }
  if (out.edges.back() <= 0) {
    c.Miss(policy + ": " + key + " has no positive edges for a log axis");
    return std::nullopt;
  }
  return out;
}

void ReadPolicies(Ctx& c) {
  const json* pols = Field(c.r, "policies");
  if (!pols || !pols->is_object() || pols->empty()) {
    c.Miss("no \"policies\" object: nothing to compare");
    return;
  }
  std::vector<std::string> order;
  for (const auto& k : kKnownPolicies) {
    if (pols->contains(k)) order.push_back(k);
    else c.Miss("no result for policy " + k);
  }
  std::vector<std::string> others;
  for (auto it = pols->begin(); it != pols->end(); ++it) {
    if (std::find(kKnownPolicies.begin(), kKnownPolicies.end(), it.key()) == kKnownPolicies.end())
      others.push_back(it.key());
  }
  std::sort(others.begin(), others.end());
  order.insert(order.end(), others.begin(), others.end());

  int unknown = 0;
  bool any_t = false;
  for (const auto& name : order) {
    Policy p;
    p.name = name;
    p.j = &(*pols)[name];
    p.color = PolicyColor(name, unknown);
    p.dashed = name == "oracle";
    if (!p.j->is_object()) {
      c.Miss(name + ": the policy's entry is not an object");
      static const json kEmpty = json::object();
      p.j = &kEmpty;
    }
    for (const char* k : {"cost_usd", "gpu_hours", "slo_attainment", "utilization", "ttft_p95_ms",
                          "itl_p95_ms", "scaling_actions", "reversals"}) {
      if (!Num(*p.j, k)) c.Miss(name + ": no " + k);
    }
    const json* s = Field(*p.j, "series");
    if (!s || !s->is_object()) {
      c.Miss(name + ": no series (time plots leave this policy out)");
    } else {
      p.t = Numbers(Field(*s, "t_s"));
      if (p.t.empty()) c.Miss(name + ": no series.t_s (time plots leave this policy out)");
      p.cost_per_hour = Numbers(Field(*s, "cost_per_hour"));
      p.demand = NamedSeries(Field(*s, "demand_rps"));
      p.replicas = NamedSeries(Field(*s, "replicas"));
      p.attainment = NamedSeries(Field(*s, "slo_attainment"));  // optional
      if (!p.t.empty()) {
        if (p.cost_per_hour.empty()) c.Miss(name + ": no series.cost_per_hour");
        if (p.replicas.empty()) c.Miss(name + ": no series.replicas");
        auto check_len = [&](const std::string& what, size_t n) {
          if (n != p.t.size())
            c.Miss(name + ": " + what + " has " + std::to_string(n) + " samples, t_s has " +
                   std::to_string(p.t.size()) + " (the shorter length is drawn)");
        };
        if (!p.cost_per_hour.empty()) check_len("series.cost_per_hour", p.cost_per_hour.size());
        for (const auto& [k, v] : p.replicas) check_len("series.replicas[" + k + "]", v.size());
        for (const auto& [k, v] : p.demand) check_len("series.demand_rps[" + k + "]", v.size());
        double lo = NAN, hi = NAN;
        for (double t : p.t) {
          if (!std::isfinite(t)) continue;
          lo = std::isfinite(lo) ? std::min(lo, t) : t;
          hi = std::isfinite(hi) ? std::max(hi, t) : t;
        }
        if (std::isfinite(lo)) {
          c.t_lo = any_t ? std::min(c.t_lo, lo) : lo;
          c.t_hi = any_t ? std::max(c.t_hi, hi) : hi;
          any_t = true;
        }
      }
    }
    p.ttft = ReadHist(c, name, *p.j, "ttft_ms_hist");
    p.itl = ReadHist(c, name, *p.j, "itl_ms_hist");
    c.policies.push_back(std::move(p));
  }
  if (any_t) {
    // The last sample holds until the end of the run.
    if (auto d = Num(c.r, "duration_s"); d && *d > c.t_hi) c.t_hi = *d;
    if (c.t_hi <= c.t_lo) c.t_hi = c.t_lo + 1;
  }
}

const Policy* FindPolicy(const Ctx& c, const std::string& name) {
  for (const auto& p : c.policies)
    if (p.name == name) return &p;
  return nullptr;
}

// ---------------------------------------------------------------------------
// Plot machinery: scales, ticks, an SVG frame.

struct Scale {
  double lo = 0, hi = 1, px0 = 0, px1 = 1;
  bool log = false;
  double operator()(double v) const {
    if (log) {
      v = std::log10(std::max(v, 1e-300));
      double a = std::log10(lo), b = std::log10(hi);
      return px0 + (v - a) / (b - a) * (px1 - px0);
    }
    return px0 + (v - lo) / (hi - lo) * (px1 - px0);
  }
};

struct Tick {
  double v;
  std::string label;  // empty: a gridline without a label
};

double NiceStep(double raw) {
  if (!(raw > 0) || !std::isfinite(raw)) return 1;
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double r = raw / mag;
  double m = r <= 1 ? 1 : r <= 2 ? 2 : r <= 2.5 ? 2.5 : r <= 5 ? 5 : 10;
  return m * mag;
}

// Ticks 0..hi for a linear axis starting at zero; returns the nice top.
double LinearTicks(double max, int target, bool integer, std::vector<Tick>& ticks,
                   const std::string& prefix = "") {
  if (!(max > 0) || !std::isfinite(max)) max = 1;
  double step = NiceStep(max / target);
  if (integer) step = std::max(1.0, std::ceil(step));
  double hi = std::ceil(max / step - 1e-9) * step;
  if (hi < max) hi += step;
  int decimals = step >= 1 ? 0 : static_cast<int>(std::ceil(-std::log10(step) - 1e-9));
  if (step < 1 && std::fabs(step / std::pow(10.0, -decimals) - 2.5) < 1e-6) ++decimals;
  for (double v = 0; v <= hi + step * 1e-6; v += step) {
    ticks.push_back({v, prefix + FormatFixed(v, decimals)});
  }
  return hi;
}

// Round down / up to 1, 2 or 5 times a power of ten.
double Nice125(double v, bool up) {
  double mag = std::pow(10.0, std::floor(std::log10(v)));
  const double ms[] = {1, 2, 5, 10};
  if (up) {
    for (double m : ms)
      if (m * mag >= v * (1 - 1e-9)) return m * mag;
    return 10 * mag;
  }
  for (int i = 3; i >= 0; --i)
    if (ms[i] * mag <= v * (1 + 1e-9)) return ms[i] * mag;
  return mag;
}

std::string TickMs(double v) {
  if (v >= 1000) return Compact(v / 1000.0, 3) + " s";
  return Compact(v, 3) + " ms";
}

std::vector<Tick> LogTicks(double lo, double hi) {
  std::vector<Tick> out;
  int d0 = static_cast<int>(std::floor(std::log10(lo) + 1e-9));
  int d1 = static_cast<int>(std::ceil(std::log10(hi) - 1e-9));
  bool label_all = d1 - d0 <= 3;
  for (int d = d0; d <= d1; ++d) {
    for (double m : {1.0, 2.0, 5.0}) {
      double v = m * std::pow(10.0, d);
      if (v < lo * (1 - 1e-9) || v > hi * (1 + 1e-9)) continue;
      out.push_back({v, (m == 1 || label_all) ? TickMs(v) : ""});
    }
  }
  return out;
}

struct TimeAxis {
  std::vector<Tick> ticks;
  std::string title;
};

TimeAxis MakeTimeAxis(double lo, double hi) {
  double span = hi - lo;
  double div = 1;
  std::string unit = "s";
  if (span > 72 * 3600) div = 86400, unit = "days";
  else if (span > 3 * 3600) div = 3600, unit = "h";
  else if (span > 600) div = 60, unit = "min";
  const double steps[] = {1,    2,    5,     10,    15,    30,    60,     120,    300,    600,
                          900,  1200, 1800,  3600,  7200,  10800, 21600,  43200,  86400,  172800,
                          604800};
  double step = steps[std::size(steps) - 1];
  for (double s : steps) {
    if (s < div) continue;
    if (span / s <= 9) {
      step = s;
      break;
    }
  }
  TimeAxis a;
  a.title = "time since start (" + unit + ")";
  for (double v = std::ceil(lo / step) * step; v <= hi + 1e-9; v += step)
    a.ticks.push_back({v, Compact(v / div, 4)});
  return a;
}

// Coordinates at 0.1 px: small files, no visible loss.
std::string P(double v) { return Sprintf("%.1f", v); }

struct Margins {
  double left = 64, right = 16, top = 14, bottom = 40;
};

// One plot: a frame with gridlines and labelled axes, then data paths clipped to it.
class Plot {
 public:
  Plot(Ctx& c, std::string kind, double w, double h, Margins m)
      : kind_(std::move(kind)), w_(w), h_(h), m_(m), clip_("clip" + std::to_string(c.next_id++)) {
    x.px0 = m.left;
    x.px1 = w - m.right;
    y.px0 = h - m.bottom;
    y.px1 = m.top;
  }
  Scale x, y;

  void Frame(const std::vector<Tick>& xt, const std::vector<Tick>& yt, const std::string& xtitle,
             const std::string& ytitle) {
    std::string& o = back_;
    o += "<g class=\"grid\">";
    for (const auto& t : yt)
      o += "<line x1=\"" + P(x.px0) + "\" x2=\"" + P(x.px1) + "\" y1=\"" + P(y(t.v)) + "\" y2=\"" +
           P(y(t.v)) + "\"/>";
    for (const auto& t : xt)
      o += "<line y1=\"" + P(y.px0) + "\" y2=\"" + P(y.px1) + "\" x1=\"" + P(x(t.v)) + "\" x2=\"" +
           P(x(t.v)) + "\"/>";
    o += "</g><g class=\"axis\">";
    o += "<line x1=\"" + P(x.px0) + "\" x2=\"" + P(x.px1) + "\" y1=\"" + P(y.px0) + "\" y2=\"" +
         P(y.px0) + "\"/>";
    o += "<line x1=\"" + P(x.px0) + "\" x2=\"" + P(x.px0) + "\" y1=\"" + P(y.px0) + "\" y2=\"" +
         P(y.px1) + "\"/>";
    for (const auto& t : xt) {
      o += "<line x1=\"" + P(x(t.v)) + "\" x2=\"" + P(x(t.v)) + "\" y1=\"" + P(y.px0) + "\" y2=\"" +
           P(y.px0 + 4) + "\"/>";
      if (!t.label.empty())
        o += "<text class=\"tick\" x=\"" + P(x(t.v)) + "\" y=\"" + P(y.px0 + 16) +
             "\" text-anchor=\"middle\">" + EscapeHtml(t.label) + "</text>";
    }
    for (const auto& t : yt) {
      o += "<line x1=\"" + P(x.px0 - 4) + "\" x2=\"" + P(x.px0) + "\" y1=\"" + P(y(t.v)) +
           "\" y2=\"" + P(y(t.v)) + "\"/>";
      if (!t.label.empty())
        o += "<text class=\"tick\" x=\"" + P(x.px0 - 7) + "\" y=\"" + P(y(t.v) + 4) +
             "\" text-anchor=\"end\">" + EscapeHtml(t.label) + "</text>";
    }
    if (!xtitle.empty())
      o += "<text class=\"atitle\" x=\"" + P((x.px0 + x.px1) / 2) + "\" y=\"" + P(h_ - 6) +
           "\" text-anchor=\"middle\">" + EscapeHtml(xtitle) + "</text>";
    if (!ytitle.empty())
      o += "<text class=\"atitle\" transform=\"translate(14," + P((y.px0 + y.px1) / 2) +
           ") rotate(-90)\" text-anchor=\"middle\">" + EscapeHtml(ytitle) + "</text>";
    o += "</g>";
  }

  // A data element (counted by the page's script and the tests).
  void Data(const std::string& element) { data_ += element; }
  void Front(const std::string& element) { front_ += element; }
  const std::string& clip() const { return clip_; }

  std::string Finish(const std::string& aria) const {
    std::string o = "<svg class=\"plot\" data-plot=\"" + kind_ + "\" viewBox=\"0 0 " + P(w_) +
                    " " + P(h_) + "\" role=\"img\" aria-label=\"" + EscapeHtml(aria) + "\">";
    double top = std::min(y.px0, y.px1), bottom = std::max(y.px0, y.px1);
    o += "<defs><clipPath id=\"" + clip_ + "\"><rect x=\"" + P(x.px0) + "\" y=\"" +
         P(top - 1) + "\" width=\"" + P(x.px1 - x.px0) + "\" height=\"" +
         P(bottom - top + 2) + "\"/></clipPath></defs>";
    o += back_;
    o += "<g clip-path=\"url(#" + clip_ + ")\">" + data_ + "</g>";
    o += front_;
    o += "</svg>";
    return o;
  }

 private:
  std::string kind_;
  double w_, h_;
  Margins m_;
  std::string clip_;
  std::string back_, data_, front_;
};

// Path "d" for a polyline; NaN breaks the line.
std::string LinePath(const std::vector<std::pair<double, double>>& pts) {
  std::string d;
  bool pen = false;
  for (const auto& [px, py] : pts) {
    if (!std::isfinite(px) || !std::isfinite(py)) {
      pen = false;
      continue;
    }
    d += (pen ? "L" : "M") + P(px) + " " + P(py);
    pen = true;
  }
  return d;
}

// A step function: value i holds from t[i] to t[i+1] (the last one to t_end). Runs of
// equal values make one horizontal segment, so long runs of steady replicas stay small.
std::vector<std::pair<double, double>> StepPoints(const std::vector<double>& t,
                                                  const std::vector<double>& v, double t_end) {
  std::vector<std::pair<double, double>> pts;
  size_t n = std::min(t.size(), v.size());
  for (size_t i = 0; i < n; ++i) {
    if (i == 0) {
      pts.emplace_back(t[0], v[0]);
    } else if (!(v[i] == v[i - 1])) {  // NaN never equals: a gap opens and closes here
      pts.emplace_back(t[i], v[i - 1]);
      pts.emplace_back(t[i], v[i]);
    }
  }
  if (n > 0) pts.emplace_back(std::max(t_end, t[n - 1]), v[n - 1]);
  return pts;
}

std::string SeriesPath(const std::string& d, const std::string& color, double width, bool dashed,
                       int index, const std::string& extra = "") {
  if (d.empty()) return "";
  return "<path data-series=\"" + std::to_string(index) + "\" d=\"" + d +
         "\" fill=\"none\" stroke=\"" + color + "\" stroke-width=\"" + P(width) + "\"" +
         (dashed ? " stroke-dasharray=\"6 4\"" : "") +
         " stroke-linejoin=\"round\" stroke-linecap=\"round\"" + extra + "/>";
}

struct LegendItem {
  std::string label;  // plain text
  std::string color;
  bool dashed = false;
  bool area = false;
};

std::string Legend(const std::vector<LegendItem>& items) {
  std::string o = "<div class=\"legend\">";
  for (const auto& it : items) {
    o += "<span class=\"item\"><svg width=\"22\" height=\"12\" aria-hidden=\"true\">";
    if (it.area)
      o += "<rect x=\"1\" y=\"1\" width=\"20\" height=\"10\" rx=\"2\" fill=\"" + it.color + "\"/>";
    else
      o += std::string("<line x1=\"1\" x2=\"21\" y1=\"6\" y2=\"6\" stroke=\"") + it.color +
           "\" stroke-width=\"3\"" + (it.dashed ? " stroke-dasharray=\"5 3\"" : "") + "/>";
    o += "</svg>" + EscapeHtml(it.label) + "</span>";
  }
  return o + "</div>";
}

std::string ScalarText(const json& v) {
  if (v.is_string()) return EscapeHtml(v.get<std::string>());
  if (v.is_number()) return Compact(v.get<double>(), 6);
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  return kDash;
}

std::string Note(const std::string& text) {
  return "<p class=\"missing-note\">" + EscapeHtml(text) + "</p>";
}

// ---------------------------------------------------------------------------
// Sections.

std::optional<double> Cost(const Ctx& c, const std::string& policy) {
  const Policy* p = FindPolicy(c, policy);
  return p ? Num(*p->j, "cost_usd") : std::nullopt;
}

// A figure with its "±ci95" when the result has one.
std::string WithCi(const json& j, const std::string& key, std::string (*fmt)(double)) {
  auto v = Num(j, key);
  if (!v) return kDash;
  std::string s = fmt(*v);
  if (auto ci = Num(j, key + "_ci95")) s += " <span class=\"ci\">&plusmn;" + fmt(*ci) + "</span>";
  return s;
}
std::string Pct2(double v) { return FormatPercent(v, 2); }
std::string Pct1(double v) { return FormatPercent(v, 1); }
std::string Count(double v) { return FormatFixed(v, std::fabs(v - std::round(v)) < 1e-9 ? 0 : 1); }
std::string Hours(double v) { return FormatFixed(v, v < 100 ? 2 : 0); }

std::string PolicyCell(const Policy& p) {
  return "<td class=\"pol\"><span class=\"dot\" style=\"background:" + p.color + "\"></span>" +
         EscapeHtml(p.name) + "</td>";
}

// One <th> per policy, for tables with a column per policy.
std::string PolicyHeaderCells(const Ctx& c) {
  std::string o;
  for (const auto& p : c.policies)
    o += "<th><span class=\"dot\" style=\"background:" + p.color + "\"></span>" +
         EscapeHtml(p.name) + "</th>";
  return o;
}

struct SavingsLine {
  std::string other;
  double fraction;
  bool computed;  // from cost_usd, not from "savings"
};

std::vector<SavingsLine> ReadSavings(Ctx& c) {
  std::vector<SavingsLine> out;
  const json* s = Field(c.r, "savings");
  if (!s || !s->is_object()) c.Miss("no \"savings\" object (computed from cost_usd where possible)");
  std::set<std::string> seen;
  auto add = [&](const std::string& other) {
    if (seen.count(other)) return;
    if (s) {
      if (auto f = Num(*s, "variant_vs_" + other)) {
        out.push_back({other, *f, false});
        seen.insert(other);
        return;
      }
    }
    auto cv = Cost(c, "variant"), co = Cost(c, other);
    if (cv && co && *co > 0) {
      out.push_back({other, 1.0 - *cv / *co, true});
      seen.insert(other);
    } else if (other == "hpa" || other == "static" || other == "oracle") {
      c.Miss("no savings of variant against " + other);
    }
  };
  for (const char* o : {"hpa", "static", "oracle"}) add(o);
  if (s && s->is_object()) {
    for (auto it = s->begin(); it != s->end(); ++it) {
      const std::string& k = it.key();
      if (k.rfind("variant_vs_", 0) == 0 && it.value().is_number()) add(k.substr(11));
    }
  }
  return out;
}

std::string OtherLabel(const std::string& other) {
  if (other == "hpa") return "tuned HPA";
  if (other == "static") return "static peak sizing";
  if (other == "oracle") return "the oracle lower bound";
  if (other == "wva") return "the WVA-style policy";
  return other;
}

std::string SummarySection(Ctx& c) {
  std::string o = "<section id=\"summary\"><h2>Summary</h2>";
  auto savings = ReadSavings(c);
  if (!savings.empty()) {
    o += "<div class=\"cards\">";
    for (const auto& s : savings) {
      bool cheaper = s.fraction >= 0;
      o += std::string("<div class=\"card ") + (cheaper ? "good" : "bad") + "\"><div class=\"big\">" +
           FormatPercent(std::fabs(s.fraction), 1) + "</div><div>" +
           (cheaper ? "cheaper" : "dearer") + " than " + EscapeHtml(OtherLabel(s.other));
      auto cv = Cost(c, "variant"), co = Cost(c, s.other);
      if (cv && co) o += "<br><span class=\"sub\">" + FormatUsd(*cv) + " vs " + FormatUsd(*co) + "</span>";
      o += "</div></div>";
    }
    o += "</div>";
  }

  // In words.
  const Policy* v = FindPolicy(c, "variant");
  std::string words;
  auto dur = Num(c.r, "duration_s");
  if (v) {
    auto cost = Num(*v->j, "cost_usd");
    auto att = Num(*v->j, "slo_attainment");
    words += "Over " + (dur ? FormatDuration(*dur) + " of traffic" : std::string("the run")) +
             ", <b>variant</b> cost " + (cost ? FormatUsd(*cost) : std::string("an unknown amount"));
    if (att) words += " and met every SLO for " + Pct2(*att) + " of requests";
    words += ".";
    std::vector<std::string> parts;
    for (const auto& s : savings) {
      std::string part = FormatPercent(std::fabs(s.fraction), 1) +
                         (s.fraction >= 0 ? " less" : " more") + " than " +
                         EscapeHtml(OtherLabel(s.other));
      const Policy* op = FindPolicy(c, s.other);
      std::vector<std::string> detail;
      if (op) {
        if (auto oc = Num(*op->j, "cost_usd")) detail.push_back(FormatUsd(*oc));
        if (s.other == "hpa")
          if (auto tgt = Num(*op->j, "hpa_target")) detail.push_back("target " + Compact(*tgt));
        if (auto oa = Num(*op->j, "slo_attainment"))
          detail.push_back(Pct2(*oa) + " attainment");
      }
      if (!detail.empty()) {
        part += " (";
        for (size_t i = 0; i < detail.size(); ++i) part += (i ? ", " : "") + detail[i];
        part += ")";
      }
      if (s.computed) part += " [computed from cost_usd]";
      parts.push_back(part);
    }
    if (!parts.empty()) {
      words += " That is ";
      for (size_t i = 0; i < parts.size(); ++i) {
        if (i) words += i + 1 == parts.size() ? ", and " : ", ";
        words += parts[i];
      }
      words += ".";
    }
    if (FindPolicy(c, "oracle"))
      words += " The oracle knows future demand and pays no cold start: no real policy can "
               "beat it, so a small excess over it is the goal, not a saving.";
  } else {
    words = "There is no <b>variant</b> policy in this result, so no savings can be stated.";
  }
  o += "<p class=\"words\">" + words + "</p>";

  // Total cost per policy as bars.
  std::vector<const Policy*> with_cost;
  double max_cost = 0;
  for (const auto& p : c.policies)
    if (auto cost = Num(*p.j, "cost_usd")) {
      with_cost.push_back(&p);
      max_cost = std::max(max_cost, *cost + Num(*p.j, "cost_usd_ci95").value_or(0));
    }
  if (!with_cost.empty()) {
    Margins m;
    m.left = 150;
    m.right = 90;
    m.top = 8;
    m.bottom = 40;
    double row = 30;
    double h = m.top + m.bottom + row * static_cast<double>(with_cost.size());
    Plot plot(c, "cost-bars", 960, h, m);
    std::vector<Tick> xt;
    plot.x.hi = LinearTicks(max_cost, 6, false, xt, "$");
    plot.x.lo = 0;
    plot.y.lo = static_cast<double>(with_cost.size());  // row 0 at the top
    plot.y.hi = 0;
    plot.Frame(xt, {}, "total cost of the run (USD)", "");
    for (size_t i = 0; i < with_cost.size(); ++i) {
      const Policy& p = *with_cost[i];
      double cost = *Num(*p.j, "cost_usd");
      double y0 = plot.y(static_cast<double>(i)) + 5, y1 = plot.y(static_cast<double>(i + 1)) - 5;
      double x1 = plot.x(std::max(0.0, cost));
      plot.Data("<path data-series=\"" + std::to_string(i) + "\" d=\"M" + P(plot.x.px0) + " " +
                P(y0) + "H" + P(x1) + "V" + P(y1) + "H" + P(plot.x.px0) + "Z\" fill=\"" +
                p.color + "\" fill-opacity=\"0.85\"/>");
      double label_x = x1;
      if (auto ci = Num(*p.j, "cost_usd_ci95"); ci && *ci > 0) {
        double a = plot.x(std::max(0.0, cost - *ci)), b = plot.x(cost + *ci), ym = (y0 + y1) / 2;
        plot.Front("<path class=\"whisker\" d=\"M" + P(a) + " " + P(ym) + "H" + P(b) + "M" + P(a) +
                   " " + P(ym - 5) + "V" + P(ym + 5) + "M" + P(b) + " " + P(ym - 5) + "V" +
                   P(ym + 5) + "\"/>");
        label_x = b;
      }
      plot.Front("<text class=\"blabel\" x=\"" + P(m.left - 8) + "\" y=\"" + P((y0 + y1) / 2 + 4) +
                 "\" text-anchor=\"end\">" + EscapeHtml(p.name) + "</text>");
      plot.Front("<text class=\"bval\" x=\"" + P(label_x + 6) + "\" y=\"" + P((y0 + y1) / 2 + 4) +
                 "\">" + FormatUsd(cost) + "</text>");
    }
    o += "<figure><figcaption><b>Total cost per policy.</b> What each policy paid for "
         "accelerators over the whole run, on identical arrivals";
    if (auto seeds = Num(c.r, "seeds"); seeds && *seeds > 1)
      o += "; whiskers are 95% confidence intervals over " + Compact(*seeds) + " seeds";
    o += ".</figcaption>" + plot.Finish("total cost per policy") + "</figure>";
  }
  return o + "</section>";
}

std::string TableSection(Ctx& c) {
  std::string o = "<section id=\"table\"><h2>Policies side by side</h2>";
  if (c.policies.empty()) return o + Note("No policies to tabulate.") + "</section>";
  o += "<p class=\"explain\">SLO attainment is the fraction of requests that met every SLO of "
       "their class; utilization is the mean busy fraction of the accelerators paid for; a "
       "reversal is a scale-up and a scale-down of the same variant within the scale-down "
       "window.";
  bool any_ci = false;
  for (const auto& p : c.policies)
    if (Field(*p.j, "cost_usd_ci95") || Field(*p.j, "slo_attainment_ci95")) any_ci = true;
  if (any_ci)
    o += " &plusmn; is the half-width of the 95% confidence interval over " +
         (Num(c.r, "seeds") ? Compact(*Num(c.r, "seeds")) : std::string("several")) + " seeds.";
  o += "</p><table class=\"data\"><thead><tr><th>policy</th><th>cost</th><th>GPU-hours</th>"
       "<th>SLO attainment</th><th>utilization</th><th>TTFT p95</th><th>ITL p95</th>"
       "<th>scaling actions</th><th>reversals</th></tr></thead><tbody>";
  for (const auto& p : c.policies) {
    const json& j = *p.j;
    o += std::string("<tr") + (p.name == "variant" ? " class=\"ours\"" : "") + ">" + PolicyCell(p);
    o += "<td>" + WithCi(j, "cost_usd", FormatUsd) + "</td>";
    o += "<td>" + WithCi(j, "gpu_hours", Hours) + "</td>";
    o += "<td>" + WithCi(j, "slo_attainment", Pct2) + "</td>";
    o += "<td>" + WithCi(j, "utilization", Pct1) + "</td>";
    o += "<td>" + WithCi(j, "ttft_p95_ms", FormatMs) + "</td>";
    o += "<td>" + WithCi(j, "itl_p95_ms", FormatMs) + "</td>";
    o += "<td>" + WithCi(j, "scaling_actions", Count) + "</td>";
    o += "<td>" + WithCi(j, "reversals", Count) + "</td></tr>";
  }
  o += "</tbody></table>";

  // Other scalar figures some policies carry (requests, unserved, errors, ...): shown as
  // given, not interpreted. One row per figure, one column per policy.
  static const std::set<std::string> kKnown = {
      "cost_usd", "gpu_hours", "slo_attainment", "utilization", "ttft_p95_ms", "itl_p95_ms",
      "scaling_actions", "reversals", "hpa_target"};
  std::vector<std::string> extra;
  for (const auto& p : c.policies) {
    if (!p.j->is_object()) continue;
    for (auto it = p.j->begin(); it != p.j->end(); ++it) {
      const std::string& k = it.key();
      if (it.value().is_structured() || it.value().is_null() || kKnown.count(k)) continue;
      if (k.size() > 5 && k.compare(k.size() - 5, 5, "_ci95") == 0 &&
          (kKnown.count(k.substr(0, k.size() - 5)) || p.j->contains(k.substr(0, k.size() - 5))))
        continue;
      if (std::find(extra.begin(), extra.end(), k) == extra.end()) extra.push_back(k);
    }
  }
  if (!extra.empty()) {
    o += "<p class=\"explain\">Other figures in the result, as given:</p><table class=\"data\">"
         "<thead><tr><th>figure</th>";
    o += PolicyHeaderCells(c);
    o += "</tr></thead><tbody>";
    for (const auto& k : extra) {
      o += "<tr><td class=\"txt\">" + EscapeHtml(k) + "</td>";
      for (const auto& p : c.policies) {
        const json* f = Field(*p.j, k);
        std::string cell = kDash;
        if (f && f->is_number()) cell = WithCi(*p.j, k, [](double v) { return Compact(v, 5); });
        else if (f && !f->is_structured()) cell = "<span class=\"wrap\">" + ScalarText(*f) + "</span>";
        o += "<td>" + cell + "</td>";
      }
      o += "</tr>";
    }
    o += "</tbody></table>";
  }

  // The HPA sweep.
  o += "<h3>HPA target sweep</h3>";
  const Policy* hpa = FindPolicy(c, "hpa");
  if (!hpa) return o + Note("No hpa policy in this result.") + "</section>";
  auto target = Num(*hpa->j, "hpa_target");
  if (!target) c.Miss("hpa: no hpa_target");
  const json* sweep = Field(*hpa->j, "hpa_sweep");
  o += "<p class=\"explain\">The HPA baseline scales one accelerator type on a per-replica "
       "target. The target is tuned by running every value below; the one reported is the "
       "cheapest that reaches the SLO-attainment goal";
  auto goal = Num(c.r, "slo_attainment_goal");
  if (!goal) goal = Num(c.r, "attainment_goal");
  if (goal) o += " (" + Pct2(*goal) + ")";
  o += ", i.e. the strongest fair HPA. ";
  o += target ? "Chosen target: <b>" + Compact(*target) + "</b>." : std::string("The chosen target is not in the result.");
  if (const json* hv = Field(*hpa->j, "hpa_variant"); hv && hv->is_object() && !hv->empty()) {
    o += " It runs ";
    size_t i = 0;
    for (auto it = hv->begin(); it != hv->end(); ++it, ++i)
      o += (i ? ", " : "") + EscapeHtml(it.key()) + " on " + ScalarText(it.value());
    o += ".";
  }
  if (auto metric = Str(*hpa->j, "hpa_metric")) o += " Metric: " + EscapeHtml(*metric) + ".";
  o += "</p>";
  if (!sweep || !sweep->is_array() || sweep->empty()) {
    c.Miss("hpa: no hpa_sweep");
    return o + Note("The result has no hpa_sweep.") + "</section>";
  }
  bool factors = false;
  for (const json& e : *sweep) factors |= Num(e, "target_factor").has_value();
  o += std::string("<table class=\"data narrow\"><thead><tr><th>target</th>") +
       (factors ? "<th>factor</th>" : "") + "<th>cost</th><th>SLO attainment</th></tr></thead><tbody>";
  for (const json& e : *sweep) {
    auto t = Num(e, "target");
    bool chosen = t && target && std::fabs(*t - *target) <= 1e-9 * std::max(1.0, std::fabs(*t));
    if (!t && factors) {  // several models: the factor is the target
      auto f = Num(e, "target_factor");
      auto tf = Num(*hpa->j, "hpa_target_factor");
      chosen = f && tf && std::fabs(*f - *tf) <= 1e-9 * std::max(1.0, std::fabs(*f));
    }
    o += std::string("<tr") + (chosen ? " class=\"ours\"" : "") + "><td>" +
         (t ? Compact(*t) : std::string(kDash)) + (chosen ? " &#10003;" : "") + "</td>";
    if (factors) {
      auto f = Num(e, "target_factor");
      o += "<td>" + (f ? Compact(*f) : std::string(kDash)) + "</td>";
    }
    o += "<td>" + WithCi(e, "cost_usd", FormatUsd) + "</td><td>" + WithCi(e, "slo_attainment", Pct2) +
         "</td></tr>";
  }
  return o + "</tbody></table></section>";
}

// Colors for "model/variant" keys: one hue family per model, shades within it.
struct VariantColors {
  std::vector<std::string> order;  // stacking and legend order
  std::map<std::string, std::string> color;
};

VariantColors MakeVariantColors(const Ctx& c) {
  static const char* kFamilies[][5] = {
      {"#08519c", "#3182bd", "#6baed6", "#9ecae1", "#c6dbef"},
      {"#a63603", "#e6550d", "#fd8d3c", "#fdae6b", "#fdd0a2"},
      {"#006d2c", "#31a354", "#74c476", "#a1d99b", "#c7e9c0"},
      {"#54278f", "#756bb1", "#9e9ac8", "#bcbddc", "#dadaeb"},
      {"#a50f15", "#de2d26", "#fb6a4a", "#fc9272", "#fcbba1"},
      {"#252525", "#636363", "#969696", "#bdbdbd", "#d9d9d9"}};
  std::vector<std::string> models;
  if (const json* ms = Field(c.r, "models"); ms && ms->is_array())
    for (const json& m : *ms)
      if (auto name = Str(m, "model")) models.push_back(*name);
  std::map<std::string, std::vector<std::string>> by_model;
  for (const auto& p : c.policies)
    for (const auto& [key, v] : p.replicas) {
      std::string model = key.substr(0, key.find('/'));
      if (key.find('/') == std::string::npos) model = "";
      if (std::find(models.begin(), models.end(), model) == models.end()) models.push_back(model);
      auto& list = by_model[model];
      if (std::find(list.begin(), list.end(), key) == list.end()) list.push_back(key);
    }
  VariantColors out;
  int family = 0;
  for (const auto& model : models) {
    auto it = by_model.find(model);
    if (it == by_model.end()) continue;
    auto list = it->second;
    std::sort(list.begin(), list.end());
    size_t k = list.size();
    for (size_t i = 0; i < k; ++i) {
      size_t shade = k == 1 ? 1 : k <= 5 ? (i * (k <= 4 ? 3 : 4) + (k - 1) / 2) / (k - 1) : i % 5;
      out.color[list[i]] = kFamilies[family % 6][std::min<size_t>(shade, 4)];
      out.order.push_back(list[i]);
    }
    ++family;
  }
  return out;
}

std::string DemandSection(Ctx& c, const TimeAxis& ta) {
  std::string o = "<section id=\"demand\"><h2>Demand</h2>";
  const Policy* src = nullptr;
  for (const auto& p : c.policies)
    if (!p.t.empty() && !p.demand.empty() && (!src || p.name == "variant")) src = &p;
  if (!src) {
    c.Miss("no series.demand_rps in any policy");
    return o + Note("No demand series in this result.") + "</section>";
  }
  Plot plot(c, "demand", 960, 240, Margins{});
  plot.x.lo = c.t_lo;
  plot.x.hi = c.t_hi;
  double max = 0;
  for (const auto& [k, v] : src->demand)
    for (double d : v)
      if (std::isfinite(d)) max = std::max(max, d);
  std::vector<Tick> yt;
  plot.y.hi = LinearTicks(max, 5, false, yt);
  plot.Frame(ta.ticks, yt, ta.title, "requests / s");
  static const char* kColors[] = {"#3182bd", "#e6550d", "#31a354", "#756bb1", "#de2d26", "#636363"};
  std::vector<LegendItem> legend;
  int i = 0;
  for (const auto& [model, v] : src->demand) {
    std::vector<std::pair<double, double>> pts;
    for (size_t k = 0; k < std::min(v.size(), src->t.size()); ++k)
      pts.emplace_back(plot.x(src->t[k]), plot.y(v[k]));
    std::string color = kColors[i % 6];
    plot.Data(SeriesPath(LinePath(pts), color, 2, false, i));
    legend.push_back({model, color});
    ++i;
  }
  o += "<figure><figcaption><b>Arrival rate per model.</b> Requests per second arriving "
       "for each model (the same arrivals are replayed for every policy).</figcaption>" +
       Legend(legend) + plot.Finish("demand per model over time") + "</figure>";
  return o + "</section>";
}

std::string ReplicasSection(Ctx& c, const TimeAxis& ta) {
  std::string o = "<section id=\"replicas\"><h2>Replicas per variant</h2>";
  VariantColors vc = MakeVariantColors(c);
  if (vc.order.empty()) {
    c.Miss("no series.replicas in any policy");
    return o + Note("No replica series in this result.") + "</section>";
  }
  // One y scale for all panels, so heights compare across policies.
  double max_stack = 0;
  for (const auto& p : c.policies) {
    std::vector<double> sum(p.t.size(), 0.0);
    for (const auto& [k, v] : p.replicas)
      for (size_t i = 0; i < std::min(v.size(), sum.size()); ++i)
        if (std::isfinite(v[i]) && v[i] > 0) sum[i] += v[i];
    for (double s : sum) max_stack = std::max(max_stack, s);
  }
  std::vector<Tick> yt;
  double y_hi = LinearTicks(max_stack, 4, true, yt);

  o += "<figure><figcaption><b>Replicas of each variant over time, one panel per policy.</b> "
       "Stacked areas: the top edge is the total number of replicas the policy ran; each band is "
       "one variant (model / accelerator, parallelism, role), colored by model. All panels share "
       "the time axis and the replica scale.</figcaption>";
  std::vector<LegendItem> legend;
  for (const auto& key : vc.order) legend.push_back({key, vc.color[key], false, true});
  o += Legend(legend);
  for (const auto& p : c.policies) {
    o += "<div class=\"panel\"><div class=\"ptitle\"><span class=\"dot\" style=\"background:" +
         p.color + "\"></span>" + EscapeHtml(PolicyTitle(p.name)) + "</div>";
    if (p.t.empty() || p.replicas.empty()) {
      o += Note("No replica series for " + p.name + ".") + "</div>";
      continue;
    }
    Margins m;
    m.top = 8;
    m.bottom = 36;
    Plot plot(c, "replicas", 960, 170, m);
    plot.x.lo = c.t_lo;
    plot.x.hi = c.t_hi;
    plot.y.hi = y_hi;
    plot.Frame(ta.ticks, yt, ta.title, "replicas");
    size_t n = p.t.size();
    std::vector<double> bottom(n, 0.0);
    int idx = 0;
    for (const auto& key : vc.order) {
      auto it = std::find_if(p.replicas.begin(), p.replicas.end(),
                             [&](const auto& kv) { return kv.first == key; });
      if (it == p.replicas.end()) continue;
      std::vector<double> top = bottom;
      bool any = false;
      for (size_t i = 0; i < std::min(n, it->second.size()); ++i) {
        double v = it->second[i];
        if (std::isfinite(v) && v > 0) top[i] += v, any = true;
      }
      if (any) {
        auto upper = StepPoints(p.t, top, c.t_hi);
        auto lower = StepPoints(p.t, bottom, c.t_hi);
        std::string d;
        for (size_t i = 0; i < upper.size(); ++i)
          d += (i ? "L" : "M") + P(plot.x(upper[i].first)) + " " + P(plot.y(upper[i].second));
        for (size_t i = lower.size(); i-- > 0;)
          d += "L" + P(plot.x(lower[i].first)) + " " + P(plot.y(lower[i].second));
        d += "Z";
        plot.Data("<path data-series=\"" + std::to_string(idx) + "\" d=\"" + d + "\" fill=\"" +
                  vc.color[key] + "\" stroke=\"#ffffff\" stroke-width=\"0.6\"/>");
      }
      bottom = std::move(top);
      ++idx;
    }
    plot.Data(SeriesPath(LinePath([&] {
                           std::vector<std::pair<double, double>> pts;
                           for (const auto& [t, v] : StepPoints(p.t, bottom, c.t_hi))
                             pts.emplace_back(plot.x(t), plot.y(v));
                           return pts;
                         }()),
                         "#222222", 1.2, false, idx));
    o += plot.Finish("replicas per variant for " + p.name) + "</div>";
  }
  return o + "</figure></section>";
}

std::string CostSection(Ctx& c, const TimeAxis& ta) {
  std::string o = "<section id=\"cost\"><h2>Cost per hour</h2>";
  double max = 0;
  for (const auto& p : c.policies)
    for (double v : p.cost_per_hour)
      if (std::isfinite(v)) max = std::max(max, v);
  bool any = false;
  for (const auto& p : c.policies) any |= !p.t.empty() && !p.cost_per_hour.empty();
  if (!any) return o + Note("No cost_per_hour series in this result.") + "</section>";
  Plot plot(c, "cost", 960, 300, Margins{});
  plot.x.lo = c.t_lo;
  plot.x.hi = c.t_hi;
  std::vector<Tick> yt;
  plot.y.hi = LinearTicks(max, 5, false, yt, "$");
  plot.Frame(ta.ticks, yt, ta.title, "USD / hour");
  std::vector<LegendItem> legend;
  int i = 0;
  for (const auto& p : c.policies) {
    if (p.t.empty() || p.cost_per_hour.empty()) continue;
    std::vector<std::pair<double, double>> pts;
    for (const auto& [t, v] : StepPoints(p.t, p.cost_per_hour, c.t_hi))
      pts.emplace_back(plot.x(t), plot.y(v));
    plot.Data(SeriesPath(LinePath(pts), p.color, p.name == "variant" ? 2.6 : 1.8, p.dashed, i++));
    std::string label = p.name;
    if (auto cost = Num(*p.j, "cost_usd")) label += " (" + FormatUsd(*cost) + " total)";
    legend.push_back({label, p.color, p.dashed});
  }
  o += "<figure><figcaption><b>Accelerator cost per hour, all policies.</b> The hourly price of "
       "the replicas each policy held at each moment (replicas still starting or draining "
       "included). The area under a line is that policy's total cost.</figcaption>" +
       Legend(legend) + plot.Finish("cost per hour over time") + "</figure>";
  return o + "</section>";
}

// SLO attainment over time, one panel per model, one line per policy: when in the run
// each policy's requests missed (series.slo_attainment; results without it skip this).
std::string AttainmentSection(Ctx& c, const TimeAxis& ta) {
  std::vector<std::string> models;
  for (const auto& p : c.policies)
    for (const auto& [m, v] : p.attainment)
      if (std::find(models.begin(), models.end(), m) == models.end()) models.push_back(m);
  if (models.empty()) return "";
  std::string o = "<section id=\"attainment\"><h2>SLO attainment over time</h2>";
  for (const std::string& model : models) {
    Plot plot(c, "attainment", 960, 220, Margins{});
    plot.x.lo = c.t_lo;
    plot.x.hi = c.t_hi;
    plot.y.hi = 100;
    std::vector<Tick> yt;
    for (int v = 0; v <= 100; v += 20) yt.push_back({static_cast<double>(v), std::to_string(v) + " %"});
    plot.Frame(ta.ticks, yt, ta.title, "met SLO");
    std::vector<LegendItem> legend;
    int i = 0;
    for (const auto& p : c.policies) {
      if (p.t.empty()) continue;
      for (const auto& [m, v] : p.attainment) {
        if (m != model) continue;
        std::vector<double> pct;
        for (double x : v) pct.push_back(100 * x);
        std::vector<std::pair<double, double>> pts;
        for (const auto& [t, y] : StepPoints(p.t, pct, c.t_hi)) pts.emplace_back(plot.x(t), plot.y(y));
        plot.Data(SeriesPath(LinePath(pts), p.color, p.name == "variant" ? 2.6 : 1.6, p.dashed, i++));
        legend.push_back({p.name, p.color, p.dashed});
      }
    }
    o += "<figure><figcaption><b>" + EscapeHtml(model) +
         ": share of the requests arriving in each sample interval that met every SLO of "
         "their class.</b> Unserved requests count as misses; gaps are intervals with no "
         "arrivals.</figcaption>" +
         Legend(legend) + plot.Finish(model + " SLO attainment over time") + "</figure>";
  }
  return o + "</section>";
}

std::string CdfPlot(Ctx& c, const std::string& kind, const std::string& key_p95,
                    std::optional<Hist> Policy::*member, const std::string& what) {
  double lo = INFINITY, hi = 0;
  for (const auto& p : c.policies) {
    const auto& h = p.*member;
    if (!h) continue;
    double cum = 0;
    for (size_t i = 0; i < h->counts.size(); ++i) {
      if (cum == 0 && h->counts[i] > 0) {
        double e = h->edges[i] > 0 ? h->edges[i] : h->edges[i + 1] / 2;
        lo = std::min(lo, e);
      }
      cum += h->counts[i];
      if (cum >= h->total * (1 - 1e-12)) {
        hi = std::max(hi, h->edges[i + 1]);
        break;
      }
    }
  }
  if (!(hi > 0) || !std::isfinite(lo)) return Note("No " + what + " histogram in this result.");
  lo = Nice125(lo, false);
  hi = Nice125(hi, true);
  if (hi <= lo) hi = lo * 10;
  Margins m;
  m.left = 52;
  m.right = 12;
  Plot plot(c, kind, 470, 300, m);
  plot.x.log = true;
  plot.x.lo = lo;
  plot.x.hi = hi;
  plot.y.lo = 0;
  plot.y.hi = 1;
  std::vector<Tick> yt;
  for (int q = 0; q <= 4; ++q) yt.push_back({q * 0.25, FormatPercent(q * 0.25, 0)});
  plot.Frame(LogTicks(lo, hi), yt, what + " (log scale)", "share of requests at or below");
  plot.Front("<line class=\"p95\" x1=\"" + P(plot.x.px0) + "\" x2=\"" + P(plot.x.px1) + "\" y1=\"" +
             P(plot.y(0.95)) + "\" y2=\"" + P(plot.y(0.95)) + "\"/><text class=\"tick\" x=\"" +
             P(plot.x.px0 + 4) + "\" y=\"" + P(plot.y(0.95) - 4) + "\">p95</text>");
  std::vector<LegendItem> legend;
  int i = 0;
  for (const auto& p : c.policies) {
    const auto& h = p.*member;
    if (!h) continue;
    std::vector<std::pair<double, double>> pts;
    double cum = 0;
    double e0 = h->edges[0] > 0 ? h->edges[0] : lo;
    pts.emplace_back(plot.x(std::max(e0, lo / 10)), plot.y(0));
    for (size_t k = 0; k < h->counts.size(); ++k) {
      cum += h->counts[k];
      if (h->edges[k + 1] <= 0) continue;
      pts.emplace_back(plot.x(h->edges[k + 1]), plot.y(cum / h->total));
    }
    pts.emplace_back(plot.x(hi * 10), plot.y(1));
    plot.Data(SeriesPath(LinePath(pts), p.color, p.name == "variant" ? 2.6 : 1.8, p.dashed, i++));
    if (auto v = Num(*p.j, key_p95); v && *v >= lo && *v <= hi)
      plot.Front("<circle cx=\"" + P(plot.x(*v)) + "\" cy=\"" + P(plot.y(0.95)) +
                 "\" r=\"3.5\" fill=\"" + p.color + "\" stroke=\"#fff\" stroke-width=\"1\"/>");
    legend.push_back({p.name, p.color, p.dashed});
  }
  return "<figure class=\"half\"><figcaption><b>" + EscapeHtml(what) +
         " distribution.</b> Cumulative share of requests; dots mark each policy's reported p95 "
         "on the dashed 95% line.</figcaption>" +
         Legend(legend) + plot.Finish(what + " distribution per policy") + "</figure>";
}

std::string LatencySection(Ctx& c) {
  std::string o = "<section id=\"latency\"><h2>Latency distributions</h2>"
                  "<p class=\"explain\">Time to first token (TTFT) and inter-token latency (ITL) of "
                  "all requests, from each policy's log-spaced histogram. A curve further left is "
                  "faster; where it crosses 95% is the p95.</p><div class=\"pair\">";
  o += CdfPlot(c, "ttft-cdf", "ttft_p95_ms", &Policy::ttft, "TTFT");
  o += CdfPlot(c, "itl-cdf", "itl_p95_ms", &Policy::itl, "ITL");
  return o + "</div></section>";
}

std::string PerModelSection(Ctx& c) {
  std::string o = "<section id=\"per-model\"><h2>Per model</h2>";
  std::vector<std::string> models;
  if (const json* ms = Field(c.r, "models"); ms && ms->is_array())
    for (const json& m : *ms)
      if (auto name = Str(m, "model")) models.push_back(*name);
  for (const auto& p : c.policies) {
    const json* pm = Field(*p.j, "per_model");
    if (!pm || !pm->is_array()) {
      c.Miss(p.name + ": no per_model");
      continue;
    }
    for (const json& e : *pm)
      if (auto name = Str(e, "model"); name && std::find(models.begin(), models.end(), *name) == models.end())
        models.push_back(*name);
  }
  if (models.empty()) return o + Note("No per-model figures in this result.") + "</section>";
  o += "<p class=\"explain\">Each model's share of the cost and its own SLO figures, per "
       "policy.</p><table class=\"data\"><thead><tr><th>model</th><th>policy</th><th>cost</th>"
       "<th>share of policy cost</th><th>SLO attainment</th><th>TTFT p95</th><th>ITL p95</th>"
       "</tr></thead><tbody>";
  for (const auto& model : models) {
    std::vector<std::string> rows;
    for (const auto& p : c.policies) {
      const json* pm = Field(*p.j, "per_model");
      const json* entry = nullptr;
      if (pm && pm->is_array())
        for (const json& e : *pm)
          if (Str(e, "model") == model) entry = &e;
      if (!entry) continue;
      std::string share = kDash;
      auto mc = Num(*entry, "cost_usd");
      auto pc = Num(*p.j, "cost_usd");
      if (mc && pc && *pc > 0) share = Pct1(*mc / *pc);
      rows.push_back(PolicyCell(p) + "<td>" + WithCi(*entry, "cost_usd", FormatUsd) + "</td><td>" +
                     share + "</td><td>" + WithCi(*entry, "slo_attainment", Pct2) + "</td><td>" +
                     WithCi(*entry, "ttft_p95_ms", FormatMs) + "</td><td>" +
                     WithCi(*entry, "itl_p95_ms", FormatMs) + "</td>");
    }
    if (rows.empty()) {
      o += "<tr class=\"group\"><td class=\"model\">" + EscapeHtml(model) +
           "</td><td colspan=\"6\">no per-model figures</td></tr>";
      continue;
    }
    for (size_t i = 0; i < rows.size(); ++i) {
      o += std::string("<tr") + (i == 0 ? " class=\"group\"" : "") + ">";
      if (i == 0)
        o += "<td class=\"model\" rowspan=\"" + std::to_string(rows.size()) + "\">" +
             EscapeHtml(model) + "</td>";
      o += rows[i] + "</tr>";
    }
  }
  o += "</tbody></table>";

  // Per service class, when the policies report it.
  std::vector<std::string> classes;
  for (const auto& p : c.policies)
    if (const json* pc = Field(*p.j, "per_class"); pc && pc->is_array())
      for (const json& e : *pc)
        if (auto name = Str(e, "class");
            name && std::find(classes.begin(), classes.end(), *name) == classes.end())
          classes.push_back(*name);
  if (!classes.empty()) {
    o += "<h3>Per service class</h3><p class=\"explain\">SLO attainment of each class's requests."
         "</p><table class=\"data\"><thead><tr><th>class</th>";
    o += PolicyHeaderCells(c);
    o += "</tr></thead><tbody>";
    for (const auto& cls : classes) {
      o += "<tr><td class=\"txt\">" + EscapeHtml(cls) + "</td>";
      for (const auto& p : c.policies) {
        std::string cell = kDash;
        if (const json* pc = Field(*p.j, "per_class"); pc && pc->is_array())
          for (const json& e : *pc)
            if (Str(e, "class") == cls) cell = WithCi(e, "slo_attainment", Pct2);
        o += "<td>" + cell + "</td>";
      }
      o += "</tr>";
    }
    o += "</tbody></table>";
  }
  return o + "</section>";
}

std::string RunSection(Ctx& c) {
  std::string o = "<section id=\"run\"><h2>The run</h2>";
  const json* ms = Field(c.r, "models");
  if (!ms || !ms->is_array() || ms->empty()) {
    c.Miss("no \"models\" list");
  } else {
    o += "<table class=\"data\"><thead><tr><th>model</th><th class=\"l\">trace</th><th>requests</th>"
         "<th class=\"l\">classes</th></tr></thead><tbody>";
    for (const json& m : *ms) {
      std::string classes;
      if (const json* cl = Field(m, "classes"); cl && cl->is_array())
        for (const json& x : *cl) classes += (classes.empty() ? "" : ", ") + ScalarText(x);
      auto req = Num(m, "requests");
      o += "<tr><td class=\"model\">" + EscapeHtml(Str(m, "model").value_or("?")) +
           "</td><td class=\"path\">" + EscapeHtml(Str(m, "trace").value_or("")) + "</td><td>" +
           (req ? FormatFixed(*req, 0) : std::string(kDash)) + "</td><td class=\"txt\">" + classes +
           "</td></tr>";
    }
    o += "</tbody></table>";
  }
  const json* acc = Field(c.r, "accelerators");
  if (!acc || !acc->is_array() || acc->empty()) {
    c.Miss("no \"accelerators\" list");
  } else {
    o += "<table class=\"data narrow\"><thead><tr><th>accelerator</th><th>cost per hour</th>"
         "<th>available</th></tr></thead><tbody>";
    for (const json& a : *acc) {
      auto cph = Num(a, "cost_per_hour");
      auto count = Num(a, "count");
      o += "<tr><td class=\"model\">" + EscapeHtml(Str(a, "name").value_or("?")) + "</td><td>" +
           (cph ? FormatUsd(*cph) : std::string(kDash)) + "</td><td>" +
           (count ? FormatFixed(*count, 0) : std::string(kDash)) + "</td></tr>";
    }
    o += "</tbody></table>";
  }
  // Service classes with their SLOs, when the result lists them.
  if (const json* cl = Field(c.r, "classes"); cl && cl->is_array() && !cl->empty()) {
    o += "<table class=\"data narrow\"><thead><tr><th>class</th><th class=\"l\">SLO</th></tr>"
         "</thead><tbody>";
    for (const json& x : *cl) {
      std::string name = x.is_string() ? x.get<std::string>() : Str(x, "name").value_or("?");
      const json* slo = Field(x, "slo");
      std::string text = !slo ? "" : slo->is_structured() ? EscapeHtml(slo->dump()) : ScalarText(*slo);
      o += "<tr><td class=\"model\">" + EscapeHtml(name) + "</td><td class=\"txt\">" + text +
           "</td></tr>";
    }
    o += "</tbody></table>";
  }
  static const std::set<std::string> kShown = {"models", "accelerators", "policies", "savings",
                                               "classes"};
  std::string params;
  if (c.r.is_object())
    for (auto it = c.r.begin(); it != c.r.end(); ++it) {
      if (kShown.count(it.key()) || it.value().is_structured()) continue;
      std::string v = ScalarText(it.value());
      if (it.value().is_number() && it.key().size() > 2 &&
          it.key().compare(it.key().size() - 2, 2, "_s") == 0)
        v = FormatDuration(it.value().get<double>());
      params += "<tr><th>" + EscapeHtml(it.key()) + "</th><td>" + v + "</td></tr>";
    }
  if (!params.empty()) o += "<table class=\"params\"><tbody>" + params + "</tbody></table>";
  return o + "</section>";
}

const char kStyle[] = R"CSS(
:root{--fg:#1d2430;--muted:#5b6575;--line:#d8dde5;--bg-alt:#f5f7fa;--accent:#1f77b4}
*{box-sizing:border-box}
body{font-family:"DejaVu Sans","Helvetica Neue",Arial,sans-serif;color:var(--fg);background:#fff;
 margin:0;line-height:1.45;font-size:15px}
main{max-width:1000px;margin:0 auto;padding:28px 24px 48px}
h1{font-size:26px;margin:0 0 4px;letter-spacing:-.01em}
h2{font-size:19px;margin:34px 0 10px;padding-bottom:4px;border-bottom:2px solid var(--line)}
h3{font-size:16px;margin:22px 0 6px}
.subtitle{color:var(--muted);margin:0 0 14px}
.explain,figcaption{color:var(--muted);font-size:13.5px;margin:4px 0 8px}
figcaption b{color:var(--fg)}
figure{margin:14px 0 18px;break-inside:avoid;page-break-inside:avoid}
.words{font-size:15.5px;max-width:900px}
.cards{display:flex;gap:14px;flex-wrap:wrap;margin:12px 0}
.card{flex:1 1 200px;border:1px solid var(--line);border-left:6px solid #2ca02c;border-radius:6px;
 padding:10px 14px;background:var(--bg-alt)}
.card.bad{border-left-color:#d62728}
.card .big{font-size:28px;font-weight:bold;line-height:1.1}
.card .sub{color:var(--muted);font-size:13px}
.missing{border:1px solid #e8c35a;background:#fff8e1;border-radius:6px;padding:8px 14px;margin:14px 0}
.missing h2{border:0;margin:4px 0;font-size:16px}
.missing ul{margin:4px 0;padding-left:20px;font-size:13.5px}
.missing-note{color:#8a5a00;font-style:italic;font-size:13.5px}
table.data{border-collapse:collapse;width:100%;font-size:13.5px;margin:6px 0 10px;
 font-variant-numeric:tabular-nums}
table.data.narrow{width:auto;min-width:420px}
table.data th{text-align:right;font-weight:600;padding:6px 10px;border-bottom:2px solid var(--fg);
 white-space:nowrap}
table.data th:first-child,table.data td.pol,table.data td.model,table.data td.path,
table.data td.txt,table.data th.l{text-align:left}
table.data td{text-align:right;padding:5px 10px;border-bottom:1px solid var(--line);white-space:nowrap}
table.data tbody tr:nth-child(even){background:var(--bg-alt)}
table.data tr.ours td{font-weight:bold}
table.data tr.group td{border-top:2px solid #aab2bf}
table.data td.model{font-weight:600;vertical-align:top;background:#fff}
td.path{font-family:"DejaVu Sans Mono",monospace;font-size:12.5px}
.wrap{white-space:normal;font-size:12px}
.ci{display:block;color:var(--muted);font-weight:normal;font-size:11.5px;line-height:1.2}
.dot{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:7px;vertical-align:0}
table.params{font-size:13px;border-collapse:collapse;margin-top:8px}
table.params th{text-align:left;font-weight:normal;color:var(--muted);padding:2px 16px 2px 0}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;font-size:13px;margin:2px 0 4px}
.legend .item{display:inline-flex;align-items:center;gap:6px;white-space:nowrap}
svg.plot{width:100%;height:auto;display:block;overflow:visible}
svg.plot .grid line{stroke:#e6e9ef;stroke-width:1}
svg.plot .axis line{stroke:#4a5260;stroke-width:1}
svg.plot text{font-family:"DejaVu Sans",Arial,sans-serif;fill:#3a4250}
svg.plot .tick{font-size:11px}
svg.plot .atitle{font-size:12px;fill:#5b6575}
svg.plot .blabel{font-size:13px;font-weight:600}
svg.plot .bval{font-size:12.5px}
svg.plot .whisker{stroke:#222;stroke-width:1.3;fill:none}
svg.plot .p95{stroke:#888;stroke-dasharray:4 3;stroke-width:1}
.panel{margin:6px 0 2px;break-inside:avoid;page-break-inside:avoid}
.ptitle{font-weight:600;font-size:14px;margin:8px 0 0}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:20px}
.pair figure{margin:6px 0}
footer{color:var(--muted);font-size:12px;margin-top:36px;border-top:1px solid var(--line);padding-top:8px}
@media print{
 body{font-size:11pt}
 main{max-width:none;padding:0}
 h2{break-after:avoid;page-break-after:avoid}
 .card{background:#fff}
 *{-webkit-print-color-adjust:exact;print-color-adjust:exact}
}
@page{margin:14mm}
)CSS";

// Runs after load: counts what the browser actually drew in each plot (non-zero path
// length), for people inspecting the page and for the headless-browser test.
const char kScript[] = R"JS(
(function(){
  var plots=document.querySelectorAll('svg[data-plot]'), total=0;
  for (var i=0;i<plots.length;i++){
    var s=plots[i], n=0, len=0, els=s.querySelectorAll('[data-series]');
    for (var k=0;k<els.length;k++){
      var l=els[k].getTotalLength?els[k].getTotalLength():0;
      if (l>0){n++;len+=l;}
    }
    s.setAttribute('data-drawn-series',n);
    s.setAttribute('data-drawn-length',Math.round(len));
    if (n>0) total++;
  }
  document.body.setAttribute('data-plots-drawn',total);
})();
)JS";

}  // namespace

std::string RenderHtml(const json& result) {
  Ctx c{result, {}, {}, 0, 0, 0};
  if (!result.is_object()) c.Miss("the result is not a JSON object");
  auto schema = Str(result, "schema");
  if (!schema) c.Miss("no \"schema\" field (expected variant-simulate/1)");
  else if (*schema != "variant-simulate/1")
    c.Miss("schema is \"" + *schema + "\", expected \"variant-simulate/1\": drawing what matches");

  ReadPolicies(c);
  TimeAxis ta;
  bool have_time = false;
  for (const auto& p : c.policies) have_time |= !p.t.empty();
  if (have_time) ta = MakeTimeAxis(c.t_lo, c.t_hi);

  std::string body;
  body += SummarySection(c);
  body += TableSection(c);
  if (have_time) {
    body += DemandSection(c, ta);
    body += ReplicasSection(c, ta);
    body += CostSection(c, ta);
    body += AttainmentSection(c, ta);
  } else {
    body += "<section id=\"time\"><h2>Over time</h2>" +
            Note("No policy has a series.t_s: no plots over time.") + "</section>";
  }
  body += LatencySection(c);
  body += PerModelSection(c);
  body += RunSection(c);

  std::string sub;
  auto add_sub = [&](const std::string& s) { sub += (sub.empty() ? "" : " &middot; ") + s; };
  if (const json* ms = Field(result, "models"); ms && ms->is_array()) {
    std::string names;
    for (const json& m : *ms)
      if (auto n = Str(m, "model")) names += (names.empty() ? "" : ", ") + EscapeHtml(*n);
    if (!names.empty()) add_sub(names);
  }
  if (auto d = Num(result, "duration_s")) add_sub(FormatDuration(*d) + " of traffic");
  if (auto s = Num(result, "seeds")) add_sub(Compact(*s) + (*s == 1 ? " seed" : " seeds"));
  if (auto s = Num(result, "cold_start_s")) add_sub("cold start " + FormatDuration(*s));
  if (auto s = Num(result, "scale_down_window_s"))
    add_sub("scale-down window " + FormatDuration(*s));
  add_sub(std::to_string(c.policies.size()) + " policies");

  std::string html =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      "<title>Variant autoscaler: simulation report</title><style>";
  html += kStyle;
  html += "</style></head><body><main><header><h1>Variant autoscaler: simulation report</h1>"
          "<p class=\"subtitle\">" + sub + "</p>"
          "<p class=\"explain\">Every policy served the same request arrivals on the same "
          "simulated cluster. <b>static</b> holds peak-sized replicas; <b>hpa</b> scales one "
          "accelerator type on a tuned target; <b>wva</b> scales from a queueing model; "
          "<b>variant</b> chooses the cheapest mix of variants that meets the SLOs; "
          "<b>oracle</b> knows the future and pays no cold start (a lower bound).</p></header>";
  if (!c.missing.empty()) {
    html += "<div class=\"missing\" id=\"missing\"><h2>Missing from this result</h2><ul>";
    for (const auto& m : c.missing) html += "<li>" + EscapeHtml(m) + "</li>";
    html += "</ul></div>";
  }
  html += body;
  html += "<footer>Written by <code>variantctl</code> from a <code>variantctl simulate</code> result. "
          "Self-contained: no network needed to view or print.</footer></main><script>";
  html += kScript;
  html += "</script></body></html>\n";
  return html;
}

}  // namespace variant::report

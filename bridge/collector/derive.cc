#include "variant/collector/derive.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

namespace variant::collector {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

bool EndsWith(std::string_view s, std::string_view suf) {
  return s.size() >= suf.size() && s.substr(s.size() - suf.size()) == suf;
}

// Series identity inside one model: the labels other than model_name.
std::string SeriesKey(const Sample& s) {
  std::string k;
  for (const auto& [name, value] : s.labels) {
    if (name == "model_name") continue;
    k += name;
    k += '=';
    k += value;
    k += '\x1f';
  }
  return k;
}

std::string ModelOf(const Sample& s) {
  const std::string* m = s.Label("model_name");
  return m ? *m : std::string();
}

// sample name -> series key -> value, for one model of one scrape.
using SeriesMap = std::map<std::string, std::map<std::string, double>>;
using Index = std::map<std::string, SeriesMap>;  // by model

Index BuildIndex(const Exposition& e) {
  Index idx;
  for (const Sample& s : e.samples) idx[ModelOf(s)][s.name][SeriesKey(s)] = s.value;
  return idx;
}

// Counters and the cumulative parts of histograms only ever grow in one process.
bool IsMonotonic(const Exposition& e, const std::string& name) {
  MetricType t = e.TypeOf(name);
  if (t == MetricType::kCounter) return !EndsWith(name, "_created");
  if (t == MetricType::kHistogram || t == MetricType::kSummary) {
    return EndsWith(name, "_bucket") || EndsWith(name, "_count");
  }
  return t == MetricType::kUntyped && EndsWith(name, "_total");
}

std::optional<double> ProcessStart(const Exposition& e) {
  for (const Sample& s : e.samples) {
    if (s.name == "process_start_time_seconds" && std::isfinite(s.value)) return s.value;
  }
  return std::nullopt;
}

bool DetectReset(const Exposition& prev, const Exposition& cur) {
  auto ps = ProcessStart(prev), cs = ProcessStart(cur);
  if (ps && cs && *ps != *cs) return true;
  std::map<std::string, double> before;
  for (const Sample& s : prev.samples) {
    if (!std::isnan(s.value) && IsMonotonic(prev, s.name)) {
      before[s.name + '\x1e' + ModelOf(s) + '\x1e' + SeriesKey(s)] = s.value;
    }
  }
  for (const Sample& s : cur.samples) {
    if (std::isnan(s.value) || !IsMonotonic(cur, s.name)) continue;
    auto it = before.find(s.name + '\x1e' + ModelOf(s) + '\x1e' + SeriesKey(s));
    if (it != before.end() && s.value < it->second) return true;
  }
  return false;
}

const std::map<std::string, double>* Find(const SeriesMap& m, const std::string& name) {
  auto it = m.find(name);
  return it == m.end() ? nullptr : &it->second;
}

// The first of `names` present in `m`, or "".
std::string FirstPresent(const SeriesMap& m, std::initializer_list<const char*> names,
                         const char* suffix = "") {
  for (const char* n : names) {
    if (m.count(std::string(n) + suffix)) return n;
  }
  return "";
}

// Sum of the finite values of a gauge across its series; absent if none is finite.
std::optional<double> GaugeSum(const SeriesMap& m, const std::string& name, bool average) {
  const auto* s = Find(m, name);
  if (!s) return std::nullopt;
  double sum = 0;
  int n = 0;
  for (const auto& [k, v] : *s) {
    if (std::isfinite(v)) {
      sum += v;
      ++n;
    }
  }
  if (n == 0) return std::nullopt;
  return average ? sum / n : sum;
}

// Growth of a counter over the window, summed across series. A series absent before
// counts from zero (it was created since); NaN series are skipped. Absent if the
// counter was not in the previous scrape at all.
std::optional<double> CounterDelta(const SeriesMap& prev, const SeriesMap& cur,
                                   const std::string& name) {
  const auto* c = Find(cur, name);
  const auto* p = Find(prev, name);
  if (!c || !p) return std::nullopt;
  double d = 0;
  bool any = false;
  for (const auto& [k, v] : *c) {
    if (!std::isfinite(v)) continue;
    auto it = p->find(k);
    double before = (it != p->end() && std::isfinite(it->second)) ? it->second : 0;
    d += std::max(0.0, v - before);
    any = true;
  }
  if (!any) return std::nullopt;
  return d;
}

double ParseLe(const std::string& s) {
  if (s == "+Inf" || s == "Inf" || s == "+inf" || s == "inf") return kInf;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || *end != '\0') return std::numeric_limits<double>::quiet_NaN();
  return v;
}

// le -> cumulative count, summed across the series of one model.
std::map<double, double> Cumulative(const std::map<std::string, double>& series,
                                    const std::map<std::string, double>* prev) {
  std::map<double, double> out;
  for (const auto& [key, v] : series) {
    // The key is "name=value\x1f..." with labels sorted: find le=.
    size_t pos = key.find("le=");
    while (pos != std::string::npos && pos != 0 && key[pos - 1] != '\x1f') {
      pos = key.find("le=", pos + 1);
    }
    if (pos == std::string::npos) continue;
    size_t end = key.find('\x1f', pos);
    double le = ParseLe(key.substr(pos + 3, end - pos - 3));
    if (std::isnan(le) || !std::isfinite(v)) continue;
    double before = 0;
    if (prev) {
      auto it = prev->find(key);
      if (it != prev->end() && std::isfinite(it->second)) before = it->second;
    }
    out[le] += v - before;
  }
  return out;
}

std::optional<double> Quantile(const std::vector<Bucket>& b, double total, double q) {
  if (total <= 0 || b.empty()) return std::nullopt;
  double rank = q * total;
  double cum = 0;
  for (const Bucket& x : b) {
    if (x.count > 0 && cum + x.count >= rank) {
      if (std::isinf(x.upper)) return x.lower;  // as histogram_quantile does
      return x.lower + (x.upper - x.lower) * (rank - cum) / x.count;
    }
    cum += x.count;
  }
  return b.back().lower;
}

Distribution HistogramDelta(const SeriesMap& prev, const SeriesMap& cur,
                            const std::string& base) {
  Distribution d;
  const auto* cb = Find(cur, base + "_bucket");
  const auto* pb = Find(prev, base + "_bucket");
  if (!cb || !pb) return d;
  std::map<double, double> cum = Cumulative(*cb, pb);
  double lower = 0, last = 0;
  for (const auto& [le, c] : cum) {
    double in_bucket = std::max(0.0, c - last);
    last = std::max(last, c);
    d.buckets.push_back({lower, le, in_bucket});
    lower = le;
  }
  if (d.buckets.empty()) return d;
  // The first bucket's lower bound is 0 for non-negative quantities (vLLM's all are).
  if (d.buckets.front().upper < 0) d.buckets.front().lower = -kInf;
  d.count = std::max(0.0, last);
  auto sum = CounterDelta(prev, cur, base + "_sum");
  if (d.count > 0) {
    if (sum) d.mean = *sum / d.count;
    d.p50 = Quantile(d.buckets, d.count, 0.50);
    d.p90 = Quantile(d.buckets, d.count, 0.90);
    d.p95 = Quantile(d.buckets, d.count, 0.95);
    d.p99 = Quantile(d.buckets, d.count, 0.99);
  }
  return d;
}

void Gauges(const SeriesMap& cur, Observation* o) {
  o->running = GaugeSum(cur, "vllm:num_requests_running", false);
  if (o->running) o->sources["running"] = "vllm:num_requests_running";
  o->waiting = GaugeSum(cur, "vllm:num_requests_waiting", false);
  if (o->waiting) o->sources["waiting"] = "vllm:num_requests_waiting";
  for (const char* n : {"vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"}) {
    if (auto v = GaugeSum(cur, n, true)) {
      o->kv_usage = std::clamp(*v, 0.0, 1.0);
      o->sources["kv_usage"] = n;
      break;
    }
  }
}

void Rates(const SeriesMap& prev, const SeriesMap& cur, double dt, Observation* o) {
  std::string success = FirstPresent(cur, {"vllm:request_success_total", "vllm:request_success"});
  std::optional<double> done;
  if (!success.empty()) {
    done = CounterDelta(prev, cur, success);
    if (done) o->sources["completion_rps"] = success;
  }
  if (!done) {
    for (const char* h : {"vllm:request_prompt_tokens", "vllm:e2e_request_latency_seconds"}) {
      done = CounterDelta(prev, cur, std::string(h) + "_count");
      if (done) {
        o->sources["completion_rps"] = std::string(h) + "_count";
        break;
      }
    }
  }
  if (done) {
    o->completion_rps = *done / dt;
    // Arrivals = completions + growth of what is in the system (running + waiting).
    double growth = 0;
    for (const char* g : {"vllm:num_requests_running", "vllm:num_requests_waiting"}) {
      auto a = GaugeSum(prev, g, false), b = GaugeSum(cur, g, false);
      if (a && b) growth += *b - *a;
    }
    o->arrival_rps = std::max(0.0, (*done + growth) / dt);
  }
  for (auto [field, names] :
       {std::pair{&o->prompt_tokens_per_s, "vllm:prompt_tokens_total|vllm:prompt_tokens"},
        std::pair{&o->generation_tokens_per_s,
                  "vllm:generation_tokens_total|vllm:generation_tokens"}}) {
    std::string all = names;
    size_t bar = all.find('|');
    for (std::string n : {all.substr(0, bar), all.substr(bar + 1)}) {
      if (auto d = CounterDelta(prev, cur, n)) {
        *field = *d / dt;
        o->sources[field == &o->prompt_tokens_per_s ? "prompt_tokens_per_s"
                                                    : "generation_tokens_per_s"] = n;
        break;
      }
    }
  }
  auto hist = [&](Distribution* d, const char* key,
                  std::initializer_list<const char*> names) {
    std::string n = FirstPresent(cur, names, "_bucket");
    if (n.empty()) return;
    *d = HistogramDelta(prev, cur, n);
    o->sources[key] = n;
  };
  hist(&o->input_len, "input_len", {"vllm:request_prompt_tokens"});
  hist(&o->output_len, "output_len", {"vllm:request_generation_tokens"});
  hist(&o->ttft_s, "ttft_s", {"vllm:time_to_first_token_seconds"});
  hist(&o->itl_s, "itl_s",
       {"vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds"});

  std::string hits = FirstPresent(cur, {"vllm:prefix_cache_hits_total", "vllm:prefix_cache_hits"});
  std::string queries =
      FirstPresent(cur, {"vllm:prefix_cache_queries_total", "vllm:prefix_cache_queries"});
  if (!hits.empty() && !queries.empty()) {
    auto h = CounterDelta(prev, cur, hits);
    auto q = CounterDelta(prev, cur, queries);
    if (h && q && *q > 0) {
      o->prefix_hit_ratio = std::clamp(*h / *q, 0.0, 1.0);
      o->sources["prefix_hit_ratio"] = hits + " / " + queries;
    }
  }
}

}  // namespace

std::vector<Observation> Deriver::Update(const std::string& pod, double time_s,
                                         const Exposition& scrape) {
  Index cur = BuildIndex(scrape);
  auto pit = prev_.find(pod);
  bool have_prev = pit != prev_.end();
  bool reset = have_prev && DetectReset(pit->second.scrape, scrape);
  double dt = have_prev ? time_s - pit->second.time_s : 0;
  // A clock that did not advance gives no window either; the window restarts.
  bool valid = have_prev && !reset && dt > 0 && std::isfinite(dt);
  Index prev;
  if (valid) prev = BuildIndex(pit->second.scrape);

  std::vector<Observation> out;
  for (const auto& [model, series] : cur) {
    if (model.empty() && cur.size() > 1) continue;  // process_* and other pod-wide series
    Observation o;
    o.pod = pod;
    o.model = model;
    o.time_s = time_s;
    o.counter_reset = reset;
    Gauges(series, &o);
    if (valid) {
      o.window_s = dt;
      o.rates_valid = true;
      auto p = prev.find(model);
      static const SeriesMap kEmpty;
      Rates(p == prev.end() ? kEmpty : p->second, series, dt, &o);
    }
    if (!o.prefix_hit_ratio) {
      // vLLM V0 exported the ratio itself as a gauge.
      if (auto g = GaugeSum(series, "vllm:gpu_prefix_cache_hit_rate", true)) {
        o.prefix_hit_ratio = std::clamp(*g, 0.0, 1.0);
        o.sources["prefix_hit_ratio"] = "vllm:gpu_prefix_cache_hit_rate";
      }
    }
    out.push_back(std::move(o));
  }
  // This scrape is the next window's start in every case: after a reset or a clock
  // that went backwards, the window restarts here.
  prev_[pod] = Prev{time_s, scrape};
  return out;
}

namespace {
void Put(nlohmann::json& j, const char* k, const std::optional<double>& v) {
  if (v && std::isfinite(*v)) j[k] = *v;
}
nlohmann::json DistJson(const Distribution& d) {
  nlohmann::json j;
  j["count"] = d.count;
  Put(j, "mean", d.mean);
  Put(j, "p50", d.p50);
  Put(j, "p90", d.p90);
  Put(j, "p95", d.p95);
  Put(j, "p99", d.p99);
  nlohmann::json b = nlohmann::json::array();
  for (const Bucket& x : d.buckets) {
    nlohmann::json e;
    e["lower"] = std::isfinite(x.lower) ? nlohmann::json(x.lower) : nlohmann::json("-Inf");
    e["upper"] = std::isfinite(x.upper) ? nlohmann::json(x.upper) : nlohmann::json("+Inf");
    e["count"] = x.count;
    b.push_back(e);
  }
  j["buckets"] = b;
  return j;
}
}  // namespace

std::string ObservationToJson(const Observation& o) {
  nlohmann::json j;
  j["pod"] = o.pod;
  j["model"] = o.model;
  j["time_s"] = o.time_s;
  j["window_s"] = o.window_s;
  j["rates_valid"] = o.rates_valid;
  j["counter_reset"] = o.counter_reset;
  Put(j, "completion_rps", o.completion_rps);
  Put(j, "arrival_rps", o.arrival_rps);
  Put(j, "prompt_tokens_per_s", o.prompt_tokens_per_s);
  Put(j, "generation_tokens_per_s", o.generation_tokens_per_s);
  Put(j, "prefix_hit_ratio", o.prefix_hit_ratio);
  Put(j, "running", o.running);
  Put(j, "waiting", o.waiting);
  Put(j, "kv_usage", o.kv_usage);
  if (o.rates_valid) {
    j["input_len"] = DistJson(o.input_len);
    j["output_len"] = DistJson(o.output_len);
    j["ttft_s"] = DistJson(o.ttft_s);
    j["itl_s"] = DistJson(o.itl_s);
  }
  j["sources"] = o.sources;
  // Label values come from the pod: bytes that are not UTF-8 are replaced rather than
  // thrown on (an uncaught type_error 316 ended the collector; found by
  // test/fuzz/fuzz_exposition).
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace variant::collector

#include "perf/optables.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

namespace variant {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Reads a CSV with a header into rows of strings. Small and strict: the files are
// ours (derived from the upstream tables by a documented cut), so any malformed line
// is an error naming the file and line.
Status ReadCsv(const std::string& path, std::vector<std::string>* header,
               std::vector<std::vector<std::string>>* rows) {
  std::ifstream in(path);
  if (!in) return {VARIANT_E_NO_DATA, "cannot read operator table '" + path + "'"};
  std::string line;
  size_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::vector<std::string> f;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) f.push_back(cell);
    if (header->empty()) {
      *header = f;
      continue;
    }
    if (f.size() != header->size())
      return ParseError(path + ":" + std::to_string(lineno) + ": expected " +
                        std::to_string(header->size()) + " fields, got " +
                        std::to_string(f.size()));
    rows->push_back(std::move(f));
  }
  if (rows->empty()) return {VARIANT_E_NO_DATA, "operator table '" + path + "' is empty"};
  return {};
}

Result<size_t> Col(const std::vector<std::string>& h, const std::string& name,
                   const std::string& path) {
  auto it = std::find(h.begin(), h.end(), name);
  if (it == h.end()) return ParseError(path + ": no column '" + name + "'");
  return static_cast<size_t>(it - h.begin());
}

double Num(const std::string& s) {
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end == s.c_str()) return kNaN;
  return v;
}

size_t IndexOf(const std::vector<double>& axis, double v) {
  return static_cast<size_t>(std::lower_bound(axis.begin(), axis.end(), v) - axis.begin());
}

// Finds i with axis[i] <= x <= axis[i+1] and the weight of axis[i+1]; x is clamped.
void Bracket(const std::vector<double>& axis, double x, size_t* i, double* w) {
  if (axis.size() == 1 || x <= axis.front()) {
    *i = 0;
    *w = 0;
    return;
  }
  if (x >= axis.back()) {
    *i = axis.size() - 2;
    *w = 1;
    return;
  }
  size_t hi = static_cast<size_t>(std::upper_bound(axis.begin(), axis.end(), x) - axis.begin());
  *i = hi - 1;
  *w = (x - axis[*i]) / (axis[hi] - axis[*i]);
}

Status LoadAttention(const std::string& path, std::map<std::pair<int, int>, Grid2>* out) {
  std::vector<std::string> h;
  std::vector<std::vector<std::string>> rows;
  VARIANT_RETURN_IF_ERROR(ReadCsv(path, &h, &rows));
  auto cb = Col(h, "batch_size", path), ci = Col(h, "isl", path), ch = Col(h, "num_heads", path),
       ck = Col(h, "num_key_value_heads", path), cs = Col(h, "step", path),
       cl = Col(h, "latency", path);
  for (auto* r : {&cb, &ci, &ch, &ck, &cs, &cl})
    if (!r->ok()) return r->status();
  const bool gen = path.find("generation") != std::string::npos;
  // First pass: axes per slice.
  std::map<std::pair<int, int>, std::pair<std::set<double>, std::set<double>>> axes;
  for (const auto& r : rows) {
    const std::pair<int, int> key(static_cast<int>(Num(r[*ch])), static_cast<int>(Num(r[*ck])));
    const double y = gen ? Num(r[*cs]) : Num(r[*ci]);
    axes[key].first.insert(Num(r[*cb]));
    axes[key].second.insert(y);
  }
  for (auto& [key, ax] : axes) {
    Grid2 g;
    g.xs.assign(ax.first.begin(), ax.first.end());
    g.ys.assign(ax.second.begin(), ax.second.end());
    g.v.assign(g.xs.size() * g.ys.size(), kNaN);
    (*out)[key] = std::move(g);
  }
  for (const auto& r : rows) {
    const std::pair<int, int> key(static_cast<int>(Num(r[*ch])), static_cast<int>(Num(r[*ck])));
    Grid2& g = (*out)[key];
    const double y = gen ? Num(r[*cs]) : Num(r[*ci]);
    const double lat = Num(r[*cl]);
    if (!(lat > 0)) continue;
    g.v[IndexOf(g.xs, Num(r[*cb])) * g.ys.size() + IndexOf(g.ys, y)] = lat;
  }
  return {};
}

}  // namespace

Result<std::unique_ptr<OpTables>> OpTables::Load(const std::string& dir,
                                                 const std::string& prefix) {
  std::unique_ptr<OpTables> t(new OpTables());
  t->prefix_ = prefix;
  const std::string base = dir + "/" + prefix;
  {  // GEMM
    const std::string path = base + "_gemm.csv";
    std::vector<std::string> h;
    std::vector<std::vector<std::string>> rows;
    VARIANT_RETURN_IF_ERROR(ReadCsv(path, &h, &rows));
    auto cm = Col(h, "m", path), cn = Col(h, "n", path), ck = Col(h, "k", path),
         cl = Col(h, "latency", path);
    for (auto* r : {&cm, &cn, &ck, &cl})
      if (!r->ok()) return r->status();
    std::set<double> ms, ns, ks;
    for (const auto& r : rows) {
      ms.insert(Num(r[*cm]));
      ns.insert(Num(r[*cn]));
      ks.insert(Num(r[*ck]));
    }
    t->gm_.assign(ms.begin(), ms.end());
    t->gn_.assign(ns.begin(), ns.end());
    t->gk_.assign(ks.begin(), ks.end());
    t->gv_.assign(t->gm_.size() * t->gn_.size() * t->gk_.size(), kNaN);
    for (const auto& r : rows) {
      const double lat = Num(r[*cl]);
      if (!(lat > 0)) continue;
      const size_t i = IndexOf(t->gm_, Num(r[*cm])), j = IndexOf(t->gn_, Num(r[*cn])),
                   l = IndexOf(t->gk_, Num(r[*ck]));
      t->gv_[(i * t->gn_.size() + j) * t->gk_.size() + l] = lat;
    }
    // Fill unmeasured cells from the nearest measured k in the same (m, n) row,
    // scaled by k (GEMM work is linear in k).
    const size_t nk = t->gk_.size();
    for (size_t i = 0; i < t->gm_.size(); ++i)
      for (size_t j = 0; j < t->gn_.size(); ++j) {
        double* row = &t->gv_[(i * t->gn_.size() + j) * nk];
        for (size_t l = 0; l < nk; ++l) {
          if (!std::isnan(row[l])) continue;
          for (size_t d = 1; d < nk; ++d) {
            if (l >= d && !std::isnan(row[l - d])) {
              row[l] = row[l - d] * t->gk_[l] / t->gk_[l - d];
              break;
            }
            if (l + d < nk && !std::isnan(row[l + d])) {
              row[l] = row[l + d] * t->gk_[l] / t->gk_[l + d];
              break;
            }
          }
        }
      }
    for (double v : t->gv_)
      if (std::isnan(v))
        return Status(VARIANT_E_NO_DATA, path + ": GEMM table has an unmeasured (m, n) row");
  }
  VARIANT_RETURN_IF_ERROR(LoadAttention(base + "_context_attention.csv", &t->ctx_));
  VARIANT_RETURN_IF_ERROR(LoadAttention(base + "_generation_attention.csv", &t->gen_));
  {  // all-reduce
    const std::string path = base + "_allreduce.csv";
    std::vector<std::string> h;
    std::vector<std::vector<std::string>> rows;
    VARIANT_RETURN_IF_ERROR(ReadCsv(path, &h, &rows));
    auto cg = Col(h, "num_gpus", path), cs = Col(h, "message_size", path),
         cl = Col(h, "latency", path), cb = Col(h, "backend", path);
    for (auto* r : {&cg, &cs, &cl, &cb})
      if (!r->ok()) return r->status();
    for (const auto& r : rows) {
      const bool graph = r[*cb] == "vllm_graph";
      t->ar_[{static_cast<int>(Num(r[*cg])), graph}].emplace_back(Num(r[*cs]), Num(r[*cl]));
    }
    for (auto& [_, v] : t->ar_) std::sort(v.begin(), v.end());
  }
  return t;
}

Result<std::unique_ptr<OpTables>> OpTables::LoadAllReduceOnly(const std::string& path) {
  std::unique_ptr<OpTables> t(new OpTables());
  t->prefix_ = path;
  std::vector<std::string> h;
  std::vector<std::vector<std::string>> rows;
  VARIANT_RETURN_IF_ERROR(ReadCsv(path, &h, &rows));
  auto cg = Col(h, "num_gpus", path), cs = Col(h, "message_size", path),
       cl = Col(h, "latency", path);
  for (auto* r : {&cg, &cs, &cl})
    if (!r->ok()) return r->status();
  std::map<std::pair<int, double>, std::vector<double>> by;
  for (const auto& r : rows) by[{static_cast<int>(Num(r[*cg])), Num(r[*cs])}].push_back(Num(r[*cl]));
  for (auto& [key, v] : by) {
    std::sort(v.begin(), v.end());
    t->ar_[{key.first, false}].emplace_back(key.second, v[v.size() / 2]);
  }
  for (auto& [_, v] : t->ar_) {
    std::sort(v.begin(), v.end());
    // Repeated measurements are noisy at small sizes; keep the latency non-decreasing
    // in size so interpolation never rewards a bigger message.
    for (size_t i = 1; i < v.size(); ++i) v[i].second = std::max(v[i].second, v[i - 1].second);
  }
  return t;
}

double OpTables::GemmGrid(double m, double n, double k) const {
  size_t i, j, l;
  double wi, wj, wl;
  Bracket(gm_, m, &i, &wi);
  Bracket(gn_, n, &j, &wj);
  Bracket(gk_, k, &l, &wl);
  const size_t i1 = std::min(i + 1, gm_.size() - 1), j1 = std::min(j + 1, gn_.size() - 1),
               l1 = std::min(l + 1, gk_.size() - 1);
  auto lerp = [](double a, double b, double w) { return a + (b - a) * w; };
  const double c00 = lerp(GemmAt(i, j, l), GemmAt(i1, j, l), wi);
  const double c01 = lerp(GemmAt(i, j, l1), GemmAt(i1, j, l1), wi);
  const double c10 = lerp(GemmAt(i, j1, l), GemmAt(i1, j1, l), wi);
  const double c11 = lerp(GemmAt(i, j1, l1), GemmAt(i1, j1, l1), wi);
  return lerp(lerp(c00, c01, wl), lerp(c10, c11, wl), wj);
}

double OpTables::GemmMs(double m, double n, double k) const {
  if (!(m > 0) || !(n > 0) || !(k > 0)) return 0;
  double scale = 1;
  if (m > gm_.back()) scale *= m / gm_.back(), m = gm_.back();
  if (n > gn_.back()) scale *= n / gn_.back(), n = gn_.back();
  if (k > gk_.back()) scale *= k / gk_.back(), k = gk_.back();
  return scale * GemmGrid(m, n, k);
}

double OpTables::Interp2(const Grid2& g, double x, double y, bool quadratic_y) {
  double yscale = 1;
  if (y > g.ys.back()) {
    yscale = quadratic_y ? (y / g.ys.back()) * (y / g.ys.back()) : y / g.ys.back();
    y = g.ys.back();
  }
  // Value along x at a fixed y column j: measured points only, linear between them,
  // clamped below, proportional beyond the last measured x.
  auto along_x = [&](size_t j) -> double {
    double px = kNaN, pv = kNaN;
    for (size_t i = 0; i < g.xs.size(); ++i) {
      const double v = g.at(i, j);
      if (std::isnan(v)) continue;
      if (g.xs[i] >= x) {
        if (std::isnan(px)) return v;  // below the first measured point
        return pv + (v - pv) * (x - px) / (g.xs[i] - px);
      }
      px = g.xs[i];
      pv = v;
    }
    if (std::isnan(px)) return kNaN;
    return pv * x / px;
  };
  size_t j;
  double w;
  Bracket(g.ys, y, &j, &w);
  const size_t j1 = std::min(j + 1, g.ys.size() - 1);
  double a = along_x(j), b = along_x(j1);
  if (std::isnan(a)) a = b;
  if (std::isnan(b)) b = a;
  return yscale * (a + (b - a) * w);
}

const Grid2* OpTables::Nearest(const std::map<std::pair<int, int>, Grid2>& m, int heads,
                               int kv, bool by_kv, double* scale) {
  const Grid2* best = nullptr;
  double best_d = 1e300;
  for (const auto& [key, g] : m) {
    // Distance in log space; the dimension the cost scales with is cheaper to bridge.
    const double dh = std::fabs(std::log2(static_cast<double>(heads) / key.first));
    const double dk = std::fabs(std::log2(static_cast<double>(kv) / key.second));
    const double d = by_kv ? 4 * dh + dk : dh + 4 * dk;
    if (d < best_d) {
      best_d = d;
      best = &g;
      *scale = by_kv ? static_cast<double>(kv) / key.second
                     : static_cast<double>(heads) / key.first;
    }
  }
  return best;
}

double OpTables::ContextAttnMs(double batch, double len, int heads, int kv) const {
  if (!(batch > 0) || !(len > 0)) return 0;
  double scale = 1;
  const Grid2* g = Nearest(ctx_, heads, kv, /*by_kv=*/false, &scale);
  if (g == nullptr) return 0;
  return scale * Interp2(*g, batch, len, /*quadratic_y=*/true);
}

double OpTables::GenerationAttnMs(double batch, double ctx, int heads, int kv) const {
  if (!(batch > 0)) return 0;
  ctx = std::max(ctx, 1.0);
  double scale = 1;
  const Grid2* g = Nearest(gen_, heads, kv, /*by_kv=*/true, &scale);
  if (g == nullptr) return 0;
  return scale * Interp2(*g, batch, ctx, /*quadratic_y=*/false);
}

double OpTables::AllReduceMs(double bytes, int gpus, bool graph) const {
  if (gpus <= 1 || !(bytes > 0)) return 0;
  auto it = ar_.find({gpus, graph});
  if (it == ar_.end()) {
    // Unmeasured GPU count (e.g. 16 across nodes): ring all-reduce time grows with
    // 2(g-1)/g; scale from the largest measured count.
    auto last = ar_.end();
    for (auto i = ar_.begin(); i != ar_.end(); ++i)
      if (i->first.second == graph) last = i;
    if (last == ar_.end()) return 0;
    const int g = last->first.first;
    return AllReduceMs(bytes, g, graph) * (2.0 * (gpus - 1) / gpus) / (2.0 * (g - 1) / g);
  }
  const auto& v = it->second;
  if (bytes <= v.front().first) return v.front().second;
  if (bytes >= v.back().first) return v.back().second * bytes / v.back().first;
  auto hi = std::lower_bound(v.begin(), v.end(), std::make_pair(bytes, 0.0));
  auto lo = hi - 1;
  return lo->second + (hi->second - lo->second) * (bytes - lo->first) / (hi->first - lo->first);
}

}  // namespace variant

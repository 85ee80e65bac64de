#include "opt/synth.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <tuple>

namespace variant::opt {
namespace {

struct AccelProto {
  const char* name;
  double cost, speed, mem_gib;
};
// Catalog accelerators (prices from data/catalog.yaml) with relative serving speed.
constexpr AccelProto kCatalog[] = {
    {"a100", 2.21, 1.0, 80}, {"h100", 4.25, 1.9, 80}, {"h200", 4.68, 2.3, 141}, {"l40s", 1.56, 0.55, 45}};

struct ModelProto {
  const char* name;
  double params_b;
};
constexpr ModelProto kModels[] = {{"llama-3-8b", 8},  {"llama-2-7b", 7},   {"mistral-7b", 7.2},
                                  {"qwen2-7b", 7.6},  {"llama-2-13b", 13}, {"mixtral-8x7b", 47},
                                  {"llama-3-70b", 70}, {"qwen2-72b", 72},  {"llama-2-70b", 70}};

struct LenProto {
  double in, out;
};
// Short chat, code completion, long document, long generation, RAG.
constexpr LenProto kLens[] = {{300, 150}, {2000, 30}, {8000, 300}, {500, 900}, {4000, 120}, {120, 60}};

}  // namespace

Instance Synthesize(const SynthSpec& sp) {
  std::mt19937_64 rng(sp.seed);
  std::uniform_real_distribution<double> U(0, 1);
  Instance in;
  struct A2 {
    double speed, mem;
  };
  std::vector<A2> aprops;
  for (int a = 0; a < sp.accelerator_types; ++a) {
    Instance::Accel x;
    if (a < 4) {
      x.name = kCatalog[a].name;
      x.cost = kCatalog[a].cost;
      aprops.push_back({kCatalog[a].speed, kCatalog[a].mem_gib});
    } else {
      x.name = "xpu-" + std::to_string(a);
      const double speed = 0.5 + 2.0 * U(rng);
      // Price roughly tracks speed, with ±30% vendor noise.
      x.cost = 2.2 * speed * (0.7 + 0.6 * U(rng));
      aprops.push_back({speed, U(rng) < 0.5 ? 80.0 : 141.0});
    }
    x.count = -1;
    in.accels.push_back(x);
  }
  in.n_models = sp.models;
  const int tps[] = {1, 2, 4, 8};
  const int batches[] = {64, 128, 256};
  std::lognormal_distribution<double> LN(std::log(6.0), 1.0);
  for (int m = 0; m < sp.models; ++m) {
    const ModelProto& mp = kModels[(m + rng() % 3) % (sizeof(kModels) / sizeof(kModels[0]))];
    (void)mp.name;
    // Candidate variants: distinct (accel, tp, batch, role) that fit in memory.
    std::vector<std::tuple<int, int, int, int>> cands;
    for (int a = 0; a < sp.accelerator_types; ++a)
      for (int tp : tps)
        for (int b : batches)
          for (int role = 0; role < (sp.disaggregated ? 3 : 1); ++role) {
            const double weights_gib = mp.params_b * 2 / tp;
            if (weights_gib > 0.75 * aprops[a].mem) continue;
            cands.push_back({a, tp, b, role});
          }
    std::shuffle(cands.begin(), cands.end(), rng);
    // Keep P/D at most a third of the variants.
    std::vector<std::tuple<int, int, int, int>> chosen;
    int pdn = 0;
    for (const auto& c : cands) {
      if (static_cast<int>(chosen.size()) >= sp.variants_per_model) break;
      if (std::get<3>(c) != 0 && pdn * 3 >= sp.variants_per_model) continue;
      if (std::get<3>(c) != 0) ++pdn;
      chosen.push_back(c);
    }
    const int v0 = static_cast<int>(in.vars.size());
    for (const auto& [a, tp, b, role] : chosen) {
      Instance::Var x;
      x.model = m;
      x.accel = a;
      x.tp = tp;
      x.role = role;
      in.vars.push_back(x);
    }
    // Demand: per class, a mix of length buckets; the model's total rate lognormal.
    const double need = LN(rng) * sp.scale;  // replicas of a reference variant
    for (int c = 0; c < sp.classes; ++c) {
      const double class_share = sp.classes == 1 ? 1.0 : (c == 0 ? 0.6 : 0.4 / (sp.classes - 1));
      const double slo_factor = c == 0 ? 1.0 : 0.7;  // higher classes have tighter SLOs
      std::vector<double> w(sp.buckets);
      double ws = 0;
      for (auto& x : w) ws += (x = 0.1 + U(rng));
      for (int k = 0; k < sp.buckets; ++k) {
        const LenProto& L = kLens[(m * 7 + k * 3 + c) % (sizeof(kLens) / sizeof(kLens[0]))];
        // Reference capacity (rps of one a100-tp1 equivalent per 8B params).
        auto cap_of = [&](double speed, int tp, double b, int role) {
          const double work_p = L.in / 2000.0, work_d = L.out / 60.0;
          double work = work_p + work_d;
          if (role == 1) work = work_p * 1.1;
          if (role == 2) work = work_d * 1.05;
          const double base = 40.0 * speed * std::pow(tp, 0.85) * std::pow(b / 256.0, 0.25) /
                              (mp.params_b / 8.0) / work;
          return base * slo_factor;
        };
        Instance::Dem d;
        d.model = m;
        d.cls = c;
        d.bucket = k;
        d.priority = c;
        d.rate = need * class_share * (w[k] / ws) * cap_of(1.0, 1, 256, 0);
        std::vector<Instance::Pair> pd, pp, dd;
        for (int v = v0; v < static_cast<int>(in.vars.size()); ++v) {
          const auto& x = in.vars[v];
          const double cap = cap_of(aprops[x.accel].speed, x.tp,
                                    std::get<2>(chosen[v - v0]), x.role) *
                             (0.9 + 0.2 * U(rng));
          const int role = in.vars[v].role;
          (role == 0 ? pd : role == 1 ? pp : dd).push_back({v, cap});
        }
        in.dems.push_back(d);
        in.pd.push_back(pd);
        in.p.push_back(pp);
        in.d.push_back(dd);
      }
    }
  }
  in.SetPenalties();
  // Caps: usage of the per-slice cheapest choice, then the cheapest-per-capacity half
  // of the types get tightness × that usage (they bind), the rest 2× (slack).
  std::vector<double> use(in.accels.size(), 0);
  for (size_t i = 0; i < in.dems.size(); ++i) {
    double best = INFINITY;
    int bv = -1;
    double bc = 0;
    for (const auto& q : in.pd[i])
      if (in.Price(q.var) / q.cap < best) {
        best = in.Price(q.var) / q.cap;
        bv = q.var;
        bc = q.cap;
      }
    if (bv >= 0) use[in.vars[bv].accel] += in.vars[bv].tp * in.dems[i].rate / bc;
  }
  std::vector<int> order(in.accels.size());
  for (size_t a = 0; a < order.size(); ++a) order[a] = static_cast<int>(a);
  std::sort(order.begin(), order.end(), [&](int x, int y) { return use[x] > use[y]; });
  double total = 0;
  for (double u : use) total += u;
  for (size_t r = 0; r < order.size(); ++r) {
    const int a = order[r];
    const bool bind = r < (order.size() + 1) / 2;
    in.accels[a].count =
        std::max(8.0, std::floor(bind ? sp.tightness * use[a] : 2.0 * use[a] + 0.25 * total));
  }
  return in;
}

}  // namespace variant::opt

#include "gen.h"

#include <algorithm>
#include <cmath>

namespace variant::opt::test {

Instance Generate(const GenSpec& g, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> U(0, 1);
  Instance in;
  in.n_models = g.models;
  in.transition = g.transition;
  in.time_limit_s = 20;
  for (int a = 0; a < g.accels; ++a)
    in.accels.push_back({"acc" + std::to_string(a), 1.0 + 3.0 * U(rng), -1});
  double need_gpus = 0;
  for (int m = 0; m < g.models; ++m) {
    const int v0 = static_cast<int>(in.vars.size());
    for (int k = 0; k < g.variants; ++k) {
      Instance::Var x;
      x.model = m;
      x.accel = static_cast<int>(rng() % g.accels);
      x.tp = 1 << (rng() % (g.max_tp == 1 ? 1 : (g.max_tp == 2 ? 2 : 3)));
      x.role = g.disaggregated ? static_cast<int>(k % 3) : 0;
      in.vars.push_back(x);
    }
    for (int c = 0; c < g.classes; ++c)
      for (int s = 0; s < g.slices; ++s) {
        Instance::Dem d;
        d.model = m;
        d.cls = c;
        d.bucket = s;
        d.priority = c;
        d.rate = 0.5 + 10 * U(rng);
        std::vector<Instance::Pair> pd, pp, dd;
        double best = 0;
        for (int v = v0; v < static_cast<int>(in.vars.size()); ++v) {
          const double cap = (0.5 + 3 * U(rng)) * std::pow(in.vars[v].tp, 0.8);
          const int role = in.vars[v].role;
          (role == 0 ? pd : role == 1 ? pp : dd).push_back({v, cap});
          best = std::max(best, cap / in.vars[v].tp);
        }
        need_gpus += d.rate / best;
        in.dems.push_back(d);
        in.pd.push_back(pd);
        in.p.push_back(pp);
        in.d.push_back(dd);
      }
  }
  in.SetPenalties();
  for (auto& a : in.accels)
    a.count = std::max(1.0, std::round(g.tightness * need_gpus * 2 / g.accels));
  return in;
}

}  // namespace variant::opt::test

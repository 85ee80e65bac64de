#include "perf/splitwise_check.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <tuple>

#include "perf/step_model.h"

namespace variant {
namespace {

double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = q * (v.size() - 1);
  const size_t i = static_cast<size_t>(pos);
  const double f = pos - i;
  return i + 1 < v.size() ? v[i] * (1 - f) + v[i + 1] * f : v[i];
}

}  // namespace

Result<SplitwiseReport> CheckSplitwise(Context& ctx, const std::string& csv_path,
                                       const std::string& engine) {
  std::ifstream in(csv_path);
  if (!in) return Status(VARIANT_E_IO, "cannot read '" + csv_path + "'");
  std::string line;
  std::getline(in, line);
  using Key = std::tuple<std::string, int, int, int, int>;
  std::map<Key, std::pair<std::vector<double>, std::vector<double>>> groups;
  size_t lineno = 1;
  while (std::getline(in, line)) {
    ++lineno;
    std::vector<std::string> f;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) f.push_back(cell);
    if (f.size() < 11)
      return ParseError(csv_path + ":" + std::to_string(lineno) + ": expected 11 fields");
    // Llama-2-70B on the unconstrained DGX systems (the power-capped H100 rows measure
    // a different operating point).
    if (f[0] != "llama2-70b" || (f[1] != "a100-80gb" && f[1] != "h100-80gb")) continue;
    const Key k{f[1], std::stoi(f[10]), std::stoi(f[2]), std::stoi(f[3]), std::stoi(f[4])};
    groups[k].first.push_back(std::stod(f[7]));
    groups[k].second.push_back(std::stod(f[8]));
  }
  SplitwiseReport rep;
  std::vector<double> ep, ed;
  for (const auto& [k, v] : groups) {
    const auto& [hw, tp, prompt, batch, output] = k;
    auto sm = ctx.GetStepModel("llama-2-70b", hw == "a100-80gb" ? "a100" : "h100", tp, engine);
    if (!sm.ok()) return sm.status();
    SplitwiseRow r{hw, tp, prompt, batch, output};
    r.prefill_meas_ms = Quantile(v.first, 0.5);
    r.decode_meas_ms = Quantile(v.second, 0.5);
    r.prefill_pred_ms = (*sm)->PrefillMs(batch, prompt);
    double d = 0;
    for (int s = 1; s < output; ++s) d += (*sm)->DecodeStepMs(batch, prompt + s);
    r.decode_pred_ms = output > 1 ? d / (output - 1) : (*sm)->DecodeStepMs(batch, prompt);
    ep.push_back(std::fabs(r.prefill_pred_ms - r.prefill_meas_ms) / r.prefill_meas_ms);
    ed.push_back(std::fabs(r.decode_pred_ms - r.decode_meas_ms) / r.decode_meas_ms);
    rep.rows.push_back(r);
  }
  if (rep.rows.empty()) return Status(VARIANT_E_NO_DATA, csv_path + ": no Llama-2-70B rows");
  std::vector<double> all = ep;
  all.insert(all.end(), ed.begin(), ed.end());
  rep.prefill_ape_median = Quantile(ep, 0.5);
  rep.prefill_ape_p90 = Quantile(ep, 0.9);
  rep.decode_ape_median = Quantile(ed, 0.5);
  rep.decode_ape_p90 = Quantile(ed, 0.9);
  rep.all_ape_median = Quantile(all, 0.5);
  rep.all_ape_p90 = Quantile(all, 0.9);
  return rep;
}

}  // namespace variant

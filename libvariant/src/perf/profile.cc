#include "perf/profile.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "context.h"
#include "perf/step_model.h"

namespace variant {
namespace {

constexpr const char* kColumns[] = {"model", "accelerator", "tp",      "kind",
                                    "batch", "input",       "context", "ms"};
constexpr int kNumColumns = 8;
// Measurements are noisy: a point may be this much faster than one with no larger
// batch and no longer length before the rows are called non-monotone.
constexpr double kMonotoneTolerance = 0.10;

std::string Trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r");
  if (a == std::string::npos) return "";
  const size_t b = s.find_last_not_of(" \t\r");
  return s.substr(a, b - a + 1);
}

std::vector<std::string> SplitCsv(const std::string& line) {
  std::vector<std::string> f;
  std::stringstream ss(line);
  std::string cell;
  while (std::getline(ss, cell, ',')) f.push_back(Trim(cell));
  if (!line.empty() && line.back() == ',') f.emplace_back();
  return f;
}

}  // namespace

void FitAffine(const std::vector<std::pair<double, double>>& pts, double* scale, double* add) {
  // Relative-error weights (1/measured²): a 10 % miss costs the same at any size.
  double sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0, lr = 0;
  for (const auto& [x, y] : pts) {
    const double w = 1 / (y * y);
    sw += w, sx += w * x, sy += w * y, sxx += w * x * x, sxy += w * x * y;
    lr += std::log(y / x);
  }
  *add = 0;
  *scale = pts.empty() ? 1 : std::exp(lr / static_cast<double>(pts.size()));
  double lo = 0, hi = 0;
  if (!pts.empty()) lo = hi = pts[0].first;
  for (const auto& p : pts) lo = std::min(lo, p.first), hi = std::max(hi, p.first);
  if (pts.size() < 3 || hi < lo * 1.05) return;  // too few or too alike: scale only
  const double det = sw * sxx - sx * sx;
  if (!(det > 0)) return;
  const double s = (sw * sxy - sx * sy) / det;
  const double c = (sy - s * sx) / sw;
  if (s > 0 && c >= 0 && std::isfinite(s) && std::isfinite(c)) {
    *scale = s;
    *add = c;
  }
}

Status ProfileSet::Load(Context& ctx, const std::string& text, const std::string& source) {
  std::stringstream in(text);
  std::string line;
  int lineno = 0;
  int col[kNumColumns];
  bool have_header = false;
  std::map<Key, std::vector<ProfilePoint>> rows;
  auto where = [&](int ln) { return source + ":" + std::to_string(ln) + ": "; };
  while (std::getline(in, line)) {
    ++lineno;
    const std::string t = Trim(line);
    if (t.empty() || t[0] == '#') continue;
    const std::vector<std::string> f = SplitCsv(t);
    if (!have_header) {
      for (int i = 0; i < kNumColumns; ++i) {
        auto it = std::find(f.begin(), f.end(), kColumns[i]);
        if (it == f.end())
          return MissingField(where(lineno) + "header has no '" + kColumns[i] +
                              "' column (expected model,accelerator,tp,kind,batch,input,context,ms)");
        col[i] = static_cast<int>(it - f.begin());
      }
      have_header = true;
      continue;
    }
    auto cell = [&](int i) -> std::string {
      const size_t c = static_cast<size_t>(col[i]);
      return c < f.size() ? f[c] : std::string();
    };
    auto number = [&](int i, double* out) -> Status {
      const std::string s = cell(i);
      if (s.empty()) return MissingField(where(lineno) + "'" + kColumns[i] + "' is empty");
      char* end = nullptr;
      *out = std::strtod(s.c_str(), &end);
      if (end == s.c_str() || *end != '\0')
        return ParseError(where(lineno) + "'" + kColumns[i] + "' = '" + s + "' is not a number");
      if (!std::isfinite(*out))
        return InvalidArgument(where(lineno) + "'" + kColumns[i] + "' must be finite, not " + s);
      return {};
    };
    const std::string model = cell(0), accel = cell(1), kind = cell(3);
    if (model.empty()) return MissingField(where(lineno) + "'model' is empty");
    if (accel.empty()) return MissingField(where(lineno) + "'accelerator' is empty");
    if (kind.empty()) return MissingField(where(lineno) + "'kind' is empty");
    double tp = 0, batch = 0, ms = 0;
    VARIANT_RETURN_IF_ERROR(number(2, &tp));
    VARIANT_RETURN_IF_ERROR(number(4, &batch));
    VARIANT_RETURN_IF_ERROR(number(7, &ms));
    // Bounded before the int casts below (4e116 was undefined behaviour; found by
    // test/fuzz/fuzz_capi_profiles).
    if (tp < 1 || tp != std::floor(tp) || tp > 1024)
      return InvalidArgument(where(lineno) + "'tp' must be a positive integer (at most 1024)");
    if (batch < 1 || batch != std::floor(batch) || batch > 1e6)
      return InvalidArgument(where(lineno) + "'batch' must be a positive integer");
    if (!(ms > 0)) return InvalidArgument(where(lineno) + "'ms' must be a positive time");
    ProfilePoint p;
    p.batch = static_cast<int>(batch);
    p.ms = ms;
    p.line = lineno;
    if (kind == "prefill") {
      p.prefill = true;
      VARIANT_RETURN_IF_ERROR(number(5, &p.input));
      if (p.input < 1 || p.input > 1e7)  // bounded: cast to long in messages below
        return InvalidArgument(where(lineno) + "'input' must be 1 to 1e7 tokens");
    } else if (kind == "decode") {
      p.prefill = false;
      VARIANT_RETURN_IF_ERROR(number(6, &p.context));
      if (p.context < 0 || p.context > 1e7)
        return InvalidArgument(where(lineno) + "'context' must be 0 to 1e7 tokens");
    } else {
      return InvalidArgument(where(lineno) + "'kind' is '" + kind + "': expected prefill or decode");
    }
    const Key k{model, accel, static_cast<int>(tp)};
    if (rows.find(k) == rows.end()) {
      auto sm = ctx.GetStepModel(model, accel, static_cast<int>(tp));
      if (!sm.ok()) return Status(sm.status().code(), where(lineno) + sm.status().message());
      if (!((*sm)->KvCapacityTokens(0.9) > 0))
        return Status(VARIANT_E_DOES_NOT_FIT, where(lineno) + model + " does not fit " + accel +
                                                  " at tp " + std::to_string(static_cast<int>(tp)));
    }
    rows[k].push_back(p);
  }
  if (!have_header) return MissingField(source + ": no header row and no data");
  if (rows.empty()) return Status(VARIANT_E_NO_DATA, source + ": header but no measurement rows");

  std::map<Key, ProfileFit> fits;
  for (const auto& [k, pts] : rows) {
    // Non-monotone: a point clearly faster than one with no larger batch and no longer
    // length of the same kind is a failed run or a unit mix-up.
    for (const ProfilePoint& a : pts)
      for (const ProfilePoint& b : pts) {
        if (a.prefill != b.prefill || &a == &b) continue;
        const double la = a.prefill ? a.input : a.context, lb = b.prefill ? b.input : b.context;
        if (b.batch >= a.batch && lb >= la && b.ms < a.ms * (1 - kMonotoneTolerance))
          return InvalidArgument(
              where(b.line) + "non-monotone " + (b.prefill ? "prefill" : "decode") + " time: " +
              std::to_string(b.ms) + " ms at batch " + std::to_string(b.batch) + ", length " +
              std::to_string(static_cast<long>(lb)) + " is below " + std::to_string(a.ms) +
              " ms at batch " + std::to_string(a.batch) + ", length " +
              std::to_string(static_cast<long>(la)) + " (line " + std::to_string(a.line) + ")");
      }
    const StepModel* sm = ctx.GetStepModel(std::get<0>(k), std::get<1>(k), std::get<2>(k)).value();
    std::vector<std::pair<double, double>> pre, dec;
    for (const ProfilePoint& p : pts) {
      if (p.prefill)
        pre.emplace_back(sm->PrefillMs(p.batch, p.input), p.ms);
      else
        dec.emplace_back(sm->DecodeStepMs(p.batch, p.context), p.ms);
    }
    ProfileFit fit;
    fit.prefill_points = static_cast<int>(pre.size());
    fit.decode_points = static_cast<int>(dec.size());
    if (!pre.empty()) FitAffine(pre, &fit.prefill_scale, &fit.prefill_add_ms);
    if (!dec.empty()) FitAffine(dec, &fit.decode_scale, &fit.decode_add_ms);
    fits[k] = fit;
  }
  for (auto& [k, f] : fits) fits_[k] = f;
  return {};
}

}  // namespace variant

// Checks the step model against the Splitwise end-to-end measurements
// (data/perf/splitwise/perf_model.csv: Llama-2-70B on DGX-A100/H100, TP 2/4/8; batch
// prefill time and per-token decode time). Each distinct setting's median over its
// repeats is compared with the model; the result holds per-row errors and the median
// and p90 absolute percentage errors.
#ifndef VARIANT_SRC_PERF_SPLITWISE_CHECK_H_
#define VARIANT_SRC_PERF_SPLITWISE_CHECK_H_

#include <string>
#include <vector>

#include "context.h"
#include "status.h"

namespace variant {

struct SplitwiseRow {
  std::string hardware;
  int tp = 0, prompt = 0, batch = 0, output = 0;
  double prefill_meas_ms = 0, prefill_pred_ms = 0;
  double decode_meas_ms = 0, decode_pred_ms = 0;
};

struct SplitwiseReport {
  std::vector<SplitwiseRow> rows;
  double prefill_ape_median = 0, prefill_ape_p90 = 0;
  double decode_ape_median = 0, decode_ape_p90 = 0;
  double all_ape_median = 0, all_ape_p90 = 0;
};

Result<SplitwiseReport> CheckSplitwise(Context& ctx, const std::string& csv_path,
                                       const std::string& engine);

}  // namespace variant

#endif  // VARIANT_SRC_PERF_SPLITWISE_CHECK_H_

// Speed of the performance model (Google Benchmark; not a test). The acceptance figure
// is BM_MaxRateOneBucket: one max_rate evaluation for one (variant, length bucket).
#include <benchmark/benchmark.h>

#include "context.h"
#include "perf/queue_model.h"

namespace variant {
namespace {

Context& Ctx() {
  static std::unique_ptr<Context> c = std::move(Context::Create(ResolveDataDir(nullptr)).value());
  return *c;
}

void BM_StepMs(benchmark::State& st) {
  const StepModel* s = Ctx().GetStepModel("llama-3-8b", "h100", 1).value();
  PrefillChunk c{512, 1024, true};
  StepShape sh{&c, 1, 64, 64 * 1500.0};
  for (auto _ : st) benchmark::DoNotOptimize(s->StepMs(sh));
}
BENCHMARK(BM_StepMs);

void BM_MaxRateOneBucket(benchmark::State& st) {
  ReplicaConfig cfg;
  cfg.step = Ctx().GetStepModel("llama-3-8b", "h100", 1).value();
  auto slo = ParseSlo("ttft_p95_ms=1000,itl_p95_ms=60").value();
  double in = 256;
  for (auto _ : st) {
    Workload w;
    w.input = {in};
    w.output = {200};
    w.weight = {1};
    in = in > 8000 ? 256 : in * 1.3;  // vary the bucket so nothing is cached
    benchmark::DoNotOptimize(MaxRate(cfg, w, slo));
  }
}
BENCHMARK(BM_MaxRateOneBucket);

}  // namespace
}  // namespace variant

BENCHMARK_MAIN();

// Speed of the simulated server: steps per second while serving a steady Poisson
// stream (items_per_second = steps/s; µs per step = 1e6 / that).
// Run: build/bin/sim_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <memory>
#include <vector>

#include "context.h"
#include "sim/runner.h"
#include "sim/server_sim.h"
#include "sim/trace.h"

namespace {

using namespace variant;       // NOLINT
using namespace variant::sim;  // NOLINT

Context* Ctx() {
  static Context* c = Context::Create(ResolveDataDir(nullptr)).value().release();
  return c;
}

// Serves n Poisson requests of the given mean lengths at `load` × saturation.
void ServeStream(benchmark::State& state, double in, double out, double load) {
  const StepModel* step = Ctx()->GetStepModel("llama-3-8b", "h100", 1).value();
  ServerConfig cfg;
  cfg.step = step;
  LengthSampler lengths = LengthSampler::FromWorkload(LognormalMix(in, out)).value();
  RunOptions o;
  o.num_requests = 2000;
  const double sat = SaturationRate(cfg, lengths, o).value();
  std::mt19937_64 rng(1);
  std::vector<SimRequest> reqs(o.num_requests);
  double t = 0;
  for (size_t i = 0; i < reqs.size(); ++i) {
    t += std::exponential_distribution<double>(load * sat)(rng);
    reqs[i].id = i;
    reqs[i].arrival_s = t;
    lengths.Draw(rng, &reqs[i].input_tokens, &reqs[i].output_tokens);
  }
  uint64_t steps = 0, running = 0;
  for (auto _ : state) {
    auto sim = ServerSim::Create(cfg).value();
    for (const SimRequest& r : reqs) (void)sim->Enqueue(r);
    sim->Drain();
    steps += sim->counters().steps;
    running += static_cast<uint64_t>(sim->counters().running_integral / sim->counters().busy_s);
    benchmark::DoNotOptimize(sim->finished().data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(steps));
  state.counters["mean_batch"] = static_cast<double>(running) / static_cast<double>(state.iterations());
}

void BM_ConvLikeAt80pct(benchmark::State& s) { ServeStream(s, 1150, 210, 0.8); }
void BM_CodeLikeAt80pct(benchmark::State& s) { ServeStream(s, 2050, 28, 0.8); }
void BM_ShortAt95pct(benchmark::State& s) { ServeStream(s, 300, 300, 0.95); }
BENCHMARK(BM_ConvLikeAt80pct)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CodeLikeAt80pct)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ShortAt95pct)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();

// variantctl solve / bench-solver: the optimizer. `solve` goes through the C ABI
// (variant_solve); `bench-solver` builds synthetic instances with libvariant's
// internal generator and times both solvers on them.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "commands.h"
#include "opt/solver.h"
#include "opt/synth.h"
#include "variant/variant.h"

namespace variantctl {
namespace {

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::ostringstream ss;
  ss << f.rdbuf();
  *out = ss.str();
  return true;
}

struct SolveOpts {
  std::string problem, current, solver = "fast", json_out, data_dir;
};

int RunSolve(const SolveOpts& o) {
  std::string prob, cur;
  if (!ReadFile(o.problem, &prob)) {
    std::fprintf(stderr, "error: VARIANT_E_IO: cannot read problem file '%s'\n", o.problem.c_str());
    return 1;
  }
  if (!o.current.empty() && !ReadFile(o.current, &cur)) {
    std::fprintf(stderr, "error: VARIANT_E_IO: cannot read current file '%s'\n", o.current.c_str());
    return 1;
  }
  variant_ctx* ctx = nullptr;
  char* err = nullptr;
  int rc = variant_ctx_create(o.data_dir.empty() ? nullptr : o.data_dir.c_str(), &ctx, &err);
  if (rc != VARIANT_OK) {
    std::fprintf(stderr, "error: %s: %s\n", variant_status_name(rc), err ? err : "");
    variant_free(err);
    return 1;
  }
  char* out = nullptr;
  size_t len = 0;
  rc = variant_solve(ctx, prob.data(), prob.size(), cur.empty() ? nullptr : cur.data(), cur.size(),
                     o.solver.c_str(), &out, &len);
  if (rc != VARIANT_OK) {
    std::fprintf(stderr, "error: %s: %s\n", variant_status_name(rc), variant_ctx_last_error(ctx));
    variant_ctx_destroy(ctx);
    return 1;
  }
  std::string doc(out, len);
  variant_free(out);
  variant_ctx_destroy(ctx);
  nlohmann::json j = nlohmann::json::parse(doc);
  const std::string pretty = j.dump(2);
  if (!o.json_out.empty() && o.json_out != "-") {
    std::ofstream f(o.json_out);
    if (!f) {
      std::fprintf(stderr, "error: VARIANT_E_IO: cannot write '%s'\n", o.json_out.c_str());
      return 1;
    }
    f << pretty << "\n";
    // A short human summary on stdout.
    auto num = [&](const char* k) {
      return j.contains(k) && j[k].is_number() ? j[k].get<double>() : NAN;
    };
    std::printf("solver %s: cost_per_hour %.2f lower_bound %.2f gap %.4f solve_ms %.1f, %zu plan steps, %zu unserved\n",
                j.value("solver", "").c_str(), num("cost_per_hour"), num("lower_bound"),
                num("gap"), num("solve_ms"), j["plan"].size(), j["unserved"].size());
  } else {
    std::printf("%s\n", pretty.c_str());
  }
  return 0;
}

struct BenchOpts {
  int models = 100, variants = 20, accels = 4, buckets = 4, classes = 2;
  uint64_t seed = 1;
  double milp_limit = 10, scale = 1, tightness = 0.85;
  std::string solver = "both";
  bool json = false;
};

int RunBench(const BenchOpts& o) {
  variant::opt::SynthSpec sp;
  sp.models = o.models;
  sp.variants_per_model = o.variants;
  sp.accelerator_types = o.accels;
  sp.buckets = o.buckets;
  sp.classes = o.classes;
  sp.seed = o.seed;
  sp.scale = o.scale;
  sp.tightness = o.tightness;
  const auto t0 = std::chrono::steady_clock::now();
  variant::opt::Instance in = variant::opt::Synthesize(sp);
  in.time_limit_s = o.milp_limit;
  const double gen_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  size_t pairs = 0;
  for (size_t i = 0; i < in.dems.size(); ++i) pairs += in.pd[i].size() + in.p[i].size() + in.d[i].size();
  nlohmann::json j;
  j["instance"] = {{"models", o.models}, {"variants_per_model", o.variants},
                   {"accelerator_types", o.accels}, {"variables_n", in.vars.size()},
                   {"slices", in.dems.size()}, {"pairs", pairs}, {"seed", o.seed},
                   {"generate_ms", gen_ms}};
  nlohmann::json acc = nlohmann::json::array();
  for (const auto& a : in.accels) acc.push_back({{"name", a.name}, {"cost", a.cost}, {"count", a.count}});
  j["instance"]["accelerators"] = acc;
  j["solvers"] = nlohmann::json::object();
  for (const std::string w : {"fast", "milp"}) {
    if (o.solver != "both" && o.solver != w) continue;
    // CPU time of this thread as well as wall time: on a shared machine the wall
    // clock includes time the core spent on other processes.
    timespec c0{}, c1{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    auto r = w == "fast" ? variant::opt::SolveFast(in) : variant::opt::SolveMilp(in);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    const double cpu_ms = (c1.tv_sec - c0.tv_sec) * 1e3 + (c1.tv_nsec - c0.tv_nsec) / 1e6;
    if (!r.ok()) {
      j["solvers"][w] = {{"error", variant_status_name(r.status().code())},
                         {"message", r.status().message()}};
      continue;
    }
    const auto& s = *r;
    double unserved = 0;
    for (size_t i = 0; i < in.dems.size(); ++i) unserved += in.dems[i].rate * s.unserved[i];
    j["solvers"][w] = {{"solve_ms", s.solve_ms},  {"cpu_ms", cpu_ms}, {"cost_per_hour", s.cost},
                       {"objective", s.objective},
                       {"lower_bound", variant::opt::CostLowerBound(s)},
                       {"gap", variant::opt::CostGap(s)},
                       {"objective_lower_bound", s.lower_bound},
                       {"objective_gap", s.gap},   {"status", s.status},
                       {"unserved_rps", unserved}};
    if (std::isfinite(s.lp_bound)) j["solvers"][w]["lp_bound"] = s.lp_bound;
    auto chk = variant::opt::CheckSolution(in, s);
    if (!chk.ok()) j["solvers"][w]["check"] = chk.message();
  }
  if (o.json) {
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    for (auto& [w, s] : j["solvers"].items()) {
      if (s.contains("error")) {
        std::printf("%-5s %s: %s\n", w.c_str(), s["error"].get<std::string>().c_str(),
                    s["message"].get<std::string>().c_str());
        continue;
      }
      std::printf(
          "%-5s solve_ms %9.1f  cpu_ms %9.1f  cost_per_hour %12.2f  objective %12.2f  "
          "lower_bound %12.2f  gap %.4f  unserved_rps %.2f  %s\n",
          w.c_str(), s["solve_ms"].get<double>(), s["cpu_ms"].get<double>(),
          s["cost_per_hour"].get<double>(),
          s["objective"].get<double>(), s["lower_bound"].get<double>(), s["gap"].get<double>(),
          s["unserved_rps"].get<double>(), s["status"].get<std::string>().c_str());
    }
  }
  return 0;
}

}  // namespace

void AddSolveCommands(CLI::App& app) {
  {
    auto o = std::make_shared<SolveOpts>();
    CLI::App* c = app.add_subcommand("solve", "solve a cluster allocation problem (docs/problem.md)");
    c->add_option("--problem", o->problem, "problem file (YAML or JSON)")->required();
    c->add_option("--current", o->current, "current allocation / previous decision (YAML or JSON)");
    c->add_option("--solver", o->solver, "fast, milp or both")
        ->check(CLI::IsMember({"fast", "milp", "both"}));
    c->add_option("--json", o->json_out, "write the decision JSON here ('-' = stdout)");
    c->add_option("--data-dir", o->data_dir, "run-time data directory (default: built in)");
    c->callback([o] { SetAction([o] { return RunSolve(*o); }); });
  }
  {
    auto o = std::make_shared<BenchOpts>();
    CLI::App* c = app.add_subcommand("bench-solver", "time the solvers on a synthetic cluster");
    c->add_option("--models", o->models, "models")->check(CLI::Range(1, 100000));
    c->add_option("--variants-per-model", o->variants, "candidate variants per model")
        ->check(CLI::Range(1, 1000));
    c->add_option("--accelerator-types", o->accels, "accelerator types (catalog 4 + synthetic)")
        ->check(CLI::Range(1, 64));
    c->add_option("--buckets", o->buckets, "length buckets per (model, class)")->check(CLI::Range(1, 64));
    c->add_option("--classes", o->classes, "service classes")->check(CLI::Range(1, 8));
    c->add_option("--seed", o->seed, "random seed");
    c->add_option("--scale", o->scale, "demand multiplier");
    c->add_option("--tightness", o->tightness, "binding accelerator counts / unconstrained use");
    c->add_option("--milp-time-limit", o->milp_limit, "MILP time limit, s");
    c->add_option("--solver", o->solver, "fast, milp or both")
        ->check(CLI::IsMember({"fast", "milp", "both"}));
    c->add_flag("--json", o->json, "print JSON");
    c->callback([o] { SetAction([o] { return RunBench(*o); }); });
  }
}

}  // namespace variantctl

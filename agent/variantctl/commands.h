// variantctl's command groups. Each group registers its subcommands on the CLI11 app
// and returns; main() runs whichever was chosen. One file per group so that groups
// grow independently.
#ifndef VARIANT_AGENT_VARIANTCTL_COMMANDS_H_
#define VARIANT_AGENT_VARIANTCTL_COMMANDS_H_

#include <CLI/CLI.hpp>
#include <functional>

namespace variantctl {

// Set by a subcommand's callback; main() runs it after parsing and returns its exit
// code. 0 = success, 1 = bad input or failed operation, 2 = usage error.
using Action = std::function<int()>;
void SetAction(Action a);

void AddModelCommands(CLI::App& app);  // cmd_model.cc: model batch-latency|capacity|...
void AddBusCommands(CLI::App& app);    // cmd_bus.cc: bus-bench
void AddSolveCommands(CLI::App& app);  // cmd_solve.cc: solve, bench-solver
void AddSimCommands(CLI::App& app);    // cmd_sim.cc: sim-server, model-vs-sim
void AddReportCommands(CLI::App& app);  // cmd_report.cc: report
void AddSimulateCommands(CLI::App& app);  // cmd_simulate.cc: simulate

}  // namespace variantctl

#endif  // VARIANT_AGENT_VARIANTCTL_COMMANDS_H_

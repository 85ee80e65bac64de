// variantctl: the command-line tool over libvariant.
#include <cstdio>
#include <string>

#include "commands.h"
#include "variant/variant.h"

namespace variantctl {
namespace {
Action g_action;
}
void SetAction(Action a) { g_action = std::move(a); }
}  // namespace variantctl

int main(int argc, char** argv) {
  CLI::App app{"variantctl: cost-optimal LLM variant autoscaling (libvariant " +
               std::string(variant_version()) + ")"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(variant_version()));
  variantctl::AddModelCommands(app);
  variantctl::AddBusCommands(app);
  variantctl::AddSolveCommands(app);
  variantctl::AddSimCommands(app);
  variantctl::AddReportCommands(app);
  variantctl::AddSimulateCommands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (!variantctl::g_action) return 0;
  return variantctl::g_action();
}

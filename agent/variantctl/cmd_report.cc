// variantctl report: renders a saved `variantctl simulate --json` result as the
// self-contained HTML report (report_html.h, docs/report.md).
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "commands.h"
#include "report_html.h"

namespace variantctl {
namespace {

struct ReportOpts {
  std::string in, html;
};

int RunReport(const ReportOpts& o) {
  std::ifstream f(o.in, std::ios::binary);
  if (!f) {
    std::fprintf(stderr, "error: VARIANT_E_IO: cannot read result file '%s'\n", o.in.c_str());
    return 1;
  }
  std::ostringstream ss;
  ss << f.rdbuf();
  nlohmann::json result;
  try {
    result = nlohmann::json::parse(ss.str());
  } catch (const nlohmann::json::parse_error& e) {
    std::fprintf(stderr, "error: VARIANT_E_INVALID: '%s' is not JSON: %s\n", o.in.c_str(), e.what());
    return 1;
  }
  std::string html = variant::report::RenderHtml(result);
  std::ofstream out(o.html, std::ios::binary | std::ios::trunc);
  out << html;
  out.close();
  if (!out) {
    std::fprintf(stderr, "error: VARIANT_E_IO: cannot write '%s'\n", o.html.c_str());
    return 1;
  }
  std::fprintf(stderr, "report: wrote %s (%zu bytes)\n", o.html.c_str(), html.size());
  return 0;
}

}  // namespace

void AddReportCommands(CLI::App& app) {
  auto o = std::make_shared<ReportOpts>();
  CLI::App* c = app.add_subcommand(
      "report", "render a `simulate --json` result as a self-contained HTML report (docs/report.md)");
  c->add_option("--in", o->in, "simulate result JSON")->required();
  c->add_option("--html", o->html, "HTML file to write")->required();
  c->callback([o] { SetAction([o] { return RunReport(*o); }); });
}

}  // namespace variantctl

// The HTML report of a `variantctl simulate` result (issue 5; docs/report.md).
//
// RenderHtml turns the simulate JSON (schema "variant-simulate/1", see
// docs/report.md) into one self-contained HTML page: inline SVG drawn here, a few
// lines of inline JavaScript that only annotate what the browser drew, no network.
// It never throws on the content of `result`: a missing or ill-typed field is left
// out of its plot or table and named in the page's "Missing from this result" box.
// Every string taken from the JSON is HTML-escaped. Pure function, thread-safe.
#ifndef VARIANT_AGENT_VARIANTCTL_REPORT_HTML_H_
#define VARIANT_AGENT_VARIANTCTL_REPORT_HTML_H_

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace variant::report {

std::string RenderHtml(const nlohmann::json& result);

// Helpers, exposed for tests. Non-finite numbers print as an em dash.
std::string EscapeHtml(std::string_view s);  // & < > " ' as entities
// Fixed decimals with thousands separators: (12345.678, 1) -> "12,345.7".
std::string FormatFixed(double v, int decimals);
std::string FormatUsd(double v);             // "$42.17"; from $1,000 on, no cents
std::string FormatPercent(double fraction, int decimals);  // (0.9957, 2) -> "99.57%"
std::string FormatMs(double ms);             // "3.42 ms", "123 ms", "12.3 s"
std::string FormatDuration(double seconds);  // "1 h 30 min", "45 s"

}  // namespace variant::report

#endif  // VARIANT_AGENT_VARIANTCTL_REPORT_HTML_H_

// Unit tests of the simulate report renderer (agent/variantctl/report_html.h).
#include "report_html.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

namespace variant::report {
namespace {

using nlohmann::json;

json Fixture() {
  std::ifstream f(std::string(REPORT_FIXTURES) + "/result.json");
  std::stringstream ss;
  ss << f.rdbuf();
  return json::parse(ss.str());
}

size_t CountOf(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

// Every <svg ... data-plot="KIND"> ... </svg>, by kind (SVGs do not nest here). Plain
// string search: std::regex trips GCC 12's -Wmaybe-uninitialized under the sanitizers.
std::multimap<std::string, std::string> Plots(const std::string& html) {
  std::multimap<std::string, std::string> out;
  const std::string open = "<svg class=\"plot\" data-plot=\"";
  for (size_t p = html.find(open); p != std::string::npos; p = html.find(open, p + 1)) {
    size_t k = p + open.size();
    std::string kind = html.substr(k, html.find('"', k) - k);
    out.emplace(kind, html.substr(p, html.find("</svg>", p) - p));
  }
  return out;
}

// The "d" of each data path (data-series) in one SVG.
std::vector<std::string> SeriesPaths(const std::string& svg) {
  std::vector<std::string> out;
  const std::string open = "<path data-series=\"";
  for (size_t p = svg.find(open); p != std::string::npos; p = svg.find(open, p + 1)) {
    size_t q = svg.find('"', p + open.size());    // end of the index
    if (svg.compare(q, 5, "\" d=\"") != 0) continue;
    size_t d = q + 5;
    out.push_back(svg.substr(d, svg.find('"', d) - d));
  }
  return out;
}

TEST(ReportFormat, Numbers) {
  EXPECT_EQ(FormatFixed(12345.678, 1), "12,345.7");
  EXPECT_EQ(FormatFixed(999.96, 1), "1,000.0");
  EXPECT_EQ(FormatFixed(-1234567, 0), "-1,234,567");
  EXPECT_EQ(FormatFixed(-0.04, 1), "0.0");  // no "-0.0"
  EXPECT_EQ(FormatFixed(12, 0), "12");
  EXPECT_EQ(FormatFixed(NAN, 2), "\xE2\x80\x94");
  EXPECT_EQ(FormatUsd(42.171), "$42.17");
  EXPECT_EQ(FormatUsd(1234.6), "$1,235");
  EXPECT_EQ(FormatUsd(999.996), "$1,000");
  EXPECT_EQ(FormatUsd(-5), "-$5.00");
  EXPECT_EQ(FormatPercent(0.9957, 2), "99.57%");
  EXPECT_EQ(FormatPercent(0.31, 1), "31.0%");
  EXPECT_EQ(FormatPercent(INFINITY, 1), "\xE2\x80\x94");
  EXPECT_EQ(FormatMs(3.421), "3.42 ms");
  EXPECT_EQ(FormatMs(42.26), "42.3 ms");
  EXPECT_EQ(FormatMs(123.4), "123 ms");
  EXPECT_EQ(FormatMs(2345), "2,345 ms");
  EXPECT_EQ(FormatMs(12345), "12.3 s");
  EXPECT_EQ(FormatDuration(3600), "1 h");
  EXPECT_EQ(FormatDuration(5400), "1 h 30 min");
  EXPECT_EQ(FormatDuration(90), "1 min 30 s");
  EXPECT_EQ(FormatDuration(45), "45 s");
  EXPECT_EQ(FormatDuration(0), "0 s");
  EXPECT_EQ(FormatDuration(86400 * 2), "48 h");
}

TEST(ReportFormat, EscapesEveryHtmlSpecialCharacter) {
  EXPECT_EQ(EscapeHtml("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
  EXPECT_EQ(EscapeHtml("llama-3.1-8b/h100-tp1-pd"), "llama-3.1-8b/h100-tp1-pd");
}

TEST(Report, FixtureHasEveryPlotDrawn) {
  std::string html = RenderHtml(Fixture());
  auto plots = Plots(html);
  EXPECT_EQ(plots.count("cost-bars"), 1u);
  EXPECT_EQ(plots.count("demand"), 1u);
  EXPECT_EQ(plots.count("replicas"), 5u);  // one panel per policy
  EXPECT_EQ(plots.count("cost"), 1u);
  EXPECT_EQ(plots.count("ttft-cdf"), 1u);
  EXPECT_EQ(plots.count("itl-cdf"), 1u);
  std::map<std::string, size_t> min_series = {{"cost-bars", 5}, {"demand", 2}, {"replicas", 3},
                                              {"cost", 5}, {"ttft-cdf", 5}, {"itl-cdf", 5}};
  for (const auto& [kind, svg] : plots) {
    auto paths = SeriesPaths(svg);
    EXPECT_GE(paths.size(), min_series[kind]) << kind;
    size_t segments = 0;
    for (const auto& d : paths) {
      ASSERT_FALSE(d.empty()) << kind;
      EXPECT_EQ(d[0], 'M') << kind;
      EXPECT_EQ(d.find("nan"), std::string::npos) << kind;
      EXPECT_EQ(d.find("inf"), std::string::npos) << kind;
      if (kind != "cost-bars") {
        EXPECT_GE(CountOf(d, "L"), 1u) << kind << ": " << d;
      }
      segments += CountOf(d, "L");
    }
    // Steady replicas (static) are a few long steps; everything else moves.
    if (kind != "cost-bars") {
      EXPECT_GE(segments, kind == "replicas" ? 6u : 60u) << kind;
    }
    EXPECT_NE(svg.find("class=\"tick\""), std::string::npos) << kind << " has no tick labels";
  }
  // Axis titles with units.
  EXPECT_NE(html.find("time since start (min)"), std::string::npos);
  EXPECT_NE(html.find("USD / hour"), std::string::npos);
  EXPECT_NE(html.find("TTFT (log scale)"), std::string::npos);
  EXPECT_NE(html.find(">100 ms</text>"), std::string::npos);  // a log-axis tick
  // Nothing missing in a complete result.
  EXPECT_EQ(html.find("Missing from this result"), std::string::npos);
}

TEST(Report, FixtureFiguresAndSavingsInWords) {
  json r = Fixture();
  std::string html = RenderHtml(r);
  const json& v = r["policies"]["variant"];
  EXPECT_NE(html.find(FormatUsd(v["cost_usd"].get<double>())), std::string::npos);
  EXPECT_NE(html.find("&plusmn;" + FormatUsd(v["cost_usd_ci95"].get<double>())), std::string::npos);
  double vs_hpa = r["savings"]["variant_vs_hpa"].get<double>();
  EXPECT_NE(html.find(FormatPercent(vs_hpa, 1) + " less than tuned HPA"), std::string::npos);
  double vs_oracle = r["savings"]["variant_vs_oracle"].get<double>();
  ASSERT_LT(vs_oracle, 0);
  EXPECT_NE(html.find(FormatPercent(-vs_oracle, 1) + " more than the oracle lower bound"),
            std::string::npos);
  EXPECT_NE(html.find("static peak sizing"), std::string::npos);
  // The tuned HPA target is named and its sweep row marked.
  EXPECT_NE(html.find("Chosen target: <b>3</b>"), std::string::npos);
  EXPECT_NE(html.find("<tr class=\"ours\"><td>3 &#10003;</td>"), std::string::npos);
  EXPECT_EQ(CountOf(html, "&#10003;"), 1u);
  // Per-model rows for both models, each with every policy.
  EXPECT_NE(html.find("rowspan=\"5\">llama-3.1-8b</td>"), std::string::npos);
  EXPECT_NE(html.find("rowspan=\"5\">qwen2.5-32b</td>"), std::string::npos);
  // Self-contained: nothing fetched.
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html, RenderHtml(r));  // deterministic
}

TEST(Report, EscapesUserGivenNames) {
  json r = Fixture();
  const std::string evil_model = "<script>alert(1)</script>";
  const std::string evil_policy = "x\"><img src=x onerror=alert(2)>";
  r["models"][0]["model"] = evil_model;
  r["models"][0]["trace"] = "a&b<c>.csv";
  r["policies"][evil_policy] = r["policies"]["wva"];
  json& reps = r["policies"]["variant"]["series"]["replicas"];
  reps["<b>bold</b>/v'1"] = reps["llama-3.1-8b/l40s-tp1-pd"];
  r["policies"]["variant"]["per_model"][0]["model"] = evil_model;
  r["accelerators"][0]["name"] = "<i>h100</i>";
  r["note"] = "</table><h1>";
  std::string html = RenderHtml(r);
  EXPECT_EQ(CountOf(html, "<script"), 1u);  // only the page's own
  EXPECT_EQ(html.find("<img"), std::string::npos);
  EXPECT_EQ(html.find("<b>bold"), std::string::npos);
  EXPECT_EQ(html.find("<i>h100"), std::string::npos);
  EXPECT_EQ(html.find("</table><h1>"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("x&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"), std::string::npos);
  EXPECT_NE(html.find("&lt;b&gt;bold&lt;/b&gt;/v&#39;1"), std::string::npos);
  EXPECT_NE(html.find("a&amp;b&lt;c&gt;.csv"), std::string::npos);
  // The extra policy is drawn like the others.
  EXPECT_EQ(Plots(html).count("replicas"), 6u);
}

TEST(Report, NeverThrowsOnAnyShape) {
  for (const json& r : {json(), json::array({1, 2}), json::object(), json("x"), json(3.5),
                        json{{"policies", 7}}, json{{"policies", json::object()}},
                        json{{"policies", {{"hpa", 5}, {"variant", nullptr}}}},
                        json{{"policies", {{"variant", {{"series", "x"}}}}}},
                        json{{"models", "x"}, {"accelerators", {1, "a"}}, {"savings", {1}}}}) {
    std::string html;
    EXPECT_NO_THROW(html = RenderHtml(r)) << r.dump();
    EXPECT_NE(html.find("</html>"), std::string::npos) << r.dump();
    EXPECT_NE(html.find("Missing from this result"), std::string::npos) << r.dump();
  }
}

TEST(Report, NamesWhatIsMissingAndDrawsTheRest) {
  json r = Fixture();
  r["policies"].erase("oracle");
  r.erase("savings");
  json& hpa = r["policies"]["hpa"];
  hpa.erase("ttft_ms_hist");
  hpa["itl_ms_hist"]["edges"].erase(0);  // one edge short
  hpa.erase("hpa_sweep");
  r["policies"]["wva"].erase("series");
  r["policies"]["static"]["series"]["cost_per_hour"].erase(0);  // 119 of 120
  r["policies"]["variant"]["utilization"] = "high";            // wrong type
  r["schema"] = "variant-simulate/2";
  std::string html = RenderHtml(r);
  for (const char* m : {"no result for policy oracle", "no &quot;savings&quot; object", "hpa: no ttft_ms_hist",
                        "hpa: itl_ms_hist needs counts and one edge more than counts (has 48 edges, 48 counts)",
                        "hpa: no hpa_sweep", "wva: no series", "static: series.cost_per_hour has 119 samples, t_s has 120",
                        "variant: no utilization", "schema is &quot;variant-simulate/2&quot;"})
    EXPECT_NE(html.find(m), std::string::npos) << m;
  // Savings fall back to cost_usd.
  double v = r["policies"]["variant"]["cost_usd"], h = r["policies"]["hpa"]["cost_usd"];
  EXPECT_NE(html.find(FormatPercent(1 - v / h, 1) + " less than tuned HPA"), std::string::npos);
  EXPECT_NE(html.find("[computed from cost_usd]"), std::string::npos);
  // The rest is still drawn: 4 replica panels with data (wva's says it has none), CDFs without hpa.
  auto plots = Plots(html);
  EXPECT_EQ(plots.count("replicas"), 3u);
  EXPECT_NE(html.find("No replica series for wva."), std::string::npos);
  EXPECT_EQ(SeriesPaths(plots.find("ttft-cdf")->second).size(), 3u);
  EXPECT_EQ(SeriesPaths(plots.find("itl-cdf")->second).size(), 3u);
  EXPECT_EQ(SeriesPaths(plots.find("cost")->second).size(), 3u);
}

TEST(Report, NonFiniteNumbersAreGapsNotGarbage) {
  json r = Fixture();
  json& cph = r["policies"]["variant"]["series"]["cost_per_hour"];
  cph[10] = nullptr;    // what simulate writes for a non-finite value
  cph[11] = NAN;        // and a NaN held in memory
  r["policies"]["hpa"]["cost_usd"] = INFINITY;
  std::string html = RenderHtml(r);
  EXPECT_EQ(html.find("nan"), std::string::npos);
  EXPECT_EQ(html.find("inf\""), std::string::npos);
  EXPECT_NE(html.find("hpa: no cost_usd"), std::string::npos);
  // The gap splits variant's cost line in two pieces.
  auto plots = Plots(html);
  auto paths = SeriesPaths(plots.find("cost")->second);
  size_t max_moves = 0;
  for (const auto& d : paths) max_moves = std::max(max_moves, CountOf(d, "M"));
  EXPECT_EQ(max_moves, 2u);
}

// Extra fields `variantctl simulate` writes beyond the schema are shown, escaped.
TEST(Report, ShowsExtraFieldsAsGiven) {
  json r = Fixture();
  r.erase("slo_attainment_goal");
  r["attainment_goal"] = 0.985;
  r["classes"] = {{{"name", "interactive"}, {"slo", "ttft_p95<=500ms & itl_p95<=50ms"}},
                  {{"name", "batch"}, {"slo", {{"ttlt_p95_ms", 60000}}}}};
  for (auto& [name, p] : r["policies"].items()) {
    p["unserved"] = 17;
    p["per_class"] = {{{"class", "interactive"}, {"slo_attainment", 0.991}},
                      {{"class", "batch"}, {"slo_attainment", 0.5}}};
  }
  r["policies"]["wva"]["last_error"] = "solve failed: <infeasible>";
  json& hpa = r["policies"]["hpa"];
  hpa["hpa_target_factor"] = 1.5;
  hpa["hpa_variant"] = {{"llama-3.1-8b", "h100-tp1-pd"}};
  for (auto& e : hpa["hpa_sweep"]) e["target_factor"] = e["target"].get<double>() / 2;
  std::string html = RenderHtml(r);
  EXPECT_NE(html.find("goal (98.50%)"), std::string::npos);
  EXPECT_NE(html.find("ttft_p95&lt;=500ms &amp; itl_p95&lt;=50ms"), std::string::npos);
  EXPECT_NE(html.find("{&quot;ttlt_p95_ms&quot;:60000}"), std::string::npos);
  EXPECT_NE(html.find("<h3>Per service class</h3>"), std::string::npos);
  EXPECT_EQ(CountOf(html, "<td>50.00%</td>"), 5u);  // batch, every policy
  EXPECT_NE(html.find(">unserved</td><td>17</td>"), std::string::npos);
  EXPECT_NE(html.find("solve failed: &lt;infeasible&gt;"), std::string::npos);
  EXPECT_NE(html.find("llama-3.1-8b on h100-tp1-pd"), std::string::npos);
  EXPECT_NE(html.find("<th>factor</th>"), std::string::npos);
  EXPECT_EQ(CountOf(html, "&#10003;"), 1u);
}

TEST(Report, SteadyStepsStaySmall) {
  std::vector<double> t, reps, cost;
  for (int i = 0; i < 3000; ++i) {
    t.push_back(i * 30.0);
    reps.push_back(i < 1500 ? 3 : 4);
    cost.push_back(i < 1500 ? 12.75 : 17);
  }
  json r = {{"schema", "variant-simulate/1"},
            {"policies",
             {{"variant",
               {{"series",
                 {{"t_s", t}, {"cost_per_hour", cost}, {"replicas", {{"m/h100-tp1", reps}}}}}}}}}};
  std::string html = RenderHtml(r);
  auto plots = Plots(html);
  ASSERT_EQ(plots.count("replicas"), 1u);
  auto paths = SeriesPaths(plots.find("replicas")->second);
  ASSERT_EQ(paths.size(), 2u);  // the band and the total line
  EXPECT_LE(CountOf(paths[0], "L"), 8u) << paths[0];
  EXPECT_LE(CountOf(paths[1], "L"), 4u) << paths[1];
  EXPECT_LT(html.size(), 40000u);
}

TEST(Report, TimeAxisFollowsTheRunLength) {
  json r = Fixture();
  for (auto& [name, p] : r["policies"].items()) {
    json& t = p["series"]["t_s"];
    for (auto& x : t) x = x.get<double>() * 24;  // a day instead of an hour
  }
  r["duration_s"] = 86400;
  std::string html = RenderHtml(r);
  EXPECT_NE(html.find("time since start (h)"), std::string::npos);
  EXPECT_NE(html.find(">24</text>"), std::string::npos);
}

}  // namespace
}  // namespace variant::report

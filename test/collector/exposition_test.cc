#include "variant/collector/exposition.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>
#include <sstream>

#include "variant/collector/derive.h"

namespace variant::collector {
namespace {

std::string Fixture(const std::string& name) {
  std::ifstream f(std::string(COLLECTOR_FIXTURES) + "/" + name);
  EXPECT_TRUE(f.good()) << name;
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(Exposition, ParsesVllmV1Scrape) {
  Exposition e;
  ParseError err;
  ASSERT_TRUE(ParseExposition(Fixture("vllm_v1_t100.txt"), &e, &err)) << FormatError(err);
  EXPECT_EQ(e.TypeOf("vllm:num_requests_running"), MetricType::kGauge);
  EXPECT_EQ(e.TypeOf("vllm:request_prompt_tokens_bucket"), MetricType::kHistogram);
  EXPECT_EQ(e.TypeOf("vllm:prefix_cache_hits_total"), MetricType::kCounter);
  EXPECT_EQ(e.families.at("vllm:num_requests_running").help,
            "Number of requests in model execution batches.");
  const Sample* inf_bucket = nullptr;
  for (const Sample& s : e.samples) {
    if (s.name == "vllm:request_prompt_tokens_bucket" && s.Label("le") &&
        *s.Label("le") == "+Inf") {
      inf_bucket = &s;
    }
  }
  ASSERT_NE(inf_bucket, nullptr);
  EXPECT_EQ(*inf_bucket->Label("model_name"), "llama-3-8b");
  EXPECT_DOUBLE_EQ(inf_bucket->value, 20.0);
}

TEST(Exposition, ForgivesUntidyButValidText) {
  Exposition e;
  ParseError err;
  ASSERT_TRUE(ParseExposition(Fixture("forgiving.txt"), &e, &err)) << FormatError(err);
  ASSERT_EQ(e.samples.size(), 5u);
  const Sample& a = e.samples[0];
  EXPECT_EQ(*a.Label("path"), "C:\\dir");
  EXPECT_EQ(*a.Label("quote"), "say \"hi\"");
  EXPECT_EQ(*a.Label("nl"), "a\nb");
  EXPECT_DOUBLE_EQ(a.value, 1500.0);
  EXPECT_TRUE(std::isinf(e.samples[1].value) && e.samples[1].value > 0);
  EXPECT_TRUE(std::isinf(e.samples[2].value) && e.samples[2].value < 0);
  EXPECT_EQ(e.samples[2].timestamp_ms, 1700000000000);
  EXPECT_TRUE(std::isnan(e.samples[3].value));
  EXPECT_EQ(e.samples[4].name, "untyped_total");
  EXPECT_EQ(e.TypeOf("untyped_total"), MetricType::kUntyped);
  EXPECT_EQ(e.families.at("odd_gauge").help, "A help text with \\ a backslash and \n a newline.");
}

TEST(Exposition, EmptyDocumentIsValid) {
  Exposition e;
  ParseError err;
  EXPECT_TRUE(ParseExposition("", &e, &err));
  EXPECT_TRUE(ParseExposition("\n\n# nothing\n", &e, &err));
  EXPECT_TRUE(e.samples.empty());
}

struct Garbage {
  const char* name;
  const char* text;
  size_t line;
  const char* expect;  // a substring of the message
};

void PrintTo(const Garbage& g, std::ostream* os) { *os << g.name; }

class ExpositionGarbage : public ::testing::TestWithParam<Garbage> {};

TEST_P(ExpositionGarbage, IsRefusedWithLineAndReason) {
  const Garbage& g = GetParam();
  Exposition e;
  ParseError err;
  ASSERT_FALSE(ParseExposition(g.text, &e, &err)) << g.name;
  EXPECT_EQ(err.line, g.line) << FormatError(err);
  EXPECT_NE(err.message.find(g.expect), std::string::npos) << FormatError(err);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ExpositionGarbage,
    ::testing::Values(
        Garbage{"html", "<!DOCTYPE html>\n<html></html>\n", 1, "expected a metric name"},
        Garbage{"unterminated_set", "ok 1\nvllm:x{model_name=\"a\" 1\n", 2,
                "expected ',' or '}'"},
        Garbage{"unterminated_value", "vllm:x{a=\"b} 1\n", 1, "unterminated value"},
        Garbage{"unquoted_value", "vllm:x{a=b} 1\n", 1, "expected '\"'"},
        Garbage{"bad_value", "vllm:x 12abc\n", 1, "invalid value"},
        Garbage{"hex_value", "vllm:x 0x10\n", 1, "invalid value"},
        Garbage{"missing_value", "vllm:x{a=\"b\"}\n", 1, "missing value"},
        Garbage{"trailing", "vllm:x 1 2 3\n", 1, "trailing text"},
        Garbage{"bad_timestamp", "vllm:x 1 1.5\n", 1, "invalid timestamp"},
        Garbage{"no_name", "{a=\"b\"} 1\n", 1, "expected a metric name"},
        Garbage{"digit_name", "9lives 1\n", 1, "expected a metric name"},
        Garbage{"bad_name_char", "vllm-x 1\n", 1, "invalid character"},
        Garbage{"bad_label_name", "x{9a=\"b\"} 1\n", 1, "invalid label name"},
        Garbage{"colon_label", "x{a:b=\"c\"} 1\n", 1, "expected '='"},
        Garbage{"duplicate_label", "x{a=\"1\",a=\"2\"} 1\n", 1, "duplicate label"},
        Garbage{"bad_type", "# TYPE x flavour\n", 1, "unknown metric type"},
        Garbage{"second_type", "# TYPE x gauge\n# TYPE x counter\n", 2, "second # TYPE"},
        Garbage{"type_without_name", "# TYPE\n", 1, "without a valid metric name"},
        Garbage{"json", "{\"data\": [1, 2]}\n", 1, "expected a metric name"}),
    [](const ::testing::TestParamInfo<Garbage>& info) { return std::string(info.param.name); });

TEST(Exposition, RefusesBinaryData) {
  std::string bin("x 1\ny 2\n\0\x7f", 10);
  Exposition e;
  ParseError err;
  ASSERT_FALSE(ParseExposition(bin, &e, &err));
  EXPECT_EQ(err.line, 3u);
  EXPECT_NE(err.message.find("NUL"), std::string::npos);
}

TEST(Exposition, EnforcesLimits) {
  ParseLimits lim;
  lim.max_line = 32;
  lim.max_samples = 2;
  lim.max_labels = 2;
  Exposition e;
  ParseError err;
  EXPECT_FALSE(ParseExposition("x " + std::string(40, '1') + "\n", &e, &err, lim));
  EXPECT_NE(err.message.find("longer"), std::string::npos);
  EXPECT_FALSE(ParseExposition("a 1\nb 2\nc 3\n", &e, &err, lim));
  EXPECT_EQ(err.line, 3u);
  EXPECT_FALSE(ParseExposition("a{x=\"1\",y=\"2\",z=\"3\"} 1\n", &e, &err, lim));
  EXPECT_NE(err.message.find("too many labels"), std::string::npos);
  lim.max_bytes = 4;
  EXPECT_FALSE(ParseExposition("a 1\nb 2\n", &e, &err, lim));
}

}  // namespace
}  // namespace variant::collector

namespace variant::collector {
namespace {

// Mutated and truncated scrapes (fixed seed): the parser either accepts or names a
// line, never crashes, and a refused document never yields samples.
TEST(Exposition, MutatedInputNeverCrashes) {
  const std::string base = Fixture("vllm_v1_t100.txt");
  std::mt19937 rng(20261128);
  const char alphabet[] = "{}=\",# \n\\abc019.+-eEInfNa\r\t:_";
  int accepted = 0, refused = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string s = base;
    int edits = 1 + static_cast<int>(rng() % 8);
    for (int k = 0; k < edits; ++k) {
      size_t pos = rng() % s.size();
      switch (rng() % 4) {
        case 0: s[pos] = alphabet[rng() % (sizeof alphabet - 1)]; break;
        case 1: s.erase(pos, 1 + rng() % 16); break;
        case 2: s.insert(pos, 1, alphabet[rng() % (sizeof alphabet - 1)]); break;
        case 3: s.resize(pos); break;
      }
      if (s.empty()) s = "x";
    }
    Exposition e;
    ParseError err;
    if (ParseExposition(s, &e, &err)) {
      ++accepted;
      Deriver d;  // whatever parses also derives without trouble
      d.Update("p", 0, e);
      d.Update("p", 1, e);
    } else {
      ++refused;
      EXPECT_GE(err.line, 1u);
      EXPECT_FALSE(err.message.empty());
    }
  }
  EXPECT_GT(refused, 0);
  EXPECT_GT(accepted, 0);
}

}  // namespace
}  // namespace variant::collector

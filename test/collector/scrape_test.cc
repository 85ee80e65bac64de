// Scrapes a real HTTP server on loopback (cpp-httplib) serving a fixture.
#include "variant/collector/scrape.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "variant/collector/derive.h"
#include "variant/collector/exposition.h"
#include "loopback_server.h"

namespace variant::collector {
namespace {

using testing::LoopbackServer;

std::string Fixture(const std::string& name) {
  std::ifstream f(std::string(COLLECTOR_FIXTURES) + "/" + name);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(Scrape, ParseEndpoint) {
  Endpoint ep;
  std::string err;
  ASSERT_TRUE(ParseEndpoint("http://127.0.0.1:8000/metrics", &ep, &err));
  EXPECT_EQ(ep.host, "127.0.0.1");
  EXPECT_EQ(ep.port, 8000);
  EXPECT_EQ(ep.path, "/metrics");
  ASSERT_TRUE(ParseEndpoint("http://localhost", &ep, &err));
  EXPECT_EQ(ep.port, 80);
  EXPECT_EQ(ep.path, "/metrics");
  ASSERT_TRUE(ParseEndpoint("http://[::1]:9000/m", &ep, &err));
  EXPECT_EQ(ep.host, "::1");
  EXPECT_EQ(ep.port, 9000);
  EXPECT_FALSE(ParseEndpoint("https://x/metrics", &ep, &err));
  EXPECT_FALSE(ParseEndpoint("http://:80/", &ep, &err));
  EXPECT_FALSE(ParseEndpoint("http://x:99999/", &ep, &err));
  EXPECT_FALSE(ParseEndpoint("http://x:8a/", &ep, &err));
}

TEST(Scrape, TwoScrapesOverHttpGiveRates) {
  LoopbackServer srv;
  Endpoint ep{"127.0.0.1", srv.port(), "/metrics"};
  Deriver d;
  srv.Serve(Fixture("vllm_v1_t100.txt"));
  ScrapeResult r = Scrape(ep);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.http_status, 200);
  Exposition e;
  ParseError pe;
  ASSERT_TRUE(ParseExposition(r.body, &e, &pe)) << FormatError(pe);
  d.Update("pod", 100, e);
  srv.Serve(Fixture("vllm_v1_t110.txt"));
  r = Scrape(ep);
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_TRUE(ParseExposition(r.body, &e, &pe)) << FormatError(pe);
  auto obs = d.Update("pod", 110, e);
  bool found = false;
  for (const auto& o : obs) {
    if (o.model == "llama-3-8b") {
      found = true;
      EXPECT_DOUBLE_EQ(*o.arrival_rps, 2.1);
    }
  }
  EXPECT_TRUE(found);
}

TEST(Scrape, GarbageOverHttpIsAParseErrorNotACrash) {
  LoopbackServer srv;
  srv.Serve(Fixture("garbage_html.txt"));
  ScrapeResult r = Scrape({"127.0.0.1", srv.port(), "/metrics"});
  ASSERT_TRUE(r.ok);
  Exposition e;
  ParseError pe;
  EXPECT_FALSE(ParseExposition(r.body, &e, &pe));
  EXPECT_EQ(pe.line, 1u);
}

TEST(Scrape, ErrorsAreReported) {
  LoopbackServer srv;
  ScrapeResult r = Scrape({"127.0.0.1", srv.port(), "/missing"});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.http_status, 404);
  EXPECT_EQ(r.error, "HTTP 404");

  srv.Serve(std::string(4096, '#'));
  ScrapeOptions small;
  small.max_body_bytes = 1000;
  r = Scrape({"127.0.0.1", srv.port(), "/metrics"}, small);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("exceeds"), std::string::npos) << r.error;

  ScrapeOptions quick;
  quick.read_timeout_s = 0.2;
  r = Scrape({"127.0.0.1", srv.port(), "/hang"}, quick);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.http_status, 0);
  EXPECT_FALSE(r.error.empty());
}

TEST(Scrape, ConnectionRefused) {
  // A port that was free a moment ago: bound without listen(), then closed.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  int port = ntohs(addr.sin_port);
  ::close(fd);
  ScrapeResult r = Scrape({"127.0.0.1", port, "/metrics"});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.http_status, 0);
  EXPECT_NE(r.error.find("GET http://127.0.0.1"), std::string::npos) << r.error;
}

}  // namespace
}  // namespace variant::collector

// The agent's YAML (or JSON) configuration file, agent/daemon/config.h. LoadConfig
// takes a path, so each input is written to a private file first; `problem_file:`
// names resolve against that file's directory.
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "config.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = [] {
    char dir[] = "/tmp/variant-fuzz-config-XXXXXX";
    if (mkdtemp(dir) == nullptr) std::abort();
    return std::string(dir) + "/agent.yaml";
  }();
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  agent::Config cfg;
  std::string err;
  if (!agent::LoadConfig(path, &cfg, &err)) FUZZ_CHECK(!err.empty());
  return 0;
}

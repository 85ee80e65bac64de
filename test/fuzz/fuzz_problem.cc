// The optimizer's problem and current-allocation files (docs/problem.md), parsed only.
// Input: a problem, optionally followed by "\n#--current--\n" and a current document.
#include "fuzz_util.h"
#include "opt/problem.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto [problem, current] = fuzz::Split(fuzz::View(data, size), "\n#--current--\n");
  auto p = variant::opt::ParseProblem(problem);
  if (!p.ok()) {
    FUZZ_CHECK(!p.status().message().empty());
    return 0;
  }
  auto c = variant::opt::ParseCurrent(current, *p);
  if (!c.ok()) FUZZ_CHECK(!c.status().message().empty());
  return 0;
}

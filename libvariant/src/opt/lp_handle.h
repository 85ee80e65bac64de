// lp_solve handles shared by the MILP and the fast solver's exchange: an owning
// pointer and an abort callback that stops a solve at a deadline.
#ifndef VARIANT_SRC_OPT_LP_HANDLE_H_
#define VARIANT_SRC_OPT_LP_HANDLE_H_

#include <lp_lib.h>

#include <chrono>
#include <memory>

namespace variant::opt {

struct LpDeleter {
  void operator()(lprec* lp) const { delete_lp(lp); }
};
using LpPtr = std::unique_ptr<lprec, LpDeleter>;

// put_abortfunc(lp, AbortAt, &deadline): the solve returns (SUBOPTIMAL with an
// incumbent, else an error code) once the deadline has passed.
struct Deadline {
  std::chrono::steady_clock::time_point t;
};
inline int __WINAPI AbortAt(lprec*, void* handle) {
  return std::chrono::steady_clock::now() > static_cast<Deadline*>(handle)->t ? TRUE : FALSE;
}

}  // namespace variant::opt

#endif  // VARIANT_SRC_OPT_LP_HANDLE_H_

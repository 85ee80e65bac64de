#include "status.h"

namespace variant {

std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(variant_status_name(code_)) + ": " + msg_;
}

}  // namespace variant

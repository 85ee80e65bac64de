// Status and Result<T>: the error type used everywhere inside libvariant. A Status
// carries one of the stable variant_status codes and a message naming what was
// wrong; capi.cc turns it into the C ABI's return code and last-error string in one
// place. Cheap to copy when OK (no allocation).
#ifndef VARIANT_SRC_STATUS_H_
#define VARIANT_SRC_STATUS_H_

#include <optional>
#include <string>
#include <utility>
#include <variant>

#include "variant/variant.h"

namespace variant {

class Status {
 public:
  Status() = default;
  Status(variant_status code, std::string msg) : code_(code), msg_(std::move(msg)) {}
  static Status Ok() { return {}; }

  bool ok() const { return code_ == VARIANT_OK; }
  variant_status code() const { return code_; }
  const std::string& message() const { return msg_; }
  std::string ToString() const;

 private:
  variant_status code_ = VARIANT_OK;
  std::string msg_;
};

inline Status InvalidArgument(std::string m) { return {VARIANT_E_INVALID_ARGUMENT, std::move(m)}; }
inline Status ParseError(std::string m) { return {VARIANT_E_PARSE, std::move(m)}; }
inline Status MissingField(std::string m) { return {VARIANT_E_MISSING_FIELD, std::move(m)}; }
inline Status Internal(std::string m) { return {VARIANT_E_INTERNAL, std::move(m)}; }

// Result<T>: a value or a non-OK Status.
template <typename T>
class Result {
 public:
  Result(T v) : v_(std::move(v)) {}  // NOLINT: implicit by design
  Result(Status s) : v_(std::move(s)) {}  // NOLINT: implicit by design
  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

#define VARIANT_RETURN_IF_ERROR(expr)      \
  do {                                     \
    ::variant::Status _st = (expr);        \
    if (!_st.ok()) return _st;             \
  } while (0)

}  // namespace variant

#endif  // VARIANT_SRC_STATUS_H_

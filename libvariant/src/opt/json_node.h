// A read-only view of an nlohmann::json value with the subset of yaml-cpp's YAML::Node
// interface that problem.cc uses, so one templated parser reads both: documents that
// start with '{' go through nlohmann::json (fast, a fraction of yaml-cpp's memory at
// 1000 models x 40 variants), everything else through yaml-cpp. Conversions follow
// YAML's reading of the same text where it matters: a number where a string is wanted
// is its decimal text; an integer field accepts only integral numbers. A failed
// conversion throws std::runtime_error (the parser catches std::exception).
// The viewed json must outlive every JNode made from it. Not thread-safe to share a
// json being modified; reading from several threads is fine.
#ifndef VARIANT_SRC_OPT_JSON_NODE_H_
#define VARIANT_SRC_OPT_JSON_NODE_H_

#include <cmath>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace variant::opt {

class JNode {
 public:
  JNode() = default;
  explicit JNode(const nlohmann::json* j) : j_(j) {}

  explicit operator bool() const { return j_ != nullptr; }
  bool IsNull() const { return j_ && j_->is_null(); }
  bool IsScalar() const { return j_ && (j_->is_string() || j_->is_number() || j_->is_boolean()); }
  bool IsMap() const { return j_ && j_->is_object(); }
  bool IsSequence() const { return j_ && j_->is_array(); }
  size_t size() const { return j_ && (j_->is_array() || j_->is_object()) ? j_->size() : 0; }

  JNode operator[](const char* key) const {
    if (!IsMap()) return JNode();
    auto it = j_->find(key);
    return it == j_->end() ? JNode() : JNode(&*it);
  }
  JNode operator[](const std::string& key) const { return (*this)[key.c_str()]; }
  JNode operator[](size_t i) const {
    return IsSequence() && i < j_->size() ? JNode(&(*j_)[i]) : JNode();
  }
  JNode operator[](int i) const { return (*this)[static_cast<size_t>(i)]; }

  // The scalar's text (numbers in their shortest round-trip form).
  std::string Scalar() const {
    if (!j_) return "";
    if (j_->is_string()) return j_->get_ref<const std::string&>();
    if (j_->is_number() || j_->is_boolean()) return j_->dump();
    return "";
  }

  template <typename T>
  T as() const {
    T out{};
    Convert(&out);
    return out;
  }

  // Map iteration yields items with .first (the key, .as<std::string>()) and .second;
  // sequence iteration yields the elements (an item is a JNode of its value).
  class Iter;
  Iter begin() const;
  Iter end() const;
 protected:
  static const nlohmann::json& Empty() {
    static const nlohmann::json e = nlohmann::json::array();
    return e;
  }
  [[noreturn]] void Fail(const char* want) const {
    throw std::runtime_error(std::string("expected ") + want + ", got " +
                             (j_ ? j_->type_name() : "nothing"));
  }
  void Convert(double* out) const {
    if (!j_ || !j_->is_number()) Fail("a number");
    *out = j_->get<double>();
  }
  void Convert(int* out) const {
    if (!j_ || !j_->is_number()) Fail("an integer");
    const double d = j_->get<double>();
    if (d != std::floor(d) || d < std::numeric_limits<int>::min() ||
        d > std::numeric_limits<int>::max())
      Fail("an integer");
    *out = static_cast<int>(d);
  }
  void Convert(bool* out) const {
    if (!j_ || !j_->is_boolean()) Fail("true or false");
    *out = j_->get<bool>();
  }
  void Convert(std::string* out) const {
    if (!IsScalar()) Fail("a scalar");
    *out = Scalar();
  }
  template <typename T>
  void Convert(std::vector<T>* out) const {
    if (!IsSequence()) Fail("a list");
    out->clear();
    for (size_t i = 0; i < j_->size(); ++i) out->push_back(JNode(&(*j_)[i]).as<T>());
  }
  template <typename T>
  void Convert(std::map<std::string, T>* out) const {
    if (!IsMap()) Fail("a mapping");
    out->clear();
    for (auto it = j_->cbegin(); it != j_->cend(); ++it) (*out)[it.key()] = JNode(&*it).as<T>();
  }

  const nlohmann::json* j_ = nullptr;
};

struct JKey {
  const std::string* s = nullptr;
  template <typename T>
  T as() const {
    static_assert(std::is_same_v<T, std::string>, "map keys are strings");
    return *s;
  }
};

struct JItem : JNode {
  JItem(const nlohmann::json* v, const std::string* k) : JNode(v), first{k}, second(v) {}
  JKey first;
  JNode second;
};

class JNode::Iter {
 public:
  Iter(nlohmann::json::const_iterator it, bool map) : it_(it), map_(map) {}
  JItem operator*() const { return JItem(&*it_, map_ ? &it_.key() : nullptr); }
  Iter& operator++() {
    ++it_;
    return *this;
  }
  bool operator!=(const Iter& o) const { return it_ != o.it_; }

 private:
  nlohmann::json::const_iterator it_;
  bool map_;
};

inline JNode::Iter JNode::begin() const {
  const bool ok = IsMap() || IsSequence();
  return Iter(ok ? j_->cbegin() : Empty().cbegin(), IsMap());
}
inline JNode::Iter JNode::end() const {
  const bool ok = IsMap() || IsSequence();
  return Iter(ok ? j_->cend() : Empty().cend(), IsMap());
}

}  // namespace variant::opt

#endif  // VARIANT_SRC_OPT_JSON_NODE_H_

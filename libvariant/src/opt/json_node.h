// A read-only view of a parsed JSON document with the subset of yaml-cpp's YAML::Node
// interface that problem.cc uses, so one templated parser reads both: documents that
// start with '{' go through simdjson's DOM, everything else through yaml-cpp.
// simdjson keeps a document as one flat tape (about one 8-byte word per value) with
// strings in one buffer, so the agent's 1000 x 40 problem (3.6 MB of JSON) parses in
// a fraction of the memory nlohmann::json's node-per-member tree took (about 27 MB,
// the largest part of a solve's peak). Conversions follow YAML's reading of the same
// text where it matters: a number where a string is wanted is its decimal text (the
// shortest round-trip form); an integer field accepts only integral numbers. A failed
// conversion throws std::runtime_error (the parser catches std::exception).
// The JsonDoc must outlive every JNode made from it. Reading from several threads is
// fine.
#ifndef VARIANT_SRC_OPT_JSON_NODE_H_
#define VARIANT_SRC_OPT_JSON_NODE_H_

#include <simdjson.h>

#include <cmath>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace variant::opt {

// A parsed document: the tape and string buffer the elements point into, so it is
// never moved (held by pointer). The parser that filled it is not kept: its padded
// copy of the text and its structural index (together about twice the text's size)
// are freed before the document is read (problem.cc LoadJson).
struct JsonDoc {
  simdjson::dom::document doc;
  simdjson::dom::element root;
};

class JNode {
 public:
  JNode() = default;
  explicit JNode(simdjson::dom::element e) : e_(e), ok_(true) {}

  explicit operator bool() const { return ok_; }
  bool IsNull() const { return ok_ && e_.is_null(); }
  bool IsScalar() const { return ok_ && (e_.is_string() || e_.is_number() || e_.is_bool()); }
  bool IsMap() const { return ok_ && e_.is_object(); }
  bool IsSequence() const { return ok_ && e_.is_array(); }
  size_t size() const {
    if (IsSequence()) return Count(Arr());
    if (IsMap()) return Count(Obj());
    return 0;
  }

  // The first member named `key` (a repeated key is read as its first occurrence).
  JNode operator[](const char* key) const {
    if (!IsMap()) return JNode();
    simdjson::dom::element v;
    if (Obj().at_key(key).get(v)) return JNode();
    return JNode(v);
  }
  JNode operator[](const std::string& key) const { return (*this)[key.c_str()]; }
  // Linear in i (the tape skips each earlier element in one step).
  JNode operator[](size_t i) const {
    if (!IsSequence()) return JNode();
    size_t k = 0;
    for (simdjson::dom::element v : Arr())
      if (k++ == i) return JNode(v);
    return JNode();
  }
  JNode operator[](int i) const { return i < 0 ? JNode() : (*this)[static_cast<size_t>(i)]; }

  // The scalar's text (numbers in their shortest round-trip form).
  std::string Scalar() const {
    if (!ok_) return "";
    std::string_view sv;
    if (!e_.get_string().get(sv)) return std::string(sv);
    int64_t i;
    if (e_.is_int64() && !e_.get_int64().get(i)) return std::to_string(i);
    uint64_t u;
    if (e_.is_uint64() && !e_.get_uint64().get(u)) return std::to_string(u);
    double d;
    if (e_.is_double() && !e_.get_double().get(d)) return nlohmann::json(d).dump();
    bool b;
    if (!e_.get_bool().get(b)) return b ? "true" : "false";
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
  // By value: a simdjson_result's value_unsafe() is a reference into the temporary.
  simdjson::dom::array Arr() const {
    simdjson::dom::array a;
    if (e_.get_array().get(a)) Fail("a list");
    return a;
  }
  simdjson::dom::object Obj() const {
    simdjson::dom::object o;
    if (e_.get_object().get(o)) Fail("a mapping");
    return o;
  }
  template <typename C>
  static size_t Count(const C& c) {
    // simdjson's count saturates at 0xFFFFFF; past that, count by walking.
    size_t n = c.size();
    if (n < 0xFFFFFF) return n;
    n = 0;
    for (auto it = c.begin(); it != c.end(); ++it) ++n;
    return n;
  }
  [[noreturn]] void Fail(const char* want) const {
    throw std::runtime_error(std::string("expected ") + want + ", got " + TypeName());
  }
  const char* TypeName() const {
    if (!ok_) return "nothing";
    switch (e_.type()) {
      case simdjson::dom::element_type::ARRAY: return "array";
      case simdjson::dom::element_type::OBJECT: return "object";
      case simdjson::dom::element_type::STRING: return "string";
      case simdjson::dom::element_type::BOOL: return "boolean";
      case simdjson::dom::element_type::NULL_VALUE: return "null";
      default: return "number";
    }
  }
  void Convert(double* out) const {
    if (!ok_ || !e_.is_number() || e_.get_double().get(*out)) Fail("a number");
  }
  void Convert(int* out) const {
    double d = 0;
    if (!ok_ || !e_.is_number() || e_.get_double().get(d)) Fail("an integer");
    if (d != std::floor(d) || d < std::numeric_limits<int>::min() ||
        d > std::numeric_limits<int>::max())
      Fail("an integer");
    *out = static_cast<int>(d);
  }
  void Convert(bool* out) const {
    if (!ok_ || e_.get_bool().get(*out)) Fail("true or false");
  }
  void Convert(std::string* out) const {
    if (!IsScalar()) Fail("a scalar");
    *out = Scalar();
  }
  template <typename T>
  void Convert(std::vector<T>* out) const {
    if (!IsSequence()) Fail("a list");
    out->clear();
    for (simdjson::dom::element v : Arr())
      out->push_back(JNode(v).as<T>());
  }
  template <typename T>
  void Convert(std::map<std::string, T>* out) const {
    if (!IsMap()) Fail("a mapping");
    out->clear();
    for (auto kv : Obj())
      (*out)[std::string(kv.key)] = JNode(kv.value).as<T>();
  }

  simdjson::dom::element e_;
  bool ok_ = false;
};

struct JKey {
  std::string_view s;
  template <typename T>
  T as() const {
    static_assert(std::is_same_v<T, std::string>, "map keys are strings");
    return std::string(s);
  }
};

struct JItem : JNode {
  JItem(simdjson::dom::element v, std::string_view k) : JNode(v), first{k}, second(v) {}
  JKey first;
  JNode second;
};

// Iterates an object's members or an array's elements; an end iterator of anything
// else compares equal to its begin.
class JNode::Iter {
 public:
  Iter() = default;
  explicit Iter(simdjson::dom::object::iterator it) : map_(true), o_(it) {}
  explicit Iter(simdjson::dom::array::iterator it) : seq_(true), a_(it) {}
  JItem operator*() const {
    if (map_) {
      auto kv = *o_;
      return JItem(kv.value, kv.key);
    }
    return JItem(*a_, std::string_view());
  }
  Iter& operator++() {
    if (map_) ++o_;
    if (seq_) ++a_;
    return *this;
  }
  bool operator!=(const Iter& o) const {
    if (map_) return o_ != o.o_;
    if (seq_) return a_ != o.a_;
    return false;
  }

 private:
  bool map_ = false, seq_ = false;
  simdjson::dom::object::iterator o_;
  simdjson::dom::array::iterator a_;
};

inline JNode::Iter JNode::begin() const {
  if (IsMap()) return Iter(Obj().begin());
  if (IsSequence()) return Iter(Arr().begin());
  return Iter();
}
inline JNode::Iter JNode::end() const {
  if (IsMap()) return Iter(Obj().end());
  if (IsSequence()) return Iter(Arr().end());
  return Iter();
}

}  // namespace variant::opt

#endif  // VARIANT_SRC_OPT_JSON_NODE_H_

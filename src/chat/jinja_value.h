// The values a Jinja template computes with, modelled on the Python objects jinja2
// hands a chat template: None, bool, int, float, str, list, dict (insertion
// ordered), namespace, callables, and jinja2's default Undefined. The non-obvious
// rule: lists, dicts and namespaces are shared by reference, as in Python, so a
// namespace assigned in a loop is the same object outside it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace fathom::jinja {

class Value;
class Interpreter;

using ValueList = std::vector<Value>;

// Positional and keyword arguments of one call.
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

// A function a template can call: a global, a bound method, a macro, loop.cycle.
struct Callable {
  std::string name;
  std::function<Result<Value>(Interpreter&, CallArgs&)> fn;
};

class ValueDict;

enum class ValueKind { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kNamespace, kCallable };

// Copyable handle; copies share list/dict/namespace/callable payloads.
class Value {
 public:
  Value() = default;  // Undefined
  static Value Undefined(std::string hint = "") {
    Value v;
    v.str_ = std::move(hint);
    return v;
  }
  static Value None() { return Value(ValueKind::kNone); }
  static Value Bool(bool b) {
    Value v(ValueKind::kBool);
    v.int_ = b;
    return v;
  }
  static Value Int(int64_t i) {
    Value v(ValueKind::kInt);
    v.int_ = i;
    return v;
  }
  static Value Float(double f) {
    Value v(ValueKind::kFloat);
    v.float_ = f;
    return v;
  }
  static Value String(std::string s) {
    Value v(ValueKind::kString);
    v.str_ = std::move(s);
    return v;
  }
  static Value List(ValueList items);
  // A list that prints as a Python tuple: (1, 2).
  static Value Tuple(ValueList items);
  static Value Dict(ValueDict dict);
  // A mutable attribute bag (jinja2's namespace()).
  static Value Namespace(ValueDict attrs);
  static Value Function(std::string name, std::function<Result<Value>(Interpreter&, CallArgs&)> fn);
  // Converts JSON (objects keep their key order).
  static Value FromJson(const nlohmann::ordered_json& json);

  ValueKind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == ValueKind::kUndefined; }
  bool is_none() const { return kind_ == ValueKind::kNone; }
  bool is_bool() const { return kind_ == ValueKind::kBool; }
  bool is_int() const { return kind_ == ValueKind::kInt; }
  bool is_float() const { return kind_ == ValueKind::kFloat; }
  // int or float (bool counts as a number, as in Python).
  bool is_number() const { return is_int() || is_float() || is_bool(); }
  bool is_string() const { return kind_ == ValueKind::kString; }
  bool is_list() const { return kind_ == ValueKind::kList; }
  bool is_dict() const { return kind_ == ValueKind::kDict; }
  bool is_namespace() const { return kind_ == ValueKind::kNamespace; }
  bool is_callable() const { return kind_ == ValueKind::kCallable; }

  bool AsBool() const { return int_ != 0; }
  int64_t AsInt() const { return int_; }
  // int, bool or float as a double.
  double AsDouble() const { return is_float() ? float_ : static_cast<double>(int_); }
  const std::string& AsString() const { return str_; }
  // For Undefined: the name that was looked up, for error messages.
  const std::string& undefined_hint() const { return str_; }
  const ValueList& AsList() const { return *list_; }
  const ValueDict& AsDict() const { return *dict_; }
  ValueDict& MutableNamespace() const { return *dict_; }
  const Callable& AsCallable() const { return *fn_; }

  // Python truthiness (Undefined is false).
  bool Truthy() const;
  // Python str(): what {{ value }} prints (Undefined prints nothing).
  std::string Str() const;
  // Python repr(): how a value prints inside a list or dict.
  std::string Repr() const;
  // "str", "int", "dict", ... as Python names the type, for error messages.
  std::string TypeName() const;
  // json.dumps(value, ensure_ascii=False, indent=indent, sort_keys=False).
  // indent < 0 means None. Fails for Undefined, callables and non-finite-safe cases.
  Result<std::string> ToJson(int indent) const;
  // Returns nlohmann JSON for the value (namespaces as objects).
  Result<nlohmann::ordered_json> ToJsonValue() const;

 private:
  explicit Value(ValueKind kind) : kind_(kind) {}

  ValueKind kind_ = ValueKind::kUndefined;
  int64_t int_ = 0;
  double float_ = 0;
  std::string str_;
  std::shared_ptr<const ValueList> list_;
  std::shared_ptr<ValueDict> dict_;
  std::shared_ptr<const Callable> fn_;
};

// An insertion-ordered dict with string keys (all a chat template needs).
class ValueDict {
 public:
  // Returns the value for `key`, or nullptr.
  const Value* Find(std::string_view key) const;
  // Sets `key`, keeping its first insertion position.
  void Set(const std::string& key, Value value);
  const std::vector<std::pair<std::string, Value>>& items() const { return items_; }
  size_t size() const { return items_.size(); }

 private:
  std::vector<std::pair<std::string, Value>> items_;
};

// Python ==.
bool Equals(const Value& a, const Value& b);
// Python repr() of a float ("1.0", "1e-05", "inf").
std::string FloatRepr(double f);
// Python repr() of a str ('it''s' quoting rules).
std::string StringRepr(const std::string& s);

// UTF-8 helpers: strings are indexed by code point, as Python does.
std::vector<std::string> SplitCodePoints(std::string_view s);
size_t CountCodePoints(std::string_view s);

}  // namespace fathom::jinja

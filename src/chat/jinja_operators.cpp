// Python semantics of Jinja's operators, attribute and item access, slicing and
// iteration: what `+`, `//`, `in`, `a.b` and `a[1:-1]` do to template values.
#include <cmath>

#include "chat/jinja_interpreter.h"

namespace fathom::jinja {
namespace {

Status TypeError(const std::string& op, const Value& a, const Value& b) {
  return InvalidArgument("unsupported operand type(s) for " + op + ": '" + a.TypeName() + "' and '" + b.TypeName() +
                         "'");
}

double PyFloorMod(double a, double b) {
  double m = std::fmod(a, b);
  if (m != 0 && ((m < 0) != (b < 0))) m += b;
  return m;
}

Result<Value> Repeat(Interpreter& interp, const Value& seq, int64_t n) {
  if (n <= 0) return seq.is_string() ? Value::String("") : Value::List({});
  if (seq.is_string()) {
    FATHOM_RETURN_IF_ERROR(interp.CheckSize(seq.AsString().size() * static_cast<uint64_t>(n)));
    std::string out;
    for (int64_t i = 0; i < n; ++i) out += seq.AsString();
    return Value::String(std::move(out));
  }
  FATHOM_RETURN_IF_ERROR(interp.CheckSize(seq.AsList().size() * static_cast<uint64_t>(n) * 16));
  ValueList out;
  for (int64_t i = 0; i < n; ++i) out.insert(out.end(), seq.AsList().begin(), seq.AsList().end());
  return Value::List(std::move(out));
}

}  // namespace

Status UndefinedError(const Value& undefined) {
  const std::string& hint = undefined.undefined_hint();
  return InvalidArgument(hint.empty() ? "value is undefined" : hint);
}

Result<Value> BinaryOp(Interpreter& interp, const std::string& op, const Value& a, const Value& b) {
  if (op == "~") {
    std::string s = a.Str();
    s += b.Str();
    FATHOM_RETURN_IF_ERROR(interp.CheckSize(s.size()));
    return Value::String(std::move(s));
  }
  if (a.is_undefined()) return UndefinedError(a);
  if (b.is_undefined()) return UndefinedError(b);
  const bool ints = (a.is_int() || a.is_bool()) && (b.is_int() || b.is_bool());
  const bool nums = a.is_number() && b.is_number();
  if (op == "+") {
    if (ints) {
      int64_t r;
      if (__builtin_add_overflow(a.AsInt(), b.AsInt(), &r)) return OutOfRange("integer overflow");
      return Value::Int(r);
    }
    if (nums) return Value::Float(a.AsDouble() + b.AsDouble());
    if (a.is_string() && b.is_string()) {
      FATHOM_RETURN_IF_ERROR(interp.CheckSize(a.AsString().size() + b.AsString().size()));
      return Value::String(a.AsString() + b.AsString());
    }
    if (a.is_list() && b.is_list()) {
      ValueList out = a.AsList();
      out.insert(out.end(), b.AsList().begin(), b.AsList().end());
      return Value::List(std::move(out));
    }
    if (a.is_string() || b.is_string()) {
      const Value& other = a.is_string() ? b : a;
      return InvalidArgument("can only concatenate str (not \"" + other.TypeName() + "\") to str");
    }
    return TypeError(op, a, b);
  }
  if (op == "-") {
    if (ints) {
      int64_t r;
      if (__builtin_sub_overflow(a.AsInt(), b.AsInt(), &r)) return OutOfRange("integer overflow");
      return Value::Int(r);
    }
    if (nums) return Value::Float(a.AsDouble() - b.AsDouble());
    return TypeError(op, a, b);
  }
  if (op == "*") {
    if (ints) {
      int64_t r;
      if (__builtin_mul_overflow(a.AsInt(), b.AsInt(), &r)) return OutOfRange("integer overflow");
      return Value::Int(r);
    }
    if (nums) return Value::Float(a.AsDouble() * b.AsDouble());
    if ((a.is_string() || a.is_list()) && (b.is_int() || b.is_bool())) return Repeat(interp, a, b.AsInt());
    if ((b.is_string() || b.is_list()) && (a.is_int() || a.is_bool())) return Repeat(interp, b, a.AsInt());
    return TypeError(op, a, b);
  }
  if (op == "/") {
    if (!nums) return TypeError(op, a, b);
    if (b.AsDouble() == 0) return InvalidArgument("division by zero");
    return Value::Float(a.AsDouble() / b.AsDouble());
  }
  if (op == "//" || op == "%") {
    if (!nums) {
      if (op == "%" && a.is_string()) return Unsupported("printf-style '%' string formatting is not supported");
      return TypeError(op, a, b);
    }
    if (b.AsDouble() == 0) return InvalidArgument(op == "//" ? "integer division or modulo by zero" : "modulo by zero");
    if (ints) {
      const int64_t x = a.AsInt(), y = b.AsInt();
      if (x == INT64_MIN && y == -1) return OutOfRange("integer overflow");
      int64_t q = x / y, m = x % y;
      if (m != 0 && ((m < 0) != (y < 0))) {
        --q;
        m += y;
      }
      return Value::Int(op == "//" ? q : m);
    }
    if (op == "%") return Value::Float(PyFloorMod(a.AsDouble(), b.AsDouble()));
    return Value::Float(std::floor(a.AsDouble() / b.AsDouble()));
  }
  if (op == "**") {
    if (!nums) return TypeError(op, a, b);
    if (ints && b.AsInt() >= 0) {
      int64_t base = a.AsInt(), e = b.AsInt(), r = 1;
      while (e > 0) {
        if (e & 1) {
          if (__builtin_mul_overflow(r, base, &r)) return OutOfRange("integer overflow");
        }
        e >>= 1;
        if (e > 0 && __builtin_mul_overflow(base, base, &base)) return OutOfRange("integer overflow");
      }
      return Value::Int(r);
    }
    if (a.AsDouble() == 0 && b.AsDouble() < 0) return InvalidArgument("0.0 cannot be raised to a negative power");
    return Value::Float(std::pow(a.AsDouble(), b.AsDouble()));
  }
  return Internal("unknown operator " + op);
}

namespace {

// Returns -1, 0, 1, or an error when the values cannot be ordered.
Result<int> Order(const Value& a, const Value& b, const std::string& op) {
  if (a.is_number() && b.is_number()) {
    if (!a.is_float() && !b.is_float()) return a.AsInt() < b.AsInt() ? -1 : (a.AsInt() > b.AsInt() ? 1 : 0);
    const double x = a.AsDouble(), y = b.AsDouble();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a.is_string() && b.is_string()) {
    const int c = a.AsString().compare(b.AsString());
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (a.is_list() && b.is_list()) {
    const ValueList& x = a.AsList();
    const ValueList& y = b.AsList();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (Equals(x[i], y[i])) continue;
      return Order(x[i], y[i], op);
    }
    return x.size() < y.size() ? -1 : (x.size() > y.size() ? 1 : 0);
  }
  if (a.is_undefined()) return UndefinedError(a);
  if (b.is_undefined()) return UndefinedError(b);
  return InvalidArgument("'" + op + "' not supported between instances of '" + a.TypeName() + "' and '" +
                         b.TypeName() + "'");
}

}  // namespace

Result<bool> CompareOp(const std::string& op, const Value& a, const Value& b) {
  if (op == "==") return Equals(a, b);
  if (op == "!=") return !Equals(a, b);
  if (op == "in") return Contains(b, a);
  if (op == "not in") {
    FATHOM_ASSIGN_OR_RETURN(bool in, Contains(b, a));
    return !in;
  }
  FATHOM_ASSIGN_OR_RETURN(int c, Order(a, b, op));
  if (op == "<") return c < 0;
  if (op == "<=") return c <= 0;
  if (op == ">") return c > 0;
  if (op == ">=") return c >= 0;
  return Internal("unknown comparison " + op);
}

Result<bool> Contains(const Value& haystack, const Value& needle) {
  switch (haystack.kind()) {
    case ValueKind::kUndefined:
      return false;
    case ValueKind::kString:
      if (!needle.is_string()) {
        return InvalidArgument("'in <string>' requires string as left operand, not " + needle.TypeName());
      }
      return haystack.AsString().find(needle.AsString()) != std::string::npos;
    case ValueKind::kList:
      for (const Value& v : haystack.AsList()) {
        if (Equals(v, needle)) return true;
      }
      return false;
    case ValueKind::kDict:
      return needle.is_string() && haystack.AsDict().Find(needle.AsString()) != nullptr;
    default:
      return InvalidArgument("argument of type '" + haystack.TypeName() + "' is not iterable");
  }
}

Result<ValueList> Iterate(const Value& value) {
  switch (value.kind()) {
    case ValueKind::kUndefined:
      return ValueList{};
    case ValueKind::kList:
      return value.AsList();
    case ValueKind::kDict: {
      ValueList keys;
      for (const auto& [k, v] : value.AsDict().items()) keys.push_back(Value::String(k));
      return keys;
    }
    case ValueKind::kString: {
      ValueList chars;
      for (std::string& c : SplitCodePoints(value.AsString())) chars.push_back(Value::String(std::move(c)));
      return chars;
    }
    default:
      return InvalidArgument("'" + value.TypeName() + "' object is not iterable");
  }
}

Result<Value> GetAttr(const Value& obj, const std::string& name) {
  if (obj.is_undefined()) return UndefinedError(obj);
  Value method = BoundMethod(obj, name);
  if (!method.is_undefined() || !method.undefined_hint().empty()) return method;
  if (obj.is_dict() || obj.is_namespace()) {
    const ValueDict& d = obj.is_dict() ? obj.AsDict() : obj.MutableNamespace();
    if (const Value* v = d.Find(name)) return *v;
  }
  std::string type = obj.is_namespace() ? "Namespace" : obj.TypeName();
  return Value::Undefined("'" + type + " object' has no attribute '" + name + "'");
}

namespace {

// Python index normalisation; returns false when out of range.
bool NormalizeIndex(int64_t* i, size_t size) {
  const int64_t n = static_cast<int64_t>(size);
  if (*i < 0) *i += n;
  return *i >= 0 && *i < n;
}

}  // namespace

Result<Value> GetItem(const Value& obj, const Value& key) {
  if (obj.is_undefined()) return UndefinedError(obj);
  if (obj.is_dict() || obj.is_namespace()) {
    if (key.is_string()) {
      const ValueDict& d = obj.is_dict() ? obj.AsDict() : obj.MutableNamespace();
      if (const Value* v = d.Find(key.AsString())) return *v;
      return GetAttr(obj, key.AsString());
    }
    return Value::Undefined("'" + obj.TypeName() + " object' has no attribute " + key.Repr());
  }
  if ((obj.is_list() || obj.is_string()) && (key.is_int() || key.is_bool())) {
    int64_t i = key.AsInt();
    if (obj.is_list()) {
      if (!NormalizeIndex(&i, obj.AsList().size())) return Value::Undefined("list index out of range");
      return obj.AsList()[static_cast<size_t>(i)];
    }
    std::vector<std::string> cps = SplitCodePoints(obj.AsString());
    if (!NormalizeIndex(&i, cps.size())) return Value::Undefined("string index out of range");
    return Value::String(cps[static_cast<size_t>(i)]);
  }
  if (key.is_string()) return GetAttr(obj, key.AsString());
  return Value::Undefined("'" + obj.TypeName() + " object' has no attribute " + key.Repr());
}

Result<Value> Slice(const Value& obj, const Value& start_v, const Value& stop_v, const Value& step_v) {
  if (obj.is_undefined()) return UndefinedError(obj);
  for (const Value* v : {&start_v, &stop_v, &step_v}) {
    if (!v->is_none() && !v->is_int() && !v->is_bool()) {
      if (v->is_undefined()) return UndefinedError(*v);
      return InvalidArgument("slice indices must be integers or None");
    }
  }
  const int64_t step = step_v.is_none() ? 1 : step_v.AsInt();
  if (step == 0) return InvalidArgument("slice step cannot be zero");
  std::vector<std::string> cps;
  size_t size = 0;
  if (obj.is_list()) {
    size = obj.AsList().size();
  } else if (obj.is_string()) {
    cps = SplitCodePoints(obj.AsString());
    size = cps.size();
  } else {
    return InvalidArgument("'" + obj.TypeName() + "' object is not subscriptable");
  }
  const int64_t n = static_cast<int64_t>(size);
  auto adjust = [&](const Value& v, int64_t dflt) {
    if (v.is_none()) return dflt;
    int64_t i = v.AsInt();
    if (i < 0) {
      i += n;
      if (i < 0) i = step < 0 ? -1 : 0;
    } else if (i >= n) {
      i = step < 0 ? n - 1 : n;
    }
    return i;
  };
  const int64_t start = adjust(start_v, step < 0 ? n - 1 : 0);
  const int64_t stop = adjust(stop_v, step < 0 ? -1 : n);
  std::vector<size_t> picked;
  if (step > 0) {
    for (int64_t i = start; i < stop; i += step) picked.push_back(static_cast<size_t>(i));
  } else {
    for (int64_t i = start; i > stop; i += step) picked.push_back(static_cast<size_t>(i));
  }
  if (obj.is_list()) {
    ValueList out;
    for (size_t i : picked) out.push_back(obj.AsList()[i]);
    return Value::List(std::move(out));
  }
  std::string out;
  for (size_t i : picked) out += cps[i];
  return Value::String(std::move(out));
}

}  // namespace fathom::jinja

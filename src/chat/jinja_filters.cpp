// Jinja's filters (`x | trim`) and tests (`x is defined`) as jinja2 defines them,
// with tojson as transformers overrides it: json.dumps with ensure_ascii=False and
// sort_keys=False, so non-ASCII text and key order survive into the prompt.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "chat/jinja_interpreter.h"
#include "chat/jinja_strings.h"

namespace fathom::jinja {
namespace {

Value Arg(const CallArgs& args, size_t i, const char* name, Value fallback = Value()) {
  if (i < args.positional.size()) return args.positional[i];
  for (const auto& [k, v] : args.keyword) {
    if (k == name) return v;
  }
  return fallback;
}

Value SortedKeys(const Value& v) {
  if (v.is_list()) {
    ValueList out;
    for (const Value& e : v.AsList()) out.push_back(SortedKeys(e));
    return Value::List(std::move(out));
  }
  if (!v.is_dict()) return v;
  std::vector<std::pair<std::string, Value>> items = v.AsDict().items();
  std::stable_sort(items.begin(), items.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  ValueDict d;
  for (auto& [k, e] : items) d.Set(k, SortedKeys(e));
  return Value::Dict(std::move(d));
}

std::string EscapeNonAscii(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out += s[i++];
      continue;
    }
    const size_t n = (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 1;
    uint32_t cp = n == 2 ? c & 0x1f : (n == 3 ? c & 0x0f : (n == 4 ? c & 0x07 : c));
    for (size_t k = 1; k < n && i + k < s.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
    i += n;
    char buf[16];
    if (cp >= 0x10000) {
      cp -= 0x10000;
      std::snprintf(buf, sizeof(buf), "\\u%04x\\u%04x", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3ff));
    } else {
      std::snprintf(buf, sizeof(buf), "\\u%04x", cp);
    }
    out += buf;
  }
  return out;
}

Result<Value> ToJsonFilter(const Value& v, CallArgs& args) {
  Value indent = Arg(args, 0, "indent", Value::None());
  Value ensure_ascii = Arg(args, 99, "ensure_ascii", Value::Bool(false));
  Value separators = Arg(args, 99, "separators", Value::None());
  Value sort_keys = Arg(args, 99, "sort_keys", Value::Bool(false));
  if (!separators.is_none()) return Unsupported("tojson: separators are not supported");
  int n = -1;
  if (indent.is_int()) {
    n = static_cast<int>(std::clamp<int64_t>(indent.AsInt(), 0, 64));
  } else if (!indent.is_none()) {
    return Unsupported("tojson: indent must be an integer");
  }
  FATHOM_ASSIGN_OR_RETURN(std::string text, (sort_keys.Truthy() ? SortedKeys(v) : v).ToJson(n));
  if (ensure_ascii.Truthy()) text = EscapeNonAscii(text);
  return Value::String(std::move(text));
}

std::string HtmlEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

Result<Value> Attribute(const Value& item, const std::string& path) {
  Value cur = item;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    const bool digits = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (cur.is_undefined()) return cur;
    FATHOM_ASSIGN_OR_RETURN(cur, GetItem(cur, digits ? Value::Int(std::stoll(part.substr(0, 18))) : Value::String(part)));
    if (dot == std::string::npos) return cur;
    start = dot + 1;
  }
}

// Case-folded copy for jinja2's case-insensitive sort and unique.
Value Fold(const Value& v, bool case_sensitive) {
  if (!case_sensitive && v.is_string()) return Value::String(AsciiLower(v.AsString()));
  return v;
}

Result<Value> Round(const Value& v, CallArgs& args) {
  if (!v.is_number()) return InvalidArgument("round: expected a number, got " + v.TypeName());
  const Value precision = Arg(args, 0, "precision", Value::Int(0));
  const Value method = Arg(args, 1, "method", Value::String("common"));
  const double scale = std::pow(10.0, static_cast<double>(precision.is_int() ? precision.AsInt() : 0));
  const double x = v.AsDouble() * scale;
  double r;
  const std::string m = method.Str();
  if (m == "common") {
    r = std::nearbyint(x);  // Python's round(): halves go to even
  } else if (m == "ceil") {
    r = std::ceil(x);
  } else if (m == "floor") {
    r = std::floor(x);
  } else {
    return InvalidArgument("round: method must be common, ceil or floor");
  }
  return Value::Float(r / scale);
}

Result<Value> ToInt(const Value& v, CallArgs& args) {
  const Value dflt = Arg(args, 0, "default", Value::Int(0));
  if (v.is_int() || v.is_bool()) return Value::Int(v.AsInt());
  if (v.is_float()) {
    if (!std::isfinite(v.AsDouble()) || std::fabs(v.AsDouble()) > 9.2e18) return dflt;
    return Value::Int(static_cast<int64_t>(v.AsDouble()));
  }
  if (v.is_string()) {
    std::string s = PyStrip(v.AsString(), nullptr, true, true);
    char* end = nullptr;
    errno = 0;
    const long long i = std::strtoll(s.c_str(), &end, 10);
    if (!s.empty() && end == s.c_str() + s.size() && errno == 0) return Value::Int(i);
    const double d = std::strtod(s.c_str(), &end);
    if (!s.empty() && end == s.c_str() + s.size() && std::isfinite(d) && std::fabs(d) < 9.2e18) {
      return Value::Int(static_cast<int64_t>(d));
    }
  }
  return dflt;
}

Result<Value> ToFloat(const Value& v, CallArgs& args) {
  const Value dflt = Arg(args, 0, "default", Value::Float(0.0));
  if (v.is_number()) return Value::Float(v.AsDouble());
  if (v.is_string()) {
    std::string s = PyStrip(v.AsString(), nullptr, true, true);
    char* end = nullptr;
    const double d = std::strtod(s.c_str(), &end);
    if (!s.empty() && end == s.c_str() + s.size()) return Value::Float(d);
  }
  return dflt;
}

Result<Value> Indent(const Value& v, CallArgs& args) {
  const Value width = Arg(args, 0, "width", Value::Int(4));
  const bool first = Arg(args, 1, "first", Value::Bool(false)).Truthy();
  const bool blank = Arg(args, 2, "blank", Value::Bool(false)).Truthy();
  const std::string pad = width.is_string() ? width.AsString() : std::string(static_cast<size_t>(std::clamp<int64_t>(width.AsInt(), 0, 256)), ' ');
  std::string s = v.Str();
  std::string out;
  size_t start = 0;
  bool is_first = true;
  while (true) {
    const size_t nl = s.find('\n', start);
    const std::string line = s.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    const bool indent = is_first ? first : (blank || !line.empty());
    if (indent) out += pad;
    out += line;
    if (nl == std::string::npos) break;
    out += '\n';
    start = nl + 1;
    is_first = false;
  }
  return Value::String(std::move(out));
}

// select/reject/selectattr/rejectattr.
Result<Value> Select(Interpreter& interp, const Value& v, CallArgs& args, bool attr, bool keep_if) {
  FATHOM_ASSIGN_OR_RETURN(ValueList items, Iterate(v));
  size_t next = 0;
  std::string attr_name;
  if (attr) {
    if (args.positional.empty()) return InvalidArgument("selectattr: missing attribute name");
    attr_name = args.positional[next++].Str();
  }
  std::string test;
  if (next < args.positional.size()) test = args.positional[next++].Str();
  CallArgs test_args;
  test_args.positional.assign(args.positional.begin() + static_cast<std::ptrdiff_t>(std::min(next, args.positional.size())), args.positional.end());
  ValueList out;
  for (const Value& item : items) {
    FATHOM_RETURN_IF_ERROR(interp.Step());
    Value subject = item;
    if (attr) {
      FATHOM_ASSIGN_OR_RETURN(subject, Attribute(item, attr_name));
    }
    bool pass;
    if (test.empty()) {
      pass = subject.Truthy();
    } else {
      CallArgs copy = test_args;
      FATHOM_ASSIGN_OR_RETURN(pass, ApplyTest(interp, test, subject, copy));
    }
    if (pass == keep_if) out.push_back(item);
  }
  return Value::List(std::move(out));
}

Result<Value> Map(Interpreter& interp, const Value& v, CallArgs& args) {
  FATHOM_ASSIGN_OR_RETURN(ValueList items, Iterate(v));
  ValueList out;
  const Value attribute = Arg(args, 99, "attribute");
  if (!attribute.is_undefined()) {
    const Value dflt = Arg(args, 99, "default");
    for (const Value& item : items) {
      FATHOM_ASSIGN_OR_RETURN(Value a, Attribute(item, attribute.Str()));
      out.push_back(a.is_undefined() && !dflt.is_undefined() ? dflt : a);
    }
    return Value::List(std::move(out));
  }
  if (args.positional.empty()) return InvalidArgument("map: expected a filter name or attribute=");
  const std::string filter = args.positional[0].Str();
  CallArgs rest;
  rest.positional.assign(args.positional.begin() + 1, args.positional.end());
  rest.keyword = args.keyword;
  for (const Value& item : items) {
    FATHOM_RETURN_IF_ERROR(interp.Step());
    CallArgs copy = rest;
    FATHOM_ASSIGN_OR_RETURN(Value r, ApplyFilter(interp, filter, item, copy));
    out.push_back(std::move(r));
  }
  return Value::List(std::move(out));
}

Result<Value> Sort(const Value& v, CallArgs& args, bool unique) {
  FATHOM_ASSIGN_OR_RETURN(ValueList items, Iterate(v));
  const bool reverse = !unique && Arg(args, 0, "reverse", Value::Bool(false)).Truthy();
  const bool case_sensitive = Arg(args, unique ? 0 : 1, "case_sensitive", Value::Bool(false)).Truthy();
  const Value attribute = Arg(args, unique ? 1 : 2, "attribute", Value::None());
  std::vector<std::pair<Value, Value>> keyed;
  for (const Value& item : items) {
    Value key = item;
    if (!attribute.is_none()) {
      FATHOM_ASSIGN_OR_RETURN(key, Attribute(item, attribute.Str()));
    }
    keyed.emplace_back(Fold(key, case_sensitive), item);
  }
  ValueList out;
  if (unique) {
    std::vector<Value> seen;
    for (auto& [k, item] : keyed) {
      const Value& key = k;
      if (std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return Equals(s, key); })) continue;
      seen.push_back(key);
      out.push_back(item);
    }
    return Value::List(std::move(out));
  }
  Status error;
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& a, const auto& b) {
    Result<bool> lt = CompareOp("<", reverse ? b.first : a.first, reverse ? a.first : b.first);
    if (!lt.ok()) {
      if (error.ok()) error = lt.status();
      return false;
    }
    return *lt;
  });
  if (!error.ok()) return error;
  for (auto& [k, item] : keyed) out.push_back(item);
  return Value::List(std::move(out));
}

}  // namespace

Result<Value> ApplyFilter(Interpreter& interp, const std::string& name, const Value& v, CallArgs& args) {
  if (name == "default" || name == "d") {
    const bool boolean = Arg(args, 1, "boolean", Value::Bool(false)).Truthy();
    if (v.is_undefined() || (boolean && !v.Truthy())) return Arg(args, 0, "default_value", Value::String(""));
    return v;
  }
  if (name == "tojson") return ToJsonFilter(v, args);
  if (name == "safe" || name == "string") {
    return name == "safe" ? v : Value::String(v.Str());
  }
  if (name == "e" || name == "escape" || name == "forceescape") return Value::String(HtmlEscape(v.Str()));
  if (name == "length" || name == "count") {
    switch (v.kind()) {
      case ValueKind::kUndefined: return Value::Int(0);
      case ValueKind::kString: return Value::Int(static_cast<int64_t>(CountCodePoints(v.AsString())));
      case ValueKind::kList: return Value::Int(static_cast<int64_t>(v.AsList().size()));
      case ValueKind::kDict: return Value::Int(static_cast<int64_t>(v.AsDict().size()));
      default: return InvalidArgument("object of type '" + v.TypeName() + "' has no len()");
    }
  }
  if (name == "list") {
    if (v.is_undefined()) return Value::List({});
    FATHOM_ASSIGN_OR_RETURN(ValueList items, Iterate(v));
    return Value::List(std::move(items));
  }
  if (name == "items") {
    if (v.is_undefined()) return Value::List({});
    if (!v.is_dict()) return InvalidArgument("items: expected a mapping, got " + v.TypeName());
    ValueList out;
    for (const auto& [k, e] : v.AsDict().items()) out.push_back(Value::Tuple({Value::String(k), e}));
    return Value::List(std::move(out));
  }
  if (name == "first" || name == "last") {
    if (v.is_undefined()) return UndefinedError(v);
    FATHOM_ASSIGN_OR_RETURN(ValueList items, Iterate(v));
    if (items.empty()) return Value::Undefined("No " + name + " item, sequence was empty.");
    return name == "first" ? items.front() : items.back();
  }
  if (name == "reverse") {
    if (v.is_string()) {
      std::vector<std::string> cps = SplitCodePoints(v.AsString());
      std::string out;
      for (size_t i = cps.size(); i-- > 0;) out += cps[i];
      return Value::String(std::move(out));
    }
    FATHOM_ASSIGN_OR_RETURN(ValueList items, Iterate(v));
    std::reverse(items.begin(), items.end());
    return Value::List(std::move(items));
  }
  if (name == "join") {
    FATHOM_ASSIGN_OR_RETURN(ValueList items, Iterate(v));
    const std::string sep = Arg(args, 0, "d", Value::String("")).Str();
    const Value attribute = Arg(args, 1, "attribute", Value::None());
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
      Value item = items[i];
      if (!attribute.is_none()) {
        FATHOM_ASSIGN_OR_RETURN(item, Attribute(item, attribute.Str()));
      }
      if (i) out += sep;
      out += item.Str();
      FATHOM_RETURN_IF_ERROR(interp.CheckSize(out.size()));
    }
    return Value::String(std::move(out));
  }
  if (name == "map") return Map(interp, v, args);
  if (name == "select" || name == "reject") return Select(interp, v, args, false, name == "select");
  if (name == "selectattr" || name == "rejectattr") return Select(interp, v, args, true, name == "selectattr");
  if (name == "sort") return Sort(v, args, false);
  if (name == "unique") return Sort(v, args, true);
  if (name == "int") return ToInt(v, args);
  if (name == "float") return ToFloat(v, args);
  if (name == "abs") {
    if (v.is_float()) return Value::Float(std::fabs(v.AsDouble()));
    if (v.is_int() || v.is_bool()) {
      if (v.AsInt() == INT64_MIN) return OutOfRange("integer overflow");
      return Value::Int(v.AsInt() < 0 ? -v.AsInt() : v.AsInt());
    }
    if (v.is_undefined()) return UndefinedError(v);
    return InvalidArgument("bad operand type for abs(): '" + v.TypeName() + "'");
  }
  if (name == "round") return Round(v, args);
  if (name == "indent") return Indent(v, args);
  if (name == "attr") {
    FATHOM_ASSIGN_OR_RETURN(Value r, GetAttr(v, Arg(args, 0, "name").Str()));
    return r;
  }
  if (name == "sum" || name == "min" || name == "max") {
    FATHOM_ASSIGN_OR_RETURN(ValueList items, Iterate(v));
    if (name == "sum") {
      Value total = Arg(args, 1, "start", Value::Int(0));
      const Value attribute = Arg(args, 0, "attribute", Value::None());
      for (const Value& item : items) {
        Value x = item;
        if (!attribute.is_none()) {
          FATHOM_ASSIGN_OR_RETURN(x, Attribute(item, attribute.Str()));
        }
        FATHOM_ASSIGN_OR_RETURN(total, BinaryOp(interp, "+", total, x));
      }
      return total;
    }
    if (items.empty()) return Value::Undefined("No " + name + " item, sequence was empty.");
    Value best = items[0];
    for (const Value& item : items) {
      FATHOM_ASSIGN_OR_RETURN(bool lt, CompareOp("<", item, best));
      if (lt == (name == "min") && !Equals(item, best)) best = item;
    }
    return best;
  }
  const std::string s = v.Str();
  if (name == "trim") {
    const Value chars = Arg(args, 0, "chars", Value::None());
    return Value::String(PyStrip(s, chars.is_string() ? &chars.AsString() : nullptr, true, true));
  }
  if (name == "upper") return Value::String(AsciiUpper(s));
  if (name == "lower") return Value::String(AsciiLower(s));
  if (name == "capitalize") return Value::String(PyCapitalize(s));
  if (name == "title") return Value::String(PyTitle(s));
  if (name == "replace") {
    const Value count = Arg(args, 2, "count", Value::None());
    return Value::String(PyReplace(s, Arg(args, 0, "old").Str(), Arg(args, 1, "new").Str(),
                                   count.is_int() ? count.AsInt() : -1));
  }
  if (name == "wordcount") return Value::Int(static_cast<int64_t>(PySplit(s, nullptr, -1, false).size()));
  if (name == "center") {
    const int64_t width = std::clamp<int64_t>(Arg(args, 0, "width", Value::Int(80)).AsInt(), 0, 4096);
    const int64_t len = static_cast<int64_t>(CountCodePoints(s));
    if (len >= width) return Value::String(s);
    const int64_t total = width - len;
    const int64_t left = total / 2 + (total & width & 1);
    return Value::String(std::string(static_cast<size_t>(left), ' ') + s + std::string(static_cast<size_t>(total - left), ' '));
  }
  if (name == "format") {
    return Unsupported("the format filter is not supported");
  }
  return InvalidArgument("no filter named '" + name + "'");
}

bool HasFilter(const std::string& name) {
  static const char* kNames[] = {"default", "d", "tojson", "safe", "string", "e", "escape", "forceescape", "length",
                                 "count", "list", "items", "first", "last", "reverse", "join", "map", "select",
                                 "reject", "selectattr", "rejectattr", "sort", "unique", "int", "float", "abs",
                                 "round", "indent", "attr", "sum", "min", "max", "trim", "upper", "lower",
                                 "capitalize", "title", "replace", "wordcount", "center"};
  return std::any_of(std::begin(kNames), std::end(kNames), [&](const char* n) { return name == n; });
}

bool HasTest(const std::string& name) {
  static const char* kNames[] = {"defined", "undefined", "none", "string", "number", "integer", "float", "mapping",
                                 "sequence", "iterable", "boolean", "true", "false", "callable", "in", "equalto",
                                 "eq", "==", "ne", "!=", "lt", "<", "le", "<=", "gt", ">", "ge", ">=", "lessthan",
                                 "greaterthan", "odd", "even", "divisibleby", "lower", "upper", "sameas", "escaped",
                                 "filter", "test"};
  return std::any_of(std::begin(kNames), std::end(kNames), [&](const char* n) { return name == n; });
}

Result<bool> ApplyTest(Interpreter& interp, const std::string& name, const Value& v, CallArgs& args) {
  const Value other = Arg(args, 0, "value");
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "string") return v.is_string();
  if (name == "number") return v.is_number();
  if (name == "integer") return v.is_int();
  if (name == "float") return v.is_float();
  if (name == "mapping") return v.is_dict();
  if (name == "sequence") return v.is_string() || v.is_list() || v.is_dict();
  if (name == "iterable") return v.is_string() || v.is_list() || v.is_dict() || v.is_undefined();
  if (name == "boolean") return v.is_bool();
  if (name == "true") return v.is_bool() && v.AsBool();
  if (name == "false") return v.is_bool() && !v.AsBool();
  if (name == "callable") return v.is_callable();
  if (name == "escaped") return false;
  if (name == "filter") return HasFilter(v.Str());
  if (name == "test") return HasTest(v.Str());
  if (name == "in") return Contains(other, v);
  if (name == "sameas") {
    if (v.kind() != other.kind()) return false;
    return (v.is_none() || v.is_bool() || v.is_int() || v.is_string()) && Equals(v, other);
  }
  static const std::pair<const char*, const char*> kCompare[] = {
      {"equalto", "=="}, {"eq", "=="}, {"==", "=="}, {"ne", "!="}, {"!=", "!="}, {"lt", "<"}, {"<", "<"},
      {"lessthan", "<"}, {"le", "<="}, {"<=", "<="}, {"gt", ">"}, {">", ">"}, {"greaterthan", ">"}, {"ge", ">="},
      {">=", ">="}};
  for (auto [test, op] : kCompare) {
    if (name == test) return CompareOp(op, v, other);
  }
  if (name == "odd" || name == "even" || name == "divisibleby") {
    if (v.is_undefined()) return UndefinedError(v);
    if (!v.is_int() && !v.is_bool()) return InvalidArgument(name + " test needs an integer, got " + v.TypeName());
    if (name == "divisibleby") {
      if (!other.is_int() || other.AsInt() == 0) return InvalidArgument("divisibleby needs a non-zero integer");
      Result<Value> m = BinaryOp(interp, "%", v, other);
      if (!m.ok()) return m.status();
      return m->AsInt() == 0;
    }
    const bool odd = (v.AsInt() % 2) != 0;
    return name == "odd" ? odd : !odd;
  }
  if (name == "lower" || name == "upper") {
    const std::string s = v.Str();
    return name == "lower" ? s == AsciiLower(s) : s == AsciiUpper(s);
  }
  return InvalidArgument("no test named '" + name + "'");
}

}  // namespace fathom::jinja

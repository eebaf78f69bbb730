// Methods of str, dict and list values as Python defines them (what
// `message.content.split('</think>')` calls), and the template globals
// transformers provides: range, namespace, dict, raise_exception, strftime_now.
// The non-obvious rule: methods that would mutate a list or dict are refused, as
// jinja2's ImmutableSandboxedEnvironment refuses them.
#include <ctime>

#include "chat/jinja_interpreter.h"
#include "chat/jinja_strings.h"

namespace fathom::jinja {
namespace {

using Fn = std::function<Result<Value>(Interpreter&, CallArgs&)>;

// Returns positional argument i, or keyword `name`, or `fallback`.
Value Arg(const CallArgs& args, size_t i, const char* name, Value fallback = Value()) {
  if (i < args.positional.size()) return args.positional[i];
  for (const auto& [k, v] : args.keyword) {
    if (k == name) return v;
  }
  return fallback;
}

Result<std::string> StrArg(const CallArgs& args, size_t i, const char* name, const char* method) {
  Value v = Arg(args, i, name);
  if (!v.is_string()) return InvalidArgument(std::string(method) + "() argument must be str, not " + v.TypeName());
  return v.AsString();
}

Result<Value> StringMethod(const std::string& s, const std::string& name, CallArgs& args) {
  if (name == "upper") return Value::String(AsciiUpper(s));
  if (name == "lower") return Value::String(AsciiLower(s));
  if (name == "title") return Value::String(PyTitle(s));
  if (name == "capitalize") return Value::String(PyCapitalize(s));
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    Value chars = Arg(args, 0, "chars", Value::None());
    if (!chars.is_none() && !chars.is_string()) return InvalidArgument(name + " arg must be None or str");
    const std::string* set = chars.is_string() ? &chars.AsString() : nullptr;
    return Value::String(PyStrip(s, set, name != "rstrip", name != "lstrip"));
  }
  if (name == "split" || name == "rsplit") {
    Value sep = Arg(args, 0, "sep", Value::None());
    Value max = Arg(args, 1, "maxsplit", Value::Int(-1));
    if (!sep.is_none() && !sep.is_string()) return InvalidArgument("must be str or None, not " + sep.TypeName());
    if (!max.is_int()) return InvalidArgument("maxsplit must be an integer");
    if (sep.is_string() && sep.AsString().empty()) return InvalidArgument("empty separator");
    ValueList out;
    for (std::string& part : PySplit(s, sep.is_string() ? &sep.AsString() : nullptr, max.AsInt(), name == "rsplit")) {
      out.push_back(Value::String(std::move(part)));
    }
    return Value::List(std::move(out));
  }
  if (name == "splitlines") {
    ValueList out;
    for (std::string& line : PySplitLines(s)) out.push_back(Value::String(std::move(line)));
    return Value::List(std::move(out));
  }
  if (name == "startswith" || name == "endswith") {
    Value arg = Arg(args, 0, "prefix");
    std::vector<std::string> options;
    if (arg.is_string()) {
      options.push_back(arg.AsString());
    } else if (arg.is_list()) {
      for (const Value& v : arg.AsList()) {
        if (!v.is_string()) return InvalidArgument(name + " tuple must contain only strings");
        options.push_back(v.AsString());
      }
    } else {
      return InvalidArgument(name + " first arg must be str or a tuple of str, not " + arg.TypeName());
    }
    for (const std::string& o : options) {
      const bool hit = name == "startswith" ? s.compare(0, o.size(), o) == 0 && s.size() >= o.size()
                                            : s.size() >= o.size() && s.compare(s.size() - o.size(), o.size(), o) == 0;
      if (hit) return Value::Bool(true);
    }
    return Value::Bool(false);
  }
  if (name == "replace") {
    FATHOM_ASSIGN_OR_RETURN(std::string from, StrArg(args, 0, "old", "replace"));
    FATHOM_ASSIGN_OR_RETURN(std::string to, StrArg(args, 1, "new", "replace"));
    Value count = Arg(args, 2, "count", Value::Int(-1));
    if (!count.is_int()) return InvalidArgument("replace() count must be an integer");
    return Value::String(PyReplace(s, from, to, count.AsInt()));
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex") {
    FATHOM_ASSIGN_OR_RETURN(std::string sub, StrArg(args, 0, "sub", name.c_str()));
    const size_t at = (name[0] == 'r') ? s.rfind(sub) : s.find(sub);
    if (at == std::string::npos) {
      if (name == "index" || name == "rindex") return InvalidArgument("substring not found");
      return Value::Int(-1);
    }
    return Value::Int(static_cast<int64_t>(CountCodePoints(std::string_view(s).substr(0, at))));
  }
  if (name == "count") {
    FATHOM_ASSIGN_OR_RETURN(std::string sub, StrArg(args, 0, "sub", "count"));
    if (sub.empty()) return Value::Int(static_cast<int64_t>(CountCodePoints(s)) + 1);
    int64_t n = 0;
    for (size_t at = s.find(sub); at != std::string::npos; at = s.find(sub, at + sub.size())) ++n;
    return Value::Int(n);
  }
  if (name == "join") {
    FATHOM_ASSIGN_OR_RETURN(ValueList items, Iterate(Arg(args, 0, "iterable")));
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
      if (!items[i].is_string()) {
        return InvalidArgument("sequence item " + std::to_string(i) + ": expected str instance, " +
                               items[i].TypeName() + " found");
      }
      if (i) out += s;
      out += items[i].AsString();
    }
    return Value::String(std::move(out));
  }
  if (name == "format") return PyFormat(s, args);
  if (name == "removeprefix" || name == "removesuffix") {
    FATHOM_ASSIGN_OR_RETURN(std::string a, StrArg(args, 0, "prefix", name.c_str()));
    if (name == "removeprefix" && s.compare(0, a.size(), a) == 0 && s.size() >= a.size()) {
      return Value::String(s.substr(a.size()));
    }
    if (name == "removesuffix" && s.size() >= a.size() && !a.empty() && s.compare(s.size() - a.size(), a.size(), a) == 0) {
      return Value::String(s.substr(0, s.size() - a.size()));
    }
    return Value::String(s);
  }
  if (name == "isdigit" || name == "isalpha" || name == "isspace" || name == "isalnum" || name == "isupper" ||
      name == "islower") {
    return Value::Bool(PyIsClass(s, name));
  }
  return Internal("unknown str method " + name);
}

bool IsStringMethod(const std::string& name) {
  static const char* kNames[] = {"upper", "lower", "title", "capitalize", "strip", "lstrip", "rstrip", "split",
                                 "rsplit", "splitlines", "startswith", "endswith", "replace", "find", "rfind",
                                 "index", "rindex", "count", "join", "format", "removeprefix", "removesuffix",
                                 "isdigit", "isalpha", "isspace", "isalnum", "isupper", "islower"};
  for (const char* n : kNames) {
    if (name == n) return true;
  }
  return false;
}

Result<Value> DictMethod(const Value& obj, const std::string& name, CallArgs& args) {
  const ValueDict& d = obj.AsDict();
  if (name == "items") {
    ValueList out;
    for (const auto& [k, v] : d.items()) out.push_back(Value::Tuple({Value::String(k), v}));
    return Value::List(std::move(out));
  }
  if (name == "keys") {
    ValueList out;
    for (const auto& [k, v] : d.items()) out.push_back(Value::String(k));
    return Value::List(std::move(out));
  }
  if (name == "values") {
    ValueList out;
    for (const auto& [k, v] : d.items()) out.push_back(v);
    return Value::List(std::move(out));
  }
  // get
  Value key = Arg(args, 0, "key");
  if (key.is_string()) {
    if (const Value* v = d.Find(key.AsString())) return *v;
  }
  return Arg(args, 1, "default", Value::None());
}

Result<Value> ListMethod(const Value& obj, const std::string& name, CallArgs& args) {
  const ValueList& l = obj.AsList();
  Value x = Arg(args, 0, "value");
  int64_t n = 0;
  for (size_t i = 0; i < l.size(); ++i) {
    if (!Equals(l[i], x)) continue;
    if (name == "index") return Value::Int(static_cast<int64_t>(i));
    ++n;
  }
  if (name == "index") return InvalidArgument(x.Repr() + " is not in list");
  return Value::Int(n);
}

Value Unsafe(const std::string& name, const Value& obj) {
  return Value::Undefined("access to attribute '" + name + "' of '" + obj.TypeName() + "' object is unsafe.");
}

}  // namespace

Value BoundMethod(const Value& obj, const std::string& name) {
  if (obj.is_string()) {
    if (!IsStringMethod(name)) return Value();
    const std::string s = obj.AsString();
    return Value::Function("str." + name, [s, name](Interpreter&, CallArgs& args) { return StringMethod(s, name, args); });
  }
  if (obj.is_dict()) {
    if (name == "items" || name == "keys" || name == "values" || name == "get") {
      return Value::Function("dict." + name,
                             [obj, name](Interpreter&, CallArgs& args) { return DictMethod(obj, name, args); });
    }
    for (const char* m : {"update", "pop", "popitem", "setdefault", "clear", "copy", "fromkeys"}) {
      if (name == m) return Unsafe(name, obj);
    }
    return Value();
  }
  if (obj.is_list()) {
    if (name == "index" || name == "count") {
      return Value::Function("list." + name,
                             [obj, name](Interpreter&, CallArgs& args) { return ListMethod(obj, name, args); });
    }
    for (const char* m : {"append", "extend", "insert", "pop", "remove", "sort", "reverse", "clear", "copy"}) {
      if (name == m) return Unsafe(name, obj);
    }
  }
  return Value();
}

namespace {

Result<Value> Range(Interpreter& interp, CallArgs& args) {
  int64_t r[3] = {0, 0, 1};
  const size_t n = args.positional.size();
  if (n < 1 || n > 3) return InvalidArgument("range expected 1 to 3 arguments, got " + std::to_string(n));
  for (size_t i = 0; i < n; ++i) {
    if (!args.positional[i].is_int() && !args.positional[i].is_bool()) {
      return InvalidArgument("'" + args.positional[i].TypeName() + "' object cannot be interpreted as an integer");
    }
  }
  if (n == 1) {
    r[1] = args.positional[0].AsInt();
  } else {
    r[0] = args.positional[0].AsInt();
    r[1] = args.positional[1].AsInt();
    if (n == 3) r[2] = args.positional[2].AsInt();
  }
  if (r[2] == 0) return InvalidArgument("range() arg 3 must not be zero");
  ValueList out;
  for (int64_t i = r[0]; r[2] > 0 ? i < r[1] : i > r[1];) {
    FATHOM_RETURN_IF_ERROR(interp.Step());
    out.push_back(Value::Int(i));
    if (__builtin_add_overflow(i, r[2], &i)) break;
  }
  return Value::List(std::move(out));
}

Result<Value> KeywordDict(CallArgs& args, bool is_namespace) {
  ValueDict d;
  if (!args.positional.empty()) {
    const Value& init = args.positional[0];
    if (!init.is_dict() || args.positional.size() > 1) {
      return InvalidArgument(std::string(is_namespace ? "namespace" : "dict") + "() takes a mapping and keywords");
    }
    for (const auto& [k, v] : init.AsDict().items()) d.Set(k, v);
  }
  for (const auto& [k, v] : args.keyword) d.Set(k, v);
  return is_namespace ? Value::Namespace(std::move(d)) : Value::Dict(std::move(d));
}

}  // namespace

void AddGlobals(ValueDict* globals) {
  globals->Set("range", Value::Function("range", Range));
  globals->Set("namespace", Value::Function("namespace", [](Interpreter&, CallArgs& a) { return KeywordDict(a, true); }));
  globals->Set("dict", Value::Function("dict", [](Interpreter&, CallArgs& a) { return KeywordDict(a, false); }));
  globals->Set("raise_exception", Value::Function("raise_exception", [](Interpreter&, CallArgs& a) -> Result<Value> {
                 const std::string message = a.positional.empty() ? "" : a.positional[0].Str();
                 return InvalidArgument("raise_exception: " + message);
               }));
  globals->Set("strftime_now", Value::Function("strftime_now", [](Interpreter&, CallArgs& a) -> Result<Value> {
                 if (a.positional.empty() || !a.positional[0].is_string()) {
                   return InvalidArgument("strftime_now expects a format string");
                 }
                 const std::time_t now = std::time(nullptr);
                 std::tm local{};
                 localtime_r(&now, &local);
                 char buf[512];
                 const size_t n = std::strftime(buf, sizeof(buf), a.positional[0].AsString().c_str(), &local);
                 return Value::String(std::string(buf, n));
               }));
}

}  // namespace fathom::jinja

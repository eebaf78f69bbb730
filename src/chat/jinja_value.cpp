#include "chat/jinja_value.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace fathom::jinja {

const Value* ValueDict::Find(std::string_view key) const {
  for (const auto& [k, v] : items_) {
    if (k == key) return &v;
  }
  return nullptr;
}

void ValueDict::Set(const std::string& key, Value value) {
  for (auto& [k, v] : items_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  items_.emplace_back(key, std::move(value));
}

Value Value::List(ValueList items) {
  Value v(ValueKind::kList);
  v.list_ = std::make_shared<const ValueList>(std::move(items));
  return v;
}

Value Value::Tuple(ValueList items) {
  Value v = List(std::move(items));
  v.int_ = 1;
  return v;
}

Value Value::Dict(ValueDict dict) {
  Value v(ValueKind::kDict);
  v.dict_ = std::make_shared<ValueDict>(std::move(dict));
  return v;
}

Value Value::Namespace(ValueDict attrs) {
  Value v(ValueKind::kNamespace);
  v.dict_ = std::make_shared<ValueDict>(std::move(attrs));
  return v;
}

Value Value::Function(std::string name, std::function<Result<Value>(Interpreter&, CallArgs&)> fn) {
  Value v(ValueKind::kCallable);
  v.fn_ = std::make_shared<const Callable>(Callable{std::move(name), std::move(fn)});
  return v;
}

Value Value::FromJson(const nlohmann::ordered_json& json) {
  switch (json.type()) {
    case nlohmann::ordered_json::value_t::null:
      return None();
    case nlohmann::ordered_json::value_t::boolean:
      return Bool(json.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer:
      return Int(json.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      const uint64_t u = json.get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Float(static_cast<double>(u));
      return Int(static_cast<int64_t>(u));
    }
    case nlohmann::ordered_json::value_t::number_float:
      return Float(json.get<double>());
    case nlohmann::ordered_json::value_t::string:
      return String(json.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      ValueList items;
      items.reserve(json.size());
      for (const auto& e : json) items.push_back(FromJson(e));
      return List(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      ValueDict d;
      for (const auto& [k, e] : json.items()) d.Set(k, FromJson(e));
      return Dict(std::move(d));
    }
    default:
      return None();
  }
}

bool Value::Truthy() const {
  switch (kind_) {
    case ValueKind::kUndefined:
    case ValueKind::kNone:
      return false;
    case ValueKind::kBool:
    case ValueKind::kInt:
      return int_ != 0;
    case ValueKind::kFloat:
      return float_ != 0;
    case ValueKind::kString:
      return !str_.empty();
    case ValueKind::kList:
      return !list_->empty();
    case ValueKind::kDict:
      return dict_->size() > 0;
    case ValueKind::kNamespace:
    case ValueKind::kCallable:
      return true;
  }
  return false;
}

std::string FloatRepr(double f) {
  if (std::isnan(f)) return "nan";
  if (std::isinf(f)) return f > 0 ? "inf" : "-inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), f, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  // sci is "[-]d[.ddd]e[+-]XX" with the shortest round-trip digits.
  const size_t e = sci.find('e');
  std::string mant = sci.substr(0, e);
  const int exp = std::stoi(sci.substr(e + 1));
  bool neg = false;
  if (!mant.empty() && mant[0] == '-') {
    neg = true;
    mant.erase(0, 1);
  }
  std::string digits;
  for (char c : mant) {
    if (c != '.') digits += c;
  }
  std::string out;
  if (exp >= -5 + 1 && exp < 16) {
    // Fixed notation; Python switches at 1e16 and below 1e-4.
    if (exp >= 0) {
      if (static_cast<int>(digits.size()) <= exp + 1) {
        out = digits + std::string(exp + 1 - digits.size(), '0') + ".0";
      } else {
        out = digits.substr(0, exp + 1) + "." + digits.substr(exp + 1);
      }
    } else {
      out = "0." + std::string(-exp - 1, '0') + digits;
    }
  } else {
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char eb[16];
    std::snprintf(eb, sizeof(eb), "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    out += eb;
  }
  return neg ? "-" + out : out;
}

std::string StringRepr(const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos;
  const bool has_double = s.find('"') != std::string::npos;
  const char quote = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, quote);
  for (unsigned char c : s) {
    if (c == quote || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      char b[8];
      std::snprintf(b, sizeof(b), "\\x%02x", c);
      out += b;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += quote;
  return out;
}

std::string Value::Str() const {
  switch (kind_) {
    case ValueKind::kUndefined:
      return "";
    case ValueKind::kString:
      return str_;
    default:
      return Repr();
  }
}

std::string Value::Repr() const {
  switch (kind_) {
    case ValueKind::kUndefined:
      return "Undefined";
    case ValueKind::kNone:
      return "None";
    case ValueKind::kBool:
      return int_ ? "True" : "False";
    case ValueKind::kInt:
      return std::to_string(int_);
    case ValueKind::kFloat:
      return FloatRepr(float_);
    case ValueKind::kString:
      return StringRepr(str_);
    case ValueKind::kList: {
      const bool tuple = int_ != 0;
      std::string out = tuple ? "(" : "[";
      for (size_t i = 0; i < list_->size(); ++i) {
        if (i) out += ", ";
        out += (*list_)[i].Repr();
      }
      if (tuple && list_->size() == 1) out += ",";
      return out + (tuple ? ")" : "]");
    }
    case ValueKind::kDict:
    case ValueKind::kNamespace: {
      std::string out = kind_ == ValueKind::kDict ? "{" : "<Namespace {";
      bool first = true;
      for (const auto& [k, v] : dict_->items()) {
        if (!first) out += ", ";
        first = false;
        out += StringRepr(k) + ": " + v.Repr();
      }
      return out + (kind_ == ValueKind::kDict ? "}" : "}>");
    }
    case ValueKind::kCallable:
      return "<function " + fn_->name + ">";
  }
  return "";
}

std::string Value::TypeName() const {
  switch (kind_) {
    case ValueKind::kUndefined:
      return "Undefined";
    case ValueKind::kNone:
      return "NoneType";
    case ValueKind::kBool:
      return "bool";
    case ValueKind::kInt:
      return "int";
    case ValueKind::kFloat:
      return "float";
    case ValueKind::kString:
      return "str";
    case ValueKind::kList:
      return "list";
    case ValueKind::kDict:
      return "dict";
    case ValueKind::kNamespace:
      return "Namespace";
    case ValueKind::kCallable:
      return "function";
  }
  return "object";
}

namespace {

void AppendJsonString(const std::string& s, std::string* out) {
  *out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      case '\t':
        *out += "\\t";
        break;
      case '\b':
        *out += "\\b";
        break;
      case '\f':
        *out += "\\f";
        break;
      default:
        if (c < 0x20) {
          char b[8];
          std::snprintf(b, sizeof(b), "\\u%04x", c);
          *out += b;
        } else {
          *out += static_cast<char>(c);
        }
    }
  }
  *out += '"';
}

Status AppendJson(const Value& v, int indent, int depth, std::string* out) {
  if (depth > 512) return OutOfRange("tojson: value nested too deeply");
  const std::string nl = indent >= 0 ? "\n" + std::string(static_cast<size_t>(indent) * (depth + 1), ' ') : "";
  const std::string nl_end = indent >= 0 ? "\n" + std::string(static_cast<size_t>(indent) * depth, ' ') : "";
  const char* item_sep = indent >= 0 ? "," : ", ";
  switch (v.kind()) {
    case ValueKind::kNone:
      *out += "null";
      return Status::Ok();
    case ValueKind::kBool:
      *out += v.AsBool() ? "true" : "false";
      return Status::Ok();
    case ValueKind::kInt:
      *out += std::to_string(v.AsInt());
      return Status::Ok();
    case ValueKind::kFloat: {
      const double f = v.AsDouble();
      if (std::isnan(f)) {
        *out += "NaN";
      } else if (std::isinf(f)) {
        *out += f > 0 ? "Infinity" : "-Infinity";
      } else {
        *out += FloatRepr(f);
      }
      return Status::Ok();
    }
    case ValueKind::kString:
      AppendJsonString(v.AsString(), out);
      return Status::Ok();
    case ValueKind::kList: {
      const ValueList& l = v.AsList();
      if (l.empty()) {
        *out += "[]";
        return Status::Ok();
      }
      *out += "[";
      for (size_t i = 0; i < l.size(); ++i) {
        if (i) *out += item_sep;
        *out += nl;
        FATHOM_RETURN_IF_ERROR(AppendJson(l[i], indent, depth + 1, out));
      }
      *out += nl_end + "]";
      return Status::Ok();
    }
    case ValueKind::kDict: {
      const ValueDict& d = v.AsDict();
      if (d.size() == 0) {
        *out += "{}";
        return Status::Ok();
      }
      *out += "{";
      bool first = true;
      for (const auto& [k, e] : d.items()) {
        if (!first) *out += item_sep;
        first = false;
        *out += nl;
        AppendJsonString(k, out);
        *out += ": ";
        FATHOM_RETURN_IF_ERROR(AppendJson(e, indent, depth + 1, out));
      }
      *out += nl_end + "}";
      return Status::Ok();
    }
    default:
      return InvalidArgument("tojson: Object of type " + v.TypeName() + " is not JSON serializable");
  }
}

}  // namespace

Result<std::string> Value::ToJson(int indent) const {
  std::string out;
  FATHOM_RETURN_IF_ERROR(AppendJson(*this, indent, 0, &out));
  return out;
}

Result<nlohmann::ordered_json> Value::ToJsonValue() const {
  FATHOM_ASSIGN_OR_RETURN(std::string text, ToJson(-1));
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(text, nullptr, false);
  if (j.is_discarded()) return InvalidArgument("value is not JSON");
  return j;
}

bool Equals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.AsDouble() == b.AsDouble();
    return a.AsInt() == b.AsInt();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case ValueKind::kUndefined:
    case ValueKind::kNone:
      return true;
    case ValueKind::kString:
      return a.AsString() == b.AsString();
    case ValueKind::kList: {
      const ValueList& x = a.AsList();
      const ValueList& y = b.AsList();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (!Equals(x[i], y[i])) return false;
      }
      return true;
    }
    case ValueKind::kDict: {
      const ValueDict& x = a.AsDict();
      const ValueDict& y = b.AsDict();
      if (x.size() != y.size()) return false;
      for (const auto& [k, v] : x.items()) {
        const Value* o = y.Find(k);
        if (o == nullptr || !Equals(v, *o)) return false;
      }
      return true;
    }
    case ValueKind::kNamespace:
      return &a.MutableNamespace() == &b.MutableNamespace();
    case ValueKind::kCallable:
      return &a.AsCallable() == &b.AsCallable();
    default:
      return false;
  }
}

namespace {
size_t CodePointLength(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c >> 5) == 0x6) return 2;
  if ((c >> 4) == 0xe) return 3;
  if ((c >> 3) == 0x1e) return 4;
  return 1;
}
}  // namespace

std::vector<std::string> SplitCodePoints(std::string_view s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    size_t n = CodePointLength(static_cast<unsigned char>(s[i]));
    if (i + n > s.size()) n = s.size() - i;
    out.emplace_back(s.substr(i, n));
    i += n;
  }
  return out;
}

size_t CountCodePoints(std::string_view s) {
  size_t count = 0;
  for (size_t i = 0; i < s.size();) {
    i += CodePointLength(static_cast<unsigned char>(s[i]));
    ++count;
  }
  return count;
}

}  // namespace fathom::jinja

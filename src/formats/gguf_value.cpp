#include "formats/gguf_value.h"

#include <bit>
#include <limits>
#include <utility>

#include "core/status.h"

namespace fathom {
namespace {

bool IsSigned(GgufType t) {
  return t == GgufType::kInt8 || t == GgufType::kInt16 || t == GgufType::kInt32 || t == GgufType::kInt64;
}

bool IsUnsigned(GgufType t) {
  return t == GgufType::kUint8 || t == GgufType::kUint16 || t == GgufType::kUint32 || t == GgufType::kUint64;
}

// Length of the valid UTF-8 sequence starting at s[i], or 0 if the bytes there do not
// start one (overlong forms, surrogates and code points past U+10FFFF are invalid).
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  if (c < 0x80) return 1;
  size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return n;
}

// Returns `s` with every byte that is not part of a valid UTF-8 sequence replaced by
// U+FFFD; returns `s` unchanged (one pass, no copy until needed) when it is valid.
std::string SanitizeUtf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    size_t n = Utf8SequenceLength(s, i);
    if (n == 0) break;
    i += n;
  }
  if (i == s.size()) return s;
  std::string out = s.substr(0, i);
  while (i < s.size()) {
    size_t n = Utf8SequenceLength(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s, i, n);
      i += n;
    }
  }
  return out;
}

}  // namespace

std::string_view GgufTypeName(GgufType type) {
  switch (type) {
    case GgufType::kUint8: return "uint8";
    case GgufType::kInt8: return "int8";
    case GgufType::kUint16: return "uint16";
    case GgufType::kInt16: return "int16";
    case GgufType::kUint32: return "uint32";
    case GgufType::kInt32: return "int32";
    case GgufType::kFloat32: return "float32";
    case GgufType::kBool: return "bool";
    case GgufType::kString: return "string";
    case GgufType::kArray: return "array";
    case GgufType::kUint64: return "uint64";
    case GgufType::kInt64: return "int64";
    case GgufType::kFloat64: return "float64";
  }
  return "unknown";
}

bool IsValidGgufType(uint32_t id) { return id <= static_cast<uint32_t>(GgufType::kFloat64); }

size_t GgufScalarSize(GgufType type) {
  switch (type) {
    case GgufType::kUint8:
    case GgufType::kInt8:
    case GgufType::kBool: return 1;
    case GgufType::kUint16:
    case GgufType::kInt16: return 2;
    case GgufType::kUint32:
    case GgufType::kInt32:
    case GgufType::kFloat32: return 4;
    case GgufType::kUint64:
    case GgufType::kInt64:
    case GgufType::kFloat64: return 8;
    case GgufType::kString:
    case GgufType::kArray: return 0;
  }
  return 0;
}

GgufValue GgufValue::FromScalarBits(GgufType type, uint64_t bits) {
  size_t size = GgufScalarSize(type);
  FATHOM_CHECK(size != 0);
  FATHOM_CHECK(type != GgufType::kBool || bits <= 1);
  GgufValue v;
  v.type_ = type;
  if (IsSigned(type) && size < 8) {
    // Sign-extend from the type's width so the stored bits are the int64 value.
    unsigned shift = 64 - 8 * static_cast<unsigned>(size);
    bits = static_cast<uint64_t>(static_cast<int64_t>(bits << shift) >> shift);
  }
  v.bits_ = bits;
  return v;
}

GgufValue GgufValue::U8(uint8_t v) { return FromScalarBits(GgufType::kUint8, v); }
GgufValue GgufValue::I8(int8_t v) { return FromScalarBits(GgufType::kInt8, static_cast<uint8_t>(v)); }
GgufValue GgufValue::U16(uint16_t v) { return FromScalarBits(GgufType::kUint16, v); }
GgufValue GgufValue::I16(int16_t v) { return FromScalarBits(GgufType::kInt16, static_cast<uint16_t>(v)); }
GgufValue GgufValue::U32(uint32_t v) { return FromScalarBits(GgufType::kUint32, v); }
GgufValue GgufValue::I32(int32_t v) { return FromScalarBits(GgufType::kInt32, static_cast<uint32_t>(v)); }
GgufValue GgufValue::F32(float v) { return FromScalarBits(GgufType::kFloat32, std::bit_cast<uint32_t>(v)); }
GgufValue GgufValue::Bool(bool v) { return FromScalarBits(GgufType::kBool, v ? 1 : 0); }
GgufValue GgufValue::U64(uint64_t v) { return FromScalarBits(GgufType::kUint64, v); }
GgufValue GgufValue::I64(int64_t v) { return FromScalarBits(GgufType::kInt64, static_cast<uint64_t>(v)); }
GgufValue GgufValue::F64(double v) { return FromScalarBits(GgufType::kFloat64, std::bit_cast<uint64_t>(v)); }

GgufValue GgufValue::String(std::string v) {
  GgufValue out;
  out.type_ = GgufType::kString;
  out.string_ = std::move(v);
  return out;
}

GgufValue GgufValue::Array(GgufType element_type, std::vector<GgufValue> elements) {
  FATHOM_CHECK(IsValidGgufType(static_cast<uint32_t>(element_type)));
  for (const GgufValue& e : elements) {
    FATHOM_CHECK_MSG(e.type() == element_type, "GgufValue::Array: element of type " +
                                                   std::string(GgufTypeName(e.type())) + " in an array of " +
                                                   std::string(GgufTypeName(element_type)));
  }
  GgufValue out;
  out.type_ = GgufType::kArray;
  out.element_type_ = element_type;
  out.elements_ = std::move(elements);
  return out;
}

GgufValue GgufValue::StringArray(std::vector<std::string> strings) {
  std::vector<GgufValue> elements;
  elements.reserve(strings.size());
  for (std::string& s : strings) elements.push_back(String(std::move(s)));
  return Array(GgufType::kString, std::move(elements));
}

GgufValue GgufValue::F32Array(std::vector<float> values) {
  std::vector<GgufValue> elements;
  elements.reserve(values.size());
  for (float v : values) elements.push_back(F32(v));
  return Array(GgufType::kFloat32, std::move(elements));
}

GgufValue GgufValue::I32Array(std::vector<int32_t> values) {
  std::vector<GgufValue> elements;
  elements.reserve(values.size());
  for (int32_t v : values) elements.push_back(I32(v));
  return Array(GgufType::kInt32, std::move(elements));
}

std::optional<int64_t> GgufValue::AsInt() const {
  if (IsSigned(type_)) return static_cast<int64_t>(bits_);
  if (IsUnsigned(type_) || type_ == GgufType::kBool) {
    if (bits_ > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(bits_);
  }
  return std::nullopt;
}

std::optional<uint64_t> GgufValue::AsUint() const {
  if (IsUnsigned(type_) || type_ == GgufType::kBool) return bits_;
  if (IsSigned(type_) && static_cast<int64_t>(bits_) >= 0) return bits_;
  return std::nullopt;
}

std::optional<double> GgufValue::AsFloat() const {
  if (type_ == GgufType::kFloat32) return std::bit_cast<float>(static_cast<uint32_t>(bits_));
  if (type_ == GgufType::kFloat64) return std::bit_cast<double>(bits_);
  if (IsSigned(type_)) return static_cast<double>(static_cast<int64_t>(bits_));
  if (IsUnsigned(type_)) return static_cast<double>(bits_);
  return std::nullopt;
}

std::optional<bool> GgufValue::AsBool() const {
  if (type_ != GgufType::kBool) return std::nullopt;
  return bits_ != 0;
}

const std::string* GgufValue::AsString() const { return type_ == GgufType::kString ? &string_ : nullptr; }

nlohmann::json GgufValue::ToJson(size_t max_array_elements) const {
  switch (type_) {
    case GgufType::kBool: return bits_ != 0;
    case GgufType::kString: return SanitizeUtf8(string_);
    case GgufType::kFloat32:
    case GgufType::kFloat64: return *AsFloat();
    case GgufType::kUint8:
    case GgufType::kUint16:
    case GgufType::kUint32:
    case GgufType::kUint64: return bits_;
    case GgufType::kInt8:
    case GgufType::kInt16:
    case GgufType::kInt32:
    case GgufType::kInt64: return static_cast<int64_t>(bits_);
    case GgufType::kArray: break;
  }
  if (elements_.size() > max_array_elements) {
    return nlohmann::json{{"type", "array"},
                          {"element_type", std::string(GgufTypeName(element_type_))},
                          {"length", elements_.size()}};
  }
  nlohmann::json out = nlohmann::json::array();
  for (const GgufValue& e : elements_) out.push_back(e.ToJson(max_array_elements));
  return out;
}

bool GgufValue::operator==(const GgufValue& other) const {
  return type_ == other.type_ && bits_ == other.bits_ && string_ == other.string_ &&
         (type_ != GgufType::kArray || element_type_ == other.element_type_) && elements_ == other.elements_;
}

}  // namespace fathom

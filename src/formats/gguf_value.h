// A typed GGUF metadata value: one of GGUF's twelve scalar/string types, or an array
// of one element type (arrays may nest). The non-obvious rule: scalars keep their
// exact bit pattern (an F32 stays a float, NaN payloads included), so a value read
// from a file and written back produces the same bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace fathom {

// The value type ids of the GGUF format (gguf_type in ggml).
enum class GgufType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

// "uint8", "float32", "string", "array", ...; "unknown" for ids outside the enum.
std::string_view GgufTypeName(GgufType type);

// Returns true iff `id` is one of the GgufType ids above.
bool IsValidGgufType(uint32_t id);

// Returns the encoded size in bytes of a scalar type (bool is 1), or 0 for
// kString and kArray, whose size depends on the value.
size_t GgufScalarSize(GgufType type);

// Value type; copyable and movable. Thread-compatible (const methods may be called
// concurrently).
// Invariants: for arrays, every element has type element_type(); elements() is empty
// unless is_array(); the string is empty unless type() == kString.
class GgufValue {
 public:
  // An empty array of uint8; exists so containers can default-construct.
  GgufValue() = default;

  static GgufValue U8(uint8_t v);
  static GgufValue I8(int8_t v);
  static GgufValue U16(uint16_t v);
  static GgufValue I16(int16_t v);
  static GgufValue U32(uint32_t v);
  static GgufValue I32(int32_t v);
  static GgufValue F32(float v);
  static GgufValue Bool(bool v);
  static GgufValue String(std::string v);
  static GgufValue U64(uint64_t v);
  static GgufValue I64(int64_t v);
  static GgufValue F64(double v);
  // REQUIRES: every element has type element_type (checked; a mismatch is a bug).
  static GgufValue Array(GgufType element_type, std::vector<GgufValue> elements);
  static GgufValue StringArray(std::vector<std::string> strings);
  static GgufValue F32Array(std::vector<float> values);
  static GgufValue I32Array(std::vector<int32_t> values);

  GgufType type() const { return type_; }
  bool is_array() const { return type_ == GgufType::kArray; }
  // The type of the elements; meaningful only if is_array().
  GgufType element_type() const { return element_type_; }

  // Returns the value of any integer type or bool (as 0/1); nullopt for other types
  // and for uint64 values above INT64_MAX.
  std::optional<int64_t> AsInt() const;
  // Returns the value of any unsigned type, of a non-negative signed value, or of a
  // bool; nullopt otherwise.
  std::optional<uint64_t> AsUint() const;
  // Returns the value of any integer or floating-point type (not bool).
  std::optional<double> AsFloat() const;
  // Returns the value of a bool; nullopt for every other type.
  std::optional<bool> AsBool() const;
  // Returns the string, or nullptr unless type() == kString.
  const std::string* AsString() const;
  // Returns the elements of an array; empty for other types.
  const std::vector<GgufValue>& elements() const { return elements_; }

  // Scalars become JSON numbers/bools/strings (strings with invalid UTF-8 get U+FFFD
  // in place of the bad bytes, so dump() never throws); arrays of at most
  // `max_array_elements` become JSON arrays, longer ones
  // {"type":"array","element_type":"...","length":N}. The limit applies at every
  // nesting level.
  nlohmann::json ToJson(size_t max_array_elements) const;

  // Returns true iff both have the same type and the same bits (floats compare
  // bitwise, so a NaN equals itself).
  bool operator==(const GgufValue& other) const;

  // The raw little-endian bits of a scalar, zero-extended to 64 bits (signed values
  // are sign-extended, floats are their IEEE bit patterns). 0 for strings and arrays.
  uint64_t scalar_bits() const { return bits_; }

  // Builds a scalar from the bytes of its encoding read as a little-endian unsigned
  // integer of the type's width (GgufScalarSize). REQUIRES: `type` is a scalar type
  // (not kString or kArray); for kBool, bits is 0 or 1.
  static GgufValue FromScalarBits(GgufType type, uint64_t bits);

 private:
  GgufType type_ = GgufType::kArray;
  GgufType element_type_ = GgufType::kUint8;
  uint64_t bits_ = 0;
  std::string string_;
  std::vector<GgufValue> elements_;
};

}  // namespace fathom

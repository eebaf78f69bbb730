// One rounding routine serves F16 and both FP8 formats: it writes the float32 value
// as an integer significand times a power of two, picks the target format's quantum
// (its unit in the last place at that magnitude, never below the subnormal quantum),
// and rounds the significand to that quantum with integer arithmetic. Because normal
// and subnormal codes are both `(quantum index << mantissa_bits) + significand`, a
// significand that rounds up into the next binade carries into the exponent field
// by itself, with no special case.
#include "core/float_formats.h"

#include <algorithm>
#include <bit>

namespace fathom {
namespace {

constexpr uint32_t kF32SignMask = 0x80000000u;
constexpr uint32_t kF32AbsMask = 0x7FFFFFFFu;
constexpr uint32_t kF32Infinity = 0x7F800000u;

// A narrow binary float format, described by its field widths.
struct NarrowFormat {
  int mantissa_bits;
  int bias;
};

constexpr NarrowFormat kF16Format{10, 15};
constexpr NarrowFormat kE4M3Format{3, 7};
constexpr NarrowFormat kE5M2Format{2, 15};

// Returns the magnitude code (sign bit clear) that |x| rounds to, ties to even, for
// a format with unbounded exponent range; callers clamp codes past their largest
// finite one. REQUIRES: abs_bits is a finite, non-negative float32 bit pattern.
uint32_t RoundMagnitude(uint32_t abs_bits, NarrowFormat format) {
  int biased_exp = static_cast<int>(abs_bits >> 23);
  uint32_t significand = abs_bits & 0x007FFFFFu;
  if (biased_exp == 0) {
    if (significand == 0) return 0;
    biased_exp = 1;  // float32 subnormal: same scale as the smallest normal
  } else {
    significand |= 0x00800000u;
  }
  // |x| = significand * 2^exponent exactly.
  const int exponent = biased_exp - 150;
  const int leading_exponent = exponent + static_cast<int>(std::bit_width(significand)) - 1;
  const int min_quantum = 1 - format.bias - format.mantissa_bits;
  const int quantum = std::max(leading_exponent - format.mantissa_bits, min_quantum);
  const int shift = quantum - exponent;

  uint32_t rounded;
  if (shift <= 0) {
    rounded = significand << -shift;  // exact; fits since the result has <= mantissa_bits+1 bits
  } else if (shift > 24) {
    rounded = 0;  // below half the quantum: significand < 2^24 <= half
  } else {
    rounded = significand >> shift;
    const uint32_t remainder = significand & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (remainder > half || (remainder == half && (rounded & 1u))) ++rounded;
  }
  return (static_cast<uint32_t>(quantum - min_quantum) << format.mantissa_bits) + rounded;
}

// Returns the float32 bits of a finite magnitude code of `format`.
uint32_t DecodeFiniteMagnitude(uint32_t code, NarrowFormat format) {
  const uint32_t mantissa_mask = (1u << format.mantissa_bits) - 1;
  int exponent_field = static_cast<int>(code >> format.mantissa_bits);
  uint32_t mantissa = code & mantissa_mask;
  if (exponent_field == 0) {
    if (mantissa == 0) return 0;
    // Subnormal: shift the leading one up to the implicit-bit position.
    const int shift = format.mantissa_bits + 1 - static_cast<int>(std::bit_width(mantissa));
    mantissa = (mantissa << shift) & mantissa_mask;
    exponent_field = 1 - shift;
  }
  const auto f32_exponent = static_cast<uint32_t>(exponent_field - format.bias + 127);
  return (f32_exponent << 23) | (mantissa << (23 - format.mantissa_bits));
}

uint32_t ToBits(float f) { return std::bit_cast<uint32_t>(f); }
float FromBits(uint32_t bits) { return std::bit_cast<float>(bits); }

}  // namespace

float F16ToF32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t magnitude = h & 0x7FFFu;
  if (magnitude >= 0x7C00u) {
    return FromBits(sign | kF32Infinity | ((magnitude & 0x03FFu) << 13));
  }
  return FromBits(sign | DecodeFiniteMagnitude(magnitude, kF16Format));
}

uint16_t F32ToF16(float f) {
  const uint32_t bits = ToBits(f);
  const auto sign = static_cast<uint16_t>((bits & kF32SignMask) >> 16);
  const uint32_t abs_bits = bits & kF32AbsMask;
  if (abs_bits > kF32Infinity) {
    return static_cast<uint16_t>(sign | 0x7E00u | ((abs_bits >> 13) & 0x03FFu));
  }
  if (abs_bits == kF32Infinity) return static_cast<uint16_t>(sign | 0x7C00u);
  const uint32_t code = RoundMagnitude(abs_bits, kF16Format);
  return static_cast<uint16_t>(sign | std::min<uint32_t>(code, 0x7C00u));
}

float BF16ToF32(uint16_t b) { return FromBits(static_cast<uint32_t>(b) << 16); }

uint16_t F32ToBF16(float f) {
  const uint32_t bits = ToBits(f);
  if ((bits & kF32AbsMask) > kF32Infinity) {
    return static_cast<uint16_t>((bits >> 16) | 0x0040u);  // set the quiet bit
  }
  // Adding 0x7FFF plus the lowest kept bit rounds the dropped half to nearest even;
  // a carry out of the mantissa bumps the exponent, reaching inf on overflow.
  const uint32_t rounding = 0x7FFFu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

float F8E4M3ToF32(uint8_t v) {
  const uint32_t sign = static_cast<uint32_t>(v & 0x80u) << 24;
  const uint32_t magnitude = v & 0x7Fu;
  if (magnitude == 0x7Fu) return FromBits(sign | 0x7FC00000u);
  return FromBits(sign | DecodeFiniteMagnitude(magnitude, kE4M3Format));
}

uint8_t F32ToF8E4M3(float f) {
  constexpr uint32_t kMaxFinite = 0x7E;  // 448
  const uint32_t bits = ToBits(f);
  const auto sign = static_cast<uint8_t>((bits & kF32SignMask) >> 24);
  const uint32_t abs_bits = bits & kF32AbsMask;
  if (abs_bits > kF32Infinity) return static_cast<uint8_t>(sign | 0x7Fu);
  if (abs_bits == kF32Infinity) return static_cast<uint8_t>(sign | kMaxFinite);
  const uint32_t code = RoundMagnitude(abs_bits, kE4M3Format);
  return static_cast<uint8_t>(sign | std::min(code, kMaxFinite));
}

float F8E5M2ToF32(uint8_t v) {
  // E5M2 is the top byte of an F16, so its values are exactly those F16 values.
  return F16ToF32(static_cast<uint16_t>(v << 8));
}

uint8_t F32ToF8E5M2(float f) {
  constexpr uint32_t kInfinity = 0x7C;
  const uint32_t bits = ToBits(f);
  const auto sign = static_cast<uint8_t>((bits & kF32SignMask) >> 24);
  const uint32_t abs_bits = bits & kF32AbsMask;
  if (abs_bits > kF32Infinity) return static_cast<uint8_t>(sign | 0x7Fu);
  if (abs_bits == kF32Infinity) return static_cast<uint8_t>(sign | kInfinity);
  const uint32_t code = RoundMagnitude(abs_bits, kE5M2Format);
  return static_cast<uint8_t>(sign | std::min(code, kInfinity));
}

}  // namespace fathom

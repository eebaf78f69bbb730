// Exact conversions between float32 and the narrow float formats that model files
// store: IEEE half (F16), bfloat16 (BF16) and the two OCP FP8 formats (E4M3, E5M2).
//
// Every narrowing conversion rounds to nearest, ties to even, straight from the
// float32 value (never through an intermediate format, which could round twice).
// The one non-obvious rule: F8_E4M3 has no infinity, and fathom SATURATES there.
// Finite values beyond ±448 and ±infinity become ±448, where torch's
// `.to(torch.float8_e4m3fn)` gives NaN for |x| > 464 (its c10 conversion maps every
// float at or above 480 to the NaN pattern, and (464, 480) rounds up into it).
// DeepSeek-V3's quantizer clamps to ±448 before casting, so saturation is what a
// quantizer wants, and it is what ONNX's `saturate=True` cast and CUDA's
// __NV_SATFINITE mode do. F16, BF16 and E5M2 have infinities and overflow to them.
//
// NaN handling: widening keeps the sign and payload bits as they are; narrowing
// returns a quiet NaN of the same sign (F16 and BF16 also keep the top payload bits,
// as hardware does). FP8 NaN is S.1111.111 in both FP8 formats.
//
// All functions are pure and thread-safe.
#pragma once

#include <cstdint>

namespace fathom {

// IEEE 754 binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits; subnormals,
// ±inf, NaN. Max finite 65504; smallest subnormal 2^-24.
float F16ToF32(uint16_t h);
uint16_t F32ToF16(float f);

// bfloat16: the top 16 bits of a float32 (8 exponent bits, 7 mantissa bits).
float BF16ToF32(uint16_t b);
uint16_t F32ToBF16(float f);

// OCP FP8 E4M3 ("e4m3fn", torch.float8_e4m3fn, DeepSeek-V3 weights): 4 exponent bits
// (bias 7), 3 mantissa bits, no infinities, S.1111.111 is NaN. Max finite 448;
// smallest normal 2^-6; smallest subnormal 2^-9 = 0.001953125.
float F8E4M3ToF32(uint8_t v);
// Saturates: |f| > 448 (after rounding) and ±inf give ±448; NaN gives 0x7F | sign.
uint8_t F32ToF8E4M3(float f);

// OCP FP8 E5M2 (torch.float8_e5m2): 5 exponent bits (bias 15), 2 mantissa bits,
// IEEE-style ±inf and NaN. Max finite 57344; smallest subnormal 2^-16.
float F8E5M2ToF32(uint8_t v);
// Overflows to ±inf like IEEE; NaN gives 0x7F | sign.
uint8_t F32ToF8E5M2(float f);

}  // namespace fathom

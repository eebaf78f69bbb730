#include "kernels/cpu/q8_activation.h"

#include <cmath>

#include "core/status.h"

// The magic-number rounding below must not be fused into an FMA on targets that
// have one: that would round differently from the unfused sum.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace fathom::cpu {
namespace {

// Adding then subtracting 1.5 * 2^23 rounds |v| < 2^22 to the nearest integer,
// ties to even, in the default rounding mode, and vectorizes (nearbyintf may not).
// The clamp and NaN check only matter for non-finite input: they keep the cast
// defined.
inline int8_t RoundToInt8(float v) {
  constexpr float kMagic = 12582912.0f;
  float r = v + kMagic;
  r -= kMagic;
  r = r < -127.0f ? -127.0f : r;
  r = r > 127.0f ? 127.0f : r;
  r = r == r ? r : 0.0f;
  return static_cast<int8_t>(static_cast<int>(r));
}

// Quantizes `count` values with one scale; returns the scale.
float QuantizeSpan(const float* x, int8_t* q, int count) {
  float amax = 0.0f;
  // Comparisons rather than std::fmax, which is a libm call per value at -O2.
  for (int i = 0; i < count; ++i) {
    const float a = std::fabs(x[i]);
    amax = a > amax ? a : amax;
  }
  const float d = amax / 127.0f;
  const float id = amax > 0.0f ? 127.0f / amax : 0.0f;
  for (int i = 0; i < count; ++i) q[i] = RoundToInt8(x[i] * id);
  return d;
}

}  // namespace

void QuantizeActivationRowQ8(const float* x, ActQ8Block* blocks, int64_t n) {
  FATHOM_CHECK(n % kActQ8BlockElems == 0);
  for (int64_t b = 0; b < n / kActQ8BlockElems; ++b) {
    ActQ8Block& out = blocks[b];
    out.d = QuantizeSpan(x + b * kActQ8BlockElems, out.qs, kActQ8BlockElems);
    int32_t sum = 0;
    for (int i = 0; i < kActQ8BlockElems; ++i) sum += out.qs[i];
    out.sum = sum;
  }
}

void QuantizeActivationRowQ8K(const float* x, ActQ8KBlock* blocks, int64_t n) {
  FATHOM_CHECK(n % kActQ8KBlockElems == 0);
  for (int64_t b = 0; b < n / kActQ8KBlockElems; ++b) {
    ActQ8KBlock& out = blocks[b];
    out.d = QuantizeSpan(x + b * kActQ8KBlockElems, out.qs, kActQ8KBlockElems);
    for (int j = 0; j < 16; ++j) {
      int sum = 0;
      for (int i = 0; i < 16; ++i) sum += out.qs[16 * j + i];
      out.bsums[j] = static_cast<int16_t>(sum);
    }
  }
}

void DequantizeActivationRowQ8(const ActQ8Block* blocks, float* out, int64_t n) {
  FATHOM_CHECK(n % kActQ8BlockElems == 0);
  for (int64_t i = 0; i < n; ++i) out[i] = blocks[i / 32].d * blocks[i / 32].qs[i % 32];
}

void DequantizeActivationRowQ8K(const ActQ8KBlock* blocks, float* out, int64_t n) {
  FATHOM_CHECK(n % kActQ8KBlockElems == 0);
  for (int64_t i = 0; i < n; ++i) out[i] = blocks[i / 256].d * blocks[i / 256].qs[i % 256];
}

}  // namespace fathom::cpu

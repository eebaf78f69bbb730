#include "kernels/cpu/q8_activation.h"

#include <cmath>

#include "core/status.h"
#include "kernels/cpu/isa.h"

#if defined(__x86_64__)
// GCC 12's AVX-512 headers trip its own -Wuninitialized (`__m512i __Y = __Y;`).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#endif

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
// The clamp only matters for non-finite input: it keeps the cast defined, and is
// written so the vector version below gives the same bytes even then.
inline int8_t RoundToInt8(float v) {
  constexpr float kMagic = 12582912.0f;
  float r = v + kMagic;
  r -= kMagic;
  r = r > -127.0f ? r : -127.0f;  // NaN becomes -127, as maxps(r, -127) makes it
  r = r < 127.0f ? r : 127.0f;
  return static_cast<int8_t>(static_cast<int>(r));
}

// Quantizes `count` values with one scale; returns the scale. Writes the sum of
// each 16 quants to sums16[count / 16].
float QuantizeSpanScalar(const float* x, int8_t* q, int count, int32_t* sums16) {
  float amax = 0.0f;
  // Comparisons rather than std::fmax, which is a libm call per value at -O2.
  for (int i = 0; i < count; ++i) {
    const float a = std::fabs(x[i]);
    amax = a > amax ? a : amax;
  }
  const float d = amax / 127.0f;
  const float id = amax > 0.0f ? 127.0f / amax : 0.0f;
  for (int i = 0; i < count; ++i) q[i] = RoundToInt8(x[i] * id);
  for (int j = 0; j < count / 16; ++j) {
    int32_t sum = 0;
    for (int i = 0; i < 16; ++i) sum += q[16 * j + i];
    sums16[j] = sum;
  }
  return d;
}

#if defined(__x86_64__)
// The same operations 16 lanes at a time: the max, the one division, the
// products and round-to-nearest-even are all exactly rounded, so the bytes equal
// QuantizeSpanScalar's. REQUIRES: count is a multiple of 16.
__attribute__((target("avx512f,avx512bw,avx512vl"))) float QuantizeSpanAvx512(const float* x, int8_t* q, int count,
                                                                             int32_t* sums16) {
  __m512 vmax = _mm512_setzero_ps();
  for (int i = 0; i < count; i += 16) {
    vmax = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + i)), vmax);
  }
  const float amax = _mm512_reduce_max_ps(vmax);
  const float d = amax / 127.0f;
  const float id = amax > 0.0f ? 127.0f / amax : 0.0f;
  const __m512 vid = _mm512_set1_ps(id);
  for (int i = 0; i < count; i += 16) {
    __m512 r = _mm512_roundscale_ps(_mm512_mul_ps(_mm512_loadu_ps(x + i), vid),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    r = _mm512_min_ps(_mm512_max_ps(r, _mm512_set1_ps(-127.0f)), _mm512_set1_ps(127.0f));
    const __m512i v = _mm512_cvttps_epi32(r);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + i), _mm512_cvtepi32_epi8(v));
    sums16[i / 16] = _mm512_reduce_add_epi32(v);
  }
  return d;
}

// As QuantizeSpanAvx512, 8 lanes at a time.
__attribute__((target("avx2,fma,f16c"))) float QuantizeSpanAvx2(const float* x, int8_t* q, int count,
                                                               int32_t* sums16) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  __m256 vmax = _mm256_setzero_ps();
  for (int i = 0; i < count; i += 8) vmax = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + i), abs_mask), vmax);
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(vmax), _mm256_extractf128_ps(vmax, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
  const float amax = _mm_cvtss_f32(m4);
  const float d = amax / 127.0f;
  const float id = amax > 0.0f ? 127.0f / amax : 0.0f;
  const __m256 vid = _mm256_set1_ps(id);
  __m256i v[2];
  for (int i = 0; i < count; i += 16) {
    for (int h = 0; h < 2; ++h) {
      __m256 r = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i + 8 * h), vid),
                                 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      r = _mm256_min_ps(_mm256_max_ps(r, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f));
      v[h] = _mm256_cvttps_epi32(r);
    }
    // packs work per 128-bit lane: reorder the int16s, then take each lane's low 8 bytes.
    const __m256i w16 = _mm256_permute4x64_epi64(_mm256_packs_epi32(v[0], v[1]), 0xD8);
    const __m256i b8 = _mm256_packs_epi16(w16, w16);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + i),
                     _mm_unpacklo_epi64(_mm256_castsi256_si128(b8), _mm256_extracti128_si256(b8, 1)));
    __m256i sum8 = _mm256_add_epi32(v[0], v[1]);
    __m128i sum4 = _mm_add_epi32(_mm256_castsi256_si128(sum8), _mm256_extracti128_si256(sum8, 1));
    sum4 = _mm_add_epi32(sum4, _mm_shuffle_epi32(sum4, 0x4E));
    sum4 = _mm_add_epi32(sum4, _mm_shuffle_epi32(sum4, 0xB1));
    sums16[i / 16] = _mm_cvtsi128_si32(sum4);
  }
  return d;
}
#endif

float QuantizeSpan(Isa isa, const float* x, int8_t* q, int count, int32_t* sums16) {
#if defined(__x86_64__)
  if (isa == Isa::kAvx512) return QuantizeSpanAvx512(x, q, count, sums16);
  if (isa == Isa::kAvx2) return QuantizeSpanAvx2(x, q, count, sums16);
#endif
  return QuantizeSpanScalar(x, q, count, sums16);
}

}  // namespace

void QuantizeActivationRowQ8(const float* x, ActQ8Block* blocks, int64_t n) {
  FATHOM_CHECK(n % kActQ8BlockElems == 0);
  const Isa isa = ActiveIsa();
  for (int64_t b = 0; b < n / kActQ8BlockElems; ++b) {
    ActQ8Block& out = blocks[b];
    int32_t sums16[2];
    out.d = QuantizeSpan(isa, x + b * kActQ8BlockElems, out.qs, kActQ8BlockElems, sums16);
    out.sum = sums16[0] + sums16[1];
  }
}

void QuantizeActivationRowQ8K(const float* x, ActQ8KBlock* blocks, int64_t n) {
  FATHOM_CHECK(n % kActQ8KBlockElems == 0);
  const Isa isa = ActiveIsa();
  for (int64_t b = 0; b < n / kActQ8KBlockElems; ++b) {
    ActQ8KBlock& out = blocks[b];
    int32_t sums16[16];
    out.d = QuantizeSpan(isa, x + b * kActQ8KBlockElems, out.qs, kActQ8KBlockElems, sums16);
    for (int j = 0; j < 16; ++j) out.bsums[j] = static_cast<int16_t>(sums16[j]);
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

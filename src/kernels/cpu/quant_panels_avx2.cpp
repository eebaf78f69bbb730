// AVX2 kernels on packed weight panels (layout in quant_panel_pack.h): 8 weight
// rows per ymm, each int32 lane one row's block (or sub-block). Without VNNI the
// byte products go through maddubs into int16 pair sums, which for 4-bit quants
// can add up a whole 32-value block before one madd widens them to int32.
//
// Non-obvious rule: int16 sums saturate, so each type bounds how many groups add
// up in int16: q <= 15 (Q4_0, Q4_K): 8 groups x 2 x 15 x 127 < 2^15; q <= 63
// (Q6_K): 2 groups; Q8_0 (|w| <= 128 after the sign trick): 1 group.
#include <immintrin.h>

#include <cstddef>
#include <cstring>

#include "kernels/cpu/q8_activation.h"
#include "kernels/cpu/quant_kernels.h"
#include "kernels/cpu/quant_panel_pack.h"

#define FATHOM_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace fathom::cpu {
namespace {

FATHOM_AVX2 inline int32_t LoadI32(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

FATHOM_AVX2 inline float LoadF32(const uint8_t* p) {
  float v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

FATHOM_AVX2 inline __m256i Load256(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
FATHOM_AVX2 inline __m256 Load256Ps(const uint8_t* p) { return _mm256_loadu_ps(reinterpret_cast<const float*>(p)); }

// Widens int16 pair sums to int32 lanes, one per row.
FATHOM_AVX2 inline __m256i Widen(__m256i pairs) { return _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)); }

// y for rows [16 * half, 16 * half + 16) of the panel, as two ymm of 8 rows.
template <int R>
FATHOM_AVX2 inline void StoreHalf(const __m256 (&acc)[R][2], int half, const float* bias, float* y, int64_t y_stride,
                                  int cols, bool accumulate) {
  for (int r = 0; r < R; ++r) {
    alignas(32) float out[16];
    _mm256_store_ps(out, acc[r][0]);
    _mm256_store_ps(out + 8, acc[r][1]);
    for (int c = 0; c < 16 && 16 * half + c < cols; ++c) {
      float& dst = y[r * y_stride + 16 * half + c];
      const float sum = accumulate ? dst + out[c] : out[c];
      dst = bias != nullptr ? sum + bias[16 * half + c] : sum;
    }
  }
}

// Q4_0 (kSigned false: unsigned q = w + 8) and Q8_0 (kSigned: packed w + 128,
// multiplied as signed through |w| and sign(a, w)): one block per lane.
template <int R, bool kSigned>
FATHOM_AVX2 void HalfQ8(const uint8_t* packed, const uint8_t* a, int64_t a_stride, int64_t num_blocks, int half,
                        const float* bias, float* y, int64_t y_stride, int cols, bool accumulate) {
  __m256 acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  for (int64_t b = 0; b < num_blocks; ++b) {
    const uint8_t* pb = packed + b * kQ8PackedBytes + 64 * half;
    const uint8_t* ab[R];
    __m256i p[R][2];
    for (int r = 0; r < R; ++r) ab[r] = a + r * a_stride + b * sizeof(ActQ8Block);
    if constexpr (kSigned) {
      for (int r = 0; r < R; ++r) p[r][0] = p[r][1] = _mm256_setzero_si256();
      for (int g = 0; g < 8; ++g) {
        __m256i w[2], wabs[2];
        for (int h = 0; h < 2; ++h) {
          w[h] = _mm256_xor_si256(Load256(pb + g * kGroupBytes + 32 * h), _mm256_set1_epi8(static_cast<char>(0x80)));
          wabs[h] = _mm256_abs_epi8(w[h]);
        }
        for (int r = 0; r < R; ++r) {
          const __m256i av = _mm256_set1_epi32(LoadI32(ab[r] + offsetof(ActQ8Block, qs) + 4 * g));
          for (int h = 0; h < 2; ++h) {
            p[r][h] = _mm256_add_epi32(p[r][h], Widen(_mm256_maddubs_epi16(wabs[h], _mm256_sign_epi8(av, w[h]))));
          }
        }
      }
    } else {
      __m256i s16[R][2];
      for (int r = 0; r < R; ++r) s16[r][0] = s16[r][1] = _mm256_setzero_si256();
      for (int g = 0; g < 8; ++g) {
        const __m256i w0 = Load256(pb + g * kGroupBytes), w1 = Load256(pb + g * kGroupBytes + 32);
        for (int r = 0; r < R; ++r) {
          const __m256i av = _mm256_set1_epi32(LoadI32(ab[r] + offsetof(ActQ8Block, qs) + 4 * g));
          s16[r][0] = _mm256_add_epi16(s16[r][0], _mm256_maddubs_epi16(w0, av));
          s16[r][1] = _mm256_add_epi16(s16[r][1], _mm256_maddubs_epi16(w1, av));
        }
      }
      for (int r = 0; r < R; ++r) {
        const __m256i corr = _mm256_set1_epi32(-8 * LoadI32(ab[r] + offsetof(ActQ8Block, sum)));
        for (int h = 0; h < 2; ++h) p[r][h] = _mm256_add_epi32(Widen(s16[r][h]), corr);
      }
    }
    const __m256 d0 = Load256Ps(pb + 8 * kGroupBytes), d1 = Load256Ps(pb + 8 * kGroupBytes + 32);
    for (int r = 0; r < R; ++r) {
      const __m256 ad = _mm256_set1_ps(LoadF32(ab[r]));
      acc[r][0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p[r][0]), _mm256_mul_ps(d0, ad), acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p[r][1]), _mm256_mul_ps(d1, ad), acc[r][1]);
    }
  }
  StoreHalf<R>(acc, half, bias, y, y_stride, cols, accumulate);
}

// Q4_K: one 32-value sub-block per lane; scale d * sc, mins dmin * m.
template <int R>
FATHOM_AVX2 void HalfQ4_K(const uint8_t* packed, const uint8_t* a, int64_t a_stride, int64_t num_blocks, int half,
                          const float* bias, float* y, int64_t y_stride, int cols, bool accumulate) {
  __m256 acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  for (int64_t b = 0; b < num_blocks; ++b) {
    const uint8_t* pb = packed + b * kQ4KPackedBytes + 64 * half;
    const uint8_t* dsc = packed + b * kQ4KPackedBytes + 64 * kGroupBytes + 64 * half;
    const uint8_t* dmn = dsc + 8 * 4 * kPanelCols;
    const uint8_t* ab[R];
    for (int r = 0; r < R; ++r) ab[r] = a + r * a_stride + b * sizeof(ActQ8KBlock);
    for (int j = 0; j < 8; ++j) {
      __m256i s16[R][2];
      for (int r = 0; r < R; ++r) s16[r][0] = s16[r][1] = _mm256_setzero_si256();
      for (int g = 8 * j; g < 8 * j + 8; ++g) {
        const __m256i w0 = Load256(pb + g * kGroupBytes), w1 = Load256(pb + g * kGroupBytes + 32);
        for (int r = 0; r < R; ++r) {
          const __m256i av = _mm256_set1_epi32(LoadI32(ab[r] + offsetof(ActQ8KBlock, qs) + 4 * g));
          s16[r][0] = _mm256_add_epi16(s16[r][0], _mm256_maddubs_epi16(w0, av));
          s16[r][1] = _mm256_add_epi16(s16[r][1], _mm256_maddubs_epi16(w1, av));
        }
      }
      for (int r = 0; r < R; ++r) {
        int16_t bs[2];
        std::memcpy(bs, ab[r] + offsetof(ActQ8KBlock, bsums) + 4 * j, sizeof bs);
        const float ad = LoadF32(ab[r]);
        const __m256 vad = _mm256_set1_ps(ad);
        const __m256 msum = _mm256_set1_ps(-static_cast<float>(bs[0] + bs[1]) * ad);
        for (int h = 0; h < 2; ++h) {
          const __m256 s = Load256Ps(dsc + j * 4 * kPanelCols + 32 * h);
          const __m256 m = Load256Ps(dmn + j * 4 * kPanelCols + 32 * h);
          acc[r][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(Widen(s16[r][h])), _mm256_mul_ps(s, vad), acc[r][h]);
          acc[r][h] = _mm256_fmadd_ps(m, msum, acc[r][h]);
        }
      }
    }
  }
  StoreHalf<R>(acc, half, bias, y, y_stride, cols, accumulate);
}

// Q6_K: one 16-value sub-block per lane, seeded with -32 times its activation sum.
template <int R>
FATHOM_AVX2 void HalfQ6_K(const uint8_t* packed, const uint8_t* a, int64_t a_stride, int64_t num_blocks, int half,
                          const float* bias, float* y, int64_t y_stride, int cols, bool accumulate) {
  __m256 acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  for (int64_t b = 0; b < num_blocks; ++b) {
    const uint8_t* pb = packed + b * kQ6KPackedBytes + 64 * half;
    const uint8_t* dsc = packed + b * kQ6KPackedBytes + 64 * kGroupBytes + 64 * half;
    const uint8_t* ab[R];
    for (int r = 0; r < R; ++r) ab[r] = a + r * a_stride + b * sizeof(ActQ8KBlock);
    for (int j = 0; j < 16; ++j) {
      __m256i p[R][2];
      for (int r = 0; r < R; ++r) {
        int16_t bs;
        std::memcpy(&bs, ab[r] + offsetof(ActQ8KBlock, bsums) + 2 * j, sizeof bs);
        p[r][0] = p[r][1] = _mm256_set1_epi32(-32 * bs);
      }
      for (int g = 4 * j; g < 4 * j + 4; g += 2) {
        const __m256i w00 = Load256(pb + g * kGroupBytes), w01 = Load256(pb + g * kGroupBytes + 32);
        const __m256i w10 = Load256(pb + (g + 1) * kGroupBytes), w11 = Load256(pb + (g + 1) * kGroupBytes + 32);
        for (int r = 0; r < R; ++r) {
          const __m256i a0 = _mm256_set1_epi32(LoadI32(ab[r] + offsetof(ActQ8KBlock, qs) + 4 * g));
          const __m256i a1 = _mm256_set1_epi32(LoadI32(ab[r] + offsetof(ActQ8KBlock, qs) + 4 * g + 4));
          p[r][0] = _mm256_add_epi32(
              p[r][0], Widen(_mm256_add_epi16(_mm256_maddubs_epi16(w00, a0), _mm256_maddubs_epi16(w10, a1))));
          p[r][1] = _mm256_add_epi32(
              p[r][1], Widen(_mm256_add_epi16(_mm256_maddubs_epi16(w01, a0), _mm256_maddubs_epi16(w11, a1))));
        }
      }
      for (int r = 0; r < R; ++r) {
        const __m256 vad = _mm256_set1_ps(LoadF32(ab[r]));
        for (int h = 0; h < 2; ++h) {
          const __m256 s = Load256Ps(dsc + j * 4 * kPanelCols + 32 * h);
          acc[r][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p[r][h]), _mm256_mul_ps(s, vad), acc[r][h]);
        }
      }
    }
  }
  StoreHalf<R>(acc, half, bias, y, y_stride, cols, accumulate);
}

using HalfFn = void (*)(const uint8_t*, const uint8_t*, int64_t, int64_t, int, const float*, float*, int64_t, int, bool);

// A QuantPanelFn for `rows` activation rows from 2-row (and 1-row) half-panel
// passes: AVX2's 16 registers hold two rows' accumulators for 16 weight rows.
template <HalfFn kHalf2, HalfFn kHalf1, int kRows>
FATHOM_AVX2 void Panel(const uint8_t* packed, const uint8_t* a, int64_t a_stride, int64_t num_blocks,
                       const float* bias, float* y, int64_t y_stride, int cols, bool accumulate) {
  for (int half = 0; half < 2 && 16 * half < cols; ++half) {
    int r = 0;
    for (; r + 2 <= kRows; r += 2) {
      kHalf2(packed, a + r * a_stride, a_stride, num_blocks, half, bias, y + r * y_stride, y_stride, cols, accumulate);
    }
    if (r < kRows) {
      kHalf1(packed, a + r * a_stride, a_stride, num_blocks, half, bias, y + r * y_stride, y_stride, cols, accumulate);
    }
  }
}

template <HalfFn kHalf2, HalfFn kHalf1>
constexpr QuantPanelKernels MakePanels(int64_t packed_block_bytes, QuantPackFn pack) {
  return {packed_block_bytes,
          pack,
          {Panel<kHalf2, kHalf1, 1>, Panel<kHalf2, kHalf1, 2>, Panel<kHalf2, kHalf1, 3>, Panel<kHalf2, kHalf1, 4>}};
}

}  // namespace

const QuantPanelSet& Avx2QuantPanels() {
  static constexpr QuantPanelSet kSet = {
      .q8_0 = MakePanels<HalfQ8<2, true>, HalfQ8<1, true>>(kQ8PackedBytes, PackPanelQ8_0),
      .q4_0 = MakePanels<HalfQ8<2, false>, HalfQ8<1, false>>(kQ8PackedBytes, PackPanelQ4_0),
      .q4_k = MakePanels<HalfQ4_K<2>, HalfQ4_K<1>>(kQ4KPackedBytes, PackPanelQ4_K),
      .q6_k = MakePanels<HalfQ6_K<2>, HalfQ6_K<1>>(kQ6KPackedBytes, PackPanelQ6_K)};
  return kSet;
}

}  // namespace fathom::cpu

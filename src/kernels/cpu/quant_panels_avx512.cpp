// AVX-512 VNNI kernels on packed weight panels: 32 weight rows interleaved four
// quants at a time, so each int32 lane of a vpdpbusd accumulates one weight row's
// whole block (or sub-block) and the float scaling happens once per block per 16
// rows instead of once per 16 products. A panel is packed either per call, which
// a few hundred prefill rows repay many times over, or once at load
// (packed_weight.h), which decode then uses too where the layout is compact.
//
// Non-obvious rule: packed quants are unsigned (see quant_panel_pack.h); the
// offsets come back out through the activation block sums, seeded into each
// lane before the dot products.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <immintrin.h>

#include <cstddef>
#include <cstring>

#include "core/quant_blocks.h"
#include "kernels/cpu/q8_activation.h"
#include "kernels/cpu/quant_kernels.h"
#include "kernels/cpu/quant_panel_pack.h"

#define FATHOM_AVX512 \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512dq,avx2,fma,f16c")))

namespace fathom::cpu {
namespace {

FATHOM_AVX512 inline int32_t LoadI32(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

FATHOM_AVX512 inline float LoadF32(const uint8_t* p) {
  float v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

FATHOM_AVX512 inline __m512i Load512(const uint8_t* p) { return _mm512_loadu_si512(p); }
FATHOM_AVX512 inline __m512 Load512Ps(const uint8_t* p) { return _mm512_loadu_ps(reinterpret_cast<const float*>(p)); }

// 16 lanes x two halves: rows 0-15 and 16-31 of the panel.
template <int R>
FATHOM_AVX512 inline void StorePanel(const __m512 (&acc)[R][2], const float* bias, float* y, int64_t y_stride,
                                     int cols, bool accumulate) {
  const __mmask16 m0 = cols >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << cols) - 1);
  const __mmask16 m1 = cols >= 32 ? 0xFFFF : cols <= 16 ? 0 : static_cast<__mmask16>((1u << (cols - 16)) - 1);
  for (int r = 0; r < R; ++r) {
    float* yr = y + r * y_stride;
    __m512 s0 = acc[r][0], s1 = acc[r][1];
    if (accumulate) {
      s0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, yr), s0);
      s1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, yr + 16), s1);
    }
    if (bias != nullptr) {
      s0 = _mm512_add_ps(s0, _mm512_maskz_loadu_ps(m0, bias));
      s1 = _mm512_add_ps(s1, _mm512_maskz_loadu_ps(m1, bias + 16));
    }
    _mm512_mask_storeu_ps(yr, m0, s0);
    _mm512_mask_storeu_ps(yr + 16, m1, s1);
  }
}

// Sixteen float16 scales as float32.
FATHOM_AVX512 inline __m512 LoadHalf16(const uint8_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// Q8_0 in the kQ8HalfPackedBytes layout: one 32-value block per lane, the
// stored quants offset by 128.
template <int R>
FATHOM_AVX512 void PanelQ8(const uint8_t* packed, const uint8_t* a, int64_t a_stride, int64_t num_blocks,
                           const float* bias, float* y, int64_t y_stride, int cols, bool accumulate) {
  __m512 acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int64_t b = 0; b < num_blocks; ++b) {
    const uint8_t* pb = packed + b * kQ8HalfPackedBytes;
    const uint8_t* ab[R];
    __m512i p[R][2];
    for (int r = 0; r < R; ++r) {
      ab[r] = a + r * a_stride + b * sizeof(ActQ8Block);
      p[r][0] = p[r][1] = _mm512_set1_epi32(-128 * LoadI32(ab[r] + offsetof(ActQ8Block, sum)));
    }
    for (int g = 0; g < 8; ++g) {
      const __m512i w0 = Load512(pb + g * kGroupBytes);
      const __m512i w1 = Load512(pb + g * kGroupBytes + 64);
      for (int r = 0; r < R; ++r) {
        const __m512i av = _mm512_set1_epi32(LoadI32(ab[r] + offsetof(ActQ8Block, qs) + 4 * g));
        p[r][0] = _mm512_dpbusd_epi32(p[r][0], w0, av);
        p[r][1] = _mm512_dpbusd_epi32(p[r][1], w1, av);
      }
    }
    const __m512 d0 = LoadHalf16(pb + 8 * kGroupBytes);
    const __m512 d1 = LoadHalf16(pb + 8 * kGroupBytes + 32);
    for (int r = 0; r < R; ++r) {
      const __m512 ad = _mm512_set1_ps(LoadF32(ab[r]));
      acc[r][0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p[r][0]), _mm512_mul_ps(d0, ad), acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p[r][1]), _mm512_mul_ps(d1, ad), acc[r][1]);
    }
  }
  StorePanel<R>(acc, bias, y, y_stride, cols, accumulate);
}

// Q4_0 in the nibble layout (kQ4NibblePackedBytes): each 64-byte load holds
// two groups, split by mask and shift; low and high nibbles keep separate sums
// so the dot products of one block form four independent chains.
template <int R>
FATHOM_AVX512 void PanelQ4_0Nibbles(const uint8_t* packed, const uint8_t* a, int64_t a_stride, int64_t num_blocks,
                                    const float* bias, float* y, int64_t y_stride, int cols, bool accumulate) {
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  __m512 acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int64_t b = 0; b < num_blocks; ++b) {
    const uint8_t* pb = packed + b * kQ4NibblePackedBytes;
    const uint8_t* ab[R];
    __m512i lo[R][2], hi[R][2];
    for (int r = 0; r < R; ++r) {
      ab[r] = a + r * a_stride + b * sizeof(ActQ8Block);
      lo[r][0] = lo[r][1] = _mm512_set1_epi32(-8 * LoadI32(ab[r] + offsetof(ActQ8Block, sum)));
      hi[r][0] = hi[r][1] = _mm512_setzero_si512();
    }
    for (int g = 0; g < 4; ++g) {
      const __m512i raw0 = Load512(pb + g * kGroupBytes);
      const __m512i raw1 = Load512(pb + g * kGroupBytes + 64);
      const __m512i l0 = _mm512_and_si512(raw0, low4), l1 = _mm512_and_si512(raw1, low4);
      const __m512i h0 = _mm512_and_si512(_mm512_srli_epi16(raw0, 4), low4);
      const __m512i h1 = _mm512_and_si512(_mm512_srli_epi16(raw1, 4), low4);
      for (int r = 0; r < R; ++r) {
        const __m512i al = _mm512_set1_epi32(LoadI32(ab[r] + offsetof(ActQ8Block, qs) + 4 * g));
        const __m512i ah = _mm512_set1_epi32(LoadI32(ab[r] + offsetof(ActQ8Block, qs) + 16 + 4 * g));
        lo[r][0] = _mm512_dpbusd_epi32(lo[r][0], l0, al);
        lo[r][1] = _mm512_dpbusd_epi32(lo[r][1], l1, al);
        hi[r][0] = _mm512_dpbusd_epi32(hi[r][0], h0, ah);
        hi[r][1] = _mm512_dpbusd_epi32(hi[r][1], h1, ah);
      }
    }
    const __m512 d0 = LoadHalf16(pb + 4 * kGroupBytes);
    const __m512 d1 = LoadHalf16(pb + 4 * kGroupBytes + 32);
    for (int r = 0; r < R; ++r) {
      const __m512 ad = _mm512_set1_ps(LoadF32(ab[r]));
      const __m512i p0 = _mm512_add_epi32(lo[r][0], hi[r][0]), p1 = _mm512_add_epi32(lo[r][1], hi[r][1]);
      acc[r][0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p0), _mm512_mul_ps(d0, ad), acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p1), _mm512_mul_ps(d1, ad), acc[r][1]);
    }
  }
  StorePanel<R>(acc, bias, y, y_stride, cols, accumulate);
}

// Q4_K: one 32-value sub-block per lane, scaled by d * sc; the mins term is
// dmin * m times the sub-block's activation sum. Both accumulate per block in
// weight-scale units, then scale by the activation's d once per block.
template <int R>
FATHOM_AVX512 void PanelQ4_K(const uint8_t* packed, const uint8_t* a, int64_t a_stride, int64_t num_blocks,
                             const float* bias, float* y, int64_t y_stride, int cols, bool accumulate) {
  __m512 acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int64_t b = 0; b < num_blocks; ++b) {
    const uint8_t* pb = packed + b * kQ4KPackedBytes;
    const uint8_t* dsc = pb + 64 * kGroupBytes;
    const uint8_t* dmn = dsc + 8 * 4 * kPanelCols;
    const uint8_t* ab[R];
    __m512 block[R][2];
    for (int r = 0; r < R; ++r) {
      ab[r] = a + r * a_stride + b * sizeof(ActQ8KBlock);
      block[r][0] = block[r][1] = _mm512_setzero_ps();
    }
    for (int j = 0; j < 8; ++j) {
      __m512i p[R][2];
      for (int r = 0; r < R; ++r) p[r][0] = p[r][1] = _mm512_setzero_si512();
      for (int g = 8 * j; g < 8 * j + 8; ++g) {
        const __m512i w0 = Load512(pb + g * kGroupBytes);
        const __m512i w1 = Load512(pb + g * kGroupBytes + 64);
        for (int r = 0; r < R; ++r) {
          const __m512i av = _mm512_set1_epi32(LoadI32(ab[r] + offsetof(ActQ8KBlock, qs) + 4 * g));
          p[r][0] = _mm512_dpbusd_epi32(p[r][0], w0, av);
          p[r][1] = _mm512_dpbusd_epi32(p[r][1], w1, av);
        }
      }
      const __m512 s0 = Load512Ps(dsc + j * 4 * kPanelCols), s1 = Load512Ps(dsc + j * 4 * kPanelCols + 64);
      const __m512 m0 = Load512Ps(dmn + j * 4 * kPanelCols), m1 = Load512Ps(dmn + j * 4 * kPanelCols + 64);
      for (int r = 0; r < R; ++r) {
        int16_t bs[2];
        std::memcpy(bs, ab[r] + offsetof(ActQ8KBlock, bsums) + 4 * j, sizeof bs);
        const __m512 msum = _mm512_set1_ps(-static_cast<float>(bs[0] + bs[1]));
        block[r][0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p[r][0]), s0, block[r][0]);
        block[r][1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p[r][1]), s1, block[r][1]);
        block[r][0] = _mm512_fmadd_ps(m0, msum, block[r][0]);
        block[r][1] = _mm512_fmadd_ps(m1, msum, block[r][1]);
      }
    }
    for (int r = 0; r < R; ++r) {
      const __m512 ad = _mm512_set1_ps(LoadF32(ab[r]));
      acc[r][0] = _mm512_fmadd_ps(block[r][0], ad, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(block[r][1], ad, acc[r][1]);
    }
  }
  StorePanel<R>(acc, bias, y, y_stride, cols, accumulate);
}

// Q6_K: one 16-value sub-block per lane, seeded with -32 times its activation
// sum; sub-blocks accumulate in d * sc units per block, then scale by the
// activation's d once per block.
template <int R>
FATHOM_AVX512 void PanelQ6_K(const uint8_t* packed, const uint8_t* a, int64_t a_stride, int64_t num_blocks,
                             const float* bias, float* y, int64_t y_stride, int cols, bool accumulate) {
  __m512 acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int64_t b = 0; b < num_blocks; ++b) {
    const uint8_t* pb = packed + b * kQ6KPackedBytes;
    const uint8_t* dsc = pb + 64 * kGroupBytes;
    const uint8_t* ab[R];
    __m512 block[R][2];
    for (int r = 0; r < R; ++r) {
      ab[r] = a + r * a_stride + b * sizeof(ActQ8KBlock);
      block[r][0] = block[r][1] = _mm512_setzero_ps();
    }
    for (int j = 0; j < 16; ++j) {
      __m512i p[R][2];
      for (int r = 0; r < R; ++r) {
        int16_t bs;
        std::memcpy(&bs, ab[r] + offsetof(ActQ8KBlock, bsums) + 2 * j, sizeof bs);
        p[r][0] = p[r][1] = _mm512_set1_epi32(-32 * bs);
      }
      for (int g = 4 * j; g < 4 * j + 4; ++g) {
        const __m512i w0 = Load512(pb + g * kGroupBytes);
        const __m512i w1 = Load512(pb + g * kGroupBytes + 64);
        for (int r = 0; r < R; ++r) {
          const __m512i av = _mm512_set1_epi32(LoadI32(ab[r] + offsetof(ActQ8KBlock, qs) + 4 * g));
          p[r][0] = _mm512_dpbusd_epi32(p[r][0], w0, av);
          p[r][1] = _mm512_dpbusd_epi32(p[r][1], w1, av);
        }
      }
      const __m512 s0 = Load512Ps(dsc + j * 4 * kPanelCols), s1 = Load512Ps(dsc + j * 4 * kPanelCols + 64);
      for (int r = 0; r < R; ++r) {
        block[r][0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p[r][0]), s0, block[r][0]);
        block[r][1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p[r][1]), s1, block[r][1]);
      }
    }
    for (int r = 0; r < R; ++r) {
      const __m512 ad = _mm512_set1_ps(LoadF32(ab[r]));
      acc[r][0] = _mm512_fmadd_ps(block[r][0], ad, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(block[r][1], ad, acc[r][1]);
    }
  }
  StorePanel<R>(acc, bias, y, y_stride, cols, accumulate);
}

}  // namespace

const QuantPanelSet& Avx512QuantPanels() {
  static constexpr QuantPanelSet kSet = {
      .q8_0 = {kQ8HalfPackedBytes, PackPanelQ8_0Half, {PanelQ8<1>, PanelQ8<2>, PanelQ8<3>, PanelQ8<4>}},
      .q4_0 = {kQ4NibblePackedBytes, PackPanelQ4_0Nibbles,
               {PanelQ4_0Nibbles<1>, PanelQ4_0Nibbles<2>, PanelQ4_0Nibbles<3>, PanelQ4_0Nibbles<4>}},
      .q4_k = {kQ4KPackedBytes, PackPanelQ4_K, {PanelQ4_K<1>, PanelQ4_K<2>, PanelQ4_K<3>, PanelQ4_K<4>}},
      .q6_k = {kQ6KPackedBytes, PackPanelQ6_K, {PanelQ6_K<1>, PanelQ6_K<2>, PanelQ6_K<3>, PanelQ6_K<4>}}};
  return kSet;
}

}  // namespace fathom::cpu

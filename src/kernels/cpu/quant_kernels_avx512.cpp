// AVX-512 VNNI tile kernels: 64 quants per zmm. Q8_0 and Q4_0 multiply with
// vpdpbusd (u8 x s8 summed in fours straight into int32, two blocks per zmm);
// the K-quants use maddubs then vpdpwssd, which applies the int16 sub-block
// scales in the same instruction that accumulates.
//
// Non-obvious rule: as in the AVX2 file, intrinsics live only in functions with a
// target attribute (FATHOM_AVX512); the file itself is compiled for the baseline.
// GCC 12's AVX-512 headers seed "undefined" vectors with `__m512i __Y = __Y;`,
// which its own -Wuninitialized then reports at every use.
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

#define FATHOM_AVX512 \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512dq,avx2,fma,f16c")))

namespace fathom::cpu {
namespace {

FATHOM_AVX512 inline float LoadF16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, sizeof h);
  return _cvtsh_ss(h);
}

FATHOM_AVX512 inline float LoadF32(const uint8_t* p) {
  float f;
  std::memcpy(&f, p, sizeof f);
  return f;
}

FATHOM_AVX512 inline int32_t LoadI32(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

FATHOM_AVX512 inline __m256i Load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
FATHOM_AVX512 inline __m512i Load512(const void* p) { return _mm512_loadu_si512(p); }

// Two 32-byte halves, each from its own block; a null `hi` gives zeros.
FATHOM_AVX512 inline __m512i LoadPair(const uint8_t* lo, const uint8_t* hi) {
  const __m512i v = _mm512_castsi256_si512(Load256(lo));
  return _mm512_inserti64x4(v, hi != nullptr ? Load256(hi) : _mm256_setzero_si256(), 1);
}

// Lanes 0-7 = lo, lanes 8-15 = hi.
FATHOM_AVX512 inline __m512 SplitPs(float lo, float hi) {
  return _mm512_mask_blend_ps(0xFF00, _mm512_set1_ps(lo), _mm512_set1_ps(hi));
}
FATHOM_AVX512 inline __m512i SplitEpi32(int32_t lo, int32_t hi) {
  return _mm512_mask_blend_epi32(0xFF00, _mm512_set1_epi32(lo), _mm512_set1_epi32(hi));
}

// How far ahead of the current block tile kernels prefetch each weight row.
constexpr int64_t kPrefetchBytes = 768;

// Prefetches the weight block `kAhead` blocks past `blk` (every cache line it
// may touch): K-quant blocks span several lines, and a row's stream among
// several rows' is too short for the hardware prefetcher to cover.
// Also prefetches (into L2) the same block of the row the next tile reads,
// `next_row` bytes on.
template <int64_t kBlockBytes, int kAhead = 2>
FATHOM_AVX512 inline void PrefetchBlockAhead(const uint8_t* blk, int64_t next_row) {
  const char* p = reinterpret_cast<const char*>(blk) + kAhead * kBlockBytes;
  for (int64_t o = 0; o < kBlockBytes + 63; o += 64) _mm_prefetch(p + o, _MM_HINT_T0);
  const char* q = reinterpret_cast<const char*>(blk) + next_row;
  for (int64_t o = 0; o < kBlockBytes + 63; o += 64) _mm_prefetch(q + o, _MM_HINT_T1);
}

// Lane l holds l / 8 (int16).
alignas(64) constexpr int16_t kLaneOver8[32] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                                2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3};

// kScaleIndexQ4K[p]: int16 lanes 0-15 pick scale 2p, lanes 16-31 scale 2p + 1.
alignas(64) constexpr int16_t kScaleIndexQ4K[4][32] = {
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
    {2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3},
    {4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5},
    {6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7}};

template <int R, int C>
FATHOM_AVX512 inline void StoreTile(const __m512 (&acc)[R][C], const float* bias, float* y, int64_t y_stride) {
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < C; ++c) {
      y[r * y_stride + c] = _mm512_reduce_add_ps(acc[r][c]) + (bias != nullptr ? bias[c] : 0.0f);
    }
  }
}

// Q8_0 and Q4_0 share one loop over block pairs; Unpack turns a weight block pair
// into unsigned bytes, and kSumScale says how much of the activation sum the
// unsigned offset adds per int32 lane (8 lanes per block).
struct Q8_0Format {
  static constexpr int64_t kBlockBytes = sizeof(BlockQ8_0);
  static constexpr int32_t kSumScale = 16;  // w + 128: 128 sum a = 8 lanes x 16 sum a
  FATHOM_AVX512 static __m512i Unpack(const uint8_t* b0, const uint8_t* b1) {
    const __m512i q = LoadPair(b0 + offsetof(BlockQ8_0, qs), b1 != nullptr ? b1 + offsetof(BlockQ8_0, qs) : nullptr);
    const __m512i flipped = _mm512_xor_si512(q, _mm512_set1_epi8(static_cast<char>(0x80)));
    // A missing second block must stay zero, not 0x80.
    return b1 != nullptr ? flipped : _mm512_maskz_mov_epi8(0xFFFFFFFFull, flipped);
  }
};

struct Q4_0Format {
  static constexpr int64_t kBlockBytes = sizeof(BlockQ4_0);
  static constexpr int32_t kSumScale = 1;  // q = (w + 8): 8 sum a = 8 lanes x sum a
  FATHOM_AVX512 static __m512i Unpack(const uint8_t* b0, const uint8_t* b1) {
    const __m128i r0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b0 + offsetof(BlockQ4_0, qs)));
    const __m128i r1 = b1 != nullptr ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(b1 + offsetof(BlockQ4_0, qs)))
                                     : _mm_setzero_si128();
    // [r0, r0, r1, r1], then low nibbles in 128-bit lanes 0 and 2, high in 1 and 3.
    const __m512i dup = _mm512_permutexvar_epi64(_mm512_set_epi64(3, 2, 3, 2, 1, 0, 1, 0),
                                                 _mm512_castsi256_si512(_mm256_set_m128i(r1, r0)));
    const __m512i shifts = _mm512_set_epi64(0x0004000400040004, 0x0004000400040004, 0, 0,
                                            0x0004000400040004, 0x0004000400040004, 0, 0);
    return _mm512_and_si512(_mm512_srlv_epi16(dup, shifts), _mm512_set1_epi8(0x0F));
  }
};

template <class F, int R, int C, bool pair>
FATHOM_AVX512 inline void StepPair(const uint8_t* w, int64_t w_stride, const uint8_t* a, int64_t a_stride,
                                   int64_t b, __m512 (&acc)[R][C]) {
  __m512i wq[C];
  __m512 wd[C];
  for (int c = 0; c < C; ++c) {
    const uint8_t* b0 = w + c * w_stride + b * F::kBlockBytes;
    // Short rows end before the hardware prefetcher ramps up; ask ahead, in this
    // row and in the row the next tile reads (into L2: it may be far ahead).
    _mm_prefetch(reinterpret_cast<const char*>(b0) + kPrefetchBytes, _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(b0) + C * w_stride, _MM_HINT_T1);
    const uint8_t* b1 = pair ? b0 + F::kBlockBytes : nullptr;
    wq[c] = F::Unpack(b0, b1);
    wd[c] = SplitPs(LoadF16(b0), pair ? LoadF16(b1) : 0.0f);
  }
  for (int r = 0; r < R; ++r) {
    const uint8_t* a0 = a + r * a_stride + b * sizeof(ActQ8Block);
    const uint8_t* a1 = pair ? a0 + sizeof(ActQ8Block) : nullptr;
    const __m512i aq = LoadPair(a0 + offsetof(ActQ8Block, qs), pair ? a1 + offsetof(ActQ8Block, qs) : nullptr);
    const __m512i init = SplitEpi32(-F::kSumScale * LoadI32(a0 + offsetof(ActQ8Block, sum)),
                                    pair ? -F::kSumScale * LoadI32(a1 + offsetof(ActQ8Block, sum)) : 0);
    const __m512 ad = SplitPs(LoadF32(a0), pair ? LoadF32(a1) : 0.0f);
    for (int c = 0; c < C; ++c) {
      const __m512i p = _mm512_dpbusd_epi32(init, wq[c], aq);
      acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_mul_ps(wd[c], ad), acc[r][c]);
    }
  }
}

template <class F, int R, int C>
FATHOM_AVX512 void TileQ8(const uint8_t* w, int64_t w_stride, const uint8_t* a, int64_t a_stride,
                          int64_t num_blocks, const float* bias, float* y, int64_t y_stride) {
  __m512 acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_ps();
  int64_t b = 0;
  for (; b + 2 <= num_blocks; b += 2) StepPair<F, R, C, true>(w, w_stride, a, a_stride, b, acc);
  if (b < num_blocks) StepPair<F, R, C, false>(w, w_stride, a, a_stride, b, acc);
  StoreTile<R, C>(acc, bias, y, y_stride);
}

// Q4_K: a zmm holds 64 values = sub-blocks 2p (low nibbles) and 2p + 1 (high);
// maddubs then vpdpwssd against their scales, 16 int16 lanes each.
template <int R, int C>
FATHOM_AVX512 void TileQ4_K(const uint8_t* w, int64_t w_stride, const uint8_t* a, int64_t a_stride,
                            int64_t num_blocks, const float* bias, float* y, int64_t y_stride) {
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  const __m512i nibble_shift = _mm512_set_epi64(0x0004000400040004, 0x0004000400040004, 0x0004000400040004,
                                                0x0004000400040004, 0, 0, 0, 0);
  __m512 acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_ps();
  for (int64_t b = 0; b < num_blocks; ++b) {
    const uint8_t* blk[C];
    __m512i sc16[C];      // (8) int16 sub-block scales in the low lanes
    __m256i mins[C];      // (16) int16: min of sub-block j / 2 per 16-value sum
    float wd[C], wdmin[C];
    for (int c = 0; c < C; ++c) {
      blk[c] = w + c * w_stride + b * sizeof(BlockQ4_K);
      PrefetchBlockAhead<sizeof(BlockQ4_K)>(blk[c], C * w_stride);
      uint64_t sc, mn;
      UnpackQ4KScaleBytes(blk[c] + offsetof(BlockQ4_K, scales), &sc, &mn);
      sc16[c] = _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<long long>(sc))));
      const __m128i m8 = _mm_cvtsi64_si128(static_cast<long long>(mn));
      mins[c] = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));
      wd[c] = LoadF16(blk[c] + offsetof(BlockQ4_K, d));
      wdmin[c] = LoadF16(blk[c] + offsetof(BlockQ4_K, dmin));
    }
    __m512i isum[R][C];
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) isum[r][c] = _mm512_setzero_si512();
    for (int p = 0; p < 4; ++p) {
      __m512i q[C], scale[C];
      for (int c = 0; c < C; ++c) {
        const __m512i raw = _mm512_broadcast_i64x4(Load256(blk[c] + offsetof(BlockQ4_K, qs) + 32 * p));
        q[c] = _mm512_and_si512(_mm512_srlv_epi16(raw, nibble_shift), low4);
        scale[c] = _mm512_permutexvar_epi16(Load512(kScaleIndexQ4K[p]), sc16[c]);
      }
      for (int r = 0; r < R; ++r) {
        const __m512i aq = Load512(a + r * a_stride + b * sizeof(ActQ8KBlock) + offsetof(ActQ8KBlock, qs) + 64 * p);
        for (int c = 0; c < C; ++c) {
          isum[r][c] = _mm512_dpwssd_epi32(isum[r][c], _mm512_maddubs_epi16(q[c], aq), scale[c]);
        }
      }
    }
    for (int r = 0; r < R; ++r) {
      const uint8_t* ab = a + r * a_stride + b * sizeof(ActQ8KBlock);
      const __m256i bsums = Load256(ab + offsetof(ActQ8KBlock, bsums));
      const float ad = LoadF32(ab);
      for (int c = 0; c < C; ++c) {
        const __m512 msum = _mm512_cvtepi32_ps(_mm512_zextsi256_si512(_mm256_madd_epi16(mins[c], bsums)));
        acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[r][c]), _mm512_set1_ps(wd[c] * ad), acc[r][c]);
        acc[r][c] = _mm512_fmadd_ps(msum, _mm512_set1_ps(-(wdmin[c] * ad)), acc[r][c]);
      }
    }
  }
  StoreTile<R, C>(acc, bias, y, y_stride);
}

// Q6_K: per 128 values, zmm A = values [0, 64) (low nibbles of ql, qh bits 0-1 and
// 2-3), zmm B = [64, 128) (high nibbles, qh bits 4-5 and 6-7); four 16-value
// sub-blocks per zmm, eight int16 scale lanes each.
template <int R, int C>
FATHOM_AVX512 void TileQ6_K(const uint8_t* w, int64_t w_stride, const uint8_t* a, int64_t a_stride,
                            int64_t num_blocks, const float* bias, float* y, int64_t y_stride) {
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  const __m512i two = _mm512_set1_epi8(3);
  // Per 256-bit half: shift qh by 0 | 2 (values [0, 64)) or 4 | 6 ([64, 128)).
  const __m512i shift_a = _mm512_set_epi64(0x0002000200020002, 0x0002000200020002, 0x0002000200020002,
                                           0x0002000200020002, 0, 0, 0, 0);
  const __m512i shift_b = _mm512_add_epi16(shift_a, _mm512_set1_epi16(4));
  const __m512i lane_sub = Load512(kLaneOver8);  // int16 lane l covers values 2l, 2l + 1: sub-block l / 8
  __m512 acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_ps();
  for (int64_t b = 0; b < num_blocks; ++b) {
    const uint8_t* blk[C];
    __m256i sc16[C];
    float wd[C];
    for (int c = 0; c < C; ++c) {
      blk[c] = w + c * w_stride + b * sizeof(BlockQ6_K);
      PrefetchBlockAhead<sizeof(BlockQ6_K)>(blk[c], C * w_stride);
      sc16[c] = _mm256_cvtepi8_epi16(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk[c] + offsetof(BlockQ6_K, scales))));
      wd[c] = LoadF16(blk[c] + offsetof(BlockQ6_K, d));
    }
    __m512i isum[R][C];
    for (int r = 0; r < R; ++r) {
      const __m256i bsums = Load256(a + r * a_stride + b * sizeof(ActQ8KBlock) + offsetof(ActQ8KBlock, bsums));
      for (int c = 0; c < C; ++c) {
        const __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(sc16[c], bsums), 5);
        isum[r][c] = _mm512_zextsi256_si512(_mm256_sub_epi32(_mm256_setzero_si256(), corr));
      }
    }
    for (int h = 0; h < 2; ++h) {
      for (int g = 0; g < 2; ++g) {
        __m512i q[C], scale[C];
        for (int c = 0; c < C; ++c) {
          const __m512i ql = Load512(blk[c] + offsetof(BlockQ6_K, ql) + 64 * h);
          const __m512i qh = _mm512_broadcast_i64x4(Load256(blk[c] + offsetof(BlockQ6_K, qh) + 32 * h));
          const __m512i lo = g == 0 ? _mm512_and_si512(ql, low4) : _mm512_and_si512(_mm512_srli_epi16(ql, 4), low4);
          const __m512i hi = _mm512_and_si512(_mm512_srlv_epi16(qh, g == 0 ? shift_a : shift_b), two);
          q[c] = _mm512_or_si512(lo, _mm512_slli_epi16(hi, 4));
          const __m512i idx = _mm512_add_epi16(lane_sub, _mm512_set1_epi16(static_cast<short>(8 * h + 4 * g)));
          scale[c] = _mm512_permutexvar_epi16(idx, _mm512_castsi256_si512(sc16[c]));
        }
        for (int r = 0; r < R; ++r) {
          const __m512i aq =
              Load512(a + r * a_stride + b * sizeof(ActQ8KBlock) + offsetof(ActQ8KBlock, qs) + 128 * h + 64 * g);
          for (int c = 0; c < C; ++c) {
            isum[r][c] = _mm512_dpwssd_epi32(isum[r][c], _mm512_maddubs_epi16(q[c], aq), scale[c]);
          }
        }
      }
    }
    for (int r = 0; r < R; ++r) {
      const float ad = LoadF32(a + r * a_stride + b * sizeof(ActQ8KBlock));
      for (int c = 0; c < C; ++c) {
        acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[r][c]), _mm512_set1_ps(wd[c] * ad), acc[r][c]);
      }
    }
  }
  StoreTile<R, C>(acc, bias, y, y_stride);
}

using TileFn = void (*)(const uint8_t*, int64_t, const uint8_t*, int64_t, int64_t, const float*, float*, int64_t);

// Decode (one activation row) may take more weight rows per tile than prefill:
// with no activation rows to share each weight block, more independent rows
// in flight hide the latency of each row's accumulation chain.
template <template <int, int> class Kernel, int C, int kDecodeCols = C>
constexpr QuantTileKernels MakeKernels() {
  return {.max_rows = 4,
          .max_cols = C > kDecodeCols ? C : kDecodeCols,
          .cols = {kDecodeCols, C, C, C},
          .tile = {Kernel<1, kDecodeCols>::kFn, Kernel<2, C>::kFn, Kernel<3, C>::kFn, Kernel<4, C>::kFn},
          .column = {Kernel<1, 1>::kFn, Kernel<2, 1>::kFn, Kernel<3, 1>::kFn, Kernel<4, 1>::kFn}};
}

template <int R, int C> struct Q8_0 { static constexpr TileFn kFn = TileQ8<Q8_0Format, R, C>; };
template <int R, int C> struct Q4_0 { static constexpr TileFn kFn = TileQ8<Q4_0Format, R, C>; };
template <int R, int C> struct Q4_K { static constexpr TileFn kFn = TileQ4_K<R, C>; };
template <int R, int C> struct Q6_K { static constexpr TileFn kFn = TileQ6_K<R, C>; };

}  // namespace

const QuantKernelSet& Avx512QuantKernels() {
  static constexpr QuantKernelSet kSet = {.q8_0 = MakeKernels<Q8_0, 4, 8>(),
                                          .q4_0 = MakeKernels<Q4_0, 4, 8>(),
                                          .q4_k = MakeKernels<Q4_K, 4>(),
                                          .q6_k = MakeKernels<Q6_K, 2, 4>()};
  return kSet;
}

}  // namespace fathom::cpu

// AVX2 tile kernels: 32 quants per ymm, unsigned-by-signed byte products with
// maddubs and pairwise sums with madd, one float FMA per block and tile entry.
//
// Non-obvious rule: everything with intrinsics carries FATHOM_AVX2 (a target
// attribute) instead of this file being compiled with -mavx2, so no inline
// function from a shared header is ever emitted here with AVX2 instructions and
// then picked by the linker for code that runs on older CPUs.
#include <immintrin.h>

#include <cstddef>
#include <cstring>

#include "core/quant_blocks.h"
#include "kernels/cpu/q8_activation.h"
#include "kernels/cpu/quant_kernels.h"

#define FATHOM_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace fathom::cpu {
namespace {

FATHOM_AVX2 inline float LoadF16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, sizeof h);
  return _cvtsh_ss(h);
}

FATHOM_AVX2 inline float LoadF32(const uint8_t* p) {
  float f;
  std::memcpy(&f, p, sizeof f);
  return f;
}

FATHOM_AVX2 inline int32_t LoadI32(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

FATHOM_AVX2 inline __m256i Load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

FATHOM_AVX2 inline float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Prefetches every line of the weight block `kAhead` blocks past `blk` (into L1)
// and of the same block in the row the next tile reads, `next_row` bytes on
// (into L2): rows interleaved across a tile are streams too short for the
// hardware prefetcher.
template <int64_t kBlockBytes, int kAhead>
FATHOM_AVX2 inline void PrefetchBlockAhead(const uint8_t* blk, int64_t next_row) {
  const char* p = reinterpret_cast<const char*>(blk) + kAhead * kBlockBytes;
  for (int64_t o = 0; o < kBlockBytes; o += 64) _mm_prefetch(p + o, _MM_HINT_T0);
  const char* q = reinterpret_cast<const char*>(blk) + next_row;
  for (int64_t o = 0; o < kBlockBytes; o += 64) _mm_prefetch(q + o, _MM_HINT_T1);
}

// u8 x s8 products summed in groups of four into eight int32 lanes.
FATHOM_AVX2 inline __m256i DotU8S8(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

template <int R, int C>
FATHOM_AVX2 inline void StoreTile(const __m256 (&acc)[R][C], const float* bias, float* y, int64_t y_stride) {
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < C; ++c) y[r * y_stride + c] = HorizontalSum(acc[r][c]) + (bias != nullptr ? bias[c] : 0.0f);
  }
}

// Q8_0: signed weights, so |w| times sign(a, w) keeps maddubs' first operand
// unsigned; |w|, |a| <= 127 keep its int16 pair sums from saturating.
template <int R, int C>
FATHOM_AVX2 void TileQ8_0(const uint8_t* w, int64_t w_stride, const uint8_t* a, int64_t a_stride,
                          int64_t num_blocks, const float* bias, float* y, int64_t y_stride) {
  __m256 acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < num_blocks; ++b) {
    __m256i wq[C], wabs[C];
    float wd[C];
    for (int c = 0; c < C; ++c) {
      const uint8_t* blk = w + c * w_stride + b * sizeof(BlockQ8_0);
      PrefetchBlockAhead<sizeof(BlockQ8_0), 16>(blk, C * w_stride);
      wq[c] = Load256(blk + offsetof(BlockQ8_0, qs));
      wabs[c] = _mm256_sign_epi8(wq[c], wq[c]);
      wd[c] = LoadF16(blk);
    }
    for (int r = 0; r < R; ++r) {
      const uint8_t* ab = a + r * a_stride + b * sizeof(ActQ8Block);
      const __m256i aq = Load256(ab + offsetof(ActQ8Block, qs));
      const float ad = LoadF32(ab);
      for (int c = 0; c < C; ++c) {
        const __m256i p = DotU8S8(wabs[c], _mm256_sign_epi8(aq, wq[c]));
        acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(wd[c] * ad), acc[r][c]);
      }
    }
  }
  StoreTile<R, C>(acc, bias, y, y_stride);
}

// Q4_0: quants q in [0, 15] are already unsigned; sum (q - 8) a = sum q a - 8 sum a,
// and the -8 sum a is spread over the eight int32 lanes as -sum a each.
template <int R, int C>
FATHOM_AVX2 void TileQ4_0(const uint8_t* w, int64_t w_stride, const uint8_t* a, int64_t a_stride,
                          int64_t num_blocks, const float* bias, float* y, int64_t y_stride) {
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  __m256 acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < num_blocks; ++b) {
    __m256i wq[C];
    float wd[C];
    for (int c = 0; c < C; ++c) {
      const uint8_t* blk = w + c * w_stride + b * sizeof(BlockQ4_0);
      PrefetchBlockAhead<sizeof(BlockQ4_0), 32>(blk, C * w_stride);
      const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + offsetof(BlockQ4_0, qs)));
      wq[c] = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), low4);
      wd[c] = LoadF16(blk);
    }
    for (int r = 0; r < R; ++r) {
      const uint8_t* ab = a + r * a_stride + b * sizeof(ActQ8Block);
      const __m256i aq = Load256(ab + offsetof(ActQ8Block, qs));
      const __m256i corr = _mm256_set1_epi32(-LoadI32(ab + offsetof(ActQ8Block, sum)));
      const float ad = LoadF32(ab);
      for (int c = 0; c < C; ++c) {
        const __m256i p = _mm256_add_epi32(DotU8S8(wq[c], aq), corr);
        acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(wd[c] * ad), acc[r][c]);
      }
    }
  }
  StoreTile<R, C>(acc, bias, y, y_stride);
}

// Q4_K: per 32-value sub-block, madd against the broadcast 6-bit scale sums the
// scaled products in int32; the mins term uses the activation's 16-value sums.
template <int R, int C>
FATHOM_AVX2 void TileQ4_K(const uint8_t* w, int64_t w_stride, const uint8_t* a, int64_t a_stride,
                          int64_t num_blocks, const float* bias, float* y, int64_t y_stride) {
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  __m256 acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < num_blocks; ++b) {
    uint64_t sc[C];   // (8) bytes: 6-bit sub-block scales
    __m256i mins[C];  // (16) int16: min of sub-block j / 2 for each 16-value sum j
    float wd[C], wdmin[C];
    const uint8_t* blk[C];
    for (int c = 0; c < C; ++c) {
      blk[c] = w + c * w_stride + b * sizeof(BlockQ4_K);
      PrefetchBlockAhead<sizeof(BlockQ4_K), 4>(blk[c], C * w_stride);
      uint64_t mn;
      UnpackQ4KScaleBytes(blk[c] + offsetof(BlockQ4_K, scales), &sc[c], &mn);
      const __m128i m8 = _mm_cvtsi64_si128(static_cast<long long>(mn));
      mins[c] = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));
      wd[c] = LoadF16(blk[c] + offsetof(BlockQ4_K, d));
      wdmin[c] = LoadF16(blk[c] + offsetof(BlockQ4_K, dmin));
    }
    for (int r = 0; r < R; ++r) {
      const uint8_t* ab = a + r * a_stride + b * sizeof(ActQ8KBlock);
      const uint8_t* aq = ab + offsetof(ActQ8KBlock, qs);
      const __m256i bsums = Load256(ab + offsetof(ActQ8KBlock, bsums));
      const float ad = LoadF32(ab);
      __m256i isum[C];
      for (int c = 0; c < C; ++c) isum[c] = _mm256_setzero_si256();
      for (int p = 0; p < 4; ++p) {
        const __m256i a_lo = Load256(aq + 64 * p);
        const __m256i a_hi = Load256(aq + 64 * p + 32);
        for (int c = 0; c < C; ++c) {
          const __m256i raw = Load256(blk[c] + offsetof(BlockQ4_K, qs) + 32 * p);
          const __m256i lo = _mm256_maddubs_epi16(_mm256_and_si256(raw, low4), a_lo);
          const __m256i hi = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(raw, 4), low4), a_hi);
          isum[c] = _mm256_add_epi32(isum[c], _mm256_madd_epi16(lo, _mm256_set1_epi16(static_cast<int16_t>((sc[c] >> (16 * p)) & 0xFF))));
          isum[c] = _mm256_add_epi32(isum[c], _mm256_madd_epi16(hi, _mm256_set1_epi16(static_cast<int16_t>((sc[c] >> (16 * p + 8)) & 0xFF))));
        }
      }
      for (int c = 0; c < C; ++c) {
        const __m256 msum = _mm256_cvtepi32_ps(_mm256_madd_epi16(mins[c], bsums));
        acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), _mm256_set1_ps(wd[c] * ad), acc[r][c]);
        acc[r][c] = _mm256_fmadd_ps(msum, _mm256_set1_ps(-(wdmin[c] * ad)), acc[r][c]);
      }
    }
  }
  StoreTile<R, C>(acc, bias, y, y_stride);
}

// Q6_K: 6-bit quants q in [0, 63] rebuilt from ql and qh; sum s (q - 32) a is
// sum s q a minus 32 sum s bsum, both in int32 before the one float step.
template <int R, int C>
FATHOM_AVX2 void TileQ6_K(const uint8_t* w, int64_t w_stride, const uint8_t* a, int64_t a_stride,
                          int64_t num_blocks, const float* bias, float* y, int64_t y_stride) {
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  const __m256i two = _mm256_set1_epi8(3);
  __m256 acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < num_blocks; ++b) {
    const uint8_t* blk[C];
    __m256i sc16[C];  // (16) int16 sub-block scales
    float wd[C];
    for (int c = 0; c < C; ++c) {
      blk[c] = w + c * w_stride + b * sizeof(BlockQ6_K);
      PrefetchBlockAhead<sizeof(BlockQ6_K), 3>(blk[c], C * w_stride);
      sc16[c] = _mm256_cvtepi8_epi16(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk[c] + offsetof(BlockQ6_K, scales))));
      wd[c] = LoadF16(blk[c] + offsetof(BlockQ6_K, d));
    }
    for (int r = 0; r < R; ++r) {
      const uint8_t* ab = a + r * a_stride + b * sizeof(ActQ8KBlock);
      const uint8_t* aq = ab + offsetof(ActQ8KBlock, qs);
      const __m256i bsums = Load256(ab + offsetof(ActQ8KBlock, bsums));
      const float ad = LoadF32(ab);
      __m256i isum[C];
      for (int c = 0; c < C; ++c) isum[c] = _mm256_slli_epi32(_mm256_madd_epi16(sc16[c], bsums), 5);
      for (int c = 0; c < C; ++c) isum[c] = _mm256_sub_epi32(_mm256_setzero_si256(), isum[c]);
      for (int h = 0; h < 2; ++h) {
        for (int c = 0; c < C; ++c) {
          const uint8_t* ql = blk[c] + offsetof(BlockQ6_K, ql) + 64 * h;
          const __m256i ql0 = Load256(ql);
          const __m256i ql1 = Load256(ql + 32);
          const __m256i qh = Load256(blk[c] + offsetof(BlockQ6_K, qh) + 32 * h);
          const __m256i q[4] = {
              _mm256_or_si256(_mm256_and_si256(ql0, low4), _mm256_slli_epi16(_mm256_and_si256(qh, two), 4)),
              _mm256_or_si256(_mm256_and_si256(ql1, low4),
                              _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), two), 4)),
              _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4),
                              _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), two), 4)),
              _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4),
                              _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), two), 4))};
          const int8_t* s = reinterpret_cast<const int8_t*>(blk[c] + offsetof(BlockQ6_K, scales)) + 8 * h;
          for (int g = 0; g < 4; ++g) {
            const __m256i scale = _mm256_set_m128i(_mm_set1_epi16(s[2 * g + 1]), _mm_set1_epi16(s[2 * g]));
            const __m256i prod = _mm256_maddubs_epi16(q[g], Load256(aq + 128 * h + 32 * g));
            isum[c] = _mm256_add_epi32(isum[c], _mm256_madd_epi16(prod, scale));
          }
        }
      }
      for (int c = 0; c < C; ++c) {
        acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), _mm256_set1_ps(wd[c] * ad), acc[r][c]);
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

template <int R, int C> struct Q8_0 { static constexpr TileFn kFn = TileQ8_0<R, C>; };
template <int R, int C> struct Q4_0 { static constexpr TileFn kFn = TileQ4_0<R, C>; };
template <int R, int C> struct Q4_K { static constexpr TileFn kFn = TileQ4_K<R, C>; };
template <int R, int C> struct Q6_K { static constexpr TileFn kFn = TileQ6_K<R, C>; };

}  // namespace

const QuantKernelSet& Avx2QuantKernels() {
  static constexpr QuantKernelSet kSet = {.q8_0 = MakeKernels<Q8_0, 2, 4>(),
                                          .q4_0 = MakeKernels<Q4_0, 2, 4>(),
                                          .q4_k = MakeKernels<Q4_K, 2, 4>(),
                                          .q6_k = MakeKernels<Q6_K, 2, 4>()};
  return kSet;
}

}  // namespace fathom::cpu

// AVX-512 VNNI kernels on packed weight panels: 32 weight rows interleaved four
// quants at a time, so each int32 lane of a vpdpbusd accumulates one weight row's
// whole block (or sub-block) and the float scaling happens once per block per 16
// rows instead of once per 16 products. Prefill only: the panel is packed per
// call, which a few hundred activation rows repay many times over.
//
// Non-obvious rule: packed quants are unsigned (Q8_0 stored + 128, Q4_0 and Q4_K
// as stored, Q6_K as stored 0-63) and the offsets come back out through the
// activation block sums, seeded into each lane before the dot products.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <immintrin.h>

#include <cstddef>
#include <cstring>

#include "core/float_formats.h"
#include "core/quant_blocks.h"
#include "kernels/cpu/q8_activation.h"
#include "kernels/cpu/quant_kernels.h"

#define FATHOM_AVX512 \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512dq,avx2,fma,f16c")))

namespace fathom::cpu {
namespace {

// Packed block layouts (per kPanelCols = 32 weight rows):
//   quants: (values / 4) groups x 32 rows x 4 bytes, 128 bytes per group
//   then float32 tables, (entries) x 32 rows each.
constexpr int64_t kGroupBytes = 4 * kPanelCols;
constexpr int64_t kQ8PackedBytes = 8 * kGroupBytes + 4 * kPanelCols;                  // quants, d
constexpr int64_t kQ4KPackedBytes = 64 * kGroupBytes + 2 * 8 * 4 * kPanelCols;        // quants, d*sc, dmin*m
constexpr int64_t kQ6KPackedBytes = 64 * kGroupBytes + 16 * 4 * kPanelCols;           // quants, d*sc

float LoadF16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, sizeof h);
  return F16ToF32(h);
}

inline void StoreF32(uint8_t* table, int entry, int c, float v) {
  std::memcpy(table + (entry * kPanelCols + c) * 4, &v, 4);
}

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

FATHOM_AVX512 inline __m256i Load256(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

// Packing transposes 8 rows x 8 dwords (four quants each) at a time: rows[i]
// holds row i's quants for groups [0, 8); group t of all 8 rows goes to
// out + t * kGroupBytes (32 bytes: rows 0-7 in order). Gathers would be simpler
// but are several times slower on current cores.
FATHOM_AVX512 inline void TransposeStore8x8(const __m256i (&rows)[8], uint8_t* out) {
  __m256i t[8], u[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_epi32(rows[2 * i], rows[2 * i + 1]);      // i: (0 1) (4 5) of the pair
    t[2 * i + 1] = _mm256_unpackhi_epi32(rows[2 * i], rows[2 * i + 1]);  // (2 3) (6 7)
  }
  for (int i = 0; i < 2; ++i) {
    u[4 * i + 0] = _mm256_unpacklo_epi64(t[4 * i], t[4 * i + 2]);          // dword 0 | 4 of 4 rows
    u[4 * i + 1] = _mm256_unpackhi_epi64(t[4 * i], t[4 * i + 2]);          // 1 | 5
    u[4 * i + 2] = _mm256_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);      // 2 | 6
    u[4 * i + 3] = _mm256_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);      // 3 | 7
  }
  for (int d = 0; d < 4; ++d) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + d * kGroupBytes), _mm256_permute2x128_si256(u[d], u[4 + d], 0x20));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + (d + 4) * kGroupBytes),
                        _mm256_permute2x128_si256(u[d], u[4 + d], 0x31));
  }
}

// Calls unpack(row_data, chunk, out_rows) for 8-row slices of the panel and
// transposes its output into the packed block. Rows past `rows` are zeros.
// Unpack must write, for weight block `blk` of one row, the 8 quant groups of
// `chunk` as one __m256i.
template <class Unpack>
FATHOM_AVX512 inline void PackQuants(const uint8_t* w, int64_t w_stride, int rows, int64_t num_blocks,
                                     int64_t block_bytes, int64_t packed_bytes, int num_chunks, uint8_t* packed) {
  for (int octet = 0; octet < kPanelCols / 8; ++octet) {
    for (int64_t b = 0; b < num_blocks; ++b) {
      for (int chunk = 0; chunk < num_chunks; ++chunk) {
        __m256i v[8];
        for (int i = 0; i < 8; ++i) {
          const int c = 8 * octet + i;
          v[i] = c < rows ? Unpack::Chunk(w + c * w_stride + b * block_bytes, chunk) : _mm256_setzero_si256();
        }
        TransposeStore8x8(v, packed + b * packed_bytes + 8 * chunk * kGroupBytes + 32 * octet);
      }
    }
  }
}

struct Q8_0Unpack {
  FATHOM_AVX512 static __m256i Chunk(const uint8_t* blk, int) {
    return _mm256_xor_si256(Load256(blk + offsetof(BlockQ8_0, qs)), _mm256_set1_epi8(static_cast<char>(0x80)));
  }
};

struct Q4_0Unpack {
  FATHOM_AVX512 static __m256i Chunk(const uint8_t* blk, int) {
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + offsetof(BlockQ4_0, qs)));
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), _mm256_set1_epi8(0x0F));
  }
};

// Chunk 2p: low nibbles of qs[32p, 32p + 32) (values 64p + l); 2p + 1: high.
struct Q4_KUnpack {
  FATHOM_AVX512 static __m256i Chunk(const uint8_t* blk, int chunk) {
    const __m256i raw = Load256(blk + offsetof(BlockQ4_K, qs) + 32 * (chunk / 2));
    return _mm256_and_si256(chunk % 2 == 0 ? raw : _mm256_srli_epi16(raw, 4), _mm256_set1_epi8(0x0F));
  }
};

// Chunk 4h + quad: values 128h + 32 quad + [0, 32).
struct Q6_KUnpack {
  FATHOM_AVX512 static __m256i Chunk(const uint8_t* blk, int chunk) {
    const int h = chunk / 4, quad = chunk % 4;
    const __m256i ql = Load256(blk + offsetof(BlockQ6_K, ql) + 64 * h + 32 * (quad % 2));
    const __m256i qh = Load256(blk + offsetof(BlockQ6_K, qh) + 32 * h);
    const __m256i lo = _mm256_and_si256(quad < 2 ? ql : _mm256_srli_epi16(ql, 4), _mm256_set1_epi8(0x0F));
    const __m256i hi = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * quad)), _mm256_set1_epi8(0x03));
    return _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4));
  }
};

// Per-row float tables: entries x kPanelCols, zero for rows past `rows`.
template <class RowScales>
void PackScales(const uint8_t* w, int64_t w_stride, int rows, int64_t num_blocks, int64_t block_bytes,
                int64_t packed_bytes, int64_t table_offset, int64_t table_bytes, uint8_t* packed) {
  for (int64_t b = 0; b < num_blocks; ++b) {
    uint8_t* table = packed + b * packed_bytes + table_offset;
    std::memset(table, 0, table_bytes);
    for (int c = 0; c < rows; ++c) RowScales::Write(w + c * w_stride + b * block_bytes, c, table);
  }
}

struct Q8_0Scales {
  static void Write(const uint8_t* blk, int c, uint8_t* table) { StoreF32(table, 0, c, LoadF16(blk)); }
};

struct Q4_KScales {
  static void Write(const uint8_t* blk, int c, uint8_t* table) {
    uint64_t sc, mn;
    UnpackQ4KScaleBytes(blk + offsetof(BlockQ4_K, scales), &sc, &mn);
    const float d = LoadF16(blk + offsetof(BlockQ4_K, d));
    const float dmin = LoadF16(blk + offsetof(BlockQ4_K, dmin));
    for (int j = 0; j < 8; ++j) {
      StoreF32(table, j, c, d * static_cast<float>((sc >> (8 * j)) & 0xFF));
      StoreF32(table, 8 + j, c, dmin * static_cast<float>((mn >> (8 * j)) & 0xFF));
    }
  }
};

struct Q6_KScales {
  static void Write(const uint8_t* blk, int c, uint8_t* table) {
    const float d = LoadF16(blk + offsetof(BlockQ6_K, d));
    const auto* scales = reinterpret_cast<const int8_t*>(blk + offsetof(BlockQ6_K, scales));
    for (int j = 0; j < 16; ++j) StoreF32(table, j, c, d * static_cast<float>(scales[j]));
  }
};

FATHOM_AVX512 void PackQ8_0(const uint8_t* w, int64_t w_stride, int rows, int64_t num_blocks, uint8_t* packed) {
  PackQuants<Q8_0Unpack>(w, w_stride, rows, num_blocks, sizeof(BlockQ8_0), kQ8PackedBytes, 1, packed);
  PackScales<Q8_0Scales>(w, w_stride, rows, num_blocks, sizeof(BlockQ8_0), kQ8PackedBytes, 8 * kGroupBytes,
                         4 * kPanelCols, packed);
}

FATHOM_AVX512 void PackQ4_0(const uint8_t* w, int64_t w_stride, int rows, int64_t num_blocks, uint8_t* packed) {
  PackQuants<Q4_0Unpack>(w, w_stride, rows, num_blocks, sizeof(BlockQ4_0), kQ8PackedBytes, 1, packed);
  PackScales<Q8_0Scales>(w, w_stride, rows, num_blocks, sizeof(BlockQ4_0), kQ8PackedBytes, 8 * kGroupBytes,
                         4 * kPanelCols, packed);
}

FATHOM_AVX512 void PackQ4_K(const uint8_t* w, int64_t w_stride, int rows, int64_t num_blocks, uint8_t* packed) {
  PackQuants<Q4_KUnpack>(w, w_stride, rows, num_blocks, sizeof(BlockQ4_K), kQ4KPackedBytes, 8, packed);
  PackScales<Q4_KScales>(w, w_stride, rows, num_blocks, sizeof(BlockQ4_K), kQ4KPackedBytes, 64 * kGroupBytes,
                         16 * 4 * kPanelCols, packed);
}

FATHOM_AVX512 void PackQ6_K(const uint8_t* w, int64_t w_stride, int rows, int64_t num_blocks, uint8_t* packed) {
  PackQuants<Q6_KUnpack>(w, w_stride, rows, num_blocks, sizeof(BlockQ6_K), kQ6KPackedBytes, 8, packed);
  PackScales<Q6_KScales>(w, w_stride, rows, num_blocks, sizeof(BlockQ6_K), kQ6KPackedBytes, 64 * kGroupBytes,
                         16 * 4 * kPanelCols, packed);
}

// 16 lanes x two halves: rows 0-15 and 16-31 of the panel.
template <int R>
FATHOM_AVX512 inline void StorePanel(const __m512 (&acc)[R][2], const float* bias, float* y, int64_t y_stride,
                                     int cols) {
  const __mmask16 m0 = cols >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << cols) - 1);
  const __mmask16 m1 = cols >= 32 ? 0xFFFF : cols <= 16 ? 0 : static_cast<__mmask16>((1u << (cols - 16)) - 1);
  const __m512 b0 = bias != nullptr ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
  const __m512 b1 = bias != nullptr ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
  for (int r = 0; r < R; ++r) {
    _mm512_mask_storeu_ps(y + r * y_stride, m0, _mm512_add_ps(acc[r][0], b0));
    _mm512_mask_storeu_ps(y + r * y_stride + 16, m1, _mm512_add_ps(acc[r][1], b1));
  }
}

// Q8_0 (kOffset 128) and Q4_0 (kOffset 8): one 32-value block per lane.
template <int R, int32_t kOffset>
FATHOM_AVX512 void PanelQ8(const uint8_t* packed, const uint8_t* a, int64_t a_stride, int64_t num_blocks,
                           const float* bias, float* y, int64_t y_stride, int cols) {
  __m512 acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int64_t b = 0; b < num_blocks; ++b) {
    const uint8_t* pb = packed + b * kQ8PackedBytes;
    const uint8_t* ab[R];
    __m512i p[R][2];
    for (int r = 0; r < R; ++r) {
      ab[r] = a + r * a_stride + b * sizeof(ActQ8Block);
      p[r][0] = p[r][1] = _mm512_set1_epi32(-kOffset * LoadI32(ab[r] + offsetof(ActQ8Block, sum)));
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
    const __m512 d0 = Load512Ps(pb + 8 * kGroupBytes);
    const __m512 d1 = Load512Ps(pb + 8 * kGroupBytes + 64);
    for (int r = 0; r < R; ++r) {
      const __m512 ad = _mm512_set1_ps(LoadF32(ab[r]));
      acc[r][0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p[r][0]), _mm512_mul_ps(d0, ad), acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p[r][1]), _mm512_mul_ps(d1, ad), acc[r][1]);
    }
  }
  StorePanel<R>(acc, bias, y, y_stride, cols);
}

// Q4_K: one 32-value sub-block per lane, scaled by d * sc; the mins term is
// dmin * m times the sub-block's activation sum. Both accumulate per block in
// weight-scale units, then scale by the activation's d once per block.
template <int R>
FATHOM_AVX512 void PanelQ4_K(const uint8_t* packed, const uint8_t* a, int64_t a_stride, int64_t num_blocks,
                             const float* bias, float* y, int64_t y_stride, int cols) {
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
  StorePanel<R>(acc, bias, y, y_stride, cols);
}

// Q6_K: one 16-value sub-block per lane, seeded with -32 times its activation
// sum; sub-blocks accumulate in d * sc units per block, then scale by the
// activation's d once per block.
template <int R>
FATHOM_AVX512 void PanelQ6_K(const uint8_t* packed, const uint8_t* a, int64_t a_stride, int64_t num_blocks,
                             const float* bias, float* y, int64_t y_stride, int cols) {
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
  StorePanel<R>(acc, bias, y, y_stride, cols);
}

}  // namespace

const QuantPanelSet& Avx512QuantPanels() {
  static constexpr QuantPanelSet kSet = {
      .q8_0 = {kQ8PackedBytes, PackQ8_0, {PanelQ8<1, 128>, PanelQ8<2, 128>, PanelQ8<3, 128>, PanelQ8<4, 128>}},
      .q4_0 = {kQ8PackedBytes, PackQ4_0, {PanelQ8<1, 8>, PanelQ8<2, 8>, PanelQ8<3, 8>, PanelQ8<4, 8>}},
      .q4_k = {kQ4KPackedBytes, PackQ4_K, {PanelQ4_K<1>, PanelQ4_K<2>, PanelQ4_K<3>, PanelQ4_K<4>}},
      .q6_k = {kQ6KPackedBytes, PackQ6_K, {PanelQ6_K<1>, PanelQ6_K<2>, PanelQ6_K<3>, PanelQ6_K<4>}}};
  return kSet;
}

}  // namespace fathom::cpu

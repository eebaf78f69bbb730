#include "kernels/cpu/quant_panel_pack.h"

#include <immintrin.h>

#include <cstddef>
#include <cstring>

#include "core/float_formats.h"
#include "core/quant_blocks.h"

// As in the kernel files: intrinsics only inside functions with a target attribute.
#define FATHOM_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace fathom::cpu {
namespace {

float LoadF16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, sizeof h);
  return F16ToF32(h);
}

inline void StoreF32(uint8_t* table, int entry, int c, float v) {
  std::memcpy(table + (entry * kPanelCols + c) * 4, &v, 4);
}

FATHOM_AVX2 inline __m256i Load256(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

// Packing transposes 8 rows x 8 dwords (four quants each) at a time: rows[i]
// holds row i's quants for groups [0, 8); group t of all 8 rows goes to
// out + t * kGroupBytes (32 bytes: rows 0-7 in order). Gathers would be simpler
// but are several times slower on current cores.
FATHOM_AVX2 inline void TransposeStore8x8(const __m256i (&rows)[8], uint8_t* out) {
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
FATHOM_AVX2 inline void PackQuants(const uint8_t* w, int64_t w_stride, int rows, int64_t num_blocks,
                                     int64_t block_bytes, int64_t packed_bytes, int num_chunks, uint8_t* packed) {
  for (int octet = 0; octet < kPanelCols / 8; ++octet) {
    for (int64_t b = 0; b < num_blocks; ++b) {
      // Eight interleaved rows are streams too short for the hardware prefetcher.
      for (int i = 0; i < 8 && 8 * octet + i < rows; ++i) {
        const char* ahead = reinterpret_cast<const char*>(w + (8 * octet + i) * w_stride + b * block_bytes) + 512;
        for (int64_t o = 0; o < block_bytes; o += 64) _mm_prefetch(ahead + o, _MM_HINT_T0);
      }
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
  FATHOM_AVX2 static __m256i Chunk(const uint8_t* blk, int) {
    return _mm256_xor_si256(Load256(blk + offsetof(BlockQ8_0, qs)), _mm256_set1_epi8(static_cast<char>(0x80)));
  }
};

struct Q4_0Unpack {
  FATHOM_AVX2 static __m256i Chunk(const uint8_t* blk, int) {
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + offsetof(BlockQ4_0, qs)));
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), _mm256_set1_epi8(0x0F));
  }
};

// Chunk 2p: low nibbles of qs[32p, 32p + 32) (values 64p + l); 2p + 1: high.
struct Q4_KUnpack {
  FATHOM_AVX2 static __m256i Chunk(const uint8_t* blk, int chunk) {
    const __m256i raw = Load256(blk + offsetof(BlockQ4_K, qs) + 32 * (chunk / 2));
    return _mm256_and_si256(chunk % 2 == 0 ? raw : _mm256_srli_epi16(raw, 4), _mm256_set1_epi8(0x0F));
  }
};

// Chunk 4h + quad: values 128h + 32 quad + [0, 32).
struct Q6_KUnpack {
  FATHOM_AVX2 static __m256i Chunk(const uint8_t* blk, int chunk) {
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

// d as stored (float16), kPanelCols of them; Q8_0 and Q4_0 blocks both open with d.
static_assert(offsetof(BlockQ8_0, d) == 0 && offsetof(BlockQ4_0, d) == 0);
struct HalfScales {
  static void Write(const uint8_t* blk, int c, uint8_t* table) { std::memcpy(table + 2 * c, blk, 2); }
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

}  // namespace

FATHOM_AVX2 void PackPanelQ8_0(const uint8_t* w, int64_t w_stride, int rows, int64_t num_blocks, uint8_t* packed) {
  PackQuants<Q8_0Unpack>(w, w_stride, rows, num_blocks, sizeof(BlockQ8_0), kQ8PackedBytes, 1, packed);
  PackScales<Q8_0Scales>(w, w_stride, rows, num_blocks, sizeof(BlockQ8_0), kQ8PackedBytes, 8 * kGroupBytes,
                         4 * kPanelCols, packed);
}

FATHOM_AVX2 void PackPanelQ4_0(const uint8_t* w, int64_t w_stride, int rows, int64_t num_blocks, uint8_t* packed) {
  PackQuants<Q4_0Unpack>(w, w_stride, rows, num_blocks, sizeof(BlockQ4_0), kQ8PackedBytes, 1, packed);
  PackScales<Q8_0Scales>(w, w_stride, rows, num_blocks, sizeof(BlockQ4_0), kQ8PackedBytes, 8 * kGroupBytes,
                         4 * kPanelCols, packed);
}

FATHOM_AVX2 void PackPanelQ8_0Half(const uint8_t* w, int64_t w_stride, int rows, int64_t num_blocks,
                                   uint8_t* packed) {
  PackQuants<Q8_0Unpack>(w, w_stride, rows, num_blocks, sizeof(BlockQ8_0), kQ8HalfPackedBytes, 1, packed);
  PackScales<HalfScales>(w, w_stride, rows, num_blocks, sizeof(BlockQ8_0), kQ8HalfPackedBytes, 8 * kGroupBytes,
                         2 * kPanelCols, packed);
}

void PackPanelQ4_0Nibbles(const uint8_t* w, int64_t w_stride, int rows, int64_t num_blocks, uint8_t* packed) {
  for (int64_t b = 0; b < num_blocks; ++b) {
    uint8_t* pb = packed + b * kQ4NibblePackedBytes;
    for (int g = 0; g < 4; ++g) {
      uint8_t* group = pb + g * kGroupBytes;
      for (int c = 0; c < kPanelCols; ++c) {
        if (c < rows) {
          std::memcpy(group + 4 * c, w + c * w_stride + b * sizeof(BlockQ4_0) + offsetof(BlockQ4_0, qs) + 4 * g, 4);
        } else {
          std::memset(group + 4 * c, 0, 4);
        }
      }
    }
  }
  PackScales<HalfScales>(w, w_stride, rows, num_blocks, sizeof(BlockQ4_0), kQ4NibblePackedBytes,
                             4 * kGroupBytes, 2 * kPanelCols, packed);
}

FATHOM_AVX2 void PackPanelQ4_K(const uint8_t* w, int64_t w_stride, int rows, int64_t num_blocks, uint8_t* packed) {
  PackQuants<Q4_KUnpack>(w, w_stride, rows, num_blocks, sizeof(BlockQ4_K), kQ4KPackedBytes, 8, packed);
  PackScales<Q4_KScales>(w, w_stride, rows, num_blocks, sizeof(BlockQ4_K), kQ4KPackedBytes, 64 * kGroupBytes,
                         16 * 4 * kPanelCols, packed);
}

FATHOM_AVX2 void PackPanelQ6_K(const uint8_t* w, int64_t w_stride, int rows, int64_t num_blocks, uint8_t* packed) {
  PackQuants<Q6_KUnpack>(w, w_stride, rows, num_blocks, sizeof(BlockQ6_K), kQ6KPackedBytes, 8, packed);
  PackScales<Q6_KScales>(w, w_stride, rows, num_blocks, sizeof(BlockQ6_K), kQ6KPackedBytes, 64 * kGroupBytes,
                         16 * 4 * kPanelCols, packed);
}

}  // namespace fathom::cpu

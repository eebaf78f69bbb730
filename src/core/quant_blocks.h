// GGUF block formats Q8_0, Q4_0, Q4_K and Q6_K: their byte layouts, and row
// (de)quantizers that produce the same bytes and floats as ggml's reference code
// (quantize_row_*_ref / dequantize_row_*, no importance matrix).
//
// The one non-obvious rule: bit-exactness depends on doing every float32 operation
// in ggml's order, one rounding per operation. Nothing here may be rewritten "more
// cleanly" (a*b*c regrouped, x/d turned into x*(1/d), a multiply-add fused) without
// the fixtures in tests/fixtures/quant/ noticing (quant_blocks.cpp turns off FMA
// contraction for itself, since -march=haswell and later would otherwise fuse).
// Rounding follows ggml too: Q8_0 uses roundf (ties away from zero), Q4_0 truncates
// x*id + 8.5, and the K-quants round ties to even.
//
// Layout: all multi-byte fields are little-endian F16 bit patterns; blocks are
// packed with no padding, so an array of blocks is exactly the GGUF tensor bytes.
// All functions are pure and thread-safe; REQUIRES for all of them: n >= 0 and n is
// a multiple of the block's element count (a bug otherwise: FATHOM_CHECK).
#pragma once

#include <cstdint>

namespace fathom {

constexpr int64_t kQ8_0BlockElems = 32;
constexpr int64_t kQ4_0BlockElems = 32;
constexpr int64_t kQKBlockElems = 256;  // ggml's QK_K: every K-quant super-block

// x[i] = d * qs[i].
struct BlockQ8_0 {
  uint16_t d;      // F16 scale
  int8_t qs[32];   // (32) quants
};

// x[i] = d * (q[i] - 8); q[i] for i < 16 is the low nibble of qs[i], q[i + 16] the
// high nibble of qs[i].
struct BlockQ4_0 {
  uint16_t d;      // F16 scale
  uint8_t qs[16];  // (16) two 4-bit quants per byte
};

// 8 sub-blocks of 32 values: x = d * sc[j] * q - dmin * m[j], with 6-bit sc[j] and
// m[j] packed into `scales` (j < 4: low 6 bits of scales[j] and scales[j + 4];
// j >= 4: low nibble / high nibble of scales[j + 4] plus the top 2 bits of
// scales[j - 4] / scales[j]). Each 64 values share 32 bytes of qs: the first 32
// values are the low nibbles, the next 32 the high nibbles.
struct BlockQ4_K {
  uint16_t d;            // F16 super-scale for the sub-block scales
  uint16_t dmin;         // F16 super-scale for the sub-block mins
  uint8_t scales[12];    // (12) 8 scales and 8 mins, 6 bits each
  uint8_t qs[128];       // (128) 4-bit quants
};

// 16 sub-blocks of 16 values: x = d * scales[j] * (q - 32), q a 6-bit value whose low
// 4 bits are in ql and high 2 bits in qh. Per 128 values: value l (l < 32) takes
// ql[l] low nibble, l + 32: ql[l + 32] low, l + 64: ql[l] high, l + 96:
// ql[l + 32] high; their high bits are bits 0-1, 2-3, 4-5, 6-7 of qh[l].
struct BlockQ6_K {
  uint8_t ql[128];    // (128) low 4 bits of the quants
  uint8_t qh[64];     // (64) high 2 bits of the quants
  int8_t scales[16];  // (16) 8-bit sub-block scales
  uint16_t d;         // F16 super-scale
};

static_assert(sizeof(BlockQ8_0) == 34, "Q8_0 block must match GGUF");
static_assert(sizeof(BlockQ4_0) == 18, "Q4_0 block must match GGUF");
static_assert(sizeof(BlockQ4_K) == 144, "Q4_K block must match GGUF");
static_assert(sizeof(BlockQ6_K) == 210, "Q6_K block must match GGUF");

// Dequantize n values from n / block_elems blocks into out[n].
void DequantizeRowQ8_0(const BlockQ8_0* blocks, float* out, int64_t n);
void DequantizeRowQ4_0(const BlockQ4_0* blocks, float* out, int64_t n);
void DequantizeRowQ4_K(const BlockQ4_K* blocks, float* out, int64_t n);
void DequantizeRowQ6_K(const BlockQ6_K* blocks, float* out, int64_t n);

// Quantize x[n] into n / block_elems blocks, byte for byte as ggml's reference
// quantizers do. Inputs should be finite; for NaN or inf the bytes are whatever
// ggml's x86-64 build would produce (garbage, but deterministic and free of UB).
void QuantizeRowQ8_0(const float* x, BlockQ8_0* blocks, int64_t n);
void QuantizeRowQ4_0(const float* x, BlockQ4_0* blocks, int64_t n);
void QuantizeRowQ4_K(const float* x, BlockQ4_K* blocks, int64_t n);
void QuantizeRowQ6_K(const float* x, BlockQ6_K* blocks, int64_t n);

}  // namespace fathom

// Tile kernels for quantized weights times 8-bit activations, one set per ISA:
// each computes a small (activation rows) x (weight rows) tile of y = x W^T with
// integer dot products per block and one float multiply-add per block.
//
// Non-obvious rule: every set multiplies exactly the same integers (the weight
// quants and the ActQ8Block / ActQ8KBlock quants), so sets differ only in the
// order float32 partial sums are added: results agree to rounding, not bits.
// Q8_0 and Q4_0 weights pair with ActQ8Block rows, Q4_K and Q6_K with ActQ8KBlock.
#pragma once

#include <cstdint>
#include <cstring>

namespace fathom::cpu {

// The most activation rows any tile kernel handles at once.
constexpr int kMaxTileRows = 4;

// y[r * y_stride + c] = dot(activation row r, weight row c) + (bias ? bias[c] : 0)
// for r < rows, c < cols, where activation row r starts at a + r * a_stride bytes
// and weight row c at w + c * w_stride bytes, each `num_blocks` blocks long (one
// ActQ8KBlock per K-quant block, one ActQ8Block per Q8_0/Q4_0 block). rows and
// cols are fixed per function (see QuantTileKernels). Thread-safe; no allocation.
using QuantTileFn = void (*)(const uint8_t* w, int64_t w_stride, const uint8_t* a, int64_t a_stride,
                             int64_t num_blocks, const float* bias, float* y, int64_t y_stride);

// Weight rows per packed panel.
constexpr int kPanelCols = 32;

// Packs weight rows [0, rows) of a panel (row c at w + c * w_stride bytes,
// num_blocks blocks each) into `packed` (num_blocks * packed_block_bytes bytes),
// an interleaved layout in which four consecutive quants of 32 rows fill one
// 128-byte line, so one vector instruction advances 16 rows at once. Rows
// [rows, kPanelCols) are packed as zeros. REQUIRES: 1 <= rows <= kPanelCols.
using QuantPackFn = void (*)(const uint8_t* w, int64_t w_stride, int rows, int64_t num_blocks, uint8_t* packed);

// y[r * y_stride + c] = (accumulate ? y[r * y_stride + c] : 0) + dot(activation
// row r, packed row c) + (bias ? bias[c] : 0), the first sum rounded before the
// bias is added, for r below the function's fixed row count and c < cols (<=
// kPanelCols). `accumulate` lets callers split k into cache-sized chunks.
using QuantPanelFn = void (*)(const uint8_t* packed, const uint8_t* a, int64_t a_stride, int64_t num_blocks,
                              const float* bias, float* y, int64_t y_stride, int cols, bool accumulate);

// Kernels on packed panels, for prefill, where packing a panel once pays for
// itself over many activation rows. Invariants: every entry non-null.
struct QuantPanelKernels {
  int64_t packed_block_bytes;          // packed bytes per weight block of the panel
  QuantPackFn pack;
  QuantPanelFn tile[kMaxTileRows];     // tile[r - 1]: r activation rows x kPanelCols rows
};

struct QuantPanelSet {
  QuantPanelKernels q8_0;
  QuantPanelKernels q4_0;
  QuantPanelKernels q4_k;
  QuantPanelKernels q6_k;
};

// The tile kernels for one weight type on one ISA.
// Invariants: 1 <= max_rows <= kMaxTileRows; each cols[r - 1] >= 1 and divides
// max_cols; every entry non-null.
struct QuantTileKernels {
  int max_rows;                      // activation rows of a full tile
  int max_cols;                      // the largest of cols
  int cols[kMaxTileRows];            // cols[r - 1]: weight rows of a full tile with r activation rows
  QuantTileFn tile[kMaxTileRows];    // tile[r - 1]: r activation rows x cols[r - 1] weight rows
  QuantTileFn column[kMaxTileRows];  // column[r - 1]: r activation rows x 1 weight row
};

struct QuantKernelSet {
  QuantTileKernels q8_0;
  QuantTileKernels q4_0;
  QuantTileKernels q4_k;
  QuantTileKernels q6_k;
};

// Unpacks the eight 6-bit scales and mins of a Q4_K block (layout in
// quant_blocks.h) one per byte: byte j of *scales is sc[j], of *mins m[j]. Four
// bytes at a time in general-purpose registers, so vector code can load the result
// without the store-forwarding stall of byte-wise stores. Plain integer code, safe
// to inline into any kernel set.
inline void UnpackQ4KScaleBytes(const uint8_t* packed /*(12)*/, uint64_t* scales, uint64_t* mins) {
  uint32_t u[3];
  std::memcpy(u, packed, sizeof u);
  constexpr uint32_t kLow6 = 0x3F3F3F3F, kLow4 = 0x0F0F0F0F, kTop2 = 0x03030303;
  const uint32_t sc_lo = u[0] & kLow6;
  const uint32_t mn_lo = u[1] & kLow6;
  const uint32_t sc_hi = (u[2] & kLow4) | (((u[0] >> 6) & kTop2) << 4);
  const uint32_t mn_hi = ((u[2] >> 4) & kLow4) | (((u[1] >> 6) & kTop2) << 4);
  *scales = sc_lo | (uint64_t{sc_hi} << 32);
  *mins = mn_lo | (uint64_t{mn_hi} << 32);
}

// Returns the kernels of each ISA. REQUIRES for the vector ones: the CPU supports
// that ISA when they are called (obtaining the set is always safe).
const QuantKernelSet& ScalarQuantKernels();
const QuantKernelSet& Avx2QuantKernels();
const QuantKernelSet& Avx512QuantKernels();

// Returns the packed-panel kernels of the vector ISAs (scalar has none).
// REQUIRES: as above when they are called.
const QuantPanelSet& Avx2QuantPanels();
const QuantPanelSet& Avx512QuantPanels();

}  // namespace fathom::cpu

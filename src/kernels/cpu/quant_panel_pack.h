// Packing of quantized weight rows into the interleaved panels the panel
// kernels (quant_panels_*.cpp) read: 32 weight rows, four quants of each row
// per 4-byte slot, so a 128-byte group holds the same four positions of all 32
// rows and a vector instruction advances 8 (AVX2) or 16 (AVX-512) rows at once.
//
// Non-obvious rule: packed quants are unsigned (Q8_0 stored + 128, Q4_0 and Q4_K
// as stored, Q6_K as stored 0-63); kernels take the offsets back out through the
// activation block sums. The packers use AVX2 only, so both ISAs share them.
#pragma once

#include <cstdint>

#include "kernels/cpu/quant_kernels.h"

namespace fathom::cpu {

// Packed block layouts (per kPanelCols = 32 weight rows):
//   quants: (values / 4) groups x 32 rows x 4 bytes, kGroupBytes per group,
//   then float32 tables, (entries) x 32 rows each.
constexpr int64_t kGroupBytes = 4 * kPanelCols;
constexpr int64_t kQ8PackedBytes = 8 * kGroupBytes + 4 * kPanelCols;            // quants, d
// Q8_0 as above with d kept float16: 34 bytes a row, as in the file (AVX-512).
constexpr int64_t kQ8HalfPackedBytes = 8 * kGroupBytes + 2 * kPanelCols;        // quants, d (f16)
// Q4_0 with two quants a byte, as GGUF stores them: group g's byte holds value
// 4g + i in its low nibble and 16 + 4g + i in its high one, and d stays float16,
// so a block is 18 bytes a row, as in the file, and decode reads no more.
constexpr int64_t kQ4NibblePackedBytes = 4 * kGroupBytes + 2 * kPanelCols;      // nibble pairs, d (f16)
constexpr int64_t kQ4KPackedBytes = 64 * kGroupBytes + 2 * 8 * 4 * kPanelCols;  // quants, d*sc, dmin*m
constexpr int64_t kQ6KPackedBytes = 64 * kGroupBytes + 16 * 4 * kPanelCols;     // quants, d*sc

// QuantPackFn for each type. REQUIRES: the CPU has AVX2.
void PackPanelQ8_0(const uint8_t* w, int64_t w_stride, int rows, int64_t num_blocks, uint8_t* packed);
void PackPanelQ4_0(const uint8_t* w, int64_t w_stride, int rows, int64_t num_blocks, uint8_t* packed);
// The kQ8HalfPackedBytes layout. REQUIRES: the CPU has AVX2.
void PackPanelQ8_0Half(const uint8_t* w, int64_t w_stride, int rows, int64_t num_blocks, uint8_t* packed);
// The kQ4NibblePackedBytes layout. Plain C++: safe on any CPU.
void PackPanelQ4_0Nibbles(const uint8_t* w, int64_t w_stride, int rows, int64_t num_blocks, uint8_t* packed);
void PackPanelQ4_K(const uint8_t* w, int64_t w_stride, int rows, int64_t num_blocks, uint8_t* packed);
void PackPanelQ6_K(const uint8_t* w, int64_t w_stride, int rows, int64_t num_blocks, uint8_t* packed);

}  // namespace fathom::cpu

// Converting tensor data between any convertible DType and float32, and
// DeepSeek-V3's FP8 weights with per-tile scales.
//
// The one non-obvious rule: conversions are value conversions, never bit
// reinterpretations, and the rounding of each one is part of its contract:
//   - float formats: see float_formats.h (ties to even; F8_E4M3 saturates at ±448);
//     F64 -> F32 and large integers -> F32 round to nearest even as C++ casts do.
//   - float32 -> integer types: round to nearest, ties to EVEN (std::nearbyint, not
//     the truncation numpy's astype and torch's .to() do), then saturate to the
//     type's range; NaN becomes 0.
//   - BOOL: reading, any non-zero byte is 1.0f; writing, any value other than ±0
//     (NaN included, as numpy does) is 1.
//   - block formats: the ggml reference (de)quantizers of quant_blocks.h.
// Buffers need no alignment: unaligned ones are handled through copies.
// All functions are thread-safe (no shared state).
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "core/status.h"

namespace fathom {

// Writes the n values stored in `src` (laid out as `dtype`, n / block_elems blocks
// for block formats) to dst[n] as float32.
// Returns InvalidArgument if n < 0 or n is not a multiple of the block size, and
// Unsupported if GetDTypeInfo(dtype).can_convert is false.
Status ToFloat32(DType dtype, const void* src, int64_t n, float* dst);

// Writes src[n] to `dst` laid out as `dtype` (DTypeByteSize(dtype, n) bytes).
// Same errors as ToFloat32.
Status FromFloat32(DType dtype, const float* src, int64_t n, void* dst);

// DeepSeek-V3 block-scaled FP8: weight is [rows, cols] F8_E4M3 (row-major) and
// scale_inv is [ceil(rows / block), ceil(cols / block)] float32, one factor per
// block x block tile (edge tiles may be partial). Writes
//   out[i * cols + j] = F8E4M3ToF32(weight[i * cols + j]) * scale_inv[i / block][j / block]
// as one float32 multiply, the way DeepSeek-V3's inference/kernel.py weight_dequant
// and transformers' FP8 path compute it (they then cast to bf16; we keep float32).
// Returns InvalidArgument for negative sizes, block < 1 or null buffers, and
// OutOfRange if rows * cols overflows int64.
Status DequantizeFp8BlockScaled(const uint8_t* weight /*(rows, cols)*/,
                                const float* scale_inv /*(ceil(rows/block), ceil(cols/block))*/,
                                int64_t rows, int64_t cols, float* out /*(rows, cols)*/,
                                int64_t block = 128);

// The inverse: per tile, scale = amax / 448 (amax = the largest |w| in the tile) and
// weight_out = F32ToF8E4M3(w / scale), as DeepSeek's act_quant does, so the largest
// value lands on ±448. A tile of zeros (or one whose amax / 448 underflows to 0)
// gets scale 1, so it dequantizes to exact zeros and 1 / scale stays finite.
// Returns the errors of DequantizeFp8BlockScaled, and InvalidArgument if any weight
// is NaN or infinite (FP8 scaling has no faithful answer for those).
Status QuantizeFp8BlockScaled(const float* w /*(rows, cols)*/, int64_t rows, int64_t cols,
                              uint8_t* weight_out /*(rows, cols)*/,
                              float* scale_inv_out /*(ceil(rows/block), ceil(cols/block))*/,
                              int64_t block = 128);

}  // namespace fathom

// Weight-only products with matrices kept on the GPU in GGUF's Q8_0 / Q4_0 block
// layouts (core/quant_blocks.h), and their dequantisation to bfloat16. C++17 and
// free of CUDA's C++ headers, so the C++20 backend includes it.
//
// Non-obvious rules: a GEMV reads each weight block once for up to
// kMaxGemvRows activation rows and accumulates in float32 with float32
// activations (no activation quantisation, unlike the CPU's Q8 path). Larger
// batches are compute-bound, so the backend instead widens a tile of weight rows
// to bfloat16 (DequantizeRowsToBf16) and multiplies it with cuBLAS.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace fathom::cuda {

// How a matrix's bytes are laid out on the device.
enum class WeightFormat : int { kF32 = 0, kF16 = 1, kBF16 = 2, kQ8_0 = 3, kQ4_0 = 4 };

// Most activation rows one GEMV launch handles.
constexpr int kMaxGemvRows = 8;

// y (m, n) = x (m, k) w^T with w (n, k) in `format` (Q8_0 or Q4_0 blocks, row
// after row). REQUIRES: 1 <= m <= kMaxGemvRows, k a multiple of 32.
void LaunchQuantGemv(WeightFormat format, const void* w, int64_t n, int64_t k, const float* x, int m, float* y,
                     cudaStream_t stream);

// out (num_rows, k) as bfloat16 bits = rows [first_row, first_row + num_rows) of
// w (?, k) in `format` (any WeightFormat), widened to float and rounded to
// nearest-even bfloat16. REQUIRES: k a multiple of 32 for the block formats.
void LaunchDequantizeRowsToBf16(WeightFormat format, const void* w, int64_t first_row, int64_t num_rows, int64_t k,
                                uint16_t* out, cudaStream_t stream);

}  // namespace fathom::cuda

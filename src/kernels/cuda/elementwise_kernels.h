// The CUDA backend's row-wise and elementwise kernels: RMSNorm, SwiGLU, residual
// add, rotary embedding, embedding gather, logits-row gather, bias add and the
// float32 -> 16-bit activation conversions cuBLAS needs. C++17 and free of CUDA's
// C++ headers, so the C++20 backend includes it.
//
// Non-obvious rule: each kernel matches its CPU reference (kernels/cpu/
// elementwise.h, rope.h) operation for operation in float32, except RmsNorm,
// which sums its squares in float32 (the CPU sums in double; the difference is
// far below the 1e-4 the backends are compared at for hidden sizes up to 16k).
// Every launcher returns without launching for empty sizes; errors surface
// through cudaGetLastError, which the backend checks after each op.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/quant_kernels.h"  // WeightFormat

namespace fathom::cuda {

// out (rows, dim) = x / rms(x) * weight per row; out may equal x.
void LaunchRmsNorm(const float* x, const float* weight, int64_t rows, int64_t dim, float eps, float* out,
                   cudaStream_t stream);
// out = silu(gate) * up over n; out may equal gate or up.
void LaunchSiluMul(const float* gate, const float* up, int64_t n, float* out, cudaStream_t stream);
// y += x over n.
void LaunchAdd(float* y, const float* x, int64_t n, cudaStream_t stream);
// x[0..n) = value.
void LaunchFill(float* x, int64_t n, float value, cudaStream_t stream);
// Rotates the first rot_dim values of num_heads heads of each of `rows` rows (row
// r's head h at x + r * row_stride + h * head_stride) by row r of rope (rows,
// rot_dim) = [cos (rot_dim / 2) | sin (rot_dim / 2)]. interleaved: pairs (2i,
// 2i + 1); else (i, i + rot_dim / 2).
void LaunchRope(float* x, int64_t rows, int64_t row_stride, int64_t num_heads, int64_t head_stride, const float* rope,
                int64_t rot_dim, bool interleaved, cudaStream_t stream);
// out (rows, hidden) = rows tokens[r] of table (vocab, hidden) in `format`, as
// float32; a token outside [0, vocab) gives a row of zeros.
void LaunchEmbed(WeightFormat format, const void* table, int64_t vocab, int64_t hidden, const int32_t* tokens,
                 int64_t rows, float* out, cudaStream_t stream);
// out (num_logits, width) = rows logits_rows[i] of x (?, width).
void LaunchGatherLogitsRows(const float* x, const int32_t* logits_rows, int64_t num_logits, int64_t width, float* out,
                            cudaStream_t stream);
// y (rows, cols) += bias (cols) per row.
void LaunchAddBias(float* y, const float* bias, int64_t rows, int64_t cols, cudaStream_t stream);
// out[n] = x[n] rounded to nearest-even bfloat16 / IEEE half, as bit patterns.
void LaunchF32ToBf16(const float* x, int64_t n, uint16_t* out, cudaStream_t stream);
void LaunchF32ToF16(const float* x, int64_t n, uint16_t* out, cudaStream_t stream);

}  // namespace fathom::cuda

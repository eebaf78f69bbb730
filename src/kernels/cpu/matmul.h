// Dense matrix products for the CPU forward pass: float32 activations against a
// weight matrix kept in the dtype the checkpoint stores (F32, F16 or BF16), so
// bf16 weights stay memory-mapped and are widened one row block at a time.
// Block-quantized weights (Q8_0, Q4_0, Q4_K, Q6_K) go to QuantMatMul, which
// quantizes the activations to 8 bits first (see quant_matmul.h).
//
// Non-obvious rule: weights are (out_features, in_features) row-major, as
// PyTorch's nn.Linear stores them, so y = x W^T reads each weight row once per
// call however many activation rows there are.
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "core/thread_pool.h"

namespace fathom::cpu {

class PackedWeight;

// Returns true iff MatMul accepts weights of this dtype.
bool IsMatMulDType(DType dtype);

// y[i][j] = sum_k x[i][k] * w[j][k] (+ bias[j]) for i < m, j < n, where w is
// (n, k). REQUIRES: w is contiguous 2-D of a dtype IsMatMulDType accepts, with
// w.dim(1) == k; x holds m * k floats, y holds m * n floats and does not alias x;
// bias is null or holds n floats.
void MatMul(ThreadPool& pool, const float* x /*(m, k)*/, int64_t m, int64_t k, const Tensor& w /*(n, k)*/,
            const float* bias /*(n) or null*/, float* y /*(m, n)*/);

// As above; `packed` is null or w packed at load time (packed_weight.h), which
// quantized weights then read from when it suits the active ISA.
void MatMul(ThreadPool& pool, const float* x /*(m, k)*/, int64_t m, int64_t k, const Tensor& w /*(n, k)*/,
            const PackedWeight* packed, const float* bias /*(n) or null*/, float* y /*(m, n)*/);

// Writes rows [row_begin, row_begin + num_rows) of a 2-D weight as float32.
// REQUIRES: as MatMul for w; the rows exist; dst holds num_rows * w.dim(1) floats.
void WeightRowsToF32(const Tensor& w, int64_t row_begin, int64_t num_rows, float* dst);

// Returns sum a[i] * b[i].
float Dot(const float* a, const float* b, int64_t n);

}  // namespace fathom::cpu

// y = x W^T for block-quantized weights (Q8_0, Q4_0, Q4_K, Q6_K): activations are
// quantized to 8 bits once per call, then tile kernels of the active ISA take
// integer dot products per block.
//
// Non-obvious rule: one loop serves decode and prefill. Weight rows are split into
// panels that threads claim; a panel small enough to stay in L2 is walked once per
// group of kernel-tile activation rows, so with m <= tile rows (decode) every
// weight byte is read exactly once per call, and with large m each weight block
// loaded into registers is used for several activation rows.
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "core/thread_pool.h"

namespace fathom::cpu {

// Returns true iff QuantMatMul accepts weights of this dtype.
bool IsQuantMatMulDType(DType dtype);

// y[i][j] = sum_l xq[i][l] * w[j][l] (+ bias[j]), where xq is x quantized to 8 bits
// per block (see q8_activation.h). REQUIRES: w is contiguous 2-D of a dtype
// IsQuantMatMulDType accepts with w.dim(1) == k; x holds m * k finite floats; y
// holds m * n floats and does not alias x; bias is null or holds n floats.
// Deterministic for a given ISA, whatever the pool's thread count. After the
// first call with the largest m * k, allocates nothing.
void QuantMatMul(ThreadPool& pool, const float* x /*(m, k)*/, int64_t m, int64_t k, const Tensor& w /*(n, k)*/,
                 const float* bias /*(n) or null*/, float* y /*(m, n)*/);

}  // namespace fathom::cpu

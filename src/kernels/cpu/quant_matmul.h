// y = x W^T for block-quantized weights (Q8_0, Q4_0, Q4_K, Q6_K): activations are
// quantized to 8 bits once per call, then kernels of the active ISA take integer
// dot products per block.
//
// Non-obvious rule: two paths, chosen by m alone (so results never depend on the
// thread count). Small m (decode): threads claim contiguous ranges of weight
// rows and tile kernels read every weight byte exactly once, computing all m
// rows from it. m >= kQuantPackMinRows (prefill, large batches): each 32-row weight panel is packed
// per call into an interleaved layout (quant_panel_pack.h) and run, in L1-sized
// chunks of k, against every activation row; the scalar ISA has only the first.
// A PackedWeight (packed_weight.h) packed for the active ISA replaces the
// per-call packing, in the same k-chunks, and replaces the small-m path too
// where its layout is compact (at most 1/8 larger than the GGUF blocks: Q8_0,
// and Q4_0 on AVX-512); otherwise decode keeps reading the GGUF blocks.
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/cpu/isa.h"

namespace fathom::cpu {

// From this many activation rows on, packing each weight panel per call (where
// the ISA has packed kernels and the weight was not prepacked) costs less than
// it saves. Packing reads and writes every weight once per call, about three
// decode steps' worth on the 1.5B shape, so batched decodes of up to ~16
// streams stay on the tile path: the crossover measured on that shape lies
// between 16 and 24 rows.
inline constexpr int64_t kQuantPackMinRows = 20;

class PackedWeight;
struct QuantPanelKernels;

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

// As above; where `packed` is non-null and was packed for ActiveIsa(), reads the
// weight from its panels instead of from w (always for m >= 8; for smaller m
// where the layout is compact, see above). REQUIRES: as above, and
// packed (if non-null) was packed from w (same dtype and shape) and outlives the call.
void QuantMatMul(ThreadPool& pool, const float* x /*(m, k)*/, int64_t m, int64_t k, const Tensor& w /*(n, k)*/,
                 const PackedWeight* packed, const float* bias /*(n) or null*/, float* y /*(m, n)*/);

// Returns the packed-panel kernels of `isa` for `dtype`, or null where there are
// none (the scalar ISA; dtypes QuantMatMul does not take).
const QuantPanelKernels* QuantPanelKernelsFor(Isa isa, DType dtype);

}  // namespace fathom::cpu

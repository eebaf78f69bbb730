// Mixture-of-experts routing and row shuffling on the GPU: the router's top-k
// (the scalar reference is RouteToken in model/moe.cpp), grouping the chosen
// (row, expert) pairs by expert so each expert multiplies its rows at once, and
// the gather / weighted scatter-add around each expert's MLP. Every Launch* only
// queues kernels on `stream`; the caller checks cudaGetLastError.
//
// Non-obvious rule: routing reproduces transformers' quirks exactly as
// RouteToken does: V2's group-limited greedy masks the dropped groups to 0.0,
// V3's noaux_tc masks them to -inf and weighs the experts it picks by the score
// without the correction bias; ties rank the lower expert index first.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace fathom::cuda {

enum class MoeScoring : int { kSoftmax = 0, kSigmoid = 1 };
enum class MoeTopk : int { kGreedy = 0, kGroupLimitedGreedy = 1, kNoauxTc = 2 };

struct MoeRouting {
  int n_routed_experts = 0;  // at most 512
  int top_k = 0;             // at most 16, at most n_routed_experts
  int n_group = 1;           // at most 64, divides n_routed_experts
  int topk_group = 1;        // at most n_group
  MoeScoring scoring = MoeScoring::kSoftmax;
  MoeTopk method = MoeTopk::kGreedy;
  bool normalize = false;    // divide the top_k weights by their sum (+ 1e-20) before scaling
  float routed_scaling_factor = 1.0f;
};

// For each of `rows` rows of logits (rows, n_routed_experts): ids (rows, top_k),
// best first, and weights (rows, top_k) exactly as RouteToken. bias
// (n_routed_experts) is the noaux_tc correction bias, null for other methods.
// One block per row. A shape beyond MoeRouting's limits fails the launch
// (cudaErrorInvalidConfiguration) rather than computing anything.
void LaunchMoeRoute(const MoeRouting& r, const float* logits, int rows, const float* bias, int32_t* ids,
                    float* weights, cudaStream_t stream);

// Groups the rows * top_k (row, slot) pairs of ids / weights (rows, top_k) by
// expert, stably (rows in order within an expert): expert_begin (n_experts + 1)
// offsets, routed_rows (rows * top_k) each pair's row in expert order,
// routed_weights (rows * top_k) its weight. Deterministic; one block. Ids
// outside [0, n_experts) are dropped (expert_begin[n_experts] then counts fewer
// pairs).
void LaunchMoeSortByExpert(const int32_t* ids, const float* weights, int rows, int top_k, int n_experts,
                           int32_t* expert_begin, int32_t* routed_rows, float* routed_weights, cudaStream_t stream);

// out (m, width) = the rows rows[0..m) of x (x's row stride is width).
void LaunchGatherRows(const float* x, const int32_t* rows, int m, int width, float* out, cudaStream_t stream);

// out[rows[i]] += weights[i] * y[i] for i < m, rows of width floats.
// REQUIRES: rows[0..m) distinct (one expert's rows are), so no two threads add
// to one value.
void LaunchScatterAddRows(const float* y, const int32_t* rows, const float* weights, int m, int width, float* out,
                          cudaStream_t stream);

}  // namespace fathom::cuda

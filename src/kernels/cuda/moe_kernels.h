// Mixture-of-experts kernels of the CUDA backend (placeholder declarations: the
// MoE worker's header with these exact signatures replaces this one).
// Non-obvious rule: routing matches model/moe.cpp's RouteToken exactly.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace fathom::cuda {

enum class MoeScoring : int { kSoftmax = 0, kSigmoid = 1 };
enum class MoeTopk : int { kGreedy = 0, kGroupLimitedGreedy = 1, kNoauxTc = 2 };
struct MoeRouting { int n_routed_experts = 0; int top_k = 0; int n_group = 1; int topk_group = 1; MoeScoring scoring = MoeScoring::kSoftmax; MoeTopk method = MoeTopk::kGreedy; bool normalize = false; float routed_scaling_factor = 1.0f; };
void LaunchMoeRoute(const MoeRouting& r, const float* logits, int rows, const float* bias, int32_t* ids, float* weights, cudaStream_t stream);
void LaunchMoeSortByExpert(const int32_t* ids, const float* weights, int rows, int top_k, int n_experts, int32_t* expert_begin, int32_t* routed_rows, float* routed_weights, cudaStream_t stream);
void LaunchGatherRows(const float* x, const int32_t* rows, int m, int width, float* out, cudaStream_t stream);
void LaunchScatterAddRows(const float* y, const int32_t* rows, const float* weights, int m, int width, float* out, cudaStream_t stream);

}  // namespace fathom::cuda

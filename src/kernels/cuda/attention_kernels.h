// Paged attention kernels of the CUDA backend (placeholder declarations: the
// attention worker's header with these exact signatures replaces this one).
// Non-obvious rule: every kernel reads the batch's positions and block tables
// from the BatchLayout, so one launch serves every entry of a packed batch.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/batch_layout.h"

namespace fathom::cuda {

struct AttentionDims { int num_heads = 0; int num_kv_heads = 0; int head_dim = 0; int v_head_dim = 0; float scale = 1.0f; };
void LaunchWriteKvRows(const BatchLayout& b, const float* src, int64_t src_stride, PagedStream dst, cudaStream_t stream);
int64_t PagedAttentionScratchFloats(const BatchLayout& b, const AttentionDims& d);
void LaunchPagedAttention(const BatchLayout& b, const AttentionDims& d, const float* q, PagedStream k, PagedStream v, float* out, float* scratch, cudaStream_t stream);
struct MlaDims { int num_heads = 0; int nope_dim = 0; int rope_dim = 0; int v_head_dim = 0; int kv_lora_rank = 0; float scale = 1.0f; float latent_eps = 1e-6f; };
void LaunchMlaWriteCache(const BatchLayout& b, const MlaDims& d, const float* kv_a, const float* kv_a_norm, PagedStream latent, PagedStream k_pe, cudaStream_t stream);
int64_t MlaScratchFloats(const BatchLayout& b, const MlaDims& d);
void LaunchMlaAttention(const BatchLayout& b, const MlaDims& d, const float* q, const float* kv_b, PagedStream latent, PagedStream k_pe, float* out, float* scratch, cudaStream_t stream);

}  // namespace fathom::cuda

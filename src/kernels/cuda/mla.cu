// DeepSeek's multi-head latent attention in absorbed form on the GPU (the scalar
// reference is model/mla_attention.cpp): the cache holds per position only the
// normalised latent (kv_lora_rank) and the roped shared key (rope_dim), and every
// head attends in latent space. Four kernels in order:
//   q_abs (rows, heads, kv_lora_rank) = W_UK_h^T q_nope    (QAbsKernel)
//   o_lat (rows, heads, kv_lora_rank) = softmax-weighted latents, scored by
//       q_abs . latent + q_pe . k_pe                     (LaunchSplitAttention)
//   out (rows, heads, v_head_dim)     = W_UV_h o_lat       (ProjectUvKernel)
//
// Non-obvious rule: the latent stream is both the key (with k_pe) and the value,
// and all heads share it: the split attention runs with one kv "head" (offsets
// 0) that every query head reads.
#include <algorithm>
#include <cmath>

#include "kernels/cuda/attention_kernels.h"

namespace fathom::cuda {
namespace {

constexpr int kWarp = 32;
constexpr int kRowsPerBlock = 16;  // rows sharing one read of a head's W_UK / W_UV
constexpr int kThreads = 256;

// grid (num_rows), kThreads threads: latent = RmsNorm(kv_a[r, :R]) * norm and
// k_pe = kv_a[r, R : R + rope_dim] at row r's cache position.
__global__ void MlaWriteCacheKernel(BatchLayout b, int kv_lora_rank, int rope_dim, float eps, const float* kv_a,
                                    const float* norm, PagedStream latent, PagedStream k_pe) {
  const int r = blockIdx.x;
  const float* x = kv_a + static_cast<int64_t>(r) * (kv_lora_rank + rope_dim);
  float sum_sq = 0.0f;
  for (int i = threadIdx.x; i < kv_lora_rank; i += blockDim.x) sum_sq += x[i] * x[i];
  for (int offset = kWarp / 2; offset > 0; offset /= 2) sum_sq += __shfl_xor_sync(0xffffffffu, sum_sq, offset);
  __shared__ float warp_sums[kThreads / kWarp];
  __shared__ float inv_rms;
  if (threadIdx.x % kWarp == 0) warp_sums[threadIdx.x / kWarp] = sum_sq;
  __syncthreads();
  if (threadIdx.x == 0) {
    float total = 0.0f;
    for (int w = 0; w < static_cast<int>(blockDim.x / kWarp); ++w) total += warp_sums[w];
    inv_rms = 1.0f / sqrtf(total / static_cast<float>(kv_lora_rank) + eps);
  }
  __syncthreads();

  const int32_t pos = b.positions[r];
  const int32_t block = b.block_tables[static_cast<int64_t>(b.row_entry[r]) * b.max_blocks + pos / b.block_size];
  const int64_t slot = pos % b.block_size;
  float* lat = latent.base + static_cast<int64_t>(block) * latent.block_stride + slot * latent.width;
  float* pe = k_pe.base + static_cast<int64_t>(block) * k_pe.block_stride + slot * k_pe.width;
  for (int i = threadIdx.x; i < kv_lora_rank; i += blockDim.x) lat[i] = norm[i] * (x[i] * inv_rms);
  for (int i = threadIdx.x; i < rope_dim; i += blockDim.x) pe[i] = x[kv_lora_rank + i];
}

// grid (num_heads, ceil(num_rows / kRowsPerBlock)), kThreads threads; dynamic
// shared memory kRowsPerBlock * nope floats. Thread i sums q_abs[i] = sum_d
// q_nope[d] * W_UK_h[d, i] in d order, as the CPU's Axpy loop.
__global__ void QAbsKernel(MlaDims d, int num_rows, const float* q, const float* kv_b, float* q_abs) {
  const int h = blockIdx.x, r0 = blockIdx.y * kRowsPerBlock;
  const int rows = min(kRowsPerBlock, num_rows - r0);
  const int qk = d.nope_dim + d.rope_dim, R = d.kv_lora_rank;
  extern __shared__ float q_nope[];  // (kRowsPerBlock, nope)
  for (int i = threadIdx.x; i < kRowsPerBlock * d.nope_dim; i += blockDim.x) {
    const int j = i / d.nope_dim, k = i % d.nope_dim;
    q_nope[i] = j < rows ? q[(static_cast<int64_t>(r0 + j) * d.num_heads + h) * qk + k] : 0.0f;
  }
  __syncthreads();

  const float* w_uk = kv_b + static_cast<int64_t>(h) * (d.nope_dim + d.v_head_dim) * R;  // (nope, R)
  for (int i = threadIdx.x; i < R; i += blockDim.x) {
    float acc[kRowsPerBlock] = {};
    for (int k = 0; k < d.nope_dim; ++k) {
      const float w = w_uk[static_cast<int64_t>(k) * R + i];
      for (int j = 0; j < kRowsPerBlock; ++j) acc[j] += q_nope[j * d.nope_dim + k] * w;
    }
    for (int j = 0; j < kRowsPerBlock; ++j) {
      if (j < rows) q_abs[(static_cast<int64_t>(r0 + j) * d.num_heads + h) * R + i] = acc[j];
    }
  }
}

// grid (num_heads, ceil(num_rows / kRowsPerBlock)), kThreads threads: one warp
// per output dim c, lanes over the latent: out[r, h, c] = W_UV_h[c, :] . o_lat[r, h, :].
__global__ void ProjectUvKernel(MlaDims d, int num_rows, const float* kv_b, const float* o_lat, float* out) {
  const int h = blockIdx.x, r0 = blockIdx.y * kRowsPerBlock;
  const int rows = min(kRowsPerBlock, num_rows - r0);
  const int R = d.kv_lora_rank;
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp, num_warps = blockDim.x / kWarp;
  const float* w_uv = kv_b + (static_cast<int64_t>(h) * (d.nope_dim + d.v_head_dim) + d.nope_dim) * R;  // (v, R)
  for (int c = warp; c < d.v_head_dim; c += num_warps) {
    const float* w = w_uv + static_cast<int64_t>(c) * R;
    float acc[kRowsPerBlock] = {};
    for (int i = lane; i < R; i += kWarp) {
      const float wi = w[i];
      for (int j = 0; j < kRowsPerBlock; ++j) {
        if (j < rows) acc[j] += wi * o_lat[(static_cast<int64_t>(r0 + j) * d.num_heads + h) * R + i];
      }
    }
    for (int j = 0; j < kRowsPerBlock; ++j) {
      for (int offset = kWarp / 2; offset > 0; offset /= 2) acc[j] += __shfl_xor_sync(0xffffffffu, acc[j], offset);
    }
    if (lane == 0) {
      for (int j = 0; j < kRowsPerBlock; ++j) {
        if (j < rows) out[(static_cast<int64_t>(r0 + j) * d.num_heads + h) * d.v_head_dim + c] = acc[j];
      }
    }
  }
}

// The split attention over latent | k_pe, reading q_abs for part a and q's rope
// part for part b.
SplitAttentionArgs LatentAttentionArgs(const MlaDims& d, const float* q, const float* q_abs, PagedStream latent,
                                       PagedStream k_pe) {
  SplitAttentionArgs a;
  a.num_heads = d.num_heads;
  a.heads_per_kv = d.num_heads;  // one shared latent "kv head"
  a.scale = d.scale;
  a.q_a = q_abs;
  a.q_a_row_stride = static_cast<int64_t>(d.num_heads) * d.kv_lora_rank;
  a.q_a_head_stride = d.kv_lora_rank;
  a.dim_a = d.kv_lora_rank;
  a.k_a = latent;
  a.q_b = q == nullptr ? nullptr : q + d.nope_dim;  // null when only the shape is wanted
  a.q_b_row_stride = static_cast<int64_t>(d.num_heads) * (d.nope_dim + d.rope_dim);
  a.q_b_head_stride = d.nope_dim + d.rope_dim;
  a.dim_b = d.rope_dim;
  a.k_b = k_pe;
  a.v = latent;
  a.v_dim = d.kv_lora_rank;
  return a;
}

}  // namespace

void LaunchMlaWriteCache(const BatchLayout& b, const MlaDims& d, const float* kv_a, const float* kv_a_norm,
                         PagedStream latent, PagedStream k_pe, cudaStream_t stream) {
  if (b.num_rows <= 0) return;
  MlaWriteCacheKernel<<<b.num_rows, kThreads, 0, stream>>>(b, d.kv_lora_rank, d.rope_dim, d.latent_eps, kv_a,
                                                           kv_a_norm, latent, k_pe);
}

int64_t MlaScratchFloats(const BatchLayout& b, const MlaDims& d) {
  const int64_t latent_rows = static_cast<int64_t>(b.num_rows) * d.num_heads * d.kv_lora_rank;
  return 2 * latent_rows + SplitAttentionScratchFloats(b, LatentAttentionArgs(d, nullptr, nullptr, {}, {}));
}

void LaunchMlaAttention(const BatchLayout& b, const MlaDims& d, const float* q, const float* kv_b, PagedStream latent,
                        PagedStream k_pe, float* out, float* scratch, cudaStream_t stream) {
  if (b.num_rows <= 0 || d.num_heads <= 0 || d.kv_lora_rank <= 0) return;
  const int64_t latent_rows = static_cast<int64_t>(b.num_rows) * d.num_heads * d.kv_lora_rank;
  float* q_abs = scratch;                  // (num_rows, num_heads, kv_lora_rank)
  float* o_lat = q_abs + latent_rows;      // (num_rows, num_heads, kv_lora_rank)
  float* split_scratch = o_lat + latent_rows;
  const dim3 grid(d.num_heads, (b.num_rows + kRowsPerBlock - 1) / kRowsPerBlock);
  const size_t q_shared = sizeof(float) * kRowsPerBlock * std::max(d.nope_dim, 1);
  QAbsKernel<<<grid, kThreads, q_shared, stream>>>(d, b.num_rows, q, kv_b, q_abs);
  LaunchSplitAttention(b, LatentAttentionArgs(d, q, q_abs, latent, k_pe), o_lat, split_scratch, stream);
  if (d.v_head_dim > 0) ProjectUvKernel<<<grid, kThreads, 0, stream>>>(d, b.num_rows, kv_b, o_lat, out);
}

}  // namespace fathom::cuda

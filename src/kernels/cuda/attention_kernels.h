// Paged causal attention on the GPU: writing new K/V rows into the block-paged
// cache, grouped-query attention over it, and DeepSeek's absorbed MLA (the
// scalar references are kernels/cpu/attention.cpp and model/mla_attention.cpp).
// Every Launch* only queues kernels on `stream`; the caller checks
// cudaGetLastError. Nothing here allocates or synchronises with the host.
//
// Non-obvious rule: attention is split along the cached positions ("flash
// decoding"): each (row, head) is cut into SplitAttentionNumSplits chunks that
// separate blocks reduce to partial (max, sum, output) in scratch, and a combine
// kernel merges them. The split count depends only on num_rows, max_blocks,
// block_size and the dims, never on max_len, so a CUDA graph captured for
// one decode shape stays valid for every later step: chunks past a row's length
// leave empty partials (max -inf, sum 0) that the combine skips.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/batch_layout.h"

namespace fathom::cuda {

struct AttentionDims {
  int num_heads = 0;
  int num_kv_heads = 0;  // divides num_heads
  int head_dim = 0;      // of q and k
  int v_head_dim = 0;
  float scale = 1.0f;    // multiplies q.k before the softmax
};

// Writes row r of src (num_rows rows, row r at src + r * src_stride, `dst.width`
// floats) to dst at row r's position of its entry.
void LaunchWriteKvRows(const BatchLayout& b, const float* src, int64_t src_stride, PagedStream dst,
                       cudaStream_t stream);

// Floats of scratch LaunchPagedAttention needs for this batch (split partial
// outputs, maxima and sums); depends only on num_rows, max_blocks, block_size and
// the dims.
int64_t PagedAttentionScratchFloats(const BatchLayout& b, const AttentionDims& d);

// out (num_rows, num_heads, v_head_dim) = causal attention of q (num_rows,
// num_heads, head_dim) over each row's entry cache positions [0, positions[r]].
// Query head h reads kv head h / (num_heads / num_kv_heads); k rows hold
// num_kv_heads * head_dim floats, v rows num_kv_heads * v_head_dim.
// REQUIRES: the rows are already written to the caches; scratch holds
// PagedAttentionScratchFloats; head_dim + v_head_dim <= 8192.
void LaunchPagedAttention(const BatchLayout& b, const AttentionDims& d, const float* q, PagedStream k, PagedStream v,
                          float* out, float* scratch, cudaStream_t stream);

struct MlaDims {
  int num_heads = 0;
  int nope_dim = 0;      // qk_nope_head_dim
  int rope_dim = 0;      // qk_rope_head_dim
  int v_head_dim = 0;
  int kv_lora_rank = 0;
  float scale = 1.0f;    // softmax scale
  float latent_eps = 1e-6f;
};

// For every row: latent = RmsNorm(kv_a[r, 0:kv_lora_rank]) * kv_a_norm (eps
// latent_eps, float32 accumulation) written to `latent` at the row's position,
// and kv_a[r, kv_lora_rank : kv_lora_rank + rope_dim] copied to `k_pe`. kv_a's
// row stride is kv_lora_rank + rope_dim.
void LaunchMlaWriteCache(const BatchLayout& b, const MlaDims& d, const float* kv_a, const float* kv_a_norm,
                         PagedStream latent, PagedStream k_pe, cudaStream_t stream);

// Floats of scratch LaunchMlaAttention needs: q_abs and the latent output
// (num_rows, num_heads, kv_lora_rank) each, then the split attention's.
int64_t MlaScratchFloats(const BatchLayout& b, const MlaDims& d);

// out (num_rows, num_heads, v_head_dim) by the absorbed form, exactly as
// model/mla_attention.cpp: per row t and head h, q_abs = W_UK_h^T q_nope,
// score(s) = (q_abs . latent(s) + q_pe . k_pe(s)) * scale over s in [0,
// positions[t]], o_lat = the softmax-weighted sum of latent(s), out = W_UV_h
// o_lat. kv_b is float32 (num_heads * (nope + v_head_dim), kv_lora_rank): head
// h's W_UK_h is rows [h * (nope + v), h * (nope + v) + nope), W_UV_h the next
// v_head_dim rows. q (num_rows, num_heads, nope + rope_dim), the rope part
// already rotated.
// REQUIRES: the rows are already written to the caches (LaunchMlaWriteCache);
// scratch holds MlaScratchFloats; 2 * kv_lora_rank + rope_dim <= 8192.
void LaunchMlaAttention(const BatchLayout& b, const MlaDims& d, const float* q, const float* kv_b, PagedStream latent,
                        PagedStream k_pe, float* out, float* scratch, cudaStream_t stream);

// ---- the split attention both of the above run (attention.cu)

// Where the split kernel reads query head h of row r, and which cache rows it
// scores it against: score(p) = (q_a . k_a(p) + q_b . k_b(p)) * scale, the b part
// optional (dim_b 0), and sums v(p) weighted by softmax(score). Query part a is
// dim_a floats at q_a + r * q_a_row_stride + h * q_a_head_stride; its key is
// dim_a floats at kv * k_a_head_stride within k_a's row at p, where kv = h /
// heads_per_kv; likewise for b and for the value (v_dim floats).
struct SplitAttentionArgs {
  int num_heads = 0;
  int heads_per_kv = 1;
  float scale = 1.0f;

  const float* q_a = nullptr;
  int64_t q_a_row_stride = 0;
  int64_t q_a_head_stride = 0;
  int dim_a = 0;
  PagedStream k_a;
  int64_t k_a_head_stride = 0;

  const float* q_b = nullptr;
  int64_t q_b_row_stride = 0;
  int64_t q_b_head_stride = 0;
  int dim_b = 0;
  PagedStream k_b;
  int64_t k_b_head_stride = 0;

  PagedStream v;
  int64_t v_head_stride = 0;
  int v_dim = 0;
};

// How many chunks each (row, head) is split into for this batch shape (a's
// pointers are not read).
int SplitAttentionNumSplits(const BatchLayout& b, const SplitAttentionArgs& a);

// Floats of scratch LaunchSplitAttention needs: partial outputs (num_rows,
// num_heads, splits, v_dim), then maxima and sums (num_rows, num_heads, splits).
int64_t SplitAttentionScratchFloats(const BatchLayout& b, const SplitAttentionArgs& a);

// out (num_rows, num_heads, v_dim) = causal attention as SplitAttentionArgs
// describes, over each row's positions [0, positions[r]].
// REQUIRES: dim_a + dim_b + v_dim <= 8192 (the kernel keeps the query and its
// accumulator in shared memory); scratch holds SplitAttentionScratchFloats.
void LaunchSplitAttention(const BatchLayout& b, const SplitAttentionArgs& a, float* out, float* scratch,
                          cudaStream_t stream);

}  // namespace fathom::cuda

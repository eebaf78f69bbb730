// The MoE kernels behind moe_kernels.h. Routing runs one block per token row
// with the row's scores in shared memory; the expert sort is one block doing a
// stable counting sort.
//
// Non-obvious rule: every top-k here selects by the total order (value
// descending, index ascending), the order RouteToken's partial_sort uses, and
// removes picked entries with a flag rather than by overwriting their value:
// masked experts already hold -inf (V3) or 0.0 (V2) and must stay selectable in
// index order when fewer unmasked experts than top_k remain.
#include <cmath>

#include "kernels/cuda/moe_kernels.h"

namespace fathom::cuda {
namespace {

constexpr int kWarp = 32;
constexpr int kRouteThreads = 256;
constexpr int kRouteWarps = kRouteThreads / kWarp;
constexpr int kMaxExperts = 512;
constexpr int kMaxGroups = 64;
constexpr int kMaxTopK = 16;
constexpr int kSortThreads = 256;
constexpr int kRowThreads = 256;

// Whether (va, ia) ranks before (vb, ib); an index of -1 is no candidate.
__device__ __forceinline__ bool RanksBefore(float va, int ia, float vb, int ib) {
  if (ia < 0) return false;
  if (ib < 0) return true;
  return va > vb || (va == vb && ia < ib);
}

struct MaxOp {
  __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};
struct SumOp {
  __device__ double operator()(double a, double b) const { return a + b; }
};

// Reduces x over the block with op; every thread gets the same result.
// `shared` holds kRouteWarps values. REQUIRES: blockDim.x == kRouteThreads and
// every thread calls it.
template <typename T, typename Op>
__device__ T BlockReduce(T x, Op op, T* shared) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) x = op(x, __shfl_xor_sync(0xffffffffu, x, offset));
  if (threadIdx.x % kWarp == 0) shared[threadIdx.x / kWarp] = x;
  __syncthreads();
  T result = shared[0];
  for (int w = 1; w < kRouteWarps; ++w) result = op(result, shared[w]);
  __syncthreads();  // before shared is reused
  return result;
}

// grid (rows), kRouteThreads threads: RouteToken for row blockIdx.x.
__global__ void MoeRouteKernel(MoeRouting c, const float* logits, const float* bias, int32_t* ids, float* weights) {
  const int row = blockIdx.x, n = c.n_routed_experts, k = c.top_k;
  __shared__ float scores[kMaxExperts];  // softmax / sigmoid of the logits: what experts are weighed by
  __shared__ float choice[kMaxExperts];  // what experts are ranked by
  __shared__ bool picked[kMaxExperts];
  __shared__ float group_scores[kMaxGroups];
  __shared__ bool keep_group[kMaxGroups];
  __shared__ float reduce_f[kRouteWarps];
  __shared__ double reduce_d[kRouteWarps];
  __shared__ float best_v[kRouteWarps];
  __shared__ int best_i[kRouteWarps];
  __shared__ int32_t top[kMaxTopK];

  const float* x = logits + static_cast<int64_t>(row) * n;
  if (c.scoring == MoeScoring::kSigmoid) {
    for (int e = threadIdx.x; e < n; e += blockDim.x) scores[e] = 1.0f / (1.0f + expf(-x[e]));
  } else {
    float local_max = -INFINITY;
    for (int e = threadIdx.x; e < n; e += blockDim.x) local_max = fmaxf(local_max, x[e]);
    const float max = BlockReduce(local_max, MaxOp(), reduce_f);
    double local_sum = 0.0;
    for (int e = threadIdx.x; e < n; e += blockDim.x) {
      scores[e] = max == -INFINITY ? 0.0f : expf(x[e] - max);
      local_sum += scores[e];
    }
    const double sum = BlockReduce(local_sum, SumOp(), reduce_d);
    if (max != -INFINITY) {
      const float inv = static_cast<float>(1.0 / sum);
      for (int e = threadIdx.x; e < n; e += blockDim.x) scores[e] *= inv;
    }
  }
  for (int e = threadIdx.x; e < n; e += blockDim.x) {
    choice[e] = c.method == MoeTopk::kNoauxTc ? scores[e] + bias[e] : scores[e];
    picked[e] = false;
  }
  __syncthreads();

  if (c.method != MoeTopk::kGreedy) {
    // V2: a group scores by its best expert; V3: by the sum of its two best
    // corrected experts (the best alone when a group has one expert).
    const int per_group = n / c.n_group;
    for (int g = threadIdx.x; g < c.n_group; g += blockDim.x) {
      float first = -INFINITY, second = -INFINITY;
      for (int e = g * per_group; e < (g + 1) * per_group; ++e) {
        const float v = choice[e];
        if (v > first) {
          second = first;
          first = v;
        } else if (v > second) {
          second = v;
        }
      }
      group_scores[g] = c.method == MoeTopk::kGroupLimitedGreedy ? first : first + (per_group > 1 ? second : 0.0f);
      keep_group[g] = false;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      for (int i = 0; i < c.topk_group; ++i) {
        int best = -1;
        for (int g = 0; g < c.n_group; ++g) {
          if (!keep_group[g] && (best < 0 || group_scores[g] > group_scores[best])) best = g;
        }
        if (best >= 0) keep_group[best] = true;
      }
    }
    __syncthreads();
    const float masked = c.method == MoeTopk::kGroupLimitedGreedy ? 0.0f : -INFINITY;
    for (int e = threadIdx.x; e < n; e += blockDim.x) {
      const int g = e / per_group;
      if (g >= c.n_group || !keep_group[g]) choice[e] = masked;
    }
    __syncthreads();
  }

  for (int i = 0; i < k; ++i) {
    float v = 0.0f;
    int idx = -1;
    for (int e = threadIdx.x; e < n; e += blockDim.x) {
      if (!picked[e] && RanksBefore(choice[e], e, v, idx)) {
        v = choice[e];
        idx = e;
      }
    }
    for (int offset = kWarp / 2; offset > 0; offset /= 2) {
      const float other_v = __shfl_xor_sync(0xffffffffu, v, offset);
      const int other_i = __shfl_xor_sync(0xffffffffu, idx, offset);
      if (RanksBefore(other_v, other_i, v, idx)) {
        v = other_v;
        idx = other_i;
      }
    }
    if (threadIdx.x % kWarp == 0) {
      best_v[threadIdx.x / kWarp] = v;
      best_i[threadIdx.x / kWarp] = idx;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      for (int w = 1; w < kRouteWarps; ++w) {
        if (RanksBefore(best_v[w], best_i[w], v, idx)) {
          v = best_v[w];
          idx = best_i[w];
        }
      }
      top[i] = idx;
      if (idx >= 0) picked[idx] = true;
    }
    __syncthreads();
  }

  if (threadIdx.x == 0) {
    int32_t* row_ids = ids + static_cast<int64_t>(row) * k;
    float* row_weights = weights + static_cast<int64_t>(row) * k;
    float sum = 0.0f;
    for (int i = 0; i < k; ++i) {
      row_ids[i] = top[i];
      row_weights[i] = top[i] >= 0 ? scores[top[i]] : 0.0f;
      sum += row_weights[i];
    }
    for (int i = 0; i < k; ++i) {
      if (c.normalize) row_weights[i] /= sum + 1e-20f;
      row_weights[i] *= c.routed_scaling_factor;
    }
  }
}

// One block of kSortThreads threads; dynamic shared memory n_experts ints.
// Counts each expert's pairs, turns the counts into start offsets, then places
// the pairs a chunk of kSortThreads at a time: a pair's slot is its expert's
// cursor plus the number of earlier pairs of the chunk with the same expert.
__global__ void SortByExpertKernel(const int32_t* ids, const float* weights, int num_pairs, int top_k, int n_experts,
                                   int32_t* expert_begin, int32_t* routed_rows, float* routed_weights) {
  extern __shared__ int32_t cursor[];  // (n_experts): counts, then each expert's next free slot
  __shared__ int32_t chunk_ids[kSortThreads];
  for (int e = threadIdx.x; e < n_experts; e += blockDim.x) cursor[e] = 0;
  __syncthreads();
  for (int i = threadIdx.x; i < num_pairs; i += blockDim.x) {
    const int32_t e = ids[i];
    if (e >= 0 && e < n_experts) atomicAdd(&cursor[e], 1);
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    int32_t running = 0;
    for (int e = 0; e < n_experts; ++e) {
      const int32_t count = cursor[e];
      expert_begin[e] = running;
      cursor[e] = running;
      running += count;
    }
    expert_begin[n_experts] = running;
  }
  __syncthreads();

  for (int base = 0; base < num_pairs; base += blockDim.x) {
    const int i = base + threadIdx.x;
    int32_t e = i < num_pairs ? ids[i] : -1;
    if (e >= n_experts) e = -1;
    chunk_ids[threadIdx.x] = e;
    __syncthreads();
    if (e >= 0) {
      int rank = 0;
      for (int j = 0; j < static_cast<int>(threadIdx.x); ++j) rank += chunk_ids[j] == e;
      const int32_t slot = cursor[e] + rank;
      routed_rows[slot] = i / top_k;
      routed_weights[slot] = weights[i];
    }
    __syncthreads();  // every slot is read before the cursors advance
    if (e >= 0) atomicAdd(&cursor[e], 1);
    __syncthreads();  // the cursors and chunk_ids are final before the next chunk
  }
}

// grid (m), kRowThreads threads.
__global__ void GatherRowsKernel(const float* x, const int32_t* rows, int width, float* out) {
  const float* src = x + static_cast<int64_t>(rows[blockIdx.x]) * width;
  float* dst = out + static_cast<int64_t>(blockIdx.x) * width;
  for (int c = threadIdx.x; c < width; c += blockDim.x) dst[c] = src[c];
}

// grid (m), kRowThreads threads.
__global__ void ScatterAddRowsKernel(const float* y, const int32_t* rows, const float* weights, int width,
                                     float* out) {
  const float w = weights[blockIdx.x];
  const float* src = y + static_cast<int64_t>(blockIdx.x) * width;
  float* dst = out + static_cast<int64_t>(rows[blockIdx.x]) * width;
  for (int c = threadIdx.x; c < width; c += blockDim.x) dst[c] += w * src[c];
}

}  // namespace

void LaunchMoeRoute(const MoeRouting& r, const float* logits, int rows, const float* bias, int32_t* ids,
                    float* weights, cudaStream_t stream) {
  if (rows <= 0 || r.top_k <= 0) return;
  const bool grouped = r.method != MoeTopk::kGreedy;
  const bool supported = r.n_routed_experts > 0 && r.n_routed_experts <= kMaxExperts && r.top_k <= kMaxTopK &&
                         (!grouped || (r.n_group >= 1 && r.n_group <= kMaxGroups && r.topk_group <= r.n_group));
  // An unsupported shape launches an empty grid, so the caller's
  // cudaGetLastError reports it (cudaErrorInvalidConfiguration) instead of the
  // kernel overrunning its shared arrays.
  MoeRouteKernel<<<supported ? rows : 0, kRouteThreads, 0, stream>>>(r, logits, bias, ids, weights);
}

void LaunchMoeSortByExpert(const int32_t* ids, const float* weights, int rows, int top_k, int n_experts,
                           int32_t* expert_begin, int32_t* routed_rows, float* routed_weights, cudaStream_t stream) {
  const size_t shared = sizeof(int32_t) * (n_experts > 0 ? n_experts : 1);
  SortByExpertKernel<<<1, kSortThreads, shared, stream>>>(ids, weights, rows * top_k, top_k, n_experts, expert_begin,
                                                          routed_rows, routed_weights);
}

void LaunchGatherRows(const float* x, const int32_t* rows, int m, int width, float* out, cudaStream_t stream) {
  if (m <= 0 || width <= 0) return;
  GatherRowsKernel<<<m, kRowThreads, 0, stream>>>(x, rows, width, out);
}

void LaunchScatterAddRows(const float* y, const int32_t* rows, const float* weights, int m, int width, float* out,
                          cudaStream_t stream) {
  if (m <= 0 || width <= 0) return;
  ScatterAddRowsKernel<<<m, kRowThreads, 0, stream>>>(y, rows, weights, width, out);
}

}  // namespace fathom::cuda

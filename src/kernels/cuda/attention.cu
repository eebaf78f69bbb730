// The split ("flash decoding") attention kernels behind attention_kernels.h, and
// the paged K/V writes. One block handles one (row, head, split): it walks its
// chunk of cached positions a tile at a time with an online softmax in float32
// and leaves the unnormalised output with its running maximum and sum in
// scratch; a combine kernel then rescales the partials to a common maximum.
//
// Non-obvious rule: a row's partials may be empty (its chunk starts past its
// length, or every score was -inf): they carry max -inf and the combine skips
// them without reading their output, which is then never written.
#include <algorithm>
#include <cmath>

#include "kernels/cuda/attention_kernels.h"

namespace fathom::cuda {
namespace {

constexpr int kWarp = 32;
constexpr int kTile = 32;          // positions scored together between two block barriers
constexpr int kMinChunk = 128;     // fewest positions worth a split of their own
constexpr int kMaxSplits = 64;     // the combine keeps one weight per split in shared memory
constexpr int kTargetBlocks = 2048;  // enough (row, head, split) blocks to fill any current GPU

// Row `slot` of cache block `block` in stream s.
__device__ __forceinline__ const float* CacheRow(const PagedStream& s, int32_t block, int32_t slot) {
  return s.base + static_cast<int64_t>(block) * s.block_stride + static_cast<int64_t>(slot) * s.width;
}

__device__ __forceinline__ float WarpSum(float x) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) x += __shfl_xor_sync(0xffffffffu, x, offset);
  return x;
}

// grid (num_rows), any block size: copies row r of src to its cache position.
__global__ void WriteKvRowsKernel(BatchLayout b, const float* src, int64_t src_stride, PagedStream dst) {
  const int r = blockIdx.x;
  const int32_t pos = b.positions[r];
  const int32_t block = b.block_tables[static_cast<int64_t>(b.row_entry[r]) * b.max_blocks + pos / b.block_size];
  float* out = dst.base + static_cast<int64_t>(block) * dst.block_stride +
               static_cast<int64_t>(pos % b.block_size) * dst.width;
  const float* in = src + static_cast<int64_t>(r) * src_stride;
  for (int64_t i = threadIdx.x; i < dst.width; i += blockDim.x) out[i] = in[i];
}

// grid (num_rows, num_heads, splits), blockDim a multiple of 32. Dynamic shared
// memory: q_a (dim_a) | q_b (dim_b) | acc (v_dim) | scores (kTile) | weights (kTile).
// Each thread owns the output dims d = threadIdx.x + i * blockDim.x of acc, and
// keeps its own copy of the running max and sum (every thread computes the same).
__global__ void SplitAttentionKernel(BatchLayout b, SplitAttentionArgs a, int chunk, float* part_out,
                                     float* part_max, float* part_sum) {
  const int r = blockIdx.x, h = blockIdx.y, split = blockIdx.z, splits = gridDim.z;
  const int len = b.positions[r] + 1;
  const int begin = split * chunk;
  const int end = min(len, begin + chunk);
  const int64_t part = (static_cast<int64_t>(r) * a.num_heads + h) * splits + split;
  if (begin >= end) {
    if (threadIdx.x == 0) {
      part_max[part] = -INFINITY;
      part_sum[part] = 0.0f;
    }
    return;
  }

  extern __shared__ float smem[];
  float* q_a = smem;                 // (dim_a)
  float* q_b = q_a + a.dim_a;        // (dim_b)
  float* acc = q_b + a.dim_b;        // (v_dim): unnormalised output
  float* scores = acc + a.v_dim;     // (kTile)
  float* weights = scores + kTile;   // (kTile): exp(score - running max)
  __shared__ int32_t tile_block[kTile];  // each tile position's cache block
  __shared__ int32_t tile_slot[kTile];   // and its row within that block

  const float* qa_src = a.q_a + r * a.q_a_row_stride + h * a.q_a_head_stride;
  for (int i = threadIdx.x; i < a.dim_a; i += blockDim.x) q_a[i] = qa_src[i];
  if (a.dim_b > 0) {
    const float* qb_src = a.q_b + r * a.q_b_row_stride + h * a.q_b_head_stride;
    for (int i = threadIdx.x; i < a.dim_b; i += blockDim.x) q_b[i] = qb_src[i];
  }
  for (int d = threadIdx.x; d < a.v_dim; d += blockDim.x) acc[d] = 0.0f;
  __syncthreads();

  const int kv = h / a.heads_per_kv;
  const int64_t ka_off = kv * a.k_a_head_stride, kb_off = kv * a.k_b_head_stride, v_off = kv * a.v_head_stride;
  const int32_t* table = b.block_tables + static_cast<int64_t>(b.row_entry[r]) * b.max_blocks;
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp, num_warps = blockDim.x / kWarp;
  float running_max = -INFINITY;
  float sum = 0.0f;

  for (int t0 = begin; t0 < end; t0 += kTile) {
    const int n = min(kTile, end - t0);
    // One warp scores one position: lanes stride over the head dims.
    for (int i = warp; i < n; i += num_warps) {
      const int p = t0 + i;
      const int32_t block = table[p / b.block_size];
      const int32_t slot = p % b.block_size;
      const float* ka = CacheRow(a.k_a, block, slot) + ka_off;
      float dot = 0.0f;
      for (int j = lane; j < a.dim_a; j += kWarp) dot += q_a[j] * ka[j];
      if (a.dim_b > 0) {
        const float* kb = CacheRow(a.k_b, block, slot) + kb_off;
        for (int j = lane; j < a.dim_b; j += kWarp) dot += q_b[j] * kb[j];
      }
      dot = WarpSum(dot);
      if (lane == 0) {
        scores[i] = dot * a.scale;
        tile_block[i] = block;
        tile_slot[i] = slot;
      }
    }
    __syncthreads();

    float tile_max = -INFINITY;
    for (int i = 0; i < n; ++i) tile_max = fmaxf(tile_max, scores[i]);
    const float new_max = fmaxf(running_max, tile_max);
    // What was accumulated under the old maximum shrinks by exp(old - new); an
    // old maximum of -inf means nothing was accumulated.
    const float rescale = running_max == -INFINITY ? 0.0f : expf(running_max - new_max);
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
      weights[i] = new_max == -INFINITY ? 0.0f : expf(scores[i] - new_max);
    }
    __syncthreads();

    float tile_sum = 0.0f;
    for (int i = 0; i < n; ++i) tile_sum += weights[i];
    sum = sum * rescale + tile_sum;
    running_max = new_max;
    for (int d = threadIdx.x; d < a.v_dim; d += blockDim.x) {
      float o = acc[d] * rescale;
      for (int i = 0; i < n; ++i) o += weights[i] * CacheRow(a.v, tile_block[i], tile_slot[i])[v_off + d];
      acc[d] = o;
    }
    __syncthreads();  // before the next tile overwrites scores, weights and the tile's rows
  }

  float* out = part_out + part * a.v_dim;
  for (int d = threadIdx.x; d < a.v_dim; d += blockDim.x) out[d] = acc[d];
  if (threadIdx.x == 0) {
    part_max[part] = running_max;
    part_sum[part] = sum;
  }
}

// grid (num_rows, num_heads), any block size >= 1: out = sum_s w_s part_out_s /
// sum_s w_s part_sum_s with w_s = exp(part_max_s - max_s part_max_s), over the
// splits whose max is finite. No such split gives zeros (as the CPU's all -inf).
__global__ void CombineSplitsKernel(int num_heads, int v_dim, const float* part_out, const float* part_max,
                                    const float* part_sum, int splits, float* out) {
  const int r = blockIdx.x, h = blockIdx.y;
  const int64_t first = (static_cast<int64_t>(r) * num_heads + h) * splits;
  __shared__ float scale[kMaxSplits];
  float global_max = -INFINITY;
  for (int s = 0; s < splits; ++s) global_max = fmaxf(global_max, part_max[first + s]);
  for (int s = threadIdx.x; s < splits; s += blockDim.x) {
    const float m = part_max[first + s];
    scale[s] = m == -INFINITY ? 0.0f : expf(m - global_max);
  }
  __syncthreads();
  float total = 0.0f;
  for (int s = 0; s < splits; ++s) {
    if (scale[s] != 0.0f) total += scale[s] * part_sum[first + s];
  }
  const float inv = total > 0.0f ? 1.0f / total : 0.0f;
  float* o = out + (static_cast<int64_t>(r) * num_heads + h) * v_dim;
  for (int d = threadIdx.x; d < v_dim; d += blockDim.x) {
    float x = 0.0f;
    for (int s = 0; s < splits; ++s) {
      if (scale[s] != 0.0f) x += scale[s] * part_out[(first + s) * v_dim + d];
    }
    o[d] = x * inv;
  }
}

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Positions one split covers; splits * chunk >= max_blocks * block_size.
int SplitChunk(const BatchLayout& b, int splits) {
  const int64_t max_pos = static_cast<int64_t>(b.max_blocks) * b.block_size;
  return static_cast<int>(std::max<int64_t>(1, CeilDiv(max_pos, splits)));
}

}  // namespace

int SplitAttentionNumSplits(const BatchLayout& b, int num_heads) {
  const int64_t max_pos = static_cast<int64_t>(b.max_blocks) * b.block_size;
  const int64_t row_heads = std::max<int64_t>(1, static_cast<int64_t>(b.num_rows) * num_heads);
  int64_t splits = CeilDiv(kTargetBlocks, row_heads);             // enough blocks to fill the GPU
  splits = std::min<int64_t>(splits, CeilDiv(max_pos, kMinChunk));  // but no tiny chunks
  splits = std::min<int64_t>(splits, kMaxSplits);
  return static_cast<int>(std::max<int64_t>(splits, 1));
}

int64_t SplitAttentionScratchFloats(const BatchLayout& b, int num_heads, int v_dim) {
  const int64_t parts = static_cast<int64_t>(b.num_rows) * num_heads * SplitAttentionNumSplits(b, num_heads);
  return parts * v_dim + 2 * parts;
}

void LaunchSplitAttention(const BatchLayout& b, const SplitAttentionArgs& a, float* out, float* scratch,
                          cudaStream_t stream) {
  if (b.num_rows <= 0 || a.num_heads <= 0 || a.v_dim <= 0) return;
  const int splits = SplitAttentionNumSplits(b, a.num_heads);
  const int64_t parts = static_cast<int64_t>(b.num_rows) * a.num_heads * splits;
  float* part_out = scratch;                     // (num_rows, num_heads, splits, v_dim)
  float* part_max = part_out + parts * a.v_dim;  // (num_rows, num_heads, splits)
  float* part_sum = part_max + parts;            // (num_rows, num_heads, splits)
  const int threads = a.v_dim > 256 ? 256 : 128;
  const size_t shared = sizeof(float) * (static_cast<size_t>(a.dim_a) + a.dim_b + a.v_dim + 2 * kTile);
  SplitAttentionKernel<<<dim3(b.num_rows, a.num_heads, splits), threads, shared, stream>>>(
      b, a, SplitChunk(b, splits), part_out, part_max, part_sum);
  CombineSplitsKernel<<<dim3(b.num_rows, a.num_heads), 128, 0, stream>>>(a.num_heads, a.v_dim, part_out, part_max,
                                                                           part_sum, splits, out);
}

void LaunchWriteKvRows(const BatchLayout& b, const float* src, int64_t src_stride, PagedStream dst,
                       cudaStream_t stream) {
  if (b.num_rows <= 0 || dst.width <= 0) return;
  WriteKvRowsKernel<<<b.num_rows, 128, 0, stream>>>(b, src, src_stride, dst);
}

int64_t PagedAttentionScratchFloats(const BatchLayout& b, const AttentionDims& d) {
  return SplitAttentionScratchFloats(b, d.num_heads, d.v_head_dim);
}

void LaunchPagedAttention(const BatchLayout& b, const AttentionDims& d, const float* q, PagedStream k, PagedStream v,
                          float* out, float* scratch, cudaStream_t stream) {
  SplitAttentionArgs a;
  a.num_heads = d.num_heads;
  a.heads_per_kv = d.num_kv_heads > 0 ? d.num_heads / d.num_kv_heads : 1;
  a.scale = d.scale;
  a.q_a = q;
  a.q_a_row_stride = static_cast<int64_t>(d.num_heads) * d.head_dim;
  a.q_a_head_stride = d.head_dim;
  a.dim_a = d.head_dim;
  a.k_a = k;
  a.k_a_head_stride = d.head_dim;
  a.v = v;
  a.v_head_stride = d.v_head_dim;
  a.v_dim = d.v_head_dim;
  LaunchSplitAttention(b, a, out, scratch, stream);
}

}  // namespace fathom::cuda

// The split ("flash decoding") attention kernels behind attention_kernels.h, and
// the paged K/V writes. One block handles one row, one split of its positions
// and up to kMaxGroupHeads query heads that share a kv head: it walks its chunk
// of cached positions a tile at a time with an online softmax in float32 per
// head and leaves each head's unnormalised output with its running maximum and
// sum in scratch; a combine kernel then rescales the partials to a common
// maximum.
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
constexpr int kTargetBlocks = 2048;  // enough (row, heads, split) blocks to fill any current GPU
constexpr int kMaxGroupHeads = 8;    // query heads one block serves from each cache row it reads
constexpr int kMaxSharedFloats = 11 * 1024;  // dynamic shared memory, under the 48 KiB default with the static arrays

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

// grid (num_rows, num_kv * groups_per_kv, splits), blockDim a multiple of 32.
// A block takes up to heads_per_block query heads that read one kv head, so
// every cache row it loads serves all of them (MLA's heads all share the
// latent). Dynamic shared memory, per head g < heads_per_block: q_a [g] (dim_a) |
// q_b [g] (dim_b) | acc [g] (v_dim) | scores [g] (kTile) | weights [g] (kTile).
// Each thread owns the output dims d = threadIdx.x + i * blockDim.x of every
// head's acc.
__global__ void SplitAttentionKernel(BatchLayout b, SplitAttentionArgs a, int heads_per_block, int groups_per_kv,
                                     int chunk, float* part_out, float* part_max, float* part_sum) {
  const int r = blockIdx.x, split = blockIdx.z, splits = gridDim.z;
  const int kv = blockIdx.y / groups_per_kv;
  const int h0 = kv * a.heads_per_kv + (blockIdx.y % groups_per_kv) * heads_per_block;  // first query head
  const int nh = min(heads_per_block, (kv + 1) * a.heads_per_kv - h0);                  // heads of this block
  const int len = b.positions[r] + 1;
  const int begin = split * chunk;
  const int end = min(len, begin + chunk);
  const int64_t part0 = (static_cast<int64_t>(r) * a.num_heads + h0) * splits + split;  // head g's: + g * splits
  if (begin >= end) {
    for (int g = threadIdx.x; g < nh; g += blockDim.x) {
      part_max[part0 + g * splits] = -INFINITY;
      part_sum[part0 + g * splits] = 0.0f;
    }
    return;
  }

  extern __shared__ float smem[];
  float* q_a = smem;                                // (heads_per_block, dim_a)
  float* q_b = q_a + heads_per_block * a.dim_a;     // (heads_per_block, dim_b)
  float* acc = q_b + heads_per_block * a.dim_b;     // (heads_per_block, v_dim): unnormalised outputs
  float* scores = acc + heads_per_block * a.v_dim;  // (heads_per_block, kTile)
  float* weights = scores + heads_per_block * kTile;  // (heads_per_block, kTile): exp(score - head_max)
  __shared__ int32_t tile_block[kTile];  // each tile position's cache block
  __shared__ int32_t tile_slot[kTile];   // and its row within that block
  __shared__ float head_max[kMaxGroupHeads];      // running maximum per head
  __shared__ float head_sum[kMaxGroupHeads];      // running sum of exp(score - head_max)
  __shared__ float head_rescale[kMaxGroupHeads];  // this tile's exp(old max - new max)

  for (int i = threadIdx.x; i < nh * a.dim_a; i += blockDim.x) {
    const int g = i / a.dim_a, j = i % a.dim_a;
    q_a[i] = a.q_a[r * a.q_a_row_stride + (h0 + g) * a.q_a_head_stride + j];
  }
  for (int i = threadIdx.x; i < nh * a.dim_b; i += blockDim.x) {
    const int g = i / a.dim_b, j = i % a.dim_b;
    q_b[i] = a.q_b[r * a.q_b_row_stride + (h0 + g) * a.q_b_head_stride + j];
  }
  for (int i = threadIdx.x; i < nh * a.v_dim; i += blockDim.x) acc[i] = 0.0f;
  for (int g = threadIdx.x; g < nh; g += blockDim.x) {
    head_max[g] = -INFINITY;
    head_sum[g] = 0.0f;
  }
  __syncthreads();

  const int64_t ka_off = kv * a.k_a_head_stride, kb_off = kv * a.k_b_head_stride, v_off = kv * a.v_head_stride;
  const int32_t* table = b.block_tables + static_cast<int64_t>(b.row_entry[r]) * b.max_blocks;
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp, num_warps = blockDim.x / kWarp;

  for (int t0 = begin; t0 < end; t0 += kTile) {
    const int n = min(kTile, end - t0);
    // One warp scores one position for every head: lanes stride over the dims.
    for (int i = warp; i < n; i += num_warps) {
      const int p = t0 + i;
      const int32_t block = table[p / b.block_size];
      const int32_t slot = p % b.block_size;
      float dot[kMaxGroupHeads] = {};
      const float* ka = CacheRow(a.k_a, block, slot) + ka_off;
      for (int j = lane; j < a.dim_a; j += kWarp) {
        const float k = ka[j];
#pragma unroll
        for (int g = 0; g < kMaxGroupHeads; ++g) {
          if (g < nh) dot[g] += q_a[g * a.dim_a + j] * k;
        }
      }
      if (a.dim_b > 0) {
        const float* kb = CacheRow(a.k_b, block, slot) + kb_off;
        for (int j = lane; j < a.dim_b; j += kWarp) {
          const float k = kb[j];
#pragma unroll
          for (int g = 0; g < kMaxGroupHeads; ++g) {
            if (g < nh) dot[g] += q_b[g * a.dim_b + j] * k;
          }
        }
      }
#pragma unroll
      for (int g = 0; g < kMaxGroupHeads; ++g) {
        if (g < nh) dot[g] = WarpSum(dot[g]);  // nh is the same for the whole block
      }
      if (lane == 0) {
#pragma unroll
        for (int g = 0; g < kMaxGroupHeads; ++g) {
          if (g < nh) scores[g * kTile + i] = dot[g] * a.scale;
        }
        tile_block[i] = block;
        tile_slot[i] = slot;
      }
    }
    __syncthreads();

    // What was accumulated under a head's old maximum shrinks by exp(old - new);
    // an old maximum of -inf means nothing was accumulated.
    for (int g = threadIdx.x; g < nh; g += blockDim.x) {
      float tile_max = -INFINITY;
      for (int i = 0; i < n; ++i) tile_max = fmaxf(tile_max, scores[g * kTile + i]);
      const float new_max = fmaxf(head_max[g], tile_max);
      head_rescale[g] = head_max[g] == -INFINITY ? 0.0f : expf(head_max[g] - new_max);
      head_max[g] = new_max;
    }
    __syncthreads();
    for (int k = threadIdx.x; k < nh * n; k += blockDim.x) {
      const int g = k / n, i = k % n;
      weights[g * kTile + i] = head_max[g] == -INFINITY ? 0.0f : expf(scores[g * kTile + i] - head_max[g]);
    }
    __syncthreads();

    for (int g = threadIdx.x; g < nh; g += blockDim.x) {
      float tile_sum = 0.0f;
      for (int i = 0; i < n; ++i) tile_sum += weights[g * kTile + i];
      head_sum[g] = head_sum[g] * head_rescale[g] + tile_sum;
    }
    for (int d = threadIdx.x; d < a.v_dim; d += blockDim.x) {
      float o[kMaxGroupHeads];
#pragma unroll
      for (int g = 0; g < kMaxGroupHeads; ++g) o[g] = g < nh ? acc[g * a.v_dim + d] * head_rescale[g] : 0.0f;
      for (int i = 0; i < n; ++i) {
        const float v = CacheRow(a.v, tile_block[i], tile_slot[i])[v_off + d];
#pragma unroll
        for (int g = 0; g < kMaxGroupHeads; ++g) {
          if (g < nh) o[g] += weights[g * kTile + i] * v;
        }
      }
#pragma unroll
      for (int g = 0; g < kMaxGroupHeads; ++g) {
        if (g < nh) acc[g * a.v_dim + d] = o[g];
      }
    }
    __syncthreads();  // before the next tile overwrites scores, weights, the tile's rows and the rescales
  }

  for (int i = threadIdx.x; i < nh * a.v_dim; i += blockDim.x) {
    const int g = i / a.v_dim, d = i % a.v_dim;
    part_out[(part0 + g * splits) * a.v_dim + d] = acc[i];
  }
  for (int g = threadIdx.x; g < nh; g += blockDim.x) {
    part_max[part0 + g * splits] = head_max[g];
    part_sum[part0 + g * splits] = head_sum[g];
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

// How the split kernel's grid covers a batch; a function of the shape alone.
struct SplitGeometry {
  int heads_per_block = 1;  // query heads of one kv head a block serves
  int groups_per_kv = 1;    // blocks per kv head: ceil(heads_per_kv / heads_per_block)
  int num_kv = 1;           // kv heads
  int splits = 1;
  int chunk = 1;            // positions per split; splits * chunk >= max_blocks * block_size
};

SplitGeometry Geometry(const BatchLayout& b, const SplitAttentionArgs& a) {
  SplitGeometry g;
  const int heads_per_kv = std::max(a.heads_per_kv, 1);
  const int per_head = a.dim_a + a.dim_b + a.v_dim + 2 * kTile;  // shared floats one head takes
  g.heads_per_block = std::max(1, std::min({kMaxGroupHeads, heads_per_kv, kMaxSharedFloats / per_head}));
  g.groups_per_kv = static_cast<int>(CeilDiv(heads_per_kv, g.heads_per_block));
  g.num_kv = std::max(a.num_heads / heads_per_kv, 1);
  const int64_t max_pos = static_cast<int64_t>(b.max_blocks) * b.block_size;
  const int64_t row_blocks = std::max<int64_t>(1, static_cast<int64_t>(b.num_rows) * g.num_kv * g.groups_per_kv);
  int64_t splits = CeilDiv(kTargetBlocks, row_blocks);              // enough blocks to fill the GPU
  splits = std::min<int64_t>(splits, CeilDiv(max_pos, kMinChunk));  // but no tiny chunks
  splits = std::min<int64_t>(splits, kMaxSplits);
  g.splits = static_cast<int>(std::max<int64_t>(splits, 1));
  g.chunk = static_cast<int>(std::max<int64_t>(1, CeilDiv(max_pos, g.splits)));
  return g;
}

// Grouped-query attention as split attention: query head h against kv head
// h / heads_per_kv of the k and v rows.
SplitAttentionArgs PagedAttentionArgs(const AttentionDims& d, const float* q, PagedStream k, PagedStream v) {
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
  return a;
}

}  // namespace

int SplitAttentionNumSplits(const BatchLayout& b, const SplitAttentionArgs& a) { return Geometry(b, a).splits; }

int64_t SplitAttentionScratchFloats(const BatchLayout& b, const SplitAttentionArgs& a) {
  const int64_t parts = static_cast<int64_t>(b.num_rows) * a.num_heads * Geometry(b, a).splits;
  return parts * a.v_dim + 2 * parts;
}

void LaunchSplitAttention(const BatchLayout& b, const SplitAttentionArgs& a, float* out, float* scratch,
                          cudaStream_t stream) {
  if (b.num_rows <= 0 || a.num_heads <= 0 || a.v_dim <= 0) return;
  const SplitGeometry g = Geometry(b, a);
  const int64_t parts = static_cast<int64_t>(b.num_rows) * a.num_heads * g.splits;
  float* part_out = scratch;                     // (num_rows, num_heads, splits, v_dim)
  float* part_max = part_out + parts * a.v_dim;  // (num_rows, num_heads, splits)
  float* part_sum = part_max + parts;            // (num_rows, num_heads, splits)
  const int threads = a.v_dim > 256 ? 256 : 128;
  const size_t shared =
      sizeof(float) * g.heads_per_block * (static_cast<size_t>(a.dim_a) + a.dim_b + a.v_dim + 2 * kTile);
  SplitAttentionKernel<<<dim3(b.num_rows, g.num_kv * g.groups_per_kv, g.splits), threads, shared, stream>>>(
      b, a, g.heads_per_block, g.groups_per_kv, g.chunk, part_out, part_max, part_sum);
  CombineSplitsKernel<<<dim3(b.num_rows, a.num_heads), 128, 0, stream>>>(a.num_heads, a.v_dim, part_out, part_max,
                                                                           part_sum, g.splits, out);
}

void LaunchWriteKvRows(const BatchLayout& b, const float* src, int64_t src_stride, PagedStream dst,
                       cudaStream_t stream) {
  if (b.num_rows <= 0 || dst.width <= 0) return;
  WriteKvRowsKernel<<<b.num_rows, 128, 0, stream>>>(b, src, src_stride, dst);
}

int64_t PagedAttentionScratchFloats(const BatchLayout& b, const AttentionDims& d) {
  return SplitAttentionScratchFloats(b, PagedAttentionArgs(d, nullptr, PagedStream(), PagedStream()));
}

void LaunchPagedAttention(const BatchLayout& b, const AttentionDims& d, const float* q, PagedStream k, PagedStream v,
                          float* out, float* scratch, cudaStream_t stream) {
  LaunchSplitAttention(b, PagedAttentionArgs(d, q, k, v), out, scratch, stream);
}

}  // namespace fathom::cuda

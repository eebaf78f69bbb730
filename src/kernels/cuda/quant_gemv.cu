// Q8_0 / Q4_0 weight-only GEMV and the bf16 dequantisation of weight tiles (see
// quant_kernels.h for the contract).
//
// Non-obvious rule: one warp owns one output feature and reads its row 4 blocks
// at a time, 8 lanes to a block (each lane 4 of its 32 values), so every load
// instruction of the warp touches one contiguous run of bytes and every block is
// read once for all m activation rows. Each lane scales its 4 products by d, and
// the lanes' partial sums meet in a shuffle reduction at the end.
#include <cuda_runtime.h>

#include "kernels/cuda/quant_kernels.h"
#include "kernels/cuda/weight_decode.cuh"

namespace fathom::cuda {
namespace {

constexpr int kGemvThreads = 256;   // 8 warps, 8 output features per thread block
constexpr int kBlocksPerStep = 4;   // a warp's 32 lanes take 4 blocks at a time, 8 lanes a block

template <WeightFormat kFormat>
__global__ void QuantGemvKernel(const uint8_t* __restrict__ w, int64_t n, int64_t k, const float* __restrict__ x,
                                int m, float* __restrict__ y) {
  constexpr int kBlockBytes = kFormat == WeightFormat::kQ8_0 ? kQ8_0Bytes : kQ4_0Bytes;
  const int64_t feature = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x & 31;
  if (feature >= n) return;  // whole warps leave together: one feature per warp
  const int64_t num_blocks = k / kQBlockElems;
  const uint8_t* row = w + feature * num_blocks * kBlockBytes;
  const int part = lane & 7;  // Q8_0: values 4 part .. 4 part + 3; Q4_0: bytes 2 part, 2 part + 1
  float acc[kMaxGemvRows];
#pragma unroll
  for (int r = 0; r < kMaxGemvRows; ++r) acc[r] = 0.0f;

  for (int64_t b = lane >> 3; b < num_blocks; b += kBlocksPerStep) {
    const uint8_t* block = row + b * kBlockBytes;
    const float d = F16BitsToFloat(block);
    float q[4];    // this lane's quants, before the scale
    int col[4];    // their positions in the block
    if (kFormat == WeightFormat::kQ8_0) {
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        col[j] = part * 4 + j;
        q[j] = static_cast<float>(static_cast<int8_t>(block[2 + col[j]]));
      }
    } else {
      const uint8_t b0 = block[2 + part * 2], b1 = block[2 + part * 2 + 1];
      col[0] = part * 2;
      col[1] = part * 2 + 1;
      col[2] = part * 2 + 16;
      col[3] = part * 2 + 17;
      q[0] = static_cast<float>((b0 & 0x0F) - 8);
      q[1] = static_cast<float>((b1 & 0x0F) - 8);
      q[2] = static_cast<float>((b0 >> 4) - 8);
      q[3] = static_cast<float>((b1 >> 4) - 8);
    }
#pragma unroll
    for (int r = 0; r < kMaxGemvRows; ++r) {
      if (r < m) {
        const float* xr = x + r * k + b * kQBlockElems;
        const float s = q[0] * xr[col[0]] + q[1] * xr[col[1]] + q[2] * xr[col[2]] + q[3] * xr[col[3]];
        acc[r] += d * s;
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kMaxGemvRows; ++r) {
    float v = acc[r];
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
    if (lane == 0 && r < m) y[r * n + feature] = v;
  }
}

__global__ void DequantizeRowsToBf16Kernel(WeightFormat format, const void* __restrict__ w, int64_t first_row,
                                           int64_t num_rows, int64_t k, uint16_t* __restrict__ out) {
  const int64_t total = num_rows * k;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t row = i / k, col = i % k;
    const float v = WeightValue(format, w, first_row + row, col, k);
    out[i] = __bfloat16_as_ushort(__float2bfloat16_rn(v));
  }
}

int GridFor(int64_t total, int threads) {
  const int64_t blocks = (total + threads - 1) / threads;
  return static_cast<int>(blocks < 65535 * 32 ? (blocks > 0 ? blocks : 1) : 65535 * 32);
}

}  // namespace

void LaunchQuantGemv(WeightFormat format, const void* w, int64_t n, int64_t k, const float* x, int m, float* y,
                     cudaStream_t stream) {
  if (n <= 0 || m <= 0) return;
  const int64_t blocks = (n * 32 + kGemvThreads - 1) / kGemvThreads;
  const auto* bytes = static_cast<const uint8_t*>(w);
  if (format == WeightFormat::kQ8_0) {
    QuantGemvKernel<WeightFormat::kQ8_0><<<static_cast<unsigned>(blocks), kGemvThreads, 0, stream>>>(bytes, n, k, x,
                                                                                                     m, y);
  } else {
    QuantGemvKernel<WeightFormat::kQ4_0><<<static_cast<unsigned>(blocks), kGemvThreads, 0, stream>>>(bytes, n, k, x,
                                                                                                     m, y);
  }
}

void LaunchDequantizeRowsToBf16(WeightFormat format, const void* w, int64_t first_row, int64_t num_rows, int64_t k,
                                uint16_t* out, cudaStream_t stream) {
  const int64_t total = num_rows * k;
  if (total <= 0) return;
  DequantizeRowsToBf16Kernel<<<GridFor(total, 256), 256, 0, stream>>>(format, w, first_row, num_rows, k, out);
}

}  // namespace fathom::cuda

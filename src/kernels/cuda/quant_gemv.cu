// Q8_0 / Q4_0 weight-only GEMV and the bf16 dequantisation of weight tiles (see
// quant_kernels.h for the contract).
//
// Non-obvious rule: one warp owns one output feature and its lanes take whole
// blocks (lane l reads blocks l, l + 32, ...), so the warp streams the row's bytes
// contiguously and every block is read once for all m activation rows; per block
// the 32 products are summed first and scaled by d once, then the lanes' partial
// sums meet in a shuffle reduction.
#include <cuda_runtime.h>

#include "kernels/cuda/quant_kernels.h"
#include "kernels/cuda/weight_decode.cuh"

namespace fathom::cuda {
namespace {

constexpr int kGemvThreads = 256;  // 8 warps, 8 output features per thread block

template <WeightFormat kFormat>
__global__ void QuantGemvKernel(const uint8_t* __restrict__ w, int64_t n, int64_t k, const float* __restrict__ x,
                                int m, float* __restrict__ y) {
  constexpr int kBlockBytes = kFormat == WeightFormat::kQ8_0 ? kQ8_0Bytes : kQ4_0Bytes;
  const int64_t feature = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x & 31;
  if (feature >= n) return;  // whole warps leave together: n is per warp
  const int64_t num_blocks = k / kQBlockElems;
  const uint8_t* row = w + feature * num_blocks * kBlockBytes;
  float acc[kMaxGemvRows];
#pragma unroll
  for (int r = 0; r < kMaxGemvRows; ++r) acc[r] = 0.0f;

  for (int64_t b = lane; b < num_blocks; b += 32) {
    const uint8_t* block = row + b * kBlockBytes;
    const float d = F16BitsToFloat(block);
    float q[kQBlockElems];  // (32) the block's quants as floats, before the scale
    if (kFormat == WeightFormat::kQ8_0) {
#pragma unroll
      for (int i = 0; i < kQBlockElems; ++i) q[i] = static_cast<float>(static_cast<int8_t>(block[2 + i]));
    } else {
#pragma unroll
      for (int i = 0; i < 16; ++i) {
        const uint8_t byte = block[2 + i];
        q[i] = static_cast<float>((byte & 0x0F) - 8);
        q[i + 16] = static_cast<float>((byte >> 4) - 8);
      }
    }
#pragma unroll
    for (int r = 0; r < kMaxGemvRows; ++r) {
      if (r < m) {
        const float* xr = x + r * k + b * kQBlockElems;
        float s = 0.0f;
#pragma unroll
        for (int i = 0; i < kQBlockElems; ++i) s += q[i] * xr[i];
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

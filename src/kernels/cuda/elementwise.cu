// The elementwise kernels of elementwise_kernels.h. Flat kernels walk their
// elements with a grid-stride loop over int64 indices, so any size works with a
// bounded grid; RmsNorm gives each row one thread block.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "kernels/cuda/elementwise_kernels.h"
#include "kernels/cuda/weight_decode.cuh"

namespace fathom::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxGrid = 65535LL * 16;

unsigned GridFor(int64_t total) {
  int64_t blocks = (total + kThreads - 1) / kThreads;
  if (blocks < 1) blocks = 1;
  if (blocks > kMaxGrid) blocks = kMaxGrid;
  return static_cast<unsigned>(blocks);
}

__device__ inline int64_t FlatIndex() { return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ inline int64_t FlatStride() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

// Sum of v over the thread block; every thread gets the result. REQUIRES:
// blockDim.x a multiple of 32, at most 1024.
__device__ float BlockSum(float v) {
  __shared__ float warp_sums[32];
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  const int num_warps = blockDim.x >> 5;
  float total = 0.0f;
  for (int w = 0; w < num_warps; ++w) total += warp_sums[w];
  __syncthreads();  // warp_sums may be reused by a later call
  return total;
}

__global__ void RmsNormKernel(const float* x, const float* __restrict__ weight, int64_t dim, float eps, float* out) {
  const float* xr = x + static_cast<int64_t>(blockIdx.x) * dim;
  float* yr = out + static_cast<int64_t>(blockIdx.x) * dim;
  float sum_sq = 0.0f;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) sum_sq += xr[i] * xr[i];
  sum_sq = BlockSum(sum_sq);  // its barrier also orders every read of x before the writes below
  const float inv = 1.0f / sqrtf(sum_sq / static_cast<float>(dim) + eps);
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) yr[i] = weight[i] * (xr[i] * inv);
}

__global__ void SiluMulKernel(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = FlatIndex(); i < n; i += FlatStride()) {
    const float g = gate[i];
    out[i] = g / (1.0f + expf(-g)) * up[i];
  }
}

__global__ void FillKernel(float* x, int64_t n, float value) {
  for (int64_t i = FlatIndex(); i < n; i += FlatStride()) x[i] = value;
}

__global__ void AddKernel(float* y, const float* x, int64_t n) {
  for (int64_t i = FlatIndex(); i < n; i += FlatStride()) y[i] += x[i];
}

__global__ void RopeKernel(float* x, int64_t rows, int64_t row_stride, int64_t num_heads, int64_t head_stride,
                           const float* __restrict__ rope, int64_t rot_dim, bool interleaved) {
  const int64_t half_dim = rot_dim / 2;
  const int64_t total = rows * num_heads * half_dim;
  for (int64_t t = FlatIndex(); t < total; t += FlatStride()) {
    const int64_t i = t % half_dim;
    const int64_t h = (t / half_dim) % num_heads;
    const int64_t r = t / (half_dim * num_heads);
    float* v = x + r * row_stride + h * head_stride;
    const float c = rope[r * rot_dim + i], s = rope[r * rot_dim + half_dim + i];
    const int64_t ia = interleaved ? 2 * i : i;
    const int64_t ib = interleaved ? 2 * i + 1 : i + half_dim;
    const float x0 = v[ia], x1 = v[ib];
    v[ia] = x0 * c - x1 * s;
    v[ib] = x1 * c + x0 * s;
  }
}

__global__ void EmbedKernel(WeightFormat format, const void* __restrict__ table, int64_t vocab, int64_t hidden,
                            const int32_t* __restrict__ tokens, int64_t rows, float* out) {
  const int64_t total = rows * hidden;
  for (int64_t t = FlatIndex(); t < total; t += FlatStride()) {
    const int64_t r = t / hidden, j = t % hidden;
    const int64_t token = tokens[r];
    out[t] = token >= 0 && token < vocab ? WeightValue(format, table, token, j, hidden) : 0.0f;
  }
}

__global__ void GatherRowsKernel(const float* __restrict__ x, const int32_t* __restrict__ rows, int64_t num_rows,
                                 int64_t width, float* out) {
  const int64_t total = num_rows * width;
  for (int64_t t = FlatIndex(); t < total; t += FlatStride()) {
    const int64_t i = t / width, j = t % width;
    out[t] = x[static_cast<int64_t>(rows[i]) * width + j];
  }
}

__global__ void AddBiasKernel(float* y, const float* __restrict__ bias, int64_t rows, int64_t cols) {
  const int64_t total = rows * cols;
  for (int64_t t = FlatIndex(); t < total; t += FlatStride()) y[t] += bias[t % cols];
}

__global__ void F32ToBf16Kernel(const float* __restrict__ x, int64_t n, uint16_t* out) {
  for (int64_t i = FlatIndex(); i < n; i += FlatStride()) out[i] = __bfloat16_as_ushort(__float2bfloat16_rn(x[i]));
}

__global__ void F32ToF16Kernel(const float* __restrict__ x, int64_t n, uint16_t* out) {
  for (int64_t i = FlatIndex(); i < n; i += FlatStride()) out[i] = __half_as_ushort(__float2half_rn(x[i]));
}

}  // namespace

void LaunchRmsNorm(const float* x, const float* weight, int64_t rows, int64_t dim, float eps, float* out,
                   cudaStream_t stream) {
  if (rows <= 0 || dim <= 0) return;
  const int threads = dim >= 1024 ? 1024 : (dim >= 256 ? 256 : 64);
  RmsNormKernel<<<static_cast<unsigned>(rows), threads, 0, stream>>>(x, weight, dim, eps, out);
}

void LaunchSiluMul(const float* gate, const float* up, int64_t n, float* out, cudaStream_t stream) {
  if (n <= 0) return;
  SiluMulKernel<<<GridFor(n), kThreads, 0, stream>>>(gate, up, n, out);
}

void LaunchAdd(float* y, const float* x, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  AddKernel<<<GridFor(n), kThreads, 0, stream>>>(y, x, n);
}

void LaunchFill(float* x, int64_t n, float value, cudaStream_t stream) {
  if (n <= 0) return;
  FillKernel<<<GridFor(n), kThreads, 0, stream>>>(x, n, value);
}

void LaunchRope(float* x, int64_t rows, int64_t row_stride, int64_t num_heads, int64_t head_stride, const float* rope,
                int64_t rot_dim, bool interleaved, cudaStream_t stream) {
  const int64_t total = rows * num_heads * (rot_dim / 2);
  if (total <= 0) return;
  RopeKernel<<<GridFor(total), kThreads, 0, stream>>>(x, rows, row_stride, num_heads, head_stride, rope, rot_dim,
                                                      interleaved);
}

void LaunchEmbed(WeightFormat format, const void* table, int64_t vocab, int64_t hidden, const int32_t* tokens,
                 int64_t rows, float* out, cudaStream_t stream) {
  if (rows <= 0 || hidden <= 0) return;
  EmbedKernel<<<GridFor(rows * hidden), kThreads, 0, stream>>>(format, table, vocab, hidden, tokens, rows, out);
}

void LaunchGatherLogitsRows(const float* x, const int32_t* logits_rows, int64_t num_logits, int64_t width, float* out,
                            cudaStream_t stream) {
  if (num_logits <= 0 || width <= 0) return;
  GatherRowsKernel<<<GridFor(num_logits * width), kThreads, 0, stream>>>(x, logits_rows, num_logits, width, out);
}

void LaunchAddBias(float* y, const float* bias, int64_t rows, int64_t cols, cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  AddBiasKernel<<<GridFor(rows * cols), kThreads, 0, stream>>>(y, bias, rows, cols);
}

void LaunchF32ToBf16(const float* x, int64_t n, uint16_t* out, cudaStream_t stream) {
  if (n <= 0) return;
  F32ToBf16Kernel<<<GridFor(n), kThreads, 0, stream>>>(x, n, out);
}

void LaunchF32ToF16(const float* x, int64_t n, uint16_t* out, cudaStream_t stream) {
  if (n <= 0) return;
  F32ToF16Kernel<<<GridFor(n), kThreads, 0, stream>>>(x, n, out);
}

}  // namespace fathom::cuda

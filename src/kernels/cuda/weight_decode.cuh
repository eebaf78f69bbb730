// Device-side decoding of one weight value in each WeightFormat, shared by the
// embedding gather, the quantised GEMV and the bf16 dequantisation. Header-only
// (inline __device__) so every .cu file gets its own copy without relocatable
// device code.
//
// Non-obvious rule: the block formats follow core/quant_blocks.h exactly: Q8_0 is
// d * q, Q4_0 is d * (nibble - 8) with value i < 16 in the low nibble of qs[i] and
// value i + 16 in its high nibble; d is a little-endian F16 at the block start.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/cuda/quant_kernels.h"

namespace fathom::cuda {

constexpr int kQ8_0Bytes = 34;  // F16 d + 32 int8
constexpr int kQ4_0Bytes = 18;  // F16 d + 16 bytes of nibbles
constexpr int kQBlockElems = 32;

__device__ inline float F16BitsToFloat(const uint8_t* p) {
  const unsigned short bits = static_cast<unsigned short>(p[0] | (p[1] << 8));
  return __half2float(__ushort_as_half(bits));
}

__device__ inline float Q8_0Value(const uint8_t* block, int i) {
  return F16BitsToFloat(block) * static_cast<float>(static_cast<int8_t>(block[2 + i]));
}

__device__ inline float Q4_0Value(const uint8_t* block, int i) {
  const uint8_t byte = block[2 + (i & 15)];
  const int q = (i < 16 ? (byte & 0x0F) : (byte >> 4)) - 8;
  return F16BitsToFloat(block) * static_cast<float>(q);
}

// Element (row, col) of a (?, k) matrix stored as `format`.
__device__ inline float WeightValue(WeightFormat format, const void* w, int64_t row, int64_t col, int64_t k) {
  switch (format) {
    case WeightFormat::kF32:
      return static_cast<const float*>(w)[row * k + col];
    case WeightFormat::kF16:
      return __half2float(__ushort_as_half(static_cast<const unsigned short*>(w)[row * k + col]));
    case WeightFormat::kBF16:
      return __bfloat162float(__ushort_as_bfloat16(static_cast<const unsigned short*>(w)[row * k + col]));
    case WeightFormat::kQ8_0: {
      const int64_t block = row * (k / kQBlockElems) + col / kQBlockElems;
      return Q8_0Value(static_cast<const uint8_t*>(w) + block * kQ8_0Bytes, static_cast<int>(col % kQBlockElems));
    }
    case WeightFormat::kQ4_0: {
      const int64_t block = row * (k / kQBlockElems) + col / kQBlockElems;
      return Q4_0Value(static_cast<const uint8_t*>(w) + block * kQ4_0Bytes, static_cast<int>(col % kQBlockElems));
    }
  }
  return 0.0f;
}

}  // namespace fathom::cuda

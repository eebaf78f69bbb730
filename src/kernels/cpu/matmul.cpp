#include "kernels/cpu/matmul.h"

#include <algorithm>
#include <cstring>

#include "core/convert.h"
#include "core/float_formats.h"
#include "kernels/cpu/isa.h"
#include "kernels/cpu/quant_matmul.h"
#include "kernels/cpu/target_clones.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace fathom::cpu {
namespace {

// Weight rows widened per task: 16 rows of a 4096-wide matrix is 256 KiB of
// float32, which stays in L2 while every activation row streams past it.
constexpr int64_t kRowBlock = 16;
// Columns of F16/BF16 weights widened at a time: 16 x 1024 floats = 64 KiB.
constexpr int64_t kChunk = 1024;

// Eight independent partial sums let the compiler keep a full vector of lanes
// busy without reassociating across iterations.
FATHOM_TARGET_CLONES float DotImpl(const float* a, const float* b, int64_t n) {
  float acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    for (int j = 0; j < 16; ++j) acc[j] += a[i + j] * b[i + j];
  }
  float sum = 0.0f;
  for (; i < n; ++i) sum += a[i] * b[i];
  for (int j = 0; j < 16; ++j) sum += acc[j];
  return sum;
}

FATHOM_TARGET_CLONES void Bf16RowsToF32(const uint16_t* src, int64_t n, float* dst) {
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t bits = static_cast<uint32_t>(src[i]) << 16;
    std::memcpy(&dst[i], &bits, sizeof bits);
  }
}

void F16RowsToF32Scalar(const uint16_t* src, int64_t n, float* dst) {
  for (int64_t i = 0; i < n; ++i) dst[i] = F16ToF32(src[i]);
}

#if defined(__x86_64__)
// F16C widens exactly, subnormals and infinities included, 8 values at a time.
__attribute__((target("avx2,fma,f16c"))) void F16RowsToF32F16c(const uint16_t* src, int64_t n, float* dst) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
  }
  for (; i < n; ++i) dst[i] = _cvtsh_ss(src[i]);
}
#endif

using WidenFn = void (*)(const uint16_t* src, int64_t n, float* dst);

// The widening for a 16-bit weight dtype, chosen once per call (F16C when the
// active ISA has it).
WidenFn WidenerFor(DType dtype) {
  if (dtype == DType::kBF16) return &Bf16RowsToF32;
#if defined(__x86_64__)
  if (ActiveIsa() >= Isa::kAvx2) return &F16RowsToF32F16c;
#endif
  return &F16RowsToF32Scalar;
}

}  // namespace

bool IsMatMulDType(DType dtype) {
  switch (dtype) {
    case DType::kF32: case DType::kF16: case DType::kBF16:
    case DType::kQ8_0: case DType::kQ4_0: case DType::kQ4_K: case DType::kQ6_K:
      return true;
    default:
      return false;
  }
}

float Dot(const float* a, const float* b, int64_t n) { return DotImpl(a, b, n); }

void WeightRowsToF32(const Tensor& w, int64_t row_begin, int64_t num_rows, float* dst) {
  const int64_t k = w.dim(1);
  const int64_t n = num_rows * k;
  switch (w.dtype()) {
    case DType::kF32:
      std::memcpy(dst, w.data_as<const float>() + row_begin * k, n * sizeof(float));
      return;
    case DType::kBF16:
    case DType::kF16:
      WidenerFor(w.dtype())(w.data_as<const uint16_t>() + row_begin * k, n, dst);
      return;
    default: {
      // Block formats: dequantize whole rows (a row is a whole number of blocks).
      const int64_t row_bytes = *DTypeByteSize(w.dtype(), k);
      const auto* src = static_cast<const uint8_t*>(w.data()) + row_begin * row_bytes;
      FATHOM_CHECK(ToFloat32(w.dtype(), src, n, dst).ok());
    }
  }
}

void MatMul(ThreadPool& pool, const float* x, int64_t m, int64_t k, const Tensor& w, const float* bias, float* y) {
  MatMul(pool, x, m, k, w, nullptr, bias, y);
}

void MatMul(ThreadPool& pool, const float* x, int64_t m, int64_t k, const Tensor& w, const PackedWeight* packed,
            const float* bias, float* y) {
  FATHOM_CHECK(w.ndim() == 2 && w.dim(1) == k && IsMatMulDType(w.dtype()));
  if (IsQuantMatMulDType(w.dtype())) return QuantMatMul(pool, x, m, k, w, packed, bias, y);
  const int64_t n = w.dim(0);
  const int64_t num_blocks = (n + kRowBlock - 1) / kRowBlock;
  const bool direct = w.dtype() == DType::kF32;
  const WidenFn widen = direct ? nullptr : WidenerFor(w.dtype());
  pool.ParallelFor(num_blocks, 1, [&](int64_t block_begin, int64_t block_end) {
    // F16/BF16 rows are widened kChunk columns at a time into this stack buffer
    // (no heap, so no thread allocates on its first call); y accumulates the
    // chunks' dot products in a fixed order, so the result does not depend on
    // the thread count.
    alignas(64) float widened[kRowBlock * kChunk];  // (kRowBlock, kChunk)
    for (int64_t b = block_begin; b < block_end; ++b) {
      const int64_t j0 = b * kRowBlock;
      const int64_t rows = std::min(kRowBlock, n - j0);
      if (direct) {
        const float* wf = w.data_as<const float>() + j0 * k;
        for (int64_t i = 0; i < m; ++i) {
          const float* xi = x + i * k;
          float* yi = y + i * n + j0;
          for (int64_t j = 0; j < rows; ++j) {
            yi[j] = DotImpl(xi, wf + j * k, k) + (bias != nullptr ? bias[j0 + j] : 0.0f);
          }
        }
        continue;
      }
      const auto* src = w.data_as<const uint16_t>() + j0 * k;
      for (int64_t c0 = 0; c0 < k; c0 += kChunk) {
        const int64_t len = std::min(kChunk, k - c0);
        for (int64_t j = 0; j < rows; ++j) widen(src + j * k + c0, len, widened + j * len);
        for (int64_t i = 0; i < m; ++i) {
          const float* xi = x + i * k + c0;
          float* yi = y + i * n + j0;
          for (int64_t j = 0; j < rows; ++j) {
            const float d = DotImpl(xi, widened + j * len, len);
            yi[j] = c0 == 0 ? d + (bias != nullptr ? bias[j0 + j] : 0.0f) : yi[j] + d;
          }
        }
      }
    }
  });
}

}  // namespace fathom::cpu

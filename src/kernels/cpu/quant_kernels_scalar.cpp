// The reference tile kernels: one weight row at a time, integer dot per block in
// plain C++. Every vector set must agree with these to float rounding.
#include <cstddef>
#include <cstring>

#include "core/float_formats.h"
#include "core/quant_blocks.h"
#include "kernels/cpu/q8_activation.h"
#include "kernels/cpu/quant_kernels.h"

namespace fathom::cpu {
namespace {

float LoadF16(const uint16_t* p) {
  uint16_t h;
  std::memcpy(&h, p, sizeof h);
  return F16ToF32(h);
}

float DotQ8_0(const uint8_t* w, const uint8_t* a, int64_t num_blocks) {
  float sum = 0.0f;
  for (int64_t b = 0; b < num_blocks; ++b) {
    BlockQ8_0 wb;
    ActQ8Block ab;
    std::memcpy(&wb, w + b * sizeof wb, sizeof wb);
    std::memcpy(&ab, a + b * sizeof ab, sizeof ab);
    int32_t isum = 0;
    for (int i = 0; i < 32; ++i) isum += wb.qs[i] * ab.qs[i];
    sum += F16ToF32(wb.d) * ab.d * static_cast<float>(isum);
  }
  return sum;
}

float DotQ4_0(const uint8_t* w, const uint8_t* a, int64_t num_blocks) {
  float sum = 0.0f;
  for (int64_t b = 0; b < num_blocks; ++b) {
    BlockQ4_0 wb;
    ActQ8Block ab;
    std::memcpy(&wb, w + b * sizeof wb, sizeof wb);
    std::memcpy(&ab, a + b * sizeof ab, sizeof ab);
    int32_t isum = 0;
    for (int i = 0; i < 16; ++i) {
      isum += (wb.qs[i] & 0x0F) * ab.qs[i] + (wb.qs[i] >> 4) * ab.qs[i + 16];
    }
    isum -= 8 * ab.sum;
    sum += F16ToF32(wb.d) * ab.d * static_cast<float>(isum);
  }
  return sum;
}

// Unpacks the 6-bit scales and mins of a Q4_K block (layout in quant_blocks.h).
void UnpackQ4KScales(const uint8_t* s /*(12)*/, int* sc /*(8)*/, int* mn /*(8)*/) {
  for (int j = 0; j < 4; ++j) {
    sc[j] = s[j] & 63;
    mn[j] = s[j + 4] & 63;
    sc[j + 4] = (s[j + 8] & 0x0F) | ((s[j] >> 6) << 4);
    mn[j + 4] = (s[j + 8] >> 4) | ((s[j + 4] >> 6) << 4);
  }
}

float DotQ4_K(const uint8_t* w, const uint8_t* a, int64_t num_blocks) {
  float sum = 0.0f;
  for (int64_t b = 0; b < num_blocks; ++b) {
    const uint8_t* wb = w + b * sizeof(BlockQ4_K);
    ActQ8KBlock ab;
    std::memcpy(&ab, a + b * sizeof ab, sizeof ab);
    const uint8_t* qs = wb + offsetof(BlockQ4_K, qs);
    int sc[8], mn[8];
    UnpackQ4KScales(wb + offsetof(BlockQ4_K, scales), sc, mn);
    int32_t isum = 0, msum = 0;
    for (int p = 0; p < 4; ++p) {
      int32_t lo = 0, hi = 0;
      for (int l = 0; l < 32; ++l) {
        lo += (qs[32 * p + l] & 0x0F) * ab.qs[64 * p + l];
        hi += (qs[32 * p + l] >> 4) * ab.qs[64 * p + 32 + l];
      }
      isum += sc[2 * p] * lo + sc[2 * p + 1] * hi;
    }
    for (int j = 0; j < 8; ++j) msum += mn[j] * (ab.bsums[2 * j] + ab.bsums[2 * j + 1]);
    const float d = LoadF16(reinterpret_cast<const uint16_t*>(wb + offsetof(BlockQ4_K, d)));
    const float dmin = LoadF16(reinterpret_cast<const uint16_t*>(wb + offsetof(BlockQ4_K, dmin)));
    sum += d * ab.d * static_cast<float>(isum) - dmin * ab.d * static_cast<float>(msum);
  }
  return sum;
}

float DotQ6_K(const uint8_t* w, const uint8_t* a, int64_t num_blocks) {
  float sum = 0.0f;
  for (int64_t b = 0; b < num_blocks; ++b) {
    const uint8_t* wb = w + b * sizeof(BlockQ6_K);
    ActQ8KBlock ab;
    std::memcpy(&ab, a + b * sizeof ab, sizeof ab);
    int32_t sub[16] = {};  // per 16-value sub-block: sum of q * a
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = wb + offsetof(BlockQ6_K, ql) + 64 * h;
      const uint8_t* qh = wb + offsetof(BlockQ6_K, qh) + 32 * h;
      const int8_t* aq = ab.qs + 128 * h;
      for (int l = 0; l < 32; ++l) {
        const int q0 = (ql[l] & 0x0F) | ((qh[l] & 3) << 4);
        const int q1 = (ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4);
        const int q2 = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
        const int q3 = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
        sub[8 * h + l / 16] += q0 * aq[l];
        sub[8 * h + 2 + l / 16] += q1 * aq[l + 32];
        sub[8 * h + 4 + l / 16] += q2 * aq[l + 64];
        sub[8 * h + 6 + l / 16] += q3 * aq[l + 96];
      }
    }
    const auto* scales = reinterpret_cast<const int8_t*>(wb + offsetof(BlockQ6_K, scales));
    int32_t isum = 0;
    for (int j = 0; j < 16; ++j) isum += scales[j] * (sub[j] - 32 * ab.bsums[j]);
    sum += LoadF16(reinterpret_cast<const uint16_t*>(wb + offsetof(BlockQ6_K, d))) * ab.d * static_cast<float>(isum);
  }
  return sum;
}

using DotFn = float (*)(const uint8_t*, const uint8_t*, int64_t);

template <DotFn kDot, int kRows>
void Tile(const uint8_t* w, int64_t w_stride, const uint8_t* a, int64_t a_stride, int64_t num_blocks,
          const float* bias, float* y, int64_t y_stride) {
  for (int r = 0; r < kRows; ++r) {
    y[r * y_stride] = kDot(w, a + r * a_stride, num_blocks) + (bias != nullptr ? bias[0] : 0.0f);
  }
}

template <DotFn kDot>
constexpr QuantTileKernels MakeKernels() {
  return {.max_rows = kMaxTileRows,
          .max_cols = 1,
          .cols = {1, 1, 1, 1},
          .tile = {Tile<kDot, 1>, Tile<kDot, 2>, Tile<kDot, 3>, Tile<kDot, 4>},
          .column = {Tile<kDot, 1>, Tile<kDot, 2>, Tile<kDot, 3>, Tile<kDot, 4>}};
}

}  // namespace

const QuantKernelSet& ScalarQuantKernels() {
  static constexpr QuantKernelSet kSet = {.q8_0 = MakeKernels<DotQ8_0>(),
                                          .q4_0 = MakeKernels<DotQ4_0>(),
                                          .q4_k = MakeKernels<DotQ4_K>(),
                                          .q6_k = MakeKernels<DotQ6_K>()};
  return kSet;
}

}  // namespace fathom::cpu

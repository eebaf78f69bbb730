// Row (de)quantizers for Q8_0, Q4_0, Q4_K and Q6_K, written from the GGUF block
// layouts and the published reference algorithms (ggml's *_ref quantizers). Every
// float32 expression keeps the reference's operation order: see quant_blocks.h.
#include "core/quant_blocks.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include "core/float_formats.h"
#include "core/status.h"

// Contracting a*b+c into one fused multiply-add rounds once instead of twice and
// changes the bytes. Both compilers contract by default when the target has FMA
// (-march=haswell and later), so switch it off for this file.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace fathom {
namespace {

// Below this every value in a group counts as zero (ggml's GROUP_MAX_EPS).
constexpr float kGroupMaxEps = 1e-15f;

// Rounds half to even using the float adder: adding 1.5 * 2^23 pushes the fraction
// bits out, leaving round(v) + 2^22 in the low 23 mantissa bits. Exact for
// |v| <= 2^22 - 1; outside that range (or for NaN) it returns the same wrapped value
// the reference does, so even degenerate inputs give identical bytes.
int RoundHalfEven(float v) {
  const float biased = v + 12582912.0f;  // 1.5 * 2^23
  const auto bits = std::bit_cast<int32_t>(biased);
  return (bits & 0x007FFFFF) - 0x00400000;
}

// float -> int32 truncation as x86-64's cvttss2si does it: NaN and out-of-range
// values give INT32_MIN. The reference casts floats to int8_t directly, which C
// leaves undefined out of range; compilers emit exactly this instruction.
int32_t TruncateToInt32(float v) {
  if (!(v > -2147483904.0f && v < 2147483648.0f)) return INT32_MIN;
  return static_cast<int32_t>(v);
}

int Clamp(int v, int lo, int hi) { return std::max(lo, std::min(hi, v)); }

// ---------------------------------------------------------------- Q4_K helpers

// Fits x[i] ~= scale * levels[i] + min with levels in [0, nmax] and min <= 0,
// minimising the weighted squared error over nstep + 1 candidate scales around
// nmax / (max - min). Returns the scale and stores -min in *neg_min.
// (ggml's make_qkx2_quants with use_mad = false.)
float FitAffineLevels(const float* x, const float* weights, int n, int nmax, float rmin,
                      float rdelta, int nstep, uint8_t* levels, float* neg_min) {
  float min = x[0];
  float max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float w = weights[i];
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    std::fill(levels, levels + n, uint8_t{0});
    *neg_min = -min;
    return 0.0f;
  }
  float iscale = static_cast<float>(nmax) / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    levels[i] = static_cast<uint8_t>(Clamp(RoundHalfEven(iscale * (x[i] - min)), 0, nmax));
    const float diff = scale * levels[i] + min - x[i];
    best_error += weights[i] * (diff * diff);
  }
  uint8_t trial[32];
  FATHOM_CHECK(n <= 32);
  for (int step = 0; step <= nstep; ++step) {
    // `min` may have moved in an earlier step; the reference reads the moved value.
    iscale = (rmin + rdelta * static_cast<float>(step) + static_cast<float>(nmax)) / (max - min);
    float sum_l = 0;
    float sum_l2 = 0;
    float sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = Clamp(RoundHalfEven(iscale * (x[i] - min)), 0, nmax);
      trial[i] = static_cast<uint8_t>(l);
      const float w = weights[i];
      const auto lf = static_cast<float>(l);
      sum_l += w * lf;
      sum_l2 += w * lf * lf;
      sum_xl += w * lf * x[i];
    }
    const float det = sum_w * sum_l2 - sum_l * sum_l;
    if (det > 0) {
      float trial_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
      float trial_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
      if (trial_min > 0) {
        trial_min = 0;
        trial_scale = sum_xl / sum_l2;
      }
      float error = 0;
      for (int i = 0; i < n; ++i) {
        const float diff = trial_scale * trial[i] + trial_min - x[i];
        error += weights[i] * (diff * diff);
      }
      if (error < best_error) {
        std::copy(trial, trial + n, levels);
        best_error = error;
        scale = trial_scale;
        min = trial_min;
      }
    }
  }
  *neg_min = -min;
  return scale;
}

// Unpacks sub-block j's 6-bit scale and min from a Q4_K `scales` array.
void UnpackScaleMin(int j, const uint8_t* packed, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = packed[j] & 63;
    *min = packed[j + 4] & 63;
  } else {
    *scale = static_cast<uint8_t>((packed[j + 4] & 0xF) | ((packed[j - 4] >> 6) << 4));
    *min = static_cast<uint8_t>((packed[j + 4] >> 4) | ((packed[j] >> 6) << 4));
  }
}

void QuantizeBlockQ4_K(const float* x /*(256)*/, BlockQ4_K* block) {
  uint8_t levels[256];
  float weights[32];
  float scales[8];
  float mins[8];
  float max_scale = 0;
  float max_min = 0;
  for (int j = 0; j < 8; ++j) {
    const float* xs = x + 32 * j;
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
    scales[j] = FitAffineLevels(xs, weights, 32, 15, -1.0f, 0.1f, 20, levels + 32 * j, &mins[j]);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }

  const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
  const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
  for (int j = 0; j < 8; ++j) {
    auto ls = static_cast<uint8_t>(RoundHalfEven(inv_scale * scales[j]));
    auto lm = static_cast<uint8_t>(RoundHalfEven(inv_min * mins[j]));
    ls = std::min<uint8_t>(63, ls);
    lm = std::min<uint8_t>(63, lm);
    if (j < 4) {
      block->scales[j] = ls;
      block->scales[j + 4] = lm;
    } else {
      block->scales[j + 4] = static_cast<uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
      block->scales[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
      block->scales[j] |= static_cast<uint8_t>((lm >> 4) << 6);
    }
  }
  block->d = F32ToF16(max_scale / 63.0f);
  block->dmin = F32ToF16(max_min / 63.0f);

  // Requantize against the rounded scales; a sub-block whose scale rounded to zero
  // keeps the levels from its fit.
  for (int j = 0; j < 8; ++j) {
    uint8_t sc;
    uint8_t m;
    UnpackScaleMin(j, block->scales, &sc, &m);
    const float d = F16ToF32(block->d) * sc;
    if (d == 0) continue;
    const float dm = F16ToF32(block->dmin) * m;
    for (int i = 0; i < 32; ++i) {
      levels[32 * j + i] = static_cast<uint8_t>(Clamp(RoundHalfEven((x[32 * j + i] + dm) / d), 0, 15));
    }
  }

  for (int chunk = 0; chunk < 4; ++chunk) {
    const uint8_t* lv = levels + 64 * chunk;
    for (int l = 0; l < 32; ++l) {
      block->qs[32 * chunk + l] = static_cast<uint8_t>(lv[l] | (lv[l + 32] << 4));
    }
  }
}

// ---------------------------------------------------------------- Q6_K helpers

// Fits x[i] ~= scale * (levels[i] - nmax) with levels - nmax in [-nmax, nmax - 1],
// weighting each value by x[i]^2 and trying 18 scales around -nmax / max (max being
// the value of largest magnitude). Returns the scale, negative when max > 0.
// (ggml's make_qx_quants with rmse_type = 1 and no importance weights.)
float FitSymmetricLevels(const float* x, int n, int nmax, int8_t* levels) {
  float max = 0;
  float amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {
    std::fill(levels, levels + n, int8_t{0});
    return 0.0f;
  }
  float iscale = static_cast<float>(-nmax) / max;
  float sum_lx = 0;
  float sum_l2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = Clamp(RoundHalfEven(iscale * x[i]), -nmax, nmax - 1);
    levels[i] = static_cast<int8_t>(l + nmax);
    const float w = x[i] * x[i];
    const auto lf = static_cast<float>(l);
    sum_lx += w * x[i] * lf;
    sum_l2 += w * lf * lf;
  }
  float scale = sum_l2 != 0 ? sum_lx / sum_l2 : 0.0f;
  float best = scale * sum_lx;
  for (int step = -9; step <= 9; ++step) {
    if (step == 0) continue;
    iscale = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(step)) / max;
    sum_lx = 0;
    sum_l2 = 0;
    for (int i = 0; i < n; ++i) {
      const int l = Clamp(RoundHalfEven(iscale * x[i]), -nmax, nmax - 1);
      const float w = x[i] * x[i];
      const auto lf = static_cast<float>(l);
      sum_lx += w * x[i] * lf;
      sum_l2 += w * lf * lf;
    }
    if (sum_l2 > 0 && sum_lx * sum_lx > best * sum_l2) {
      for (int i = 0; i < n; ++i) {
        levels[i] = static_cast<int8_t>(nmax + Clamp(RoundHalfEven(iscale * x[i]), -nmax, nmax - 1));
      }
      scale = sum_lx / sum_l2;
      best = scale * sum_lx;
    }
  }
  return scale;
}

void QuantizeBlockQ6_K(const float* x /*(256)*/, BlockQ6_K* block) {
  int8_t levels[256];
  float scales[16];
  float max_scale = 0;
  float max_abs_scale = 0;
  for (int j = 0; j < 16; ++j) {
    scales[j] = FitSymmetricLevels(x + 16 * j, 16, 32, levels + 16 * j);
    const float abs_scale = std::fabs(scales[j]);
    if (abs_scale > max_abs_scale) {
      max_abs_scale = abs_scale;
      max_scale = scales[j];
    }
  }
  if (max_abs_scale < kGroupMaxEps) {
    std::memset(block, 0, sizeof(*block));
    return;
  }

  const float iscale = -128.0f / max_scale;
  block->d = F32ToF16(1 / iscale);
  for (int j = 0; j < 16; ++j) {
    block->scales[j] = static_cast<int8_t>(std::min(127, RoundHalfEven(iscale * scales[j])));
  }

  // Requantize against the rounded scales; a sub-block whose scale rounded to zero
  // keeps the levels from its fit.
  for (int j = 0; j < 16; ++j) {
    const float d = F16ToF32(block->d) * static_cast<float>(block->scales[j]);
    if (d == 0) continue;
    for (int i = 0; i < 16; ++i) {
      levels[16 * j + i] = static_cast<int8_t>(Clamp(RoundHalfEven(x[16 * j + i] / d), -32, 31) + 32);
    }
  }

  for (int half = 0; half < 2; ++half) {
    const int8_t* lv = levels + 128 * half;
    uint8_t* ql = block->ql + 64 * half;
    uint8_t* qh = block->qh + 32 * half;
    for (int l = 0; l < 32; ++l) {
      ql[l] = static_cast<uint8_t>((lv[l] & 0xF) | ((lv[l + 64] & 0xF) << 4));
      ql[l + 32] = static_cast<uint8_t>((lv[l + 32] & 0xF) | ((lv[l + 96] & 0xF) << 4));
      qh[l] = static_cast<uint8_t>((lv[l] >> 4) | ((lv[l + 32] >> 4) << 2) | ((lv[l + 64] >> 4) << 4) |
                                   ((lv[l + 96] >> 4) << 6));
    }
  }
}

}  // namespace

// ---------------------------------------------------------------- Q8_0

void DequantizeRowQ8_0(const BlockQ8_0* blocks, float* out, int64_t n) {
  FATHOM_CHECK(n >= 0 && n % kQ8_0BlockElems == 0);
  for (int64_t b = 0; b < n / kQ8_0BlockElems; ++b) {
    const float d = F16ToF32(blocks[b].d);
    float* y = out + b * kQ8_0BlockElems;  // (32)
    for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(blocks[b].qs[j]) * d;
  }
}

void QuantizeRowQ8_0(const float* x, BlockQ8_0* blocks, int64_t n) {
  FATHOM_CHECK(n >= 0 && n % kQ8_0BlockElems == 0);
  for (int64_t b = 0; b < n / kQ8_0BlockElems; ++b) {
    const float* xb = x + b * kQ8_0BlockElems;  // (32)
    float amax = 0;
    for (int j = 0; j < 32; ++j) {
      const float a = std::fabs(xb[j]);
      amax = amax > a ? amax : a;
    }
    const float d = amax / 127;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    blocks[b].d = F32ToF16(d);
    for (int j = 0; j < 32; ++j) {
      blocks[b].qs[j] = static_cast<int8_t>(TruncateToInt32(std::round(xb[j] * id)));
    }
  }
}

// ---------------------------------------------------------------- Q4_0

void DequantizeRowQ4_0(const BlockQ4_0* blocks, float* out, int64_t n) {
  FATHOM_CHECK(n >= 0 && n % kQ4_0BlockElems == 0);
  for (int64_t b = 0; b < n / kQ4_0BlockElems; ++b) {
    const float d = F16ToF32(blocks[b].d);
    float* y = out + b * kQ4_0BlockElems;  // (32)
    for (int j = 0; j < 16; ++j) {
      y[j] = static_cast<float>((blocks[b].qs[j] & 0x0F) - 8) * d;
      y[j + 16] = static_cast<float>((blocks[b].qs[j] >> 4) - 8) * d;
    }
  }
}

void QuantizeRowQ4_0(const float* x, BlockQ4_0* blocks, int64_t n) {
  FATHOM_CHECK(n >= 0 && n % kQ4_0BlockElems == 0);
  for (int64_t b = 0; b < n / kQ4_0BlockElems; ++b) {
    const float* xb = x + b * kQ4_0BlockElems;  // (32)
    // The signed value of largest magnitude (the first one on ties) maps to -8.
    float amax = 0;
    float max = 0;
    for (int j = 0; j < 32; ++j) {
      if (amax < std::fabs(xb[j])) {
        amax = std::fabs(xb[j]);
        max = xb[j];
      }
    }
    const float d = max / -8;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    blocks[b].d = F32ToF16(d);
    for (int j = 0; j < 16; ++j) {
      // Truncating x*id + 8.5 rounds half up; the reference narrows to int8 first.
      const auto q0 = static_cast<int8_t>(TruncateToInt32(xb[j] * id + 8.5f));
      const auto q1 = static_cast<int8_t>(TruncateToInt32(xb[j + 16] * id + 8.5f));
      const auto lo = static_cast<uint8_t>(std::min<int>(15, q0));
      const auto hi = static_cast<uint8_t>(std::min<int>(15, q1));
      blocks[b].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

// ---------------------------------------------------------------- Q4_K

void DequantizeRowQ4_K(const BlockQ4_K* blocks, float* out, int64_t n) {
  FATHOM_CHECK(n >= 0 && n % kQKBlockElems == 0);
  for (int64_t b = 0; b < n / kQKBlockElems; ++b) {
    const BlockQ4_K& block = blocks[b];
    const float d = F16ToF32(block.d);
    const float dmin = F16ToF32(block.dmin);
    float* y = out + b * kQKBlockElems;  // (256)
    for (int chunk = 0; chunk < 4; ++chunk) {
      const uint8_t* q = block.qs + 32 * chunk;
      for (int half = 0; half < 2; ++half) {
        uint8_t sc;
        uint8_t m;
        UnpackScaleMin(2 * chunk + half, block.scales, &sc, &m);
        const float scale = d * sc;
        const float min = dmin * m;
        float* ys = y + 64 * chunk + 32 * half;  // (32)
        for (int l = 0; l < 32; ++l) {
          const int level = half == 0 ? (q[l] & 0xF) : (q[l] >> 4);
          ys[l] = scale * static_cast<float>(level) - min;
        }
      }
    }
  }
}

void QuantizeRowQ4_K(const float* x, BlockQ4_K* blocks, int64_t n) {
  FATHOM_CHECK(n >= 0 && n % kQKBlockElems == 0);
  for (int64_t b = 0; b < n / kQKBlockElems; ++b) {
    QuantizeBlockQ4_K(x + b * kQKBlockElems, &blocks[b]);
  }
}

// ---------------------------------------------------------------- Q6_K

void DequantizeRowQ6_K(const BlockQ6_K* blocks, float* out, int64_t n) {
  FATHOM_CHECK(n >= 0 && n % kQKBlockElems == 0);
  for (int64_t b = 0; b < n / kQKBlockElems; ++b) {
    const BlockQ6_K& block = blocks[b];
    const float d = F16ToF32(block.d);
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = block.ql + 64 * half;
      const uint8_t* qh = block.qh + 32 * half;
      const int8_t* sc = block.scales + 8 * half;
      float* y = out + b * kQKBlockElems + 128 * half;  // (128)
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * static_cast<float>(sc[is]) * static_cast<float>(q1);
        y[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
        y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
        y[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
      }
    }
  }
}

void QuantizeRowQ6_K(const float* x, BlockQ6_K* blocks, int64_t n) {
  FATHOM_CHECK(n >= 0 && n % kQKBlockElems == 0);
  for (int64_t b = 0; b < n / kQKBlockElems; ++b) {
    QuantizeBlockQ6_K(x + b * kQKBlockElems, &blocks[b]);
  }
}

}  // namespace fathom

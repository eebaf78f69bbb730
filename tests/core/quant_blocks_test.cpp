// Q8_0 / Q4_0 / Q4_K / Q6_K: hand-built blocks with hand-computed values, hand-picked
// quantizer inputs with hand-computed bytes, error bounds on random data, and
// fixtures (tools/gen_quant_fixtures.py) from the gguf Python package and from ggml's
// reference quantizers that must match byte for byte and float for float.
#include "core/quant_blocks.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/float_formats.h"

namespace fathom {
namespace {

const std::string kFixtureDir = FATHOM_SOURCE_DIR "/tests/fixtures/quant/";

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path << " (regenerate with tools/gen_quant_fixtures.py)";
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<float> FloatsFromBytes(const std::string& bytes) {
  std::vector<float> v(bytes.size() / sizeof(float));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
  return v;
}

// Deterministic on every platform (std::normal_distribution is not): SplitMix64
// feeding Box-Muller.
class Gaussian {
 public:
  explicit Gaussian(uint64_t seed) : state_(seed) {}
  float Next() {
    const double u1 = (static_cast<double>(NextBits() >> 11) + 1.0) * 0x1.0p-53;
    const double u2 = static_cast<double>(NextBits() >> 11) * 0x1.0p-53;
    return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
  }

 private:
  uint64_t NextBits() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t state_;
};

std::vector<float> RandomRows(uint64_t seed, int64_t n) {
  Gaussian g(seed);
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    // Vary the scale per 256 values so blocks of very different magnitudes appear.
    const float scale = std::ldexp(1.0f, static_cast<int>((i / 256) % 21) - 10);
    x[static_cast<size_t>(i)] = g.Next() * scale;
  }
  return x;
}

// The most that storing |d| as F16 can change it: half an ulp, relative for normals
// and 2^-25 (half the smallest subnormal) below them.
float F16RoundingError(float d) { return std::max(std::fabs(d) * 0x1.0p-11f, 0x1.0p-25f); }

// ---------------------------------------------------------------- hand-built blocks

TEST(QuantBlocksTest, DequantizeQ8_0HandBuiltBlock) {
  BlockQ8_0 block{};
  block.d = 0x3800;  // 0.5
  const int8_t qs[8] = {0, 1, -1, 127, -128, 2, -3, 100};
  std::copy(qs, qs + 8, block.qs);
  float out[32];
  DequantizeRowQ8_0(&block, out, 32);
  const float expected[8] = {0.0f, 0.5f, -0.5f, 63.5f, -64.0f, 1.0f, -1.5f, 50.0f};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(out[i], expected[i]) << i;
  for (int i = 8; i < 32; ++i) EXPECT_EQ(out[i], 0.0f) << i;
}

TEST(QuantBlocksTest, DequantizeQ4_0HandBuiltBlock) {
  BlockQ4_0 block{};
  block.d = 0x4000;  // 2.0
  std::fill(block.qs, block.qs + 16, uint8_t{0x88});  // both nibbles 8 -> 0.0
  block.qs[0] = 0x8F;  // x[0] = (15 - 8) * 2 = 14, x[16] = 0
  block.qs[1] = 0x07;  // x[1] = (7 - 8) * 2 = -2, x[17] = (0 - 8) * 2 = -16
  block.qs[15] = 0xA3;  // x[15] = (3 - 8) * 2 = -10, x[31] = (10 - 8) * 2 = 4
  float out[32];
  DequantizeRowQ4_0(&block, out, 32);
  std::vector<float> expected(32, 0.0f);
  expected[0] = 14.0f;
  expected[1] = -2.0f;
  expected[17] = -16.0f;
  expected[15] = -10.0f;
  expected[31] = 4.0f;
  for (int i = 0; i < 32; ++i) EXPECT_EQ(out[i], expected[i]) << i;
}

TEST(QuantBlocksTest, DequantizeQ4_KHandBuiltBlock) {
  BlockQ4_K block{};
  block.d = 0x3C00;     // 1.0
  block.dmin = 0x3800;  // 0.5
  // Sub-block 0: scale 2, min 4 (the j < 4 layout).
  block.scales[0] = 2;
  block.scales[4] = 4;
  // Sub-block 5: scale 33 = 0b10'0001, min 18 = 0b01'0010 (the j >= 4 layout):
  // low nibbles in scales[9], top two bits in scales[1] and scales[5].
  block.scales[9] = 0x21;
  block.scales[1] = 0x80;  // sub-block 1 keeps scale 0
  block.scales[5] = 0x40;  // sub-block 1 keeps min 0
  block.qs[0] = 0x03;   // value 0 (low nibble, sub-block 0): 1*2*3 - 0.5*4 = 4
  block.qs[64] = 0x70;  // value 160 (high nibble of chunk 2, sub-block 5): 33*7 - 0.5*18 = 222
  std::vector<float> out(256);
  DequantizeRowQ4_K(&block, out.data(), 256);
  std::vector<float> expected(256, 0.0f);
  for (int i = 0; i < 32; ++i) expected[i] = -2.0f;      // level 0 in sub-block 0: -0.5*4
  for (int i = 160; i < 192; ++i) expected[i] = -9.0f;   // level 0 in sub-block 5: -0.5*18
  expected[0] = 4.0f;
  expected[160] = 222.0f;
  for (int i = 0; i < 256; ++i) EXPECT_EQ(out[i], expected[i]) << i;
}

TEST(QuantBlocksTest, DequantizeQ6_KHandBuiltBlock) {
  BlockQ6_K block{};
  block.d = 0x3400;  // 0.25
  block.scales[0] = 4;
  block.scales[1] = -2;
  block.scales[10] = 3;
  // Value 0: low 4 bits from ql[0] low nibble, high 2 bits from qh[0] bits 0-1.
  block.ql[0] = 0x05;
  block.qh[0] = 0x02;  // q = 5 | 2 << 4 = 37 -> 37 - 32 = 5 -> 0.25 * 4 * 5 = 5
  // Value 16: ql[16] low nibble and qh[16] bits 0-1; sub-block 1.
  block.ql[16] = 0x0F;
  block.qh[16] = 0x03;  // q = 63 -> 31 -> 0.25 * -2 * 31 = -15.5
  // Value 165 = 128 + 32 + 5: second half, ql[64 + 32 + 5] low nibble, qh[32 + 5]
  // bits 2-3; sub-block 10.
  block.ql[101] = 0x01;
  block.qh[37] = 0x04;  // q = 1 | 1 << 4 = 17 -> -15 -> 0.25 * 3 * -15 = -11.25
  std::vector<float> out(256);
  DequantizeRowQ6_K(&block, out.data(), 256);
  std::vector<float> expected(256, 0.0f);
  for (int i = 0; i < 16; ++i) expected[i] = -32.0f;     // q = 0 -> -32 * 0.25 * 4
  for (int i = 16; i < 32; ++i) expected[i] = 16.0f;     // -32 * 0.25 * -2
  for (int i = 160; i < 176; ++i) expected[i] = -24.0f;  // -32 * 0.25 * 3
  expected[0] = 5.0f;
  expected[16] = -15.5f;
  expected[165] = -11.25f;
  for (int i = 0; i < 256; ++i) EXPECT_EQ(out[i], expected[i]) << i;
}

// ---------------------------------------------------------------- hand-picked inputs

TEST(QuantBlocksTest, QuantizeQ8_0HandPickedInput) {
  // amax 127 gives d = 1 exactly, so each quant is roundf(x): ties away from zero.
  float x[32] = {0.0f, 1.0f, -1.0f, 127.0f, -127.0f, 0.5f, -0.5f, 63.5f, -2.5f, 2.49f};
  BlockQ8_0 block;
  QuantizeRowQ8_0(x, &block, 32);
  EXPECT_EQ(block.d, 0x3C00);
  const int8_t expected[10] = {0, 1, -1, 127, -127, 1, -1, 64, -3, 2};
  for (int i = 0; i < 10; ++i) EXPECT_EQ(block.qs[i], expected[i]) << i;
  for (int i = 10; i < 32; ++i) EXPECT_EQ(block.qs[i], 0) << i;

  // All zeros: d = 0, id = 0, every quant 0.
  float zeros[32] = {};
  QuantizeRowQ8_0(zeros, &block, 32);
  EXPECT_EQ(block.d, 0);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(block.qs[i], 0);
}

TEST(QuantBlocksTest, QuantizeQ4_0HandPickedInput) {
  // max = -8 (largest magnitude, negative) gives d = -8 / -8 = 1; q = trunc(x + 8.5).
  float x[32] = {};
  x[0] = -8.0f;   // q 0
  x[1] = 7.0f;    // q 15
  x[2] = 1.5f;    // q 10
  x[3] = -0.5f;   // q 8
  x[4] = 0.49f;   // q 8
  x[16] = 4.0f;   // q 12
  x[17] = -7.5f;  // q 1
  BlockQ4_0 block;
  QuantizeRowQ4_0(x, &block, 32);
  EXPECT_EQ(block.d, 0x3C00);
  // qs[j] = q[j] | q[j + 16] << 4; zeros quantize to 8.
  EXPECT_EQ(block.qs[0], 0xC0);
  EXPECT_EQ(block.qs[1], 0x1F);
  EXPECT_EQ(block.qs[2], 0x8A);
  EXPECT_EQ(block.qs[3], 0x88);
  EXPECT_EQ(block.qs[4], 0x88);
  for (int j = 5; j < 16; ++j) EXPECT_EQ(block.qs[j], 0x88) << j;

  // Positive max 16: d = -2, id = -0.5; 16 -> trunc(0.5) = 0; -14 -> 15; -16 -> 16
  // clamps to 15.
  float y[32] = {};
  y[0] = 16.0f;
  y[1] = -14.0f;
  y[2] = -16.0f;
  QuantizeRowQ4_0(y, &block, 32);
  EXPECT_EQ(block.d, 0xC000);
  EXPECT_EQ(block.qs[0], 0x80);
  EXPECT_EQ(block.qs[1], 0x8F);
  EXPECT_EQ(block.qs[2], 0x8F);
}

TEST(QuantBlocksTest, QuantizeQ4_KAllZerosIsAllZeroBytes) {
  std::vector<float> x(256, 0.0f);
  BlockQ4_K block;
  std::memset(&block, 0xAB, sizeof(block));
  QuantizeRowQ4_K(x.data(), &block, 256);
  const auto* bytes = reinterpret_cast<const uint8_t*>(&block);
  for (size_t i = 0; i < sizeof(block); ++i) EXPECT_EQ(bytes[i], 0) << i;
}

TEST(QuantBlocksTest, QuantizeQ4_KExactlyRepresentableInput) {
  // Every sub-block holds all levels 0..15 times s = 63 / 64, so the fit is exact with
  // min 0, each 6-bit scale is 63 and d = s / 63 = 2^-6 is exact in F16.
  constexpr float kStep = 0.984375f;
  std::vector<float> x(256);
  for (int i = 0; i < 256; ++i) x[i] = static_cast<float>((i * 5) % 16) * kStep;
  BlockQ4_K block;
  QuantizeRowQ4_K(x.data(), &block, 256);
  EXPECT_EQ(block.d, 0x2400);  // 2^-6
  EXPECT_EQ(block.dmin, 0x0000);
  // Scales 63 = 0b11'1111: j < 4 in scales[0..3]; j >= 4 as low nibble 0xF in
  // scales[8..11] plus top bits 0b11 in bits 6-7 of scales[0..3]. Mins are all 0.
  const uint8_t expected_scales[12] = {0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0x0F, 0x0F, 0x0F, 0x0F};
  for (int i = 0; i < 12; ++i) EXPECT_EQ(block.scales[i], expected_scales[i]) << i;
  // qs[32c + l] packs value 64c + l (low) and 64c + l + 32 (high).
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      const int lo = ((64 * c + l) * 5) % 16;
      const int hi = ((64 * c + l + 32) * 5) % 16;
      EXPECT_EQ(block.qs[32 * c + l], lo | (hi << 4)) << c << "," << l;
    }
  }
  std::vector<float> y(256);
  DequantizeRowQ4_K(&block, y.data(), 256);
  EXPECT_EQ(y, x);
  // Idempotent: quantizing the dequantized values gives the same bytes.
  BlockQ4_K again;
  QuantizeRowQ4_K(y.data(), &again, 256);
  EXPECT_EQ(std::memcmp(&again, &block, sizeof(block)), 0);
}

TEST(QuantBlocksTest, QuantizeQ6_KAllZerosIsAllZeroBytes) {
  std::vector<float> x(256, 0.0f);
  BlockQ6_K block;
  std::memset(&block, 0xAB, sizeof(block));
  QuantizeRowQ6_K(x.data(), &block, 256);
  const auto* bytes = reinterpret_cast<const uint8_t*>(&block);
  for (size_t i = 0; i < sizeof(block); ++i) EXPECT_EQ(bytes[i], 0) << i;
}

TEST(QuantBlocksTest, QuantizeQ6_KExactlyRepresentableInput) {
  // Integers in [-32, 31] with -32 in every sub-block: the fit is exact with scale 1.
  // The super-scale maps the largest scale to -128: d = 1 / (-128 / 1) = -2^-7
  // (F16 0xA000) and every 8-bit scale is -128 (0x80), so d * scale = 1 exactly.
  std::vector<float> x(256);
  for (int i = 0; i < 256; ++i) {
    x[i] = i % 16 == 0 ? -32.0f : static_cast<float>((i * 7) % 63 - 31);
  }
  BlockQ6_K block;
  QuantizeRowQ6_K(x.data(), &block, 256);
  EXPECT_EQ(block.d, 0xA000);
  for (int j = 0; j < 16; ++j) EXPECT_EQ(block.scales[j], -128) << j;
  // Value 0 is -32 -> q = 0; value 1 is 7 - 31 = -24 -> q = 8: low nibble 8 in ql[1],
  // high bits 0 in qh[1]. Value 65 = (455 % 63) - 31 = -17 -> q = 15: ql[1] high
  // nibble 0xF. Value 97 = (679 % 63) - 31 = 18 -> q = 50 = 0b11'0010: ql[33] high
  // nibble 2, qh[1] bits 6-7 = 3.
  EXPECT_EQ(block.ql[0] & 0x0F, 0);
  EXPECT_EQ(block.ql[1], 0xF8);
  EXPECT_EQ(block.ql[33] >> 4, 2);
  EXPECT_EQ(block.qh[1] >> 6, 3);
  std::vector<float> y(256);
  DequantizeRowQ6_K(&block, y.data(), 256);
  EXPECT_EQ(y, x);
  BlockQ6_K again;
  QuantizeRowQ6_K(y.data(), &again, 256);
  EXPECT_EQ(std::memcmp(&again, &block, sizeof(block)), 0);
}

// ---------------------------------------------------------------- error bounds

TEST(QuantBlocksTest, Q8_0RoundTripErrorBound) {
  const int64_t n = 32 * 1024;
  const std::vector<float> x = RandomRows(1, n);
  std::vector<BlockQ8_0> blocks(static_cast<size_t>(n / 32));
  std::vector<float> y(static_cast<size_t>(n));
  QuantizeRowQ8_0(x.data(), blocks.data(), n);
  DequantizeRowQ8_0(blocks.data(), y.data(), n);
  for (int64_t b = 0; b < n / 32; ++b) {
    float amax = 0;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[b * 32 + i]));
    // Half a step, plus up to 127 times the F16 rounding error of d.
    const float d = amax / 127;
    const float bound = (0.5f * d + 127 * F16RoundingError(d)) * 1.001f;
    for (int i = 0; i < 32; ++i) ASSERT_LE(std::fabs(x[b * 32 + i] - y[b * 32 + i]), bound) << b << "," << i;
  }
}

TEST(QuantBlocksTest, Q4_0RoundTripErrorBound) {
  const int64_t n = 32 * 1024;
  const std::vector<float> x = RandomRows(2, n);
  std::vector<BlockQ4_0> blocks(static_cast<size_t>(n / 32));
  std::vector<float> y(static_cast<size_t>(n));
  QuantizeRowQ4_0(x.data(), blocks.data(), n);
  DequantizeRowQ4_0(blocks.data(), y.data(), n);
  for (int64_t b = 0; b < n / 32; ++b) {
    float amax = 0;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[b * 32 + i]));
    // One full step at most (+|max| maps to level 8, which clamps to 7), plus up to
    // 8 times the F16 rounding error of d.
    const float d = amax / 8;
    const float bound = (d + 8 * F16RoundingError(d)) * 1.001f;
    for (int i = 0; i < 32; ++i) ASSERT_LE(std::fabs(x[b * 32 + i] - y[b * 32 + i]), bound) << b << "," << i;
  }
}

TEST(QuantBlocksTest, Q4_KRoundTripErrorBound) {
  const int64_t n = 256 * 256;
  const std::vector<float> x = RandomRows(3, n);
  std::vector<BlockQ4_K> blocks(static_cast<size_t>(n / 256));
  std::vector<float> y(static_cast<size_t>(n));
  QuantizeRowQ4_K(x.data(), blocks.data(), n);
  DequantizeRowQ4_K(blocks.data(), y.data(), n);
  double err2 = 0;
  double x2 = 0;
  for (int64_t s = 0; s < n / 32; ++s) {
    float lo = 0;  // the format's min is never positive
    float hi = -INFINITY;
    for (int i = 0; i < 32; ++i) {
      lo = std::min(lo, x[s * 32 + i]);
      hi = std::max(hi, x[s * 32 + i]);
    }
    // 15 steps span the sub-block's range; allow 1.5 steps for the 6-bit scale and min.
    const float bound = 0.1f * (hi - lo);
    for (int i = 0; i < 32; ++i) {
      const double e = x[s * 32 + i] - y[s * 32 + i];
      ASSERT_LE(std::fabs(e), bound) << s << "," << i;
      err2 += e * e;
      x2 += static_cast<double>(x[s * 32 + i]) * x[s * 32 + i];
    }
  }
  EXPECT_LT(std::sqrt(err2 / x2), 0.08);
}

TEST(QuantBlocksTest, Q6_KRoundTripErrorBound) {
  const int64_t n = 256 * 256;
  const std::vector<float> x = RandomRows(4, n);
  std::vector<BlockQ6_K> blocks(static_cast<size_t>(n / 256));
  std::vector<float> y(static_cast<size_t>(n));
  QuantizeRowQ6_K(x.data(), blocks.data(), n);
  DequantizeRowQ6_K(blocks.data(), y.data(), n);
  double err2 = 0;
  double x2 = 0;
  for (int64_t s = 0; s < n / 16; ++s) {
    float amax = 0;
    for (int i = 0; i < 16; ++i) amax = std::max(amax, std::fabs(x[s * 16 + i]));
    // Half of one of 64 steps is amax/64; allow 2.5x for the 8-bit sub-block scale.
    const float bound = 0.04f * amax;
    for (int i = 0; i < 16; ++i) {
      const double e = x[s * 16 + i] - y[s * 16 + i];
      ASSERT_LE(std::fabs(e), bound) << s << "," << i;
      err2 += e * e;
      x2 += static_cast<double>(x[s * 16 + i]) * x[s * 16 + i];
    }
  }
  EXPECT_LT(std::sqrt(err2 / x2), 0.025);
}

// Requantizing already-quantized values must not drift: the second round trip stays
// within the first one's bounds of the values it started from.
TEST(QuantBlocksTest, KQuantsRequantizeWithoutDrift) {
  const int64_t n = 256 * 64;
  const std::vector<float> x = RandomRows(5, n);
  std::vector<float> y(static_cast<size_t>(n));
  std::vector<float> z(static_cast<size_t>(n));
  std::vector<BlockQ4_K> q4(static_cast<size_t>(n / 256));
  QuantizeRowQ4_K(x.data(), q4.data(), n);
  DequantizeRowQ4_K(q4.data(), y.data(), n);
  QuantizeRowQ4_K(y.data(), q4.data(), n);
  DequantizeRowQ4_K(q4.data(), z.data(), n);
  std::vector<BlockQ6_K> q6(static_cast<size_t>(n / 256));
  std::vector<float> y6(static_cast<size_t>(n));
  std::vector<float> z6(static_cast<size_t>(n));
  QuantizeRowQ6_K(x.data(), q6.data(), n);
  DequantizeRowQ6_K(q6.data(), y6.data(), n);
  QuantizeRowQ6_K(y6.data(), q6.data(), n);
  DequantizeRowQ6_K(q6.data(), z6.data(), n);
  for (int64_t b = 0; b < n / 256; ++b) {
    float amax = 0;
    for (int i = 0; i < 256; ++i) amax = std::max(amax, std::fabs(x[b * 256 + i]));
    for (int i = 0; i < 256; ++i) {
      ASSERT_LE(std::fabs(z[b * 256 + i] - y[b * 256 + i]), 0.05f * amax) << b << "," << i;
      ASSERT_LE(std::fabs(z6[b * 256 + i] - y6[b * 256 + i]), 0.02f * amax) << b << "," << i;
    }
  }
}

// ---------------------------------------------------------------- gguf fixtures

struct RowCodec {
  int64_t block_bytes;
  std::function<void(const void*, float*, int64_t)> dequantize;
  std::function<void(const float*, void*, int64_t)> quantize;
};

RowCodec CodecFor(const std::string& name) {
  if (name == "Q8_0") {
    return {sizeof(BlockQ8_0),
            [](const void* b, float* y, int64_t n) { DequantizeRowQ8_0(static_cast<const BlockQ8_0*>(b), y, n); },
            [](const float* x, void* b, int64_t n) { QuantizeRowQ8_0(x, static_cast<BlockQ8_0*>(b), n); }};
  }
  if (name == "Q4_0") {
    return {sizeof(BlockQ4_0),
            [](const void* b, float* y, int64_t n) { DequantizeRowQ4_0(static_cast<const BlockQ4_0*>(b), y, n); },
            [](const float* x, void* b, int64_t n) { QuantizeRowQ4_0(x, static_cast<BlockQ4_0*>(b), n); }};
  }
  if (name == "Q4_K") {
    return {sizeof(BlockQ4_K),
            [](const void* b, float* y, int64_t n) { DequantizeRowQ4_K(static_cast<const BlockQ4_K*>(b), y, n); },
            [](const float* x, void* b, int64_t n) { QuantizeRowQ4_K(x, static_cast<BlockQ4_K*>(b), n); }};
  }
  if (name == "Q6_K") {
    return {sizeof(BlockQ6_K),
            [](const void* b, float* y, int64_t n) { DequantizeRowQ6_K(static_cast<const BlockQ6_K*>(b), y, n); },
            [](const float* x, void* b, int64_t n) { QuantizeRowQ6_K(x, static_cast<BlockQ6_K*>(b), n); }};
  }
  ADD_FAILURE() << "fixture names unknown type " << name;
  return {};
}

nlohmann::json ReadManifest() {
  return nlohmann::json::parse(ReadFileOrDie(kFixtureDir + "manifest.json"));
}

// Quantizer bytes from gguf.quants (Q8_0, Q4_0) and from ggml's own *_ref
// quantizers (all four types; ggml 0.13.1's libggml-base, see the generator).
TEST(QuantBlocksFixtureTest, QuantizeMatchesReferenceBytes) {
  const nlohmann::json manifest = ReadManifest();
  std::set<std::string> covered;
  for (const auto& entry : manifest["quantize"]) {
    const std::string type = entry["type"];
    covered.insert(type);
    SCOPED_TRACE(type + " from " + std::string(entry["source"]));
    const RowCodec codec = CodecFor(type);
    const int64_t n = entry["num_elements"];
    const std::vector<float> x = FloatsFromBytes(ReadFileOrDie(kFixtureDir + std::string(entry["input"])));
    const std::string expected = ReadFileOrDie(kFixtureDir + std::string(entry["expected"]));
    ASSERT_EQ(static_cast<int64_t>(x.size()), n);
    const int64_t block_elems = GetDTypeInfo(*DTypeFromName(type)).block_elems;
    ASSERT_EQ(static_cast<int64_t>(expected.size()), n / block_elems * codec.block_bytes);
    std::vector<uint8_t> actual(expected.size());
    codec.quantize(x.data(), actual.data(), n);
    for (size_t b = 0; b < actual.size() / codec.block_bytes; ++b) {
      const size_t at = b * codec.block_bytes;
      EXPECT_EQ(std::memcmp(actual.data() + at, expected.data() + at, codec.block_bytes), 0) << "block " << b;
    }
  }
  EXPECT_EQ(covered, (std::set<std::string>{"Q8_0", "Q4_0", "Q4_K", "Q6_K"}));
}

TEST(QuantBlocksFixtureTest, DequantizeMatchesGgufFloats) {
  const nlohmann::json manifest = ReadManifest();
  ASSERT_EQ(manifest["dequantize"].size(), 4u);
  for (const auto& entry : manifest["dequantize"]) {
    const std::string type = entry["type"];
    SCOPED_TRACE(type);
    const RowCodec codec = CodecFor(type);
    const int64_t n = entry["num_elements"];
    const std::string blocks = ReadFileOrDie(kFixtureDir + std::string(entry["blocks"]));
    const std::vector<float> expected = FloatsFromBytes(ReadFileOrDie(kFixtureDir + std::string(entry["expected"])));
    ASSERT_EQ(static_cast<int64_t>(expected.size()), n);
    // Copy into aligned storage: the row functions take typed block pointers.
    std::vector<uint16_t> aligned(blocks.size() / 2 + 1);
    std::memcpy(aligned.data(), blocks.data(), blocks.size());
    std::vector<float> actual(static_cast<size_t>(n));
    codec.dequantize(aligned.data(), actual.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(std::bit_cast<uint32_t>(actual[i]), std::bit_cast<uint32_t>(expected[i]))
          << "element " << i << ": " << actual[i] << " vs " << expected[i];
    }
  }
}

// GGML_QUANT_SIZES from the gguf package against fathom's DType table.
TEST(QuantBlocksFixtureTest, DTypeTableMatchesGgmlQuantSizes) {
  const nlohmann::json sizes = nlohmann::json::parse(ReadFileOrDie(kFixtureDir + "ggml_quant_sizes.json"));
  int checked = 0;
  for (int i = 0; i < static_cast<int>(DType::kCount); ++i) {
    const DTypeInfo& info = GetDTypeInfo(static_cast<DType>(i));
    if (info.ggml_type < 0) continue;
    SCOPED_TRACE(std::string(info.name));
    const std::string name(info.name);
    ASSERT_TRUE(sizes.contains(name)) << "gguf has no type named " << name;
    const auto& entry = sizes[name];
    EXPECT_EQ(entry["type"].get<int>(), info.ggml_type);
    EXPECT_EQ(entry["block_elems"].get<int64_t>(), info.block_elems);
    if (info.dtype == DType::kQ8_1) {
      // gguf-py still lists Q8_1 with the old float32 d and s (4 + 4 + 32 = 40);
      // ggml's block_q8_1 has been two F16 fields plus 32 quants (36) for years, and
      // Q8_1 only ever exists as a matmul intermediate, never in a GGUF file.
      EXPECT_EQ(entry["block_bytes"].get<int64_t>(), 40);
      EXPECT_EQ(info.block_bytes, 36);
    } else {
      EXPECT_EQ(entry["block_bytes"].get<int64_t>(), info.block_bytes);
    }
    ++checked;
  }
  EXPECT_EQ(checked, static_cast<int>(sizes.size()));  // every gguf type is in our table
}

}  // namespace
}  // namespace fathom

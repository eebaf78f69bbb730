// The row-wise kernels against their formulas evaluated in double: RMSNorm as
// transformers' LlamaRMSNorm, silu(gate) * up, and softmax with its -inf cases.
#include "kernels/cpu/elementwise.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "tests/kernels/cpu/kernel_test_util.h"

namespace fathom::cpu {
namespace {

using testing_util::RandomFloats;

TEST(RmsNormTest, MatchesFormula) {
  const float eps = 1e-5f;
  for (int64_t dim : {1, 7, 64, 130}) {
    const int64_t rows = 3;
    std::vector<float> x = RandomFloats(rows * dim, -3.0f, 3.0f, static_cast<uint32_t>(dim));
    x[0] *= 100.0f;  // one large value per first row: the mean must not overflow or lose it
    const std::vector<float> w = RandomFloats(dim, 0.5f, 1.5f, 17);
    std::vector<float> y(rows * dim);
    RmsNorm(x.data(), w.data(), rows, dim, eps, y.data());
    for (int64_t r = 0; r < rows; ++r) {
      double sum_sq = 0.0;
      for (int64_t i = 0; i < dim; ++i) sum_sq += static_cast<double>(x[r * dim + i]) * x[r * dim + i];
      const double inv = 1.0 / std::sqrt(sum_sq / dim + eps);
      for (int64_t i = 0; i < dim; ++i) {
        const double want = x[r * dim + i] * inv * w[i];
        EXPECT_NEAR(y[r * dim + i], want, 1e-6 * (std::abs(want) + 1e-3)) << "dim=" << dim << " row=" << r;
      }
    }
    // In place gives the same bits.
    std::vector<float> in_place = x;
    RmsNorm(in_place.data(), w.data(), rows, dim, eps, in_place.data());
    EXPECT_EQ(in_place, y);
  }
}

TEST(RmsNormTest, ZeroRowGivesZerosThanksToEps) {
  const std::vector<float> x(8, 0.0f), w(8, 1.0f);
  std::vector<float> y(8, 1.0f);
  RmsNorm(x.data(), w.data(), 1, 8, 1e-6f, y.data());
  for (float v : y) EXPECT_EQ(v, 0.0f);
}

TEST(SiluMulTest, MatchesFormula) {
  std::vector<float> gate = RandomFloats(37, -8.0f, 8.0f, 3);
  gate.insert(gate.end(), {0.0f, -0.0f, 30.0f, -30.0f, 100.0f, -100.0f});
  const std::vector<float> up = RandomFloats(static_cast<int64_t>(gate.size()), -2.0f, 2.0f, 4);
  const int64_t n = static_cast<int64_t>(gate.size());
  std::vector<float> out(n);
  SiluMul(gate.data(), up.data(), n, out.data());
  for (int64_t i = 0; i < n; ++i) {
    const double g = gate[i];
    const double want = g / (1.0 + std::exp(-g)) * up[i];
    ASSERT_TRUE(std::isfinite(out[i])) << "gate " << g;
    EXPECT_NEAR(out[i], want, 1e-6 * (std::abs(want) + 1e-6)) << "gate " << g;
  }
  std::vector<float> aliased = gate;
  SiluMul(aliased.data(), up.data(), n, aliased.data());
  EXPECT_EQ(aliased, out);
}

TEST(ElementwiseTest, AddInPlaceAndAxpy) {
  std::vector<float> y = {1.0f, 2.0f, 3.0f};
  const std::vector<float> x = {0.5f, -1.0f, 4.0f};
  AddInPlace(y.data(), x.data(), 3);
  EXPECT_EQ(y, (std::vector<float>{1.5f, 1.0f, 7.0f}));
  Axpy(-2.0f, x.data(), 3, y.data());
  EXPECT_EQ(y, (std::vector<float>{0.5f, 3.0f, -1.0f}));
}

TEST(SoftmaxTest, SumsToOneAndMatchesFormula) {
  for (int64_t n : {1, 2, 5, 33, 200}) {
    std::vector<float> x = RandomFloats(n, -20.0f, 20.0f, static_cast<uint32_t>(n));
    const std::vector<float> in = x;
    SoftmaxInPlace(x.data(), n);
    const double max = *std::max_element(in.begin(), in.end());
    double denom = 0.0;
    for (float v : in) denom += std::exp(v - max);
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      EXPECT_NEAR(x[i], std::exp(in[i] - max) / denom, 1e-6) << "n=" << n;
      EXPECT_GE(x[i], 0.0f);
      sum += x[i];
    }
    EXPECT_NEAR(sum, 1.0, 1e-5) << "n=" << n;
  }
}

TEST(SoftmaxTest, LargeLogitsDoNotOverflow) {
  std::vector<float> x = {1000.0f, 999.0f, -1000.0f};
  SoftmaxInPlace(x.data(), 3);
  EXPECT_NEAR(x[0], 1.0 / (1.0 + std::exp(-1.0)), 1e-6);
  EXPECT_NEAR(x[1], std::exp(-1.0) / (1.0 + std::exp(-1.0)), 1e-6);
  EXPECT_EQ(x[2], 0.0f);
}

TEST(SoftmaxTest, MinusInfinityGetsZero) {
  std::vector<float> x = {-INFINITY, 0.0f, -INFINITY, std::log(3.0f)};
  SoftmaxInPlace(x.data(), 4);
  EXPECT_EQ(x[0], 0.0f);
  EXPECT_EQ(x[2], 0.0f);
  EXPECT_NEAR(x[1], 0.25, 1e-7);
  EXPECT_NEAR(x[3], 0.75, 1e-7);
}

// A fully masked row has no distribution; zeros (not NaN) keep a masked
// attention row from poisoning the output.
TEST(SoftmaxTest, AllMinusInfinityGivesZeros) {
  std::vector<float> x(5, -INFINITY);
  SoftmaxInPlace(x.data(), 5);
  for (float v : x) EXPECT_EQ(v, 0.0f);
}

TEST(SoftmaxTest, EmptyIsANoOp) {
  float x = 42.0f;
  SoftmaxInPlace(&x, 0);
  EXPECT_EQ(x, 42.0f);
}

}  // namespace
}  // namespace fathom::cpu

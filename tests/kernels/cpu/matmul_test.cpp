// MatMul, WeightRowsToF32 and Dot against scalar double-precision references on
// awkward sizes (odd, prime, just past the 16-lane and 16-row blocks), for every
// weight dtype the kernel accepts and more than one thread count.
#include "kernels/cpu/matmul.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "core/float_formats.h"
#include "kernels/cpu/isa.h"
#include "tests/kernels/cpu/kernel_test_util.h"

namespace fathom::cpu {
namespace {

// A (rows, cols) weight of `dtype` holding random values, with the float32 value
// of every element as the kernel must read it.
struct TestWeight {
  std::vector<float> values;     // (rows, cols): the stored values, widened exactly
  std::vector<uint8_t> storage;  // the stored bytes
  Tensor tensor;                 // a view of storage
};

TestWeight MakeWeight(DType dtype, int64_t rows, int64_t cols, std::mt19937& rng) {
  TestWeight w;
  w.values = testing_util::RandomFloats(rows * cols, -1.0f, 1.0f, rng);
  const size_t elem = dtype == DType::kF32 ? 4 : 2;
  w.storage.resize(w.values.size() * elem);
  for (size_t i = 0; i < w.values.size(); ++i) {
    if (dtype == DType::kF32) {
      std::memcpy(&w.storage[i * 4], &w.values[i], 4);
    } else {
      const uint16_t h = dtype == DType::kF16 ? F32ToF16(w.values[i]) : F32ToBF16(w.values[i]);
      w.values[i] = dtype == DType::kF16 ? F16ToF32(h) : BF16ToF32(h);
      std::memcpy(&w.storage[i * 2], &h, 2);
    }
  }
  w.tensor = *Tensor::View(dtype, {rows, cols}, w.storage.data());
  return w;
}

std::vector<float> RandomFloats(int64_t n, std::mt19937& rng) {
  return testing_util::RandomFloats(n, -2.0f, 2.0f, rng);
}

// The worst-case error of summing `terms` float32 products in any order,
// relative to the sum of their magnitudes: (terms + 1) units of roundoff.
double ErrorBound(int64_t terms, double magnitude) { return static_cast<double>(terms + 1) * 0x1p-24 * magnitude; }

constexpr DType kWeightDTypes[] = {DType::kF32, DType::kF16, DType::kBF16};

TEST(MatMulTest, AcceptsTheFloatAndKernelQuantizedWeightDTypes) {
  for (DType d : kWeightDTypes) EXPECT_TRUE(IsMatMulDType(d)) << DTypeName(d);
  for (DType d : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ6_K}) EXPECT_TRUE(IsMatMulDType(d));
  for (DType d : {DType::kF64, DType::kF8E4M3, DType::kI32, DType::kQ4_1, DType::kQ5_K}) {
    EXPECT_FALSE(IsMatMulDType(d)) << DTypeName(d);
  }
}

TEST(MatMulTest, MatchesDoubleReferenceOnAwkwardSizes) {
  std::mt19937 rng(1234);
  ThreadPool pool1(1), pool3(3);
  for (DType dtype : kWeightDTypes) {
    for (int64_t m : {1, 3, 17}) {
      for (int64_t k : {1, 7, 33, 130}) {
        for (int64_t n : {1, 5, 16, 17, 40}) {
          const TestWeight w = MakeWeight(dtype, n, k, rng);
          const std::vector<float> x = RandomFloats(m * k, rng);
          const std::vector<float> bias = RandomFloats(n, rng);
          for (bool with_bias : {false, true}) {
            // Exactly m * n floats, so a write past the end shows under ASan.
            std::vector<float> y1(m * n), y3(m * n);
            MatMul(pool1, x.data(), m, k, w.tensor, with_bias ? bias.data() : nullptr, y1.data());
            MatMul(pool3, x.data(), m, k, w.tensor, with_bias ? bias.data() : nullptr, y3.data());
            for (int64_t i = 0; i < m; ++i) {
              for (int64_t j = 0; j < n; ++j) {
                double want = with_bias ? bias[j] : 0.0, scale = with_bias ? std::abs(bias[j]) : 0.0;
                for (int64_t l = 0; l < k; ++l) {
                  want += static_cast<double>(x[i * k + l]) * w.values[j * k + l];
                  scale += std::abs(static_cast<double>(x[i * k + l]) * w.values[j * k + l]);
                }
                ASSERT_LE(std::abs(y1[i * n + j] - want), ErrorBound(k + 1, scale))
                    << DTypeName(dtype) << " m=" << m << " k=" << k << " n=" << n << " bias=" << with_bias << " at ("
                    << i << ", " << j << ")";
              }
            }
            // Each output is one row's dot product, however the rows are split.
            ASSERT_EQ(y1, y3) << DTypeName(dtype) << " m=" << m << " k=" << k << " n=" << n;
          }
        }
      }
    }
  }
}

// F16 widening is exact on every path (F16C or scalar), so results agree bitwise.
TEST(MatMulTest, F16IsIdenticalOnEveryIsa) {
  std::mt19937 rng(8);
  ThreadPool pool(2);
  const TestWeight w = MakeWeight(DType::kF16, 37, 67, rng);
  const std::vector<float> x = RandomFloats(3 * 67, rng);
  std::vector<float> want(3 * 37);
  {
    ScopedIsaOverride scalar(Isa::kScalar);
    MatMul(pool, x.data(), 3, 67, w.tensor, nullptr, want.data());
  }
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
    if (isa > DetectedIsa()) continue;
    ScopedIsaOverride force(isa);
    std::vector<float> got(3 * 37);
    MatMul(pool, x.data(), 3, 67, w.tensor, nullptr, got.data());
    EXPECT_EQ(got, want) << IsaName(isa);
  }
}

TEST(MatMulTest, WeightRowsToF32IsExactForEveryDType) {
  std::mt19937 rng(99);
  for (DType dtype : kWeightDTypes) {
    const TestWeight w = MakeWeight(dtype, 21, 19, rng);
    for (int64_t begin : {0, 1, 20}) {
      for (int64_t rows : {int64_t{1}, 21 - begin}) {
        std::vector<float> dst(rows * 19);
        WeightRowsToF32(w.tensor, begin, rows, dst.data());
        for (int64_t i = 0; i < rows * 19; ++i) {
          ASSERT_EQ(std::bit_cast<uint32_t>(dst[i]), std::bit_cast<uint32_t>(w.values[begin * 19 + i]))
              << DTypeName(dtype) << " row " << begin << " + " << i / 19;
        }
      }
    }
  }
}

// Values whose widening is easy to get wrong: signed zero, subnormals, the
// largest finite value, infinities and NaN keep their exact bits.
TEST(MatMulTest, WeightRowsToF32KeepsSpecialValues) {
  struct Case {
    uint16_t stored;
    uint32_t f32_bits;
  };
  const std::vector<Case> f16 = {{0x0000, 0x00000000}, {0x8000, 0x80000000}, {0x3C00, 0x3F800000},
                                 {0x0001, 0x33800000}, {0x03FF, 0x387FC000}, {0x7BFF, 0x477FE000},
                                 {0x7C00, 0x7F800000}, {0xFC00, 0xFF800000}, {0xC000, 0xC0000000}};
  const std::vector<Case> bf16 = {{0x0000, 0x00000000}, {0x8000, 0x80000000}, {0x3F80, 0x3F800000},
                                  {0x0001, 0x00010000}, {0x7F7F, 0x7F7F0000}, {0x7F80, 0x7F800000},
                                  {0xFF80, 0xFF800000}, {0x7FC1, 0x7FC10000}};
  for (auto [dtype, cases] : {std::pair{DType::kF16, f16}, std::pair{DType::kBF16, bf16}}) {
    std::vector<uint16_t> stored;
    for (const Case& c : cases) stored.push_back(c.stored);
    const Tensor t = *Tensor::View(dtype, {static_cast<int64_t>(stored.size()), 1}, stored.data());
    std::vector<float> dst(stored.size());
    WeightRowsToF32(t, 0, static_cast<int64_t>(stored.size()), dst.data());
    for (size_t i = 0; i < cases.size(); ++i) {
      EXPECT_EQ(std::bit_cast<uint32_t>(dst[i]), cases[i].f32_bits)
          << DTypeName(dtype) << " 0x" << std::hex << cases[i].stored;
    }
  }
  const std::vector<float> f32 = {0.0f, -0.0f, 1e-45f, -INFINITY, std::nanf("7")};
  const Tensor t = *Tensor::View(DType::kF32, {1, static_cast<int64_t>(f32.size())}, f32.data());
  std::vector<float> dst(f32.size());
  WeightRowsToF32(t, 0, 1, dst.data());
  for (size_t i = 0; i < f32.size(); ++i) EXPECT_EQ(std::bit_cast<uint32_t>(dst[i]), std::bit_cast<uint32_t>(f32[i]));
}

TEST(DotTest, MatchesDoubleReferenceForLengthsUpTo40) {
  std::mt19937 rng(5);
  for (int64_t n = 0; n <= 40; ++n) {
    const std::vector<float> a = RandomFloats(n, rng), b = RandomFloats(n, rng);
    double want = 0.0, scale = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      want += static_cast<double>(a[i]) * b[i];
      scale += std::abs(static_cast<double>(a[i]) * b[i]);
    }
    const float got = Dot(a.data(), b.data(), n);
    EXPECT_LE(std::abs(got - want), ErrorBound(n, scale)) << "n=" << n;
    if (n == 0) {
      EXPECT_EQ(got, 0.0f);
    }
  }
}

// Exact small integers make every partial sum exact, so any lane dropped or
// counted twice changes the result.
TEST(DotTest, EveryElementCountsOnce) {
  for (int64_t n = 1; n <= 40; ++n) {
    std::vector<float> a(n), b(n, 1.0f);
    for (int64_t i = 0; i < n; ++i) a[i] = static_cast<float>(i + 1);
    EXPECT_EQ(Dot(a.data(), b.data(), n), static_cast<float>(n * (n + 1) / 2)) << "n=" << n;
  }
}

}  // namespace
}  // namespace fathom::cpu

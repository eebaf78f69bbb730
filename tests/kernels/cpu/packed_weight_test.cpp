// PackedWeight and MatMul on it, for every quantized weight type on every ISA
// with panel kernels: the prepacked panels agree with the GGUF-block path to
// rounding (bit for bit where that path packs per call too, m >= 8), do not
// depend on the thread count, and are ignored under an ISA they were not
// packed for.
#include "kernels/cpu/packed_weight.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/convert.h"
#include "core/quant_blocks.h"
#include "kernels/cpu/isa.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/quant_matmul.h"
#include "tests/kernels/cpu/kernel_test_util.h"

namespace fathom::cpu {
namespace {

constexpr DType kQuantDTypes[] = {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ6_K};

// A quantized (rows, cols) weight: GGUF blocks, a view of them, and their values.
struct QuantWeight {
  std::vector<uint8_t> storage;  // (rows, row_bytes)
  Tensor tensor;
  std::vector<float> values;     // (rows, cols) dequantized
};

QuantWeight MakeQuantWeight(DType dtype, int64_t rows, int64_t cols, std::mt19937& rng) {
  QuantWeight w;
  const std::vector<float> src = testing_util::RandomFloats(rows * cols, -1.0f, 1.0f, rng);
  const int64_t row_bytes = *DTypeByteSize(dtype, cols);
  w.storage.resize(rows * row_bytes);
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = src.data() + r * cols;
    void* dst = w.storage.data() + r * row_bytes;
    switch (dtype) {
      case DType::kQ8_0: QuantizeRowQ8_0(x, static_cast<BlockQ8_0*>(dst), cols); break;
      case DType::kQ4_0: QuantizeRowQ4_0(x, static_cast<BlockQ4_0*>(dst), cols); break;
      case DType::kQ4_K: QuantizeRowQ4_K(x, static_cast<BlockQ4_K*>(dst), cols); break;
      default: QuantizeRowQ6_K(x, static_cast<BlockQ6_K*>(dst), cols); break;
    }
  }
  w.tensor = *Tensor::View(dtype, {rows, cols}, w.storage.data());
  w.values.resize(rows * cols);
  EXPECT_TRUE(ToFloat32(dtype, w.storage.data(), rows * cols, w.values.data()).ok());
  return w;
}

std::vector<Isa> PanelIsas() {
  std::vector<Isa> isas;
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
    if (isa <= DetectedIsa()) isas.push_back(isa);
  }
  return isas;
}

std::vector<float> RunMatMul(ThreadPool& pool, const std::vector<float>& x, int64_t m, int64_t k, const Tensor& w,
                       const PackedWeight* packed, const float* bias) {
  std::vector<float> y(m * w.dim(0));  // (m, n), exactly, so ASan sees a write past the end
  MatMul(pool, x.data(), m, k, w, packed, bias, y.data());
  return y;
}

// Ks per type: one block, a few, and enough that the 32 KiB k-chunks split.
std::vector<int64_t> KsFor(DType dtype) {
  return GetDTypeInfo(dtype).block_elems == 256 ? std::vector<int64_t>{256, 3072}
                                                : std::vector<int64_t>{32, 96, 1056};
}

TEST(PackedWeightTest, ScalarIsaAndFloatWeightsHaveNoPackedForm) {
  ThreadPool pool(1);
  std::mt19937 rng(3);
  const QuantWeight w = MakeQuantWeight(DType::kQ4_0, 7, 64, rng);
  {
    ScopedIsaOverride force(Isa::kScalar);
    EXPECT_FALSE(PackedWeight::Pack(pool, w.tensor).has_value());
  }
  std::vector<float> f(7 * 64);
  EXPECT_FALSE(PackedWeight::Pack(pool, *Tensor::View(DType::kF32, {7, 64}, f.data())).has_value());
}

TEST(PackedWeightTest, PanelsAreAlignedAndSized) {
  ThreadPool pool(2);
  std::mt19937 rng(4);
  for (Isa isa : PanelIsas()) {
    ScopedIsaOverride force(isa);
    for (DType dtype : kQuantDTypes) {
      const int64_t k = KsFor(dtype).back();
      const QuantWeight w = MakeQuantWeight(dtype, 33, k, rng);
      const std::optional<PackedWeight> pw = PackedWeight::Pack(pool, w.tensor);
      ASSERT_TRUE(pw.has_value()) << DTypeName(dtype);
      EXPECT_EQ(pw->isa(), isa);
      EXPECT_EQ(pw->dtype(), dtype);
      EXPECT_EQ(pw->num_panels(), 2);
      EXPECT_EQ(pw->num_blocks(), k / GetDTypeInfo(dtype).block_elems);
      EXPECT_EQ(reinterpret_cast<uintptr_t>(pw->panel(0)) % 64, 0u);
      EXPECT_EQ(reinterpret_cast<uintptr_t>(pw->panel(1)) % 64, 0u);
    }
  }
}

TEST(PackedWeightTest, MatchesQuantMatMulOnEveryShapeAndThreadCount) {
  std::mt19937 rng(2025);
  ThreadPool pool1(1), pool3(3);
  for (Isa isa : PanelIsas()) {
    ScopedIsaOverride force(isa);
    for (DType dtype : kQuantDTypes) {
      for (int64_t k : KsFor(dtype)) {
        for (int64_t n : {1, 7, 33, 100}) {
          const QuantWeight w = MakeQuantWeight(dtype, n, k, rng);
          const std::optional<PackedWeight> pw = PackedWeight::Pack(pool3, w.tensor);
          ASSERT_TRUE(pw.has_value());
          const std::vector<float> bias = testing_util::RandomFloats(n, -1.0f, 1.0f, rng);
          for (int64_t m : {int64_t{1}, int64_t{2}, int64_t{3}, int64_t{5}, int64_t{9}, int64_t{17}, kQuantPackMinRows + 1}) {
            const std::string where = std::string(DTypeName(dtype)) + " isa=" + std::string(IsaName(isa)) +
                                      " m=" + std::to_string(m) + " k=" + std::to_string(k) +
                                      " n=" + std::to_string(n);
            const std::vector<float> x = testing_util::RandomFloats(m * k, -2.0f, 2.0f, rng);
            for (const float* b : {static_cast<const float*>(nullptr), bias.data()}) {
              const std::vector<float> want = RunMatMul(pool1, x, m, k, w.tensor, nullptr, b);
              const std::vector<float> got = RunMatMul(pool1, x, m, k, w.tensor, &*pw, b);
              // Relative to the sum of the products' magnitudes: sums differ only in order.
              for (int64_t i = 0; i < m; ++i) {
                for (int64_t j = 0; j < n; ++j) {
                  double magnitude = 0.0;
                  for (int64_t l = 0; l < k; ++l) magnitude += std::abs(x[i * k + l] * w.values[j * k + l]);
                  ASSERT_LE(std::abs(got[i * n + j] - want[i * n + j]), 1e-5 * magnitude + 1e-30)
                      << where << " at " << i << "," << j;
                }
              }
              // From kQuantPackMinRows on, the unpacked path packs the same panels in the same chunks.
              if (m >= kQuantPackMinRows) EXPECT_EQ(got, want) << where;
              EXPECT_EQ(RunMatMul(pool3, x, m, k, w.tensor, &*pw, b), got) << where;
            }
          }
        }
      }
    }
  }
}

TEST(PackedWeightTest, PackedUnderAnotherIsaFallsBack) {
  std::mt19937 rng(11);
  ThreadPool pool(2);
  const std::vector<Isa> panel_isas = PanelIsas();
  for (DType dtype : kQuantDTypes) {
    const int64_t k = KsFor(dtype).back();
    const QuantWeight w = MakeQuantWeight(dtype, 33, k, rng);
    for (Isa pack_isa : panel_isas) {
      std::optional<PackedWeight> pw;
      {
        ScopedIsaOverride force(pack_isa);
        pw = PackedWeight::Pack(pool, w.tensor);
      }
      ASSERT_TRUE(pw.has_value());
      for (Isa run_isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
        if (run_isa == pack_isa || run_isa > DetectedIsa()) continue;
        ScopedIsaOverride force(run_isa);
        for (int64_t m : {1, 3, 9}) {
          const std::vector<float> x = testing_util::RandomFloats(m * k, -2.0f, 2.0f, rng);
          EXPECT_EQ(RunMatMul(pool, x, m, k, w.tensor, &*pw, nullptr), RunMatMul(pool, x, m, k, w.tensor, nullptr, nullptr))
              << DTypeName(dtype) << " packed for " << IsaName(pack_isa) << " run on " << IsaName(run_isa);
        }
      }
    }
  }
}

}  // namespace
}  // namespace fathom::cpu

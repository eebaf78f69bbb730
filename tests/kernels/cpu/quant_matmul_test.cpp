// QuantMatMul (through MatMul) for every quantized weight type on every ISA this
// CPU runs: each vector path against the scalar one, the scalar one against
// double-precision products of the very integers it multiplies, and against the
// float32 product (activation quantization error only); bias, thread count
// independence, on shapes that leave partial tiles everywhere.
#include "kernels/cpu/quant_matmul.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/quant_blocks.h"
#include "kernels/cpu/isa.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/q8_activation.h"
#include "tests/kernels/cpu/kernel_test_util.h"

namespace fathom::cpu {
namespace {

constexpr DType kQuantDTypes[] = {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ6_K};

// A quantized (rows, cols) weight with its dequantized values.
struct QuantWeight {
  std::vector<uint8_t> storage;  // (rows, row_bytes) GGUF blocks
  std::vector<float> values;     // (rows, cols) dequantized
  Tensor tensor;                 // a view of storage
};

QuantWeight MakeQuantWeight(DType dtype, int64_t rows, int64_t cols, std::mt19937& rng) {
  QuantWeight w;
  const std::vector<float> src = testing_util::RandomFloats(rows * cols, -1.0f, 1.0f, rng);
  const int64_t row_bytes = *DTypeByteSize(dtype, cols);
  w.storage.resize(rows * row_bytes);
  w.values.resize(rows * cols);
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = src.data() + r * cols;
    void* dst = w.storage.data() + r * row_bytes;
    float* out = w.values.data() + r * cols;
    switch (dtype) {
      case DType::kQ8_0:
        QuantizeRowQ8_0(x, static_cast<BlockQ8_0*>(dst), cols);
        DequantizeRowQ8_0(static_cast<BlockQ8_0*>(dst), out, cols);
        break;
      case DType::kQ4_0:
        QuantizeRowQ4_0(x, static_cast<BlockQ4_0*>(dst), cols);
        DequantizeRowQ4_0(static_cast<BlockQ4_0*>(dst), out, cols);
        break;
      case DType::kQ4_K:
        QuantizeRowQ4_K(x, static_cast<BlockQ4_K*>(dst), cols);
        DequantizeRowQ4_K(static_cast<BlockQ4_K*>(dst), out, cols);
        break;
      default:
        QuantizeRowQ6_K(x, static_cast<BlockQ6_K*>(dst), cols);
        DequantizeRowQ6_K(static_cast<BlockQ6_K*>(dst), out, cols);
        break;
    }
  }
  w.tensor = *Tensor::View(dtype, {rows, cols}, w.storage.data());
  return w;
}

// The activations as the kernels see them after 8-bit quantization.
std::vector<float> QuantizedActivations(DType dtype, const std::vector<float>& x, int64_t m, int64_t k) {
  std::vector<float> out(m * k);
  for (int64_t i = 0; i < m; ++i) {
    if (GetDTypeInfo(dtype).block_elems == kActQ8KBlockElems) {
      std::vector<ActQ8KBlock> blocks(k / kActQ8KBlockElems);
      QuantizeActivationRowQ8K(x.data() + i * k, blocks.data(), k);
      DequantizeActivationRowQ8K(blocks.data(), out.data() + i * k, k);
    } else {
      std::vector<ActQ8Block> blocks(k / kActQ8BlockElems);
      QuantizeActivationRowQ8(x.data() + i * k, blocks.data(), k);
      DequantizeActivationRowQ8(blocks.data(), out.data() + i * k, k);
    }
  }
  return out;
}

// The vector ISAs this CPU has (the scalar path is the reference they are
// compared with, so it is not among them).
std::vector<Isa> VectorIsas() {
  std::vector<Isa> isas;
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
    if (isa <= DetectedIsa()) isas.push_back(isa);
  }
  if (isas.empty()) std::fprintf(stderr, "note: no AVX2 on this CPU; only the scalar kernels are tested\n");
  return isas;
}

std::vector<float> RunOnIsa(ThreadPool& pool, Isa isa, const std::vector<float>& x, int64_t m, int64_t k,
                       const Tensor& w, const float* bias) {
  ScopedIsaOverride force(isa);
  std::vector<float> y(m * w.dim(0));  // exactly m * n, so ASan sees a write past the end
  MatMul(pool, x.data(), m, k, w, bias, y.data());
  return y;
}

struct Shape {
  int64_t m, k, n;
};

std::vector<Shape> ShapesFor(DType dtype) {
  const bool k_quant = GetDTypeInfo(dtype).block_elems == kQKBlockElems;
  const std::vector<int64_t> ks = k_quant ? std::vector<int64_t>{256, 4 * 256, 3072} : std::vector<int64_t>{32, 96, 1056};
  std::vector<Shape> shapes;
  for (int64_t m : {1, 2, 3, 5, 17, 70}) {
    for (int64_t k : ks) {
      for (int64_t n : {1, 7, 33, 100}) {
        if (m * k * n <= 17 * 3072 * 100) shapes.push_back({m, k, n});
      }
    }
  }
  shapes.push_back({4, 3072, 9});
  return shapes;
}

TEST(QuantMatMulTest, AcceptsExactlyTheKernelDTypes) {
  for (DType d : kQuantDTypes) EXPECT_TRUE(IsQuantMatMulDType(d) && IsMatMulDType(d)) << DTypeName(d);
  for (DType d : {DType::kQ4_1, DType::kQ5_K, DType::kF16}) EXPECT_FALSE(IsQuantMatMulDType(d)) << DTypeName(d);
}

TEST(QuantMatMulTest, EveryIsaMatchesScalarAndScalarMatchesReference) {
  std::mt19937 rng(2024);
  ThreadPool pool(1);
  for (DType dtype : kQuantDTypes) {
    for (const Shape& s : ShapesFor(dtype)) {
      const std::string where = std::string(DTypeName(dtype)) + " m=" + std::to_string(s.m) +
                                " k=" + std::to_string(s.k) + " n=" + std::to_string(s.n);
      const QuantWeight w = MakeQuantWeight(dtype, s.n, s.k, rng);
      const std::vector<float> x = testing_util::RandomFloats(s.m * s.k, -2.0f, 2.0f, rng);
      const std::vector<float> xq = QuantizedActivations(dtype, x, s.m, s.k);
      const std::vector<float> scalar = RunOnIsa(pool, Isa::kScalar, x, s.m, s.k, w.tensor, nullptr);
      std::vector<double> magnitudes(s.m * s.n);  // (m, n): sum |x w|, the scale of each tolerance
      for (int64_t i = 0; i < s.m; ++i) {
        for (int64_t j = 0; j < s.n; ++j) {
          double want_q = 0.0, want_f = 0.0, magnitude = 0.0;
          for (int64_t l = 0; l < s.k; ++l) {
            const double wv = w.values[j * s.k + l];
            want_q += xq[i * s.k + l] * wv;
            want_f += x[i * s.k + l] * wv;
            magnitude += std::abs(x[i * s.k + l] * wv);
          }
          magnitudes[i * s.n + j] = magnitude;
          const double got = scalar[i * s.n + j];
          ASSERT_LE(std::abs(got - want_q), 1e-5 * magnitude + 1e-30) << where << " at " << i << "," << j;
          ASSERT_LE(std::abs(got - want_f), 1e-2 * magnitude + 1e-30) << where << " at " << i << "," << j;
        }
      }
      for (Isa isa : VectorIsas()) {
        const std::vector<float> got = RunOnIsa(pool, isa, x, s.m, s.k, w.tensor, nullptr);
        for (int64_t i = 0; i < s.m; ++i) {
          for (int64_t j = 0; j < s.n; ++j) {
            ASSERT_LE(std::abs(got[i * s.n + j] - scalar[i * s.n + j]), 1e-5 * magnitudes[i * s.n + j] + 1e-30)
                << where << " isa=" << IsaName(isa) << " at " << i << "," << j;
          }
        }
      }
    }
  }
}

TEST(QuantMatMulTest, BiasIsAddedAndThreadCountChangesNothing) {
  std::mt19937 rng(77);
  ThreadPool pool1(1), pool4(4);
  for (DType dtype : kQuantDTypes) {
    const int64_t k = GetDTypeInfo(dtype).block_elems * 5;
    for (const Shape& s : {Shape{1, k, 100}, Shape{3, k, 33}, Shape{70, k, 37}}) {
      const QuantWeight w = MakeQuantWeight(dtype, s.n, s.k, rng);
      const std::vector<float> x = testing_util::RandomFloats(s.m * s.k, -2.0f, 2.0f, rng);
      const std::vector<float> bias = testing_util::RandomFloats(s.n, -1.0f, 1.0f, rng);
      std::vector<Isa> isas = VectorIsas();
      isas.push_back(Isa::kScalar);
      for (Isa isa : isas) {
        const std::string where = std::string(DTypeName(dtype)) + " m=" + std::to_string(s.m) +
                                  " isa=" + std::string(IsaName(isa));
        const std::vector<float> plain = RunOnIsa(pool1, isa, x, s.m, s.k, w.tensor, nullptr);
        const std::vector<float> biased = RunOnIsa(pool1, isa, x, s.m, s.k, w.tensor, bias.data());
        for (int64_t i = 0; i < s.m * s.n; ++i) ASSERT_EQ(biased[i], plain[i] + bias[i % s.n]) << where;
        EXPECT_EQ(RunOnIsa(pool4, isa, x, s.m, s.k, w.tensor, bias.data()), biased) << where;
        EXPECT_EQ(RunOnIsa(pool4, isa, x, s.m, s.k, w.tensor, nullptr), plain) << where;
      }
    }
  }
}

TEST(QuantActivationTest, RoundTripIsWithinHalfAStepAndSumsAreExact) {
  std::mt19937 rng(5);
  const std::vector<float> x = testing_util::RandomFloats(512, -3.0f, 3.0f, rng);
  std::vector<ActQ8Block> b32(512 / 32);
  std::vector<ActQ8KBlock> b256(2);
  QuantizeActivationRowQ8(x.data(), b32.data(), 512);
  QuantizeActivationRowQ8K(x.data(), b256.data(), 512);
  std::vector<float> y32(512), y256(512);
  DequantizeActivationRowQ8(b32.data(), y32.data(), 512);
  DequantizeActivationRowQ8K(b256.data(), y256.data(), 512);
  for (int i = 0; i < 512; ++i) {
    EXPECT_LE(std::abs(y32[i] - x[i]), 0.5001f * b32[i / 32].d) << i;
    EXPECT_LE(std::abs(y256[i] - x[i]), 0.5001f * b256[i / 256].d) << i;
  }
  for (const ActQ8Block& b : b32) {
    int sum = 0;
    for (int8_t q : b.qs) sum += q;
    EXPECT_EQ(b.sum, sum);
  }
  for (const ActQ8KBlock& b : b256) {
    for (int j = 0; j < 16; ++j) {
      int sum = 0;
      for (int i = 0; i < 16; ++i) sum += b.qs[16 * j + i];
      EXPECT_EQ(b.bsums[j], sum);
    }
  }
  // All zeros quantize to zeros with a zero scale, not NaN.
  const std::vector<float> zeros(32, 0.0f);
  QuantizeActivationRowQ8(zeros.data(), b32.data(), 32);
  EXPECT_EQ(b32[0].d, 0.0f);
  for (int8_t q : b32[0].qs) EXPECT_EQ(q, 0);
}

// Every ISA's quantizer gives the scalar one's bytes: ties (x * 127 / amax
// exactly k + 0.5 when amax = 127), signed zeros, subnormals, and the garbage
// for NaN and infinities.
TEST(QuantActivationTest, EveryIsaGivesTheScalarBytes) {
  std::mt19937 rng(11);
  std::vector<float> x = testing_util::RandomFloats(1024, -3.0f, 3.0f, rng);
  x[0] = 127.0f;
  for (int i = 1; i < 32; ++i) x[i] = static_cast<float>(i % 9) - 4.5f;  // ties
  x[40] = -0.0f;
  x[41] = 1e-40f;
  x[300] = std::nanf("");
  x[600] = INFINITY;
  x[777] = -INFINITY;
  std::vector<ActQ8Block> want32(1024 / 32), got32(1024 / 32);
  std::vector<ActQ8KBlock> want256(4), got256(4);
  {
    ScopedIsaOverride scalar(Isa::kScalar);
    QuantizeActivationRowQ8(x.data(), want32.data(), 1024);
    QuantizeActivationRowQ8K(x.data(), want256.data(), 1024);
  }
  EXPECT_EQ(want32[0].qs[1], -4);  // -3.5 rounds to even
  EXPECT_EQ(want32[0].qs[2], -2);  // -2.5 too
  for (Isa isa : VectorIsas()) {
    ScopedIsaOverride force(isa);
    QuantizeActivationRowQ8(x.data(), got32.data(), 1024);
    QuantizeActivationRowQ8K(x.data(), got256.data(), 1024);
    EXPECT_EQ(std::memcmp(got32.data(), want32.data(), sizeof(ActQ8Block) * got32.size()), 0) << IsaName(isa);
    EXPECT_EQ(std::memcmp(got256.data(), want256.data(), sizeof(ActQ8KBlock) * got256.size()), 0) << IsaName(isa);
  }
}

}  // namespace
}  // namespace fathom::cpu

// CudaBackend's own ops against the CPU kernels and plain formulas, on awkward
// sizes (nothing a multiple of 32 that need not be): RMSNorm, SwiGLU, add, every
// MatMul path (float32 cuBLAS, 16-bit cuBLAS, the quantised GEMV and the widened
// bf16 tiles), the embedding gather, both rope styles, the logits-row gather and
// a decode step replayed from a CUDA graph. Skipped when no GPU is visible; the
// attention and MoE kernels have their own tests beside them.
#include "backend/cuda_backend.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "core/convert.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/rope.h"
#include "model/forward_context.h"
#include "model/kv_cache.h"

namespace fathom {
namespace {

#ifdef FATHOM_HAS_CUDA  // without CUDA: backend_test.cpp checks the Unsupported answer

std::vector<float> Random(int64_t n, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

class CudaBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<Backend>> b = CreateCudaBackend(0);
    if (!b.ok()) GTEST_SKIP() << b.status().message();
    backend_ = std::move(b).value();
  }

  // A device copy of v, alive for the test.
  float* Upload(const std::vector<float>& v) {
    Result<std::unique_ptr<DeviceBuffer>> buf = backend_->Allocate(static_cast<int64_t>(v.size() * sizeof(float)));
    EXPECT_TRUE(buf.ok()) << buf.status().ToString();
    backend_->CopyFromHost((*buf)->data(), v.data(), static_cast<int64_t>(v.size() * sizeof(float)));
    buffers_.push_back(std::move(buf).value());
    return buffers_.back()->as<float>();
  }
  float* Zeros(int64_t n) { return Upload(std::vector<float>(static_cast<size_t>(n), 0.0f)); }
  std::vector<float> Download(const float* d, int64_t n) {
    std::vector<float> v(static_cast<size_t>(n));
    backend_->CopyToHost(v.data(), d, n * static_cast<int64_t>(sizeof(float)));
    return v;
  }
  DeviceVector Vector(const std::vector<float>& v) {
    Result<DeviceVector> d = backend_->UploadVector(v);
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    return *d;
  }

  std::unique_ptr<Backend> backend_;
  std::vector<std::unique_ptr<DeviceBuffer>> buffers_;
};

TEST_F(CudaBackendTest, RmsNormSiluMulAddMatchTheCpu) {
  for (int64_t dim : {1, 7, 33, 130, 4097}) {
    const int64_t rows = 3;
    const std::vector<float> x = Random(rows * dim, -3.0f, 3.0f, static_cast<uint32_t>(dim));
    const std::vector<float> w = Random(dim, 0.5f, 1.5f, 7);
    std::vector<float> want(x.size());
    cpu::RmsNorm(x.data(), w.data(), rows, dim, 1e-5f, want.data());
    float* dx = Upload(x);
    backend_->RmsNorm(dx, Vector(w), rows, dim, 1e-5f, dx);  // in place
    const std::vector<float> got = Download(dx, rows * dim);
    for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5f * (std::abs(want[i]) + 1)) << dim;

    const std::vector<float> up = Random(rows * dim, -2.0f, 2.0f, 99);
    std::vector<float> want_silu(x.size()), want_add = x;
    cpu::SiluMul(x.data(), up.data(), rows * dim, want_silu.data());
    cpu::AddInPlace(want_add.data(), up.data(), rows * dim);
    float* gate = Upload(x);
    float* dup = Upload(up);
    float* sum = Upload(x);
    backend_->SiluMul(gate, dup, rows * dim, gate);
    backend_->Add(sum, dup, rows * dim);
    const std::vector<float> got_silu = Download(gate, rows * dim), got_add = Download(sum, rows * dim);
    for (size_t i = 0; i < x.size(); ++i) {
      EXPECT_NEAR(got_silu[i], want_silu[i], 1e-5f * (std::abs(want_silu[i]) + 1));
      EXPECT_EQ(got_add[i], want_add[i]);
    }
  }
  EXPECT_TRUE(backend_->FinishForward().ok());
}

TEST_F(CudaBackendTest, MatMulMatchesTheWidenedWeightsInEveryFormat) {
  const int64_t n = 37, k = 96;
  const std::vector<float> w = Random(n * k, -1.0f, 1.0f, 3);
  const std::vector<float> bias = Random(n, -1.0f, 1.0f, 4);
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0, DType::kQ4_K}) {
    const int64_t kk = dtype == DType::kQ4_K ? 256 : k;  // K-quants need whole 256-value blocks
    const std::vector<float> wk = Random(n * kk, -1.0f, 1.0f, 5);
    const std::vector<float>& src = dtype == DType::kQ4_K ? wk : w;
    Result<int64_t> num_bytes = DTypeByteSize(dtype, n * kk);
    ASSERT_TRUE(num_bytes.ok());
    std::vector<uint8_t> stored(static_cast<size_t>(*num_bytes));
    ASSERT_TRUE(FromFloat32(dtype, src.data(), n * kk, stored.data()).ok());
    std::vector<float> widened(src.size());  // what the GPU multiplies, up to its own rounding
    ASSERT_TRUE(ToFloat32(dtype, stored.data(), n * kk, widened.data()).ok());
    Result<Tensor> t = Tensor::View(dtype, {n, kk}, stored.data());
    ASSERT_TRUE(t.ok());
    Result<std::unique_ptr<BackendMatrix>> m = backend_->UploadMatrix(*t, nullptr);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    const bool exact_path = dtype == DType::kF32 || dtype == DType::kQ8_0 || dtype == DType::kQ4_0;
    for (int64_t rows : {1, 5, 9, 33, 40}) {
      const std::vector<float> x = Random(rows * kk, -1.0f, 1.0f, static_cast<uint32_t>(rows));
      float* dx = Upload(x);
      float* dy = Zeros(rows * n);
      const DeviceVector dbias = Vector(bias);
      backend_->MatMul(dx, rows, **m, &dbias, dy);
      const std::vector<float> got = Download(dy, rows * n);
      // 16-bit operands (f16/bf16 weights, quantised products past 32 rows) round x too.
      const bool tight = exact_path && (dtype == DType::kF32 || rows <= 32);
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t j = 0; j < n; ++j) {
          double want = bias[static_cast<size_t>(j)], scale = 1.0;
          for (int64_t i = 0; i < kk; ++i) {
            const double p =
                static_cast<double>(x[static_cast<size_t>(r * kk + i)]) * widened[static_cast<size_t>(j * kk + i)];
            want += p;
            scale += std::abs(p);
          }
          EXPECT_NEAR(got[static_cast<size_t>(r * n + j)], want, (tight ? 1e-5 : 1e-2) * scale)
              << DTypeName(dtype) << " rows=" << rows << " r=" << r << " j=" << j;
        }
      }
    }
  }
  EXPECT_TRUE(backend_->FinishForward().ok());
}

// One sequence of three new tokens, for the ops that read BeginForward's layout.
class CudaBackendForwardTest : public CudaBackendTest {
 protected:
  void SetUp() override {
    CudaBackendTest::SetUp();
    if (backend_ == nullptr) return;
    Result<KvCache> cache = KvCache::Create({.num_layers = 1, .first_width = 8, .second_width = 8}, 16, *backend_);
    ASSERT_TRUE(cache.ok()) << cache.status().ToString();
    cache_ = std::make_unique<KvCache>(std::move(cache).value());
    entries_ = {BatchEntry{.tokens = tokens_, .cache = cache_.get(), .all_logits = false}};
    ctx_.backend = backend_.get();
    ctx_.ws = &backend_->workspace();
    ctx_.batch = entries_;
    ctx_.num_rows = 3;
    ctx_.row_begin = {0, 3};
    ctx_.positions = {0, 1, 2};
    ctx_.tokens = {4, 0, 10};
    ctx_.logits_rows = {2};
  }

  std::vector<int32_t> tokens_ = {4, 0, 10};
  std::unique_ptr<KvCache> cache_;
  std::vector<BatchEntry> entries_;
  ForwardContext ctx_;
};

TEST_F(CudaBackendForwardTest, EmbedRopeAndLogitsRowsFollowTheLayout) {
  const int64_t rot_dim = 6, hidden = 20, vocab = 11;
  const std::vector<float> rope = Random(3 * rot_dim, -1.0f, 1.0f, 11);  // (rows, [cos | sin])
  ASSERT_TRUE(backend_->BeginForward(ctx_, rope, rot_dim).ok());

  const std::vector<float> table = Random(vocab * hidden, -1.0f, 1.0f, 12);
  Result<Tensor> t = Tensor::View(DType::kF32, {vocab, hidden}, table.data());
  ASSERT_TRUE(t.ok());
  Result<std::unique_ptr<BackendMatrix>> m = backend_->UploadMatrix(*t, nullptr);
  ASSERT_TRUE(m.ok());
  float* embedded = Zeros(3 * hidden);
  backend_->Embed(**m, embedded);
  const std::vector<float> got = Download(embedded, 3 * hidden);
  for (int64_t r = 0; r < 3; ++r) {
    for (int64_t j = 0; j < hidden; ++j) {
      EXPECT_EQ(got[static_cast<size_t>(r * hidden + j)], table[static_cast<size_t>(ctx_.tokens[r] * hidden + j)]);
    }
  }

  // Two heads of 10 values per row, 20 floats a row; only the first 6 of each turn.
  for (cpu::RopeStyle style : {cpu::RopeStyle::kNeox, cpu::RopeStyle::kInterleaved}) {
    std::vector<float> want = Random(3 * hidden, -2.0f, 2.0f, 13);
    float* x = Upload(want);
    backend_->Rope(x, hidden, 2, 10, style);
    for (int64_t r = 0; r < 3; ++r) {
      const float* cs = rope.data() + r * rot_dim;
      cpu::ApplyRope(want.data() + r * hidden, 2, 10, rot_dim, cs, cs + rot_dim / 2, style);
    }
    const std::vector<float> rotated = Download(x, 3 * hidden);
    for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(rotated[i], want[i], 1e-6f);
  }

  float* logits = Zeros(hidden);
  backend_->GatherLogitsRows(embedded, hidden, logits);
  const std::vector<float> row = Download(logits, hidden);
  for (int64_t j = 0; j < hidden; ++j) EXPECT_EQ(row[static_cast<size_t>(j)], got[static_cast<size_t>(2 * hidden + j)]);
  EXPECT_TRUE(backend_->FinishForward().ok());
}

// Decode steps run eagerly, then captured, then replayed: each must run its body's
// ops exactly once.
TEST_F(CudaBackendForwardTest, DecodeStepsRunOnceWhetherEagerCapturedOrReplayed) {
  tokens_ = {4};
  entries_[0].tokens = tokens_;
  ctx_.num_rows = 1;
  ctx_.row_begin = {0, 1};
  ctx_.positions = {0};
  ctx_.tokens = {4};
  ctx_.logits_rows = {0};
  const int64_t n = 1000;
  const std::vector<float> x = Random(n, -1.0f, 1.0f, 21);
  float* dx = Upload(x);
  float* dy = Zeros(n);
  const std::vector<float> rope = {1.0f, 0.0f};
  for (int step = 0; step < 4; ++step) {
    ASSERT_TRUE(backend_->BeginForward(ctx_, rope, 2).ok());
    auto body = [&] { backend_->Add(dy, dx, n); };
    backend_->RunStep(body);
    ASSERT_TRUE(backend_->FinishForward().ok());
  }
  const std::vector<float> y = Download(dy, n);
  for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(y[static_cast<size_t>(i)], 4.0f * x[static_cast<size_t>(i)], 1e-6f);
}

#endif  // FATHOM_HAS_CUDA

}  // namespace
}  // namespace fathom

// The CUDA backend against the CPU backend, op by op and model by model, the way
// llama.cpp's test-backend-ops compares every backend with the CPU one: the same
// random inputs go to both, and the error is max |cuda - cpu| / max |cpu|.
// Sizes are awkward on purpose (1, 3, 17, 70 rows; widths 72, 100, 257; KV
// blocks of 3 and 16 rows with contexts that cross them; 6 query heads over 2
// KV heads) so that tails, partial tiles and block walks are all exercised.
// Model level: the tiny transformers fixtures must give the reference logits on
// the GPU, and greedy decoding must pick the same tokens on both backends.
//
// The one non-obvious rule: every op runs between BeginForward and
// FinishForward on a batch of exactly `rows` rows, because a GPU backend reports
// a failed op only from FinishForward, and ops like Rope and Attention read the
// batch's layout. The ops are issued outside RunStep on purpose: a backend may
// capture RunStep's body as a graph per batch shape, and these tests pass fresh
// pointers for every call of the same shape (the model tests cover RunStep).
// Without a visible GPU every test skips, so CI passes.
#include <gtest/gtest.h>

#ifdef FATHOM_HAS_CUDA

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "core/convert.h"
#include "core/quant_blocks.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "formats/model_config.h"
#include "kernels/cuda/cuda_device.h"
#include "model/forward_context.h"
#include "model/kv_cache.h"
#include "model/model_registry.h"
#include "model/presets.h"
#include "model/rope_table.h"
#include "model/synthetic_model.h"
#include "model/weight_store.h"
#include "tests/model/synth_fixture.h"

namespace fathom {
namespace {

namespace fs = std::filesystem;
using testing_util::MaxRelError;

constexpr double kF32Tolerance = 1e-4;   // float32 everywhere: only summation order differs
constexpr double kHalfTolerance = 1e-2;  // bf16 / f16 weights: a GPU may round activations too
// The CPU kernels quantize activations to 8-bit blocks for Q8_0 / Q4_0 products
// (as llama.cpp does); a GPU that dequantizes the weights does not, so the two
// differ by the activation rounding, about 1/127 of a block's largest value.
constexpr double kQuantTolerance = 2e-2;

const std::vector<int64_t> kRowCounts = {1, 3, 17, 70};

bool HasGpu() {
  Result<std::vector<cuda::DeviceInfo>> devices = cuda::ListDevices();
  return devices.ok() && !devices->empty();
}

std::vector<float> RandomFloats(int64_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

// A (rows, cols) weight of `dtype` with values uniform in +-scale, stored the way
// a model file stores it (block formats quantized row by row as ggml does).
Tensor MakeWeight(DType dtype, int64_t rows, int64_t cols, uint32_t seed, float scale) {
  const std::vector<float> w = RandomFloats(rows * cols, seed, -scale, scale);
  Result<Tensor> t = Tensor::Zeros(dtype, {rows, cols});
  FATHOM_CHECK_MSG(t.ok(), t.status().ToString());
  switch (dtype) {
    case DType::kQ8_0:
      for (int64_t r = 0; r < rows; ++r) {
        QuantizeRowQ8_0(w.data() + r * cols, t->data_as<BlockQ8_0>() + r * (cols / kQ8_0BlockElems), cols);
      }
      break;
    case DType::kQ4_0:
      for (int64_t r = 0; r < rows; ++r) {
        QuantizeRowQ4_0(w.data() + r * cols, t->data_as<BlockQ4_0>() + r * (cols / kQ4_0BlockElems), cols);
      }
      break;
    default: {
      const Status s = FromFloat32(dtype, w.data(), rows * cols, t->data());
      FATHOM_CHECK_MSG(s.ok(), s.ToString());
    }
  }
  return *t;
}

// Host data into one backend's memory and back. Owns what it allocates; a
// failed allocation of these small buffers is a bug, so it aborts.
class DeviceIo {
 public:
  explicit DeviceIo(Backend& backend) : backend_(backend) {}
  DeviceIo(const DeviceIo&) = delete;
  DeviceIo& operator=(const DeviceIo&) = delete;

  template <typename T>
  T* Scratch(int64_t n) {
    Result<std::unique_ptr<DeviceBuffer>> buf = backend_.Allocate(std::max<int64_t>(n, 1) * sizeof(T));
    FATHOM_CHECK_MSG(buf.ok(), buf.status().ToString());
    buffers_.push_back(std::move(buf).value());
    return buffers_.back()->as<T>();
  }
  template <typename T>
  T* Put(const std::vector<T>& host) {
    T* dev = Scratch<T>(static_cast<int64_t>(host.size()));
    backend_.CopyFromHost(dev, host.data(), static_cast<int64_t>(host.size() * sizeof(T)));
    return dev;
  }
  template <typename T>
  std::vector<T> Get(const T* dev, int64_t n) {
    std::vector<T> host(static_cast<size_t>(n));
    backend_.CopyToHost(host.data(), dev, n * static_cast<int64_t>(sizeof(T)));
    return host;
  }
  DeviceVector Vector(const std::vector<float>& host) {
    Result<DeviceVector> v = backend_.UploadVector(host);
    FATHOM_CHECK_MSG(v.ok(), v.status().ToString());
    return *v;
  }
  const BackendMatrix& Matrix(const Tensor& w) {
    Result<std::unique_ptr<BackendMatrix>> m = backend_.UploadMatrix(w, nullptr);
    FATHOM_CHECK_MSG(m.ok(), m.status().ToString());
    matrices_.push_back(std::move(m).value());
    return *matrices_.back();
  }

 private:
  Backend& backend_;
  std::vector<std::unique_ptr<DeviceBuffer>> buffers_;
  std::vector<std::unique_ptr<BackendMatrix>> matrices_;
};

// One sequence of a test batch: `cached` positions already in its cache (random
// rows), then `num_new` new tokens.
struct EntrySpec {
  int64_t cached = 0;
  int64_t num_new = 1;
  bool all_logits = false;
};

struct BatchSpec {
  ModelConfig config;  // vocabulary and rope
  std::vector<EntrySpec> entries;
  KvCacheShape cache_shape = {.num_layers = 1, .first_width = 8, .second_width = 8};
  int64_t block_size = 16;
  int64_t rot_dim = 8;
  uint32_t seed = 1;
};

LoadOptions OnDevice(DeviceKind device) {
  LoadOptions options;
  options.device = device;
  return options;
}

ModelConfig Preset(Architecture arch, std::string_view name) { return testing_util::PresetConfig(arch, name); }

// A batch of one entry with `rows` new tokens on an empty cache: enough layout
// for the ops that only need the row count.
BatchSpec RowsSpec(int64_t rows) {
  return {.config = Preset(Architecture::kLlama, "tiny"), .entries = {{.cached = 0, .num_new = rows}}};
}

// One forward's batch on one backend: a paged KV pool in the backend's memory
// filled with the same random rows on every backend, caches whose block tables
// are the same shuffled block ids, and the context and rope rows BeginForward
// reads. Identical specs give identical batches on any backend.
class Batch {
 public:
  Batch(Backend& backend, const BatchSpec& spec) : backend_(backend), spec_(spec) {}
  Batch(const Batch&) = delete;
  Batch& operator=(const Batch&) = delete;

  Status Begin() {
    std::mt19937 rng(spec_.seed);
    int64_t num_blocks = 0;
    std::vector<int64_t> blocks_per_entry;
    for (const EntrySpec& e : spec_.entries) {
      blocks_per_entry.push_back((e.cached + e.num_new + spec_.block_size - 1) / spec_.block_size);
      num_blocks += blocks_per_entry.back();
    }
    num_blocks += 3;  // unused blocks between the used ones
    FATHOM_ASSIGN_OR_RETURN(pool_, KvBlockPool::Create(spec_.cache_shape, spec_.block_size, num_blocks, backend_));
    const std::vector<float> fill = RandomFloats(PoolBytes() / 4, spec_.seed + 1);
    backend_.CopyFromHost(pool_->first(0), fill.data(), PoolBytes());
    std::vector<int32_t> ids(static_cast<size_t>(num_blocks));
    std::iota(ids.begin(), ids.end(), 0);
    std::shuffle(ids.begin(), ids.end(), rng);
    size_t next_id = 0;
    caches_.reserve(spec_.entries.size());
    tokens_.resize(spec_.entries.size());
    for (size_t i = 0; i < spec_.entries.size(); ++i) {
      const EntrySpec& e = spec_.entries[i];
      caches_.emplace_back(pool_.get());
      for (int64_t b = 0; b < blocks_per_entry[i]; ++b) caches_.back().AppendBlock(ids[next_id++]);
      caches_.back().Advance(e.cached);
      std::uniform_int_distribution<int32_t> token(0, static_cast<int32_t>(spec_.config.vocab_size - 1));
      for (int64_t t = 0; t < e.num_new; ++t) tokens_[i].push_back(token(rng));
    }
    for (size_t i = 0; i < spec_.entries.size(); ++i) {
      entries_.push_back({.tokens = tokens_[i], .cache = &caches_[i], .all_logits = spec_.entries[i].all_logits});
    }
    FATHOM_RETURN_IF_ERROR(MakeForwardContext(spec_.config, entries_, backend_, &ctx_));
    const RopeTable rope(spec_.config, spec_.rot_dim);
    rope_rows_.resize(static_cast<size_t>(ctx_.num_rows * spec_.rot_dim));
    rope.CosSinRows(ctx_.positions, rope_rows_.data());
    return backend_.BeginForward(ctx_, rope_rows_, spec_.rot_dim);
  }
  Status Finish() { return backend_.FinishForward(); }

  const ForwardContext& ctx() const { return ctx_; }
  int64_t num_rows() const { return ctx_.num_rows; }
  // Every float of the pool, every layer (after Finish: with the rows written).
  std::vector<float> PoolContents() const {
    std::vector<float> host(static_cast<size_t>(PoolBytes() / 4));
    backend_.CopyToHost(host.data(), pool_->first(0), PoolBytes());
    return host;
  }
  // The pool's rows (an allocation may be rounded up past them).
  int64_t PoolBytes() const { return KvBlockPool::BytesPerBlock(pool_->shape(), pool_->block_size()) * pool_->num_blocks(); }

 private:
  Backend& backend_;
  BatchSpec spec_;
  std::unique_ptr<KvBlockPool> pool_;
  std::vector<KvCache> caches_;
  std::vector<std::vector<int32_t>> tokens_;
  std::vector<BatchEntry> entries_;
  ForwardContext ctx_;
  std::vector<float> rope_rows_;
};

// Named float outputs of one run, compared name by name.
using Outputs = std::vector<std::pair<std::string, std::vector<float>>>;

class CudaVsCpuBackend : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HasGpu()) GTEST_SKIP() << "no CUDA device visible";
    Result<std::unique_ptr<Backend>> cpu = CreateBackend(DeviceKind::kCpu, pool_);
    ASSERT_TRUE(cpu.ok()) << cpu.status().ToString();
    Result<std::unique_ptr<Backend>> gpu = CreateBackend(DeviceKind::kCuda, pool_);
    ASSERT_TRUE(gpu.ok()) << gpu.status().ToString();
    cpu_ = std::move(cpu).value();
    cuda_ = std::move(gpu).value();
    ASSERT_EQ(cuda_->kind(), DeviceKind::kCuda);
  }

  // Runs `run` (Backend& -> Outputs) on the CPU backend, then on CUDA, and
  // expects every output within `tolerance` of the CPU's.
  template <typename Run>
  void ExpectClose(Run&& run, double tolerance) {
    const Outputs want = run(*cpu_);
    const Outputs got = run(*cuda_);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_EQ(got[i].second.size(), want[i].second.size()) << want[i].first;
      ASSERT_FALSE(want[i].second.empty()) << want[i].first;
      const double error = MaxRelError(got[i].second, want[i].second);
      EXPECT_LE(error, tolerance) << want[i].first << ": max |cuda - cpu| / max |cpu| = " << error;
    }
  }

  ThreadPool pool_{4};
  std::unique_ptr<Backend> cpu_;
  std::unique_ptr<Backend> cuda_;
};

#define ASSERT_OK(expr)                                       \
  do {                                                        \
    const ::fathom::Status _st = (expr);                      \
    ASSERT_TRUE(_st.ok()) << #expr << ": " << _st.ToString(); \
  } while (0)
#define EXPECT_OK(expr)                                       \
  do {                                                        \
    const ::fathom::Status _st = (expr);                      \
    EXPECT_TRUE(_st.ok()) << #expr << ": " << _st.ToString(); \
  } while (0)
// Inside a run lambda: issuing ops without a layout would only add noise.
#define BEGIN_OR_RETURN(batch)                                          \
  do {                                                                  \
    const ::fathom::Status _st = (batch).Begin();                       \
    if (!_st.ok()) {                                                    \
      ADD_FAILURE() << "BeginForward: " << _st.ToString();              \
      return {};                                                        \
    }                                                                   \
  } while (0)

// ---- elementwise ops

TEST_F(CudaVsCpuBackend, RmsNorm) {
  for (int64_t rows : kRowCounts) {
    for (int64_t dim : {72, 100, 257, 4096}) {
      for (bool in_place : {false, true}) {
        SCOPED_TRACE(testing::Message() << "rows " << rows << " dim " << dim << (in_place ? " in place" : ""));
        const std::vector<float> x = RandomFloats(rows * dim, 1, -3.0f, 3.0f);
        const std::vector<float> w = RandomFloats(dim, 2, 0.5f, 1.5f);
        ExpectClose(
            [&](Backend& b) -> Outputs {
              DeviceIo io(b);
              Batch batch(b, RowsSpec(rows));
              BEGIN_OR_RETURN(batch);
              float* dx = io.Put(x);
              float* out = in_place ? dx : io.Scratch<float>(rows * dim);
              b.RmsNorm(dx, io.Vector(w), rows, dim, 1e-5f, out);
              EXPECT_OK(batch.Finish());
              return {{"out", io.Get(out, rows * dim)}};
            },
            kF32Tolerance);
      }
    }
  }
}

TEST_F(CudaVsCpuBackend, SiluMulAndAdd) {
  for (int64_t rows : kRowCounts) {
    for (int64_t dim : {72, 100, 257}) {
      SCOPED_TRACE(testing::Message() << "rows " << rows << " dim " << dim);
      const int64_t n = rows * dim;
      const std::vector<float> gate = RandomFloats(n, 3, -8.0f, 8.0f);
      const std::vector<float> up = RandomFloats(n, 4);
      const std::vector<float> y = RandomFloats(n, 5);
      ExpectClose(
          [&](Backend& b) -> Outputs {
            DeviceIo io(b);
            Batch batch(b, RowsSpec(rows));
            BEGIN_OR_RETURN(batch);
            float* dgate = io.Put(gate);
            float* dup = io.Put(up);
            float* out = io.Scratch<float>(n);
            b.SiluMul(dgate, dup, n, out);
            float* in_place = io.Put(gate);
            b.SiluMul(in_place, dup, n, in_place);
            float* dy = io.Put(y);
            b.Add(dy, dup, n);
            EXPECT_OK(batch.Finish());
            return {{"silu_mul", io.Get(out, n)}, {"silu_mul in place", io.Get(in_place, n)}, {"add", io.Get(dy, n)}};
          },
          kF32Tolerance);
    }
  }
}

// ---- MatMul

struct MatMulCase {
  DType dtype;
  int64_t out_features;
  int64_t in_features;
  bool bias;
};

TEST_F(CudaVsCpuBackend, MatMul) {
  const std::vector<MatMulCase> cases = {
      {DType::kF32, 100, 72, false},  {DType::kF32, 257, 100, true},  {DType::kF32, 72, 257, false},
      {DType::kF32, 1000, 512, true}, {DType::kBF16, 100, 72, true},  {DType::kBF16, 257, 100, false},
      {DType::kBF16, 72, 257, false}, {DType::kBF16, 1000, 512, false}, {DType::kF16, 100, 72, false},
      {DType::kF16, 257, 100, true},  {DType::kF16, 72, 257, false},  {DType::kQ8_0, 100, 96, false},
      {DType::kQ8_0, 257, 288, true}, {DType::kQ8_0, 72, 512, false}, {DType::kQ4_0, 100, 96, false},
      {DType::kQ4_0, 257, 288, false}, {DType::kQ4_0, 72, 512, true},
  };
  for (const MatMulCase& c : cases) {
    const Tensor w = MakeWeight(c.dtype, c.out_features, c.in_features, 7, 1.0f / std::sqrt(float(c.in_features)));
    const std::vector<float> bias = RandomFloats(c.out_features, 8);
    const double tolerance = c.dtype == DType::kF32                                ? kF32Tolerance
                             : (c.dtype == DType::kBF16 || c.dtype == DType::kF16) ? kHalfTolerance
                                                                                   : kQuantTolerance;
    for (int64_t rows : kRowCounts) {
      SCOPED_TRACE(testing::Message() << DTypeName(c.dtype) << " (" << c.out_features << ", " << c.in_features
                                      << ") rows " << rows << (c.bias ? " with bias" : ""));
      const std::vector<float> x = RandomFloats(rows * c.in_features, 9);
      ExpectClose(
          [&](Backend& b) -> Outputs {
            DeviceIo io(b);
            const BackendMatrix& m = io.Matrix(w);
            EXPECT_EQ(m.rows(), c.out_features);
            EXPECT_EQ(m.cols(), c.in_features);
            const DeviceVector dbias = io.Vector(bias);
            Batch batch(b, RowsSpec(rows));
            BEGIN_OR_RETURN(batch);
            float* y = io.Scratch<float>(rows * c.out_features);
            b.MatMul(io.Put(x), rows, m, c.bias ? &dbias : nullptr, y);
            EXPECT_OK(batch.Finish());
            return {{"y", io.Get(y, rows * c.out_features)}};
          },
          tolerance);
    }
  }
}

// ---- ops that read the batch layout

TEST_F(CudaVsCpuBackend, Embed) {
  ModelConfig config = Preset(Architecture::kLlama, "tiny");
  config.vocab_size = 300;
  const int64_t hidden = 96;
  for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16, DType::kQ8_0}) {
    const Tensor table = MakeWeight(dtype, config.vocab_size, hidden, 10, 1.0f);
    for (int64_t rows : kRowCounts) {
      SCOPED_TRACE(testing::Message() << DTypeName(dtype) << " rows " << rows);
      BatchSpec spec = {.config = config, .entries = {{.cached = 2, .num_new = rows}}};
      ExpectClose(
          [&](Backend& b) -> Outputs {
            DeviceIo io(b);
            const BackendMatrix& m = io.Matrix(table);
            Batch batch(b, spec);
            BEGIN_OR_RETURN(batch);
            float* out = io.Scratch<float>(rows * hidden);
            b.Embed(m, out);
            EXPECT_OK(batch.Finish());
            return {{"embedding rows", io.Get(out, rows * hidden)}};
          },
          1e-6);
    }
  }
}

// Batches whose entries sit at different fill levels, so rows of one forward
// belong to sequences at different positions.
std::vector<std::vector<EntrySpec>> MixedBatches() {
  return {
      {{.cached = 0, .num_new = 1}},
      {{.cached = 40, .num_new = 1}},
      {{.cached = 0, .num_new = 17}},
      {{.cached = 5, .num_new = 3}, {.cached = 0, .num_new = 1}, {.cached = 31, .num_new = 1}},
      {{.cached = 0, .num_new = 1}, {.cached = 37, .num_new = 1}, {.cached = 5, .num_new = 17},
       {.cached = 16, .num_new = 3}, {.cached = 0, .num_new = 48}},  // 70 rows
  };
}

std::string Describe(const std::vector<EntrySpec>& entries) {
  std::string s;
  for (const EntrySpec& e : entries) s += "(" + std::to_string(e.cached) + "+" + std::to_string(e.num_new) + ")";
  return s;
}

TEST_F(CudaVsCpuBackend, RopeBothStyles) {
  struct RopeCase {
    Architecture arch;
    const char* preset;  // the rope scaling (llama3, YaRN) comes from it
    int64_t num_heads, head_dim, offset, rot_dim;
    cpu::RopeStyle style;
  };
  const std::vector<RopeCase> cases = {
      {Architecture::kLlama, "tiny", 6, 72, 0, 72, cpu::RopeStyle::kNeox},
      {Architecture::kLlama, "tiny", 4, 128, 0, 128, cpu::RopeStyle::kNeox},
      {Architecture::kLlama, "tiny", 3, 100, 0, 32, cpu::RopeStyle::kNeox},  // partial rotation
      {Architecture::kLlama, "tiny", 2, 72, 0, 72, cpu::RopeStyle::kInterleaved},
      // DeepSeek's q: the rope part follows the nope part of every head.
      {Architecture::kDeepseekV2, "tiny", 16, 192, 128, 64, cpu::RopeStyle::kInterleaved},
      {Architecture::kDeepseekV2, "tiny", 4, 24, 16, 8, cpu::RopeStyle::kInterleaved},
  };
  std::vector<std::vector<EntrySpec>> batches = MixedBatches();
  batches.push_back({{.cached = 3000, .num_new = 2}, {.cached = 777, .num_new = 1}});  // large angles
  for (const RopeCase& c : cases) {
    for (const std::vector<EntrySpec>& entries : batches) {
      SCOPED_TRACE(testing::Message() << c.preset << " heads " << c.num_heads << " head " << c.head_dim << " rot "
                                      << c.rot_dim << (c.style == cpu::RopeStyle::kNeox ? " neox " : " interleaved ")
                                      << Describe(entries));
      BatchSpec spec = {.config = Preset(c.arch, c.preset), .entries = entries, .rot_dim = c.rot_dim};
      int64_t rows = 0;
      for (const EntrySpec& e : entries) rows += e.num_new;
      const int64_t n = rows * c.num_heads * c.head_dim;
      const std::vector<float> x = RandomFloats(n, 11);
      ExpectClose(
          [&](Backend& b) -> Outputs {
            DeviceIo io(b);
            Batch batch(b, spec);
            BEGIN_OR_RETURN(batch);
            float* dx = io.Put(x);
            b.Rope(dx + c.offset, c.num_heads * c.head_dim, c.num_heads, c.head_dim, c.style);
            EXPECT_OK(batch.Finish());
            return {{"rotated", io.Get(dx, n)}};
          },
          kF32Tolerance);
    }
  }
}

TEST_F(CudaVsCpuBackend, PagedAttention) {
  const std::vector<cpu::AttentionShape> shapes = {
      {.num_heads = 6, .num_kv_heads = 2, .head_dim = 72, .v_head_dim = 72},
      {.num_heads = 4, .num_kv_heads = 1, .head_dim = 100, .v_head_dim = 100},
      {.num_heads = 32, .num_kv_heads = 8, .head_dim = 128, .v_head_dim = 128},  // Llama-3-8B
      {.num_heads = 12, .num_kv_heads = 2, .head_dim = 128, .v_head_dim = 128},  // Qwen2-1.5B
  };
  std::vector<std::vector<EntrySpec>> batches = MixedBatches();
  batches.push_back({{.cached = 300, .num_new = 1}});  // more than one online-softmax block
  for (cpu::AttentionShape shape : shapes) {
    shape.scale = 1.0f / std::sqrt(static_cast<float>(shape.head_dim));
    for (int64_t block_size : {3, 16}) {
      for (const std::vector<EntrySpec>& entries : batches) {
        SCOPED_TRACE(testing::Message() << "heads " << shape.num_heads << "/" << shape.num_kv_heads << " dim "
                                        << shape.head_dim << " block " << block_size << " " << Describe(entries));
        const int64_t k_width = shape.num_kv_heads * shape.head_dim;
        const int64_t v_width = shape.num_kv_heads * shape.v_head_dim;
        BatchSpec spec = {.config = Preset(Architecture::kLlama, "tiny"),
                          .entries = entries,
                          .cache_shape = {.num_layers = 2, .first_width = k_width, .second_width = v_width},
                          .block_size = block_size};
        int64_t rows = 0;
        for (const EntrySpec& e : entries) rows += e.num_new;
        const std::vector<float> q = RandomFloats(rows * shape.num_heads * shape.head_dim, 12, -2.0f, 2.0f);
        const std::vector<float> k = RandomFloats(rows * k_width, 13);
        const std::vector<float> v = RandomFloats(rows * v_width, 14);
        const int64_t out_n = rows * shape.num_heads * shape.v_head_dim;
        ExpectClose(
            [&](Backend& b) -> Outputs {
              DeviceIo io(b);
              Batch batch(b, spec);
              BEGIN_OR_RETURN(batch);
              float* out = io.Scratch<float>(out_n);
              b.Attention(/*layer=*/1, shape, io.Put(q), io.Put(k), io.Put(v), out);
              EXPECT_OK(batch.Finish());
              return {{"attention out", io.Get(out, out_n)}, {"kv pool", batch.PoolContents()}};
            },
            kF32Tolerance);
      }
    }
  }
}

TEST_F(CudaVsCpuBackend, MlaAttention) {
  struct MlaCase {
    MlaShape shape;
    const char* what;
  };
  const std::vector<MlaCase> cases = {
      {{.num_heads = 4, .nope_dim = 16, .rope_dim = 8, .v_head_dim = 16, .kv_lora_rank = 32}, "tiny"},
      {{.num_heads = 3, .nope_dim = 24, .rope_dim = 8, .v_head_dim = 40, .kv_lora_rank = 72}, "awkward"},
      {{.num_heads = 16, .nope_dim = 128, .rope_dim = 64, .v_head_dim = 128, .kv_lora_rank = 512}, "V2-Lite"},
  };
  for (MlaCase c : cases) {
    MlaShape& s = c.shape;
    s.scale = 1.0f / std::sqrt(static_cast<float>(s.nope_dim + s.rope_dim));
    s.latent_eps = 1e-6f;
    const Tensor kv_b = MakeWeight(DType::kF32, s.num_heads * (s.nope_dim + s.v_head_dim), s.kv_lora_rank, 15,
                                   1.0f / std::sqrt(float(s.kv_lora_rank)));
    const std::vector<float> norm = RandomFloats(s.kv_lora_rank, 16, 0.5f, 1.5f);
    for (int64_t block_size : {3, 16}) {
      for (const std::vector<EntrySpec>& entries : MixedBatches()) {
        SCOPED_TRACE(testing::Message() << c.what << " block " << block_size << " " << Describe(entries));
        BatchSpec spec = {.config = Preset(Architecture::kDeepseekV2, "tiny"),
                          .entries = entries,
                          .cache_shape = {.num_layers = 2, .first_width = s.kv_lora_rank, .second_width = s.rope_dim},
                          .block_size = block_size,
                          .rot_dim = s.rope_dim};
        int64_t rows = 0;
        for (const EntrySpec& e : entries) rows += e.num_new;
        const std::vector<float> q = RandomFloats(rows * s.num_heads * (s.nope_dim + s.rope_dim), 17);
        const std::vector<float> kv_a = RandomFloats(rows * (s.kv_lora_rank + s.rope_dim), 18, -2.0f, 2.0f);
        const int64_t out_n = rows * s.num_heads * s.v_head_dim;
        ExpectClose(
            [&](Backend& b) -> Outputs {
              DeviceIo io(b);
              const BackendMatrix& dkv_b = io.Matrix(kv_b);
              const DeviceVector dnorm = io.Vector(norm);
              Batch batch(b, spec);
              BEGIN_OR_RETURN(batch);
              float* out = io.Scratch<float>(out_n);
              b.MlaAttention(/*layer=*/1, s, io.Put(q), io.Put(kv_a), dnorm, dkv_b, out);
              EXPECT_OK(batch.Finish());
              return {{"mla out", io.Get(out, out_n)}, {"latent pool", batch.PoolContents()}};
            },
            kF32Tolerance);
      }
    }
  }
}

TEST_F(CudaVsCpuBackend, GatherLogitsRows) {
  const std::vector<EntrySpec> entries = {
      {.cached = 0, .num_new = 3}, {.cached = 2, .num_new = 5, .all_logits = true}, {.cached = 9, .num_new = 1},
      {.cached = 0, .num_new = 61}};
  const int64_t width = 257;
  BatchSpec spec = {.config = Preset(Architecture::kLlama, "tiny"), .entries = entries};
  const std::vector<float> x = RandomFloats(70 * width, 19);
  ExpectClose(
      [&](Backend& b) -> Outputs {
        DeviceIo io(b);
        Batch batch(b, spec);
        BEGIN_OR_RETURN(batch);
        EXPECT_EQ(batch.num_rows(), 70);
        const int64_t n = static_cast<int64_t>(batch.ctx().logits_rows.size()) * width;
        float* out = io.Scratch<float>(n);
        b.GatherLogitsRows(io.Put(x), width, out);
        EXPECT_OK(batch.Finish());
        return {{"gathered", io.Get(out, n)}};
      },
      0.0);
}

// ---- MoE

TEST_F(CudaVsCpuBackend, MoeRoute) {
  struct RouteCase {
    Architecture arch;
    const char* preset;
  };
  // softmax greedy, V2 group-limited, V3 noaux_tc (sigmoid + bias), and the real
  // V2-Lite (64 experts, top 6) and V3 (256 experts in 8 groups, top 8) shapes.
  const std::vector<RouteCase> cases = {{Architecture::kDeepseekV2, "tiny"},
                                        {Architecture::kDeepseekV2, "tiny-grouped"},
                                        {Architecture::kDeepseekV3, "tiny"},
                                        {Architecture::kDeepseekV2, "v2-lite"},
                                        {Architecture::kDeepseekV3, "v3"}};
  for (const RouteCase& c : cases) {
    const ModelConfig config = Preset(c.arch, c.preset);
    const int64_t n_experts = config.n_routed_experts;
    const int64_t top_k = config.num_experts_per_tok;
    const bool has_bias = config.topk_method == TopkMethod::kNoauxTc;
    const std::vector<float> bias = RandomFloats(n_experts, 20, -0.3f, 0.3f);
    for (int64_t rows : kRowCounts) {
      SCOPED_TRACE(testing::Message() << ArchitectureName(c.arch) << " " << c.preset << " rows " << rows);
      const std::vector<float> logits = RandomFloats(rows * n_experts, 21, -4.0f, 4.0f);
      // Per row, (expert, weight) sorted by expert: the order of the picks is free.
      auto run = [&](Backend& b) -> std::vector<std::pair<int32_t, float>> {
        DeviceIo io(b);
        const DeviceVector dbias = io.Vector(bias);
        Batch batch(b, RowsSpec(rows));
        BEGIN_OR_RETURN(batch);
        int32_t* ids = io.Scratch<int32_t>(rows * top_k);
        float* weights = io.Scratch<float>(rows * top_k);
        b.MoeRoute(config, io.Put(logits), rows, has_bias ? &dbias : nullptr, ids, weights);
        EXPECT_OK(batch.Finish());
        const std::vector<int32_t> host_ids = io.Get(ids, rows * top_k);
        const std::vector<float> host_weights = io.Get(weights, rows * top_k);
        std::vector<std::pair<int32_t, float>> picks;
        for (int64_t r = 0; r < rows; ++r) {
          std::vector<std::pair<int32_t, float>> row;
          for (int64_t i = 0; i < top_k; ++i) row.emplace_back(host_ids[r * top_k + i], host_weights[r * top_k + i]);
          std::sort(row.begin(), row.end());
          picks.insert(picks.end(), row.begin(), row.end());
        }
        return picks;
      };
      const auto want = run(*cpu_);
      const auto got = run(*cuda_);
      ASSERT_EQ(got.size(), want.size());
      std::vector<float> got_w, want_w;
      for (size_t i = 0; i < want.size(); ++i) {
        ASSERT_EQ(got[i].first, want[i].first) << "row " << i / top_k << ": a different expert was picked";
        got_w.push_back(got[i].second);
        want_w.push_back(want[i].second);
      }
      EXPECT_LE(MaxRelError(got_w, want_w), kF32Tolerance);
    }
  }
}

TEST_F(CudaVsCpuBackend, MoeExperts) {
  struct ExpertsCase {
    DType dtype;
    int64_t n_experts, top_k, hidden, width;
    std::vector<int64_t> row_counts;
  };
  const std::vector<ExpertsCase> cases = {
      {DType::kF32, 8, 3, 72, 40, kRowCounts},
      {DType::kBF16, 8, 3, 72, 40, kRowCounts},
      {DType::kBF16, 16, 4, 100, 48, kRowCounts},
      {DType::kBF16, 16, 6, 2048, 1408, {1, 17}},  // V2-Lite's matrices and top 6 (of 16 experts, to load fast)
  };
  for (const ExpertsCase& c : cases) {
    std::vector<Tensor> gate, up, down;
    for (int64_t e = 0; e < c.n_experts; ++e) {
      const uint32_t seed = 100 + static_cast<uint32_t>(e) * 3;
      gate.push_back(MakeWeight(c.dtype, c.width, c.hidden, seed, 1.0f / std::sqrt(float(c.hidden))));
      up.push_back(MakeWeight(c.dtype, c.width, c.hidden, seed + 1, 1.0f / std::sqrt(float(c.hidden))));
      down.push_back(MakeWeight(c.dtype, c.hidden, c.width, seed + 2, 1.0f / std::sqrt(float(c.width))));
    }
    for (int64_t rows : c.row_counts) {
      SCOPED_TRACE(testing::Message() << DTypeName(c.dtype) << " " << c.n_experts << " experts top " << c.top_k
                                      << " hidden " << c.hidden << " width " << c.width << " rows " << rows);
      // Distinct experts per row, never the last one (an expert with no rows).
      std::mt19937 rng(22);
      std::vector<int32_t> ids;
      for (int64_t r = 0; r < rows; ++r) {
        std::vector<int32_t> all(static_cast<size_t>(c.n_experts - 1));
        std::iota(all.begin(), all.end(), 0);
        std::shuffle(all.begin(), all.end(), rng);
        ids.insert(ids.end(), all.begin(), all.begin() + c.top_k);
      }
      const std::vector<float> weights = RandomFloats(rows * c.top_k, 23, 0.05f, 1.0f);
      const std::vector<float> x = RandomFloats(rows * c.hidden, 24);
      const std::vector<float> out0 = RandomFloats(rows * c.hidden, 25);  // out accumulates
      ExpectClose(
          [&](Backend& b) -> Outputs {
            DeviceIo io(b);
            std::vector<ExpertWeights> experts;
            for (int64_t e = 0; e < c.n_experts; ++e) {
              experts.push_back({.gate = &io.Matrix(gate[e]), .up = &io.Matrix(up[e]), .down = &io.Matrix(down[e])});
            }
            Batch batch(b, RowsSpec(rows));
            BEGIN_OR_RETURN(batch);
            float* out = io.Put(out0);
            b.MoeExperts(experts, c.top_k, io.Put(x), rows, io.Put(ids), io.Put(weights), out);
            EXPECT_OK(batch.Finish());
            return {{"moe out", io.Get(out, rows * c.hidden)}};
          },
          c.dtype == DType::kF32 ? kF32Tolerance : kHalfTolerance);
    }
  }
}

// ---- whole models

const fs::path kFixtureDir = fs::path(FATHOM_SOURCE_DIR) / "tests" / "fixtures" / "logits";

std::vector<std::string> FixtureNames() {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(kFixtureDir)) {
    if (entry.path().extension() == ".json") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// The transformers reference logits of tests/fixtures/logits (see
// transformers_parity_test.cpp, which also checks the regenerated model is
// byte-identical to the one the reference ran), reached on the GPU.
class CudaTransformersParity : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!HasGpu()) GTEST_SKIP() << "no CUDA device visible";
    std::ifstream in(kFixtureDir / (GetParam() + ".json"));
    spec_ = nlohmann::json::parse(in);
    std::ifstream lf(kFixtureDir / spec_["logits_file"].get<std::string>(), std::ios::binary);
    lf.seekg(0, std::ios::end);
    ref_.resize(static_cast<size_t>(lf.tellg()) / sizeof(float));
    lf.seekg(0);
    lf.read(reinterpret_cast<char*>(ref_.data()), static_cast<std::streamsize>(ref_.size() * sizeof(float)));
    vocab_ = spec_["vocab_size"].get<int64_t>();
  }

  void CheckModel(const std::string& path, bool bf16) {
    const double tolerance = bf16 ? kHalfTolerance : kF32Tolerance;
    ThreadPool pool(4);
    Result<std::unique_ptr<CausalLm>> lm = LoadCausalLm(path, pool, OnDevice(DeviceKind::kCuda));
    ASSERT_TRUE(lm.ok()) << lm.status().ToString();
    ASSERT_EQ((*lm)->backend().kind(), DeviceKind::kCuda);
    for (const auto& seq : spec_["sequences"]) {
      const std::vector<int32_t> tokens = seq["tokens"].get<std::vector<int32_t>>();
      const int64_t row0 = seq["row_offset"].get<int64_t>();
      Result<KvCache> cache = (*lm)->NewCache(static_cast<int64_t>(tokens.size()));
      ASSERT_TRUE(cache.ok()) << cache.status().ToString();
      Result<std::vector<float>> logits = testing_util::ForwardSequence(**lm, *cache, tokens, true);
      ASSERT_TRUE(logits.ok()) << logits.status().ToString();
      ASSERT_EQ(logits->size(), tokens.size() * vocab_);
      const double error = MaxRelError(*logits, std::span(ref_).subspan(row0 * vocab_, logits->size()));
      EXPECT_LE(error, tolerance) << path << ": sequence of " << tokens.size() << " tokens";
    }
    // The greedy tokens must match wherever the reference's top two are further
    // apart than our error can move them.
    const double min_gap = spec_["greedy"].value("min_top2_gap_rel", 1.0);
    if (min_gap <= 2 * tolerance) return;
    const std::vector<int32_t> prompt = spec_["greedy"]["prompt"].get<std::vector<int32_t>>();
    const std::vector<int32_t> want = spec_["greedy"]["tokens"].get<std::vector<int32_t>>();
    Result<std::vector<int32_t>> got = testing_util::GreedyTokens(**lm, prompt, static_cast<int64_t>(want.size()));
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, want) << path << ": greedy continuation on the GPU differs from transformers";
  }

  nlohmann::json spec_;
  std::vector<float> ref_;
  int64_t vocab_ = 0;
};

TEST_P(CudaTransformersParity, SafetensorsModelMatches) {
  std::optional<Architecture> arch = ArchitectureFromName(spec_["arch"].get<std::string>());
  ASSERT_TRUE(arch.has_value());
  // The checkpoint the reference ran is the one synth_args writes: its --dtype
  // (the FP8 case keeps its other tensors in bf16) sets the weights and the tolerance.
  std::string dtype = "f32";
  const auto& synth_args = spec_["synth_args"];
  for (size_t i = 0; i + 1 < synth_args.size(); ++i) {
    if (synth_args[i] == "--dtype") dtype = synth_args[i + 1].get<std::string>();
  }
  const bool bf16 = dtype == "bf16";
  testing_util::ScopedTempDir dir;
  SynthOptions options;
  options.arch = *arch;
  options.preset = spec_["preset"].get<std::string>();
  options.out_dir = dir.path();
  options.seed = spec_["seed"].get<uint64_t>();
  options.dtype = bf16 ? DType::kBF16 : DType::kF32;
  options.num_threads = 4;
  options.show_progress = false;
  ASSERT_OK(WriteSyntheticModel(options));
  CheckModel(dir.path(), bf16);
}

TEST_P(CudaTransformersParity, LlamaCppGgufMatches) {
  if (!spec_.contains("gguf")) GTEST_SKIP() << "no GGUF for this case";
  CheckModel((kFixtureDir / spec_["gguf"]["file"].get<std::string>()).string(),
             spec_["gguf"].value("outtype", "f32") == "bf16");
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CudaTransformersParity, ::testing::ValuesIn(FixtureNames()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

// Every tiny preset (llama, qwen2, deepseek_v2, deepseek_v3; every routing
// method and rope type) with f32 weights, loaded on both backends.
class CudaVsCpuModel : public ::testing::TestWithParam<testing_util::TinyModelSpec> {
 protected:
  void SetUp() override {
    if (!HasGpu()) GTEST_SKIP() << "no CUDA device visible";
    dir_ = std::make_unique<testing_util::SynthModelDir>(GetParam(), /*seed=*/3);
    ASSERT_OK(dir_->status());
    Result<std::unique_ptr<CausalLm>> cpu = LoadCausalLm(dir_->path(), pool_, OnDevice(DeviceKind::kCpu));
    ASSERT_TRUE(cpu.ok()) << cpu.status().ToString();
    Result<std::unique_ptr<CausalLm>> gpu = LoadCausalLm(dir_->path(), pool_, OnDevice(DeviceKind::kCuda));
    ASSERT_TRUE(gpu.ok()) << gpu.status().ToString();
    cpu_ = std::move(cpu).value();
    cuda_ = std::move(gpu).value();
  }

  ThreadPool pool_{4};
  std::unique_ptr<testing_util::SynthModelDir> dir_;
  std::unique_ptr<CausalLm> cpu_;
  std::unique_ptr<CausalLm> cuda_;
};

TEST_P(CudaVsCpuModel, GreedyTokensMatchCpu) {
  const std::vector<int32_t> prompt = testing_util::RandomTokens(12, cpu_->config().vocab_size, 5);
  Result<std::vector<int32_t>> want = testing_util::GreedyTokens(*cpu_, prompt, 16);
  ASSERT_TRUE(want.ok()) << want.status().ToString();
  Result<std::vector<int32_t>> got = testing_util::GreedyTokens(*cuda_, prompt, 16);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, *want);
}

// One packed forward of sequences at different fill levels (a prefill chunk next
// to decode steps), as the engine runs them, after a first forward filled the
// caches.
TEST_P(CudaVsCpuModel, PackedBatchLogitsMatchCpu) {
  const int64_t vocab = cpu_->config().vocab_size;
  auto run = [&](CausalLm& lm) -> std::vector<float> {
    // One pool for the three caches (a GPU forward reads one paged pool), their
    // blocks of 16 rows interleaved: cache i holds blocks i, i + 3, i + 6, i + 9.
    Result<std::unique_ptr<KvBlockPool>> pool = KvBlockPool::Create(lm.cache_shape(), 16, 12, lm.backend());
    EXPECT_TRUE(pool.ok()) << pool.status().ToString();
    if (!pool.ok()) return {};
    std::vector<KvCache> caches;
    for (int i = 0; i < 3; ++i) {
      caches.emplace_back(pool->get());
      for (int b = 0; b < 4; ++b) caches.back().AppendBlock(i + 3 * b);
    }
    const std::vector<int32_t> first = testing_util::RandomTokens(19, vocab, 6);
    const std::vector<int32_t> second = testing_util::RandomTokens(5, vocab, 7);
    const std::vector<int32_t> one = {3};
    std::vector<float> logits, all;
    // Fill: 19 tokens into cache 0, 5 into cache 1; cache 2 stays empty.
    std::vector<BatchEntry> fill = {{.tokens = first, .cache = &caches[0]}, {.tokens = second, .cache = &caches[1]}};
    const Status s_fill = lm.Forward(fill, &logits);
    EXPECT_TRUE(s_fill.ok()) << s_fill.ToString();
    all.insert(all.end(), logits.begin(), logits.end());
    std::vector<BatchEntry> mixed = {{.tokens = one, .cache = &caches[0]},
                                     {.tokens = first, .cache = &caches[2], .all_logits = true},
                                     {.tokens = one, .cache = &caches[1]}};
    const Status s_mixed = lm.Forward(mixed, &logits);
    EXPECT_TRUE(s_mixed.ok()) << s_mixed.ToString();
    all.insert(all.end(), logits.begin(), logits.end());
    return all;
  };
  const std::vector<float> want = run(*cpu_);
  const std::vector<float> got = run(*cuda_);
  ASSERT_EQ(want.size(), static_cast<size_t>((2 + 1 + 19 + 1) * vocab));
  EXPECT_LE(MaxRelError(got, want), kF32Tolerance);
}

// Decode steps of three sequences together, as the engine runs them: one pool of
// 4-row blocks handed out as the caches grow (so the block tables grow, interleave
// and cross the graph keys' power-of-two table widths), every step's logits
// compared. Same-shape steps are captured once and replayed on a GPU.
TEST_P(CudaVsCpuModel, PagedDecodeStepsMatchCpu) {
  const int64_t vocab = cpu_->config().vocab_size;
  auto run = [&](CausalLm& lm) -> std::vector<float> {
    Result<std::unique_ptr<KvBlockPool>> pool = KvBlockPool::Create(lm.cache_shape(), 4, 40, lm.backend());
    EXPECT_TRUE(pool.ok()) << pool.status().ToString();
    if (!pool.ok()) return {};
    std::vector<KvCache> caches;
    for (int i = 0; i < 3; ++i) caches.emplace_back(pool->get());
    int32_t next_block = 0;
    auto reserve = [&](KvCache& c, int64_t n) {
      while (c.capacity() < c.num_tokens() + n) c.AppendBlock(next_block++);
    };
    std::vector<float> logits, all;
    const std::vector<std::vector<int32_t>> prompts = {testing_util::RandomTokens(6, vocab, 11),
                                                       testing_util::RandomTokens(1, vocab, 12),
                                                       testing_util::RandomTokens(9, vocab, 13)};
    std::vector<BatchEntry> fill;
    for (int i = 0; i < 3; ++i) {
      reserve(caches[i], static_cast<int64_t>(prompts[i].size()));
      fill.push_back({.tokens = prompts[i], .cache = &caches[i]});
    }
    const Status s_fill = lm.Forward(fill, &logits);
    EXPECT_TRUE(s_fill.ok()) << s_fill.ToString();
    all.insert(all.end(), logits.begin(), logits.end());
    std::vector<std::vector<int32_t>> next(3, std::vector<int32_t>(1));
    for (int step = 0; step < 12; ++step) {
      std::vector<BatchEntry> decode;
      for (int i = 0; i < 3; ++i) {
        next[i][0] = static_cast<int32_t>((step * 7 + i * 3 + 1) % vocab);
        reserve(caches[i], 1);
        decode.push_back({.tokens = next[i], .cache = &caches[i]});
      }
      const Status s_step = lm.Forward(decode, &logits);
      EXPECT_TRUE(s_step.ok()) << "step " << step << ": " << s_step.ToString();
      all.insert(all.end(), logits.begin(), logits.end());
    }
    return all;
  };
  const std::vector<float> want = run(*cpu_);
  const std::vector<float> got = run(*cuda_);
  ASSERT_EQ(want.size(), static_cast<size_t>((3 + 12 * 3) * vocab));
  EXPECT_LE(MaxRelError(got, want), kF32Tolerance);
}

INSTANTIATE_TEST_SUITE_P(TinyPresets, CudaVsCpuModel, ::testing::ValuesIn(testing_util::TinyPresets()),
                         [](const ::testing::TestParamInfo<testing_util::TinyModelSpec>& info) {
                           return info.param.Name();
                         });

}  // namespace
}  // namespace fathom

#endif  // FATHOM_HAS_CUDA

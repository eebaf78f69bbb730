#include "backend/cpu_backend.h"

#include <algorithm>
#include <deque>
#include <vector>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/isa.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/packed_weight.h"
#include "kernels/cpu/rope.h"
#include "model/forward_context.h"
#include "model/moe.h"

namespace fathom {
namespace {

class CpuMatrix final : public BackendMatrix {
 public:
  CpuMatrix(const Tensor& w, std::shared_ptr<const cpu::PackedWeight> packed)
      : BackendMatrix(w.dim(0), w.dim(1), w.dtype(),
                      packed != nullptr && packed->is_compact() ? packed->num_bytes() : w.num_bytes()),
        tensor_(w),
        packed_(std::move(packed)) {}

  const Tensor& tensor() const { return tensor_; }
  const cpu::PackedWeight* packed() const { return packed_.get(); }

 private:
  Tensor tensor_;  // a view or an owning tensor; either way its bytes stay alive as long as the model
  std::shared_ptr<const cpu::PackedWeight> packed_;
};

const CpuMatrix& Cpu(const BackendMatrix& m) { return static_cast<const CpuMatrix&>(m); }

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(ThreadPool& pool) : pool_(pool), workspace_(HostMemory()) {}

  // ---- memory: the host's
  DeviceKind kind() const override { return DeviceKind::kCpu; }
  Result<std::unique_ptr<DeviceBuffer>> Allocate(int64_t num_bytes) override {
    return HostMemory().Allocate(num_bytes);
  }
  void CopyWithin(void* dst, const void* src, int64_t n) override { HostMemory().CopyWithin(dst, src, n); }
  void CopyFromHost(void* dst, const void* src, int64_t n) override { HostMemory().CopyFromHost(dst, src, n); }
  void CopyToHost(void* dst, const void* src, int64_t n) override { HostMemory().CopyToHost(dst, src, n); }

  std::string description() const override {
    return "cpu (" + std::string(cpu::IsaName(cpu::ActiveIsa())) + ", " + std::to_string(pool_.num_threads()) +
           " threads)";
  }

  Result<std::unique_ptr<BackendMatrix>> UploadMatrix(const Tensor& w,
                                                      std::shared_ptr<const cpu::PackedWeight> packed) override {
    if (w.shape().size() != 2) return InvalidArgument("a backend matrix must be 2-D");
    if (!cpu::IsMatMulDType(w.dtype())) {
      return Unsupported("the CPU backend cannot multiply " + std::string(DTypeName(w.dtype())) + " weights");
    }
    return std::unique_ptr<BackendMatrix>(new CpuMatrix(w, std::move(packed)));
  }

  Result<DeviceVector> UploadVector(std::span<const float> values) override {
    vectors_.emplace_back(values.begin(), values.end());
    return DeviceVector{vectors_.back().data(), static_cast<int64_t>(values.size())};
  }

  Workspace& workspace() override { return workspace_; }

  Status BeginForward(const ForwardContext& ctx, std::span<const float> rope_rows, int64_t rot_dim) override {
    ctx_ = &ctx;
    rope_ = rope_rows.data();
    rot_dim_ = rot_dim;
    return Status::Ok();
  }
  Status FinishForward() override {
    ctx_ = nullptr;
    return Status::Ok();
  }

  void Embed(const BackendMatrix& table, float* out) override {
    const int64_t h = table.cols();
    for (int64_t r = 0; r < ctx_->num_rows; ++r) {
      cpu::WeightRowsToF32(Cpu(table).tensor(), ctx_->tokens[r], 1, out + r * h);
    }
  }
  void RmsNorm(const float* x, const DeviceVector& w, int64_t rows, int64_t dim, float eps, float* out) override {
    cpu::RmsNorm(x, w.data, rows, dim, eps, out);
  }
  void MatMul(const float* x, int64_t rows, const BackendMatrix& w, const DeviceVector* bias, float* y) override {
    const CpuMatrix& m = Cpu(w);
    cpu::MatMul(pool_, x, rows, w.cols(), m.tensor(), m.packed(), bias == nullptr || bias->empty() ? nullptr : bias->data,
                y);
  }
  void SiluMul(const float* gate, const float* up, int64_t n, float* out) override { cpu::SiluMul(gate, up, n, out); }
  void Add(float* y, const float* x, int64_t n) override { cpu::AddInPlace(y, x, n); }
  void Fill(float* x, int64_t n, float value) override { std::fill(x, x + n, value); }

  void Rope(float* x, int64_t row_stride, int64_t num_heads, int64_t head_stride, cpu::RopeStyle style) override {
    for (int64_t r = 0; r < ctx_->num_rows; ++r) {
      const float* cos = rope_ + r * rot_dim_;
      cpu::ApplyRope(x + r * row_stride, num_heads, head_stride, rot_dim_, cos, cos + rot_dim_ / 2, style);
    }
  }

  void Attention(int64_t layer, const cpu::AttentionShape& shape, const float* q, const float* k, const float* v,
                 float* out) override {
    const ForwardContext& ctx = *ctx_;
    const int64_t q_dim = shape.num_heads * shape.head_dim, k_dim = shape.num_kv_heads * shape.head_dim;
    const int64_t v_dim = shape.num_kv_heads * shape.v_head_dim, o_dim = shape.num_heads * shape.v_head_dim;
    for (size_t e = 0; e < ctx.batch.size(); ++e) {
      KvCache& cache = *ctx.batch[e].cache;
      const int64_t r0 = ctx.row_begin[e], n = ctx.num_new(e), p0 = ctx.first_pos(e);
      const KvRows k_rows = cache.first_rows(layer);   // (capacity, kv_heads, head_dim), paged
      const KvRows v_rows = cache.second_rows(layer);  // (capacity, kv_heads, v_head_dim), paged
      for (int64_t t = 0; t < n; ++t) {
        std::copy_n(k + (r0 + t) * k_dim, k_dim, k_rows.row(p0 + t));
        std::copy_n(v + (r0 + t) * v_dim, v_dim, v_rows.row(p0 + t));
      }
      cpu::CausalAttention(pool_, shape, q + r0 * q_dim, n, p0, k_rows, v_rows, out + r0 * o_dim);
    }
  }

  void MlaAttention(int64_t layer, const MlaShape& s, const float* q, const float* kv_a, const DeviceVector& kv_a_norm,
                    const BackendMatrix& kv_b_matrix, float* out) override;

  void MoeRoute(const ModelConfig& config, const float* router_logits, int64_t rows, const DeviceVector* correction_bias,
                int32_t* ids, float* weights) override {
    const int64_t n = config.n_routed_experts, k = config.num_experts_per_tok;
    const float* bias = correction_bias == nullptr || correction_bias->empty() ? nullptr : correction_bias->data;
    for (int64_t r = 0; r < rows; ++r) RouteToken(config, router_logits + r * n, bias, ids + r * k, weights + r * k);
  }

  void MoeExperts(std::span<const ExpertWeights> experts, int64_t top_k, const float* x, int64_t rows,
                  const int32_t* ids, const float* weights, float* out) override;

  void GatherLogitsRows(const float* x, int64_t width, float* out) override {
    for (size_t i = 0; i < ctx_->logits_rows.size(); ++i) {
      std::copy_n(x + ctx_->logits_rows[i] * width, width, out + static_cast<int64_t>(i) * width);
    }
  }

 private:
  ThreadPool& pool_;
  Workspace workspace_;
  std::deque<std::vector<float>> vectors_;  // UploadVector's copies; a deque never moves them
  const ForwardContext* ctx_ = nullptr;
  const float* rope_ = nullptr;
  int64_t rot_dim_ = 0;
};

void CpuBackend::MlaAttention(int64_t layer, const MlaShape& s, const float* q, const float* kv_a,
                              const DeviceVector& kv_a_norm, const BackendMatrix& kv_b_matrix, float* out) {
  const ForwardContext& ctx = *ctx_;
  const int64_t nh = s.num_heads, nope = s.nope_dim, rope_dim = s.rope_dim, vd = s.v_head_dim, r = s.kv_lora_rank;
  const int64_t qk = nope + rope_dim, kv_a_dim = r + rope_dim;
  FATHOM_CHECK(r <= kMaxMlaLatent);
  const float* kv_b = Cpu(kv_b_matrix).tensor().data_as<const float>();
  for (size_t e = 0; e < ctx.batch.size(); ++e) {
    KvCache& cache = *ctx.batch[e].cache;
    const int64_t r0 = ctx.row_begin[e], n = ctx.num_new(e), p0 = ctx.first_pos(e);
    const KvRows latent = cache.first_rows(layer);  // (capacity, kv_lora_rank), paged
    const KvRows k_pe = cache.second_rows(layer);   // (capacity, qk_rope_head_dim), paged
    for (int64_t t = 0; t < n; ++t) {
      const float* row = kv_a + (r0 + t) * kv_a_dim;
      cpu::RmsNorm(row, kv_a_norm.data, 1, r, s.latent_eps, latent.row(p0 + t));
      std::copy_n(row + r, rope_dim, k_pe.row(p0 + t));
    }
    pool_.ParallelFor(n * nh, 1, [&](int64_t begin, int64_t end) {
      float q_abs[kMaxMlaLatent];  // (kv_lora_rank) = W_UK_h^T q_nope
      float o_lat[kMaxMlaLatent];  // (kv_lora_rank): the attention output in latent space
      for (int64_t job = begin; job < end; ++job) {
        const int64_t t = job / nh, hh = job % nh, len = p0 + t + 1;
        const float* qh = q + (r0 + t) * nh * qk + hh * qk;
        const float* w_uk = kv_b + hh * (nope + vd) * r;  // (nope, r)
        const float* w_uv = w_uk + nope * r;               // (vd, r)
        std::fill(q_abs, q_abs + r, 0.0f);
        for (int64_t d = 0; d < nope; ++d) cpu::Axpy(qh[d], w_uk + d * r, r, q_abs);
        cpu::AttendOnline(
            len, r,
            [&](int64_t s0, int64_t count, float* scores) {
              ForEachBlockRun(latent.block_size, s0, count, [&](int64_t i, int64_t run) {
                const float* lat = latent.row(s0 + i);
                const float* pe = k_pe.row(s0 + i);
                for (int64_t j = 0; j < run; ++j) {
                  scores[i + j] = (cpu::Dot(q_abs, lat + j * r, r) + cpu::Dot(qh + nope, pe + j * rope_dim, rope_dim)) *
                                  s.scale;
                }
              });
            },
            [&](int64_t pos) { return latent.row(pos); }, o_lat);
        float* oh = out + ((r0 + t) * nh + hh) * vd;
        for (int64_t d = 0; d < vd; ++d) oh[d] = cpu::Dot(w_uv + d * r, o_lat, r);
      }
    });
  }
}

void CpuBackend::MoeExperts(std::span<const ExpertWeights> experts, int64_t k, const float* x, int64_t rows,
                            const int32_t* ids, const float* weights, float* out) {
  using Buf = Workspace::Buf;
  using IntBuf = Workspace::IntBuf;
  const int64_t n = static_cast<int64_t>(experts.size());
  // Group the (row, weight) pairs by expert with a counting sort, so each expert
  // runs once over all its rows and its weights are read once per forward.
  int32_t* begin = workspace_.Ints(IntBuf::kExpertBegin, n + 1);               // (n_routed_experts + 1)
  int32_t* routed_rows = workspace_.Ints(IntBuf::kRoutedRows, rows * k);        // (rows * top_k), by expert
  float* routed_weights = workspace_.Floats(Buf::kRoutedWeights, rows * k);     // (rows * top_k), by expert
  std::fill(begin, begin + n + 1, 0);
  for (int64_t i = 0; i < rows * k; ++i) ++begin[ids[i] + 1];
  for (int64_t e = 0; e < n; ++e) begin[e + 1] += begin[e];
  for (int64_t r = 0; r < rows; ++r) {  // rows in order within each expert
    for (int64_t i = 0; i < k; ++i) {
      const int32_t e = ids[r * k + i];
      const int32_t slot = begin[e]++;
      routed_rows[slot] = static_cast<int32_t>(r);
      routed_weights[slot] = weights[r * k + i];
    }
  }
  for (int64_t e = n; e > 0; --e) begin[e] = begin[e - 1];  // the fill advanced each start to its end
  begin[0] = 0;
  for (int64_t e = 0; e < n; ++e) {
    const int64_t first = begin[e], m = begin[e + 1] - first;
    if (m == 0) continue;
    const ExpertWeights& w = experts[e];
    const int64_t h = w.gate->cols(), inter = w.gate->rows();
    float* gathered = workspace_.Floats(Buf::kGathered, m * h);     // (m, hidden)
    float* expert_out = workspace_.Floats(Buf::kExpertOut, m * h);  // (m, hidden)
    float* gate = workspace_.Floats(Buf::kMlpGate, m * inter);      // (m, intermediate)
    float* up = workspace_.Floats(Buf::kMlpUp, m * inter);          // (m, intermediate)
    for (int64_t i = 0; i < m; ++i) std::copy_n(x + int64_t{routed_rows[first + i]} * h, h, gathered + i * h);
    MatMul(gathered, m, *w.gate, nullptr, gate);
    MatMul(gathered, m, *w.up, nullptr, up);
    cpu::SiluMul(gate, up, m * inter, gate);
    MatMul(gate, m, *w.down, nullptr, expert_out);
    for (int64_t i = 0; i < m; ++i) {
      cpu::Axpy(routed_weights[first + i], expert_out + i * h, h, out + int64_t{routed_rows[first + i]} * h);
    }
  }
}

}  // namespace

std::unique_ptr<Backend> CreateCpuBackend(ThreadPool& pool) { return std::make_unique<CpuBackend>(pool); }

}  // namespace fathom

// The one interface the model code computes through, so each family's forward
// is written once: the CPU backend (backend/cpu_backend.h) runs the kernels in
// kernels/cpu on a thread pool; the CUDA backend (backend/cuda_backend.h) runs
// cuBLAS and the kernels in kernels/cuda on one stream. `--device cpu|cuda`
// picks one (CreateBackend).
//
// The model loads its weights through UploadMatrix / UploadVector once, then
// runs every forward as
//   BeginForward(ctx, rope rows) -> ops on the workspace's buffers -> logits
//   copied to the host -> FinishForward()
// Every float* an op takes lives in this backend's memory (the workspace, an
// uploaded weight, a KV pool allocated from it); host data reaches the backend
// only through BeginForward and DeviceMemory::CopyFromHost.
//
// Non-obvious rules:
// - Ops return nothing: a GPU backend queues them and reports the first failure
//   from FinishForward (naming the call and CUDA's message); the CPU backend
//   cannot fail once its buffers exist.
// - Ops that need the batch's layout (Embed, Rope, Attention, MlaAttention,
//   GatherLogitsRows) read what BeginForward was given: positions, tokens, the
//   caches' block tables and the rope rows of every packed row.
// - RunStep's body must issue only backend ops whose arguments depend on nothing
//   but the batch's shape (every pointer from the workspace or the weights), so
//   a GPU backend may capture it once as a graph and replay it for every later
//   decode step of that shape.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backend/device_memory.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "formats/model_config.h"
#include "kernels/cpu/attention.h"  // cpu::AttentionShape
#include "kernels/cpu/rope.h"       // cpu::RopeStyle
#include "model/workspace.h"

namespace fathom {

namespace cpu {
class PackedWeight;
}
struct ForwardContext;

// A weight matrix (rows = out_features, cols = in_features) as one backend
// multiplies it, uploaded once. Only the backend that made it reads it.
class BackendMatrix {
 public:
  virtual ~BackendMatrix() = default;
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  // The dtype the backend multiplies (may differ from the file's: a GPU keeps
  // F16 / BF16 / F32 and the int8 / int4 block formats, and widens the rest).
  DType dtype() const { return dtype_; }
  // Bytes a product with one activation row reads.
  int64_t num_bytes() const { return num_bytes_; }

 protected:
  BackendMatrix(int64_t rows, int64_t cols, DType dtype, int64_t num_bytes)
      : rows_(rows), cols_(cols), dtype_(dtype), num_bytes_(num_bytes) {}

 private:
  int64_t rows_, cols_;
  DType dtype_;
  int64_t num_bytes_;
};

// float32 values in backend memory, owned by the backend for its lifetime.
struct DeviceVector {
  const float* data = nullptr;
  int64_t size = 0;
  bool empty() const { return size == 0; }
};

// DeepSeek's multi-head latent attention in absorbed form (model/mla_attention.h
// has the algebra): per row, q is (num_heads, nope + rope_dim) with the rope part
// already rotated; kv_a is (kv_lora_rank + rope_dim): the raw latent, then the
// rotated shared rope key.
struct MlaShape {
  int64_t num_heads = 0;
  int64_t nope_dim = 0;      // qk_nope_head_dim
  int64_t rope_dim = 0;      // qk_rope_head_dim
  int64_t v_head_dim = 0;
  int64_t kv_lora_rank = 0;
  float scale = 1.0f;        // softmax scale
  float latent_eps = 1e-6f;  // kv_a_layernorm's eps
};

// One routed expert's SwiGLU matrices: gate and up (moe_intermediate, hidden),
// down (hidden, moe_intermediate).
struct ExpertWeights {
  const BackendMatrix* gate = nullptr;
  const BackendMatrix* up = nullptr;
  const BackendMatrix* down = nullptr;
};

// A borrowed callable, for RunStep: unlike std::function it never allocates (a
// decode step must not), and it must not outlive the callable it refers to.
class StepBody {
 public:
  template <typename F>
  StepBody(F& f)  // NOLINT: built implicitly from a lambda at the call
      : callable_(&f), call_([](void* c) { (*static_cast<F*>(c))(); }) {}
  void operator()() const { call_(callable_); }

 private:
  void* callable_;
  void (*call_)(void*);
};

// Thread-compatible: one forward at a time (as CausalLm).
class Backend : public DeviceMemory {
 public:
  // "cpu (avx512, 16 threads)", "cuda:0 NVIDIA H100 80GB HBM3 (sm_90)".
  virtual std::string description() const = 0;

  // ---- weights, once at load

  // w (rows, cols) as this backend multiplies it. `packed` is w packed for the
  // CPU's active ISA, or null; other backends ignore it. A CPU matrix keeps a
  // view of w, so w's storage (the file mapping) must outlive the matrix.
  // Unsupported names a dtype the backend cannot multiply.
  virtual Result<std::unique_ptr<BackendMatrix>> UploadMatrix(const Tensor& w,
                                                              std::shared_ptr<const cpu::PackedWeight> packed) = 0;
  virtual Result<DeviceVector> UploadVector(std::span<const float> values) = 0;

  // The activation buffers every block borrows, in this backend's memory.
  virtual Workspace& workspace() = 0;

  // ---- one forward

  // Makes ctx's layout visible to the ops: tokens, positions, the entries' rows
  // and caches (block tables), the rows whose logits are wanted, and rope_rows
  // (ctx.num_rows, rot_dim) = each row's [cos | sin] from RopeTable::CosSinRows.
  // ctx must stay alive and unchanged until FinishForward.
  virtual Status BeginForward(const ForwardContext& ctx, std::span<const float> rope_rows, int64_t rot_dim) = 0;
  // Runs body, which issues this forward's ops (see the rules above).
  virtual void RunStep(StepBody body) { body(); }
  // Waits for the queued ops and returns the first error among them.
  virtual Status FinishForward() = 0;

  // ---- ops; sizes in floats, rows = ctx.num_rows unless a count is given

  // out (rows, hidden) = the rows of `table` (vocab, hidden) named by ctx's tokens.
  virtual void Embed(const BackendMatrix& table, float* out) = 0;
  // out (rows, dim) = x / rms(x) * weight per row; out may equal x.
  virtual void RmsNorm(const float* x, const DeviceVector& weight, int64_t rows, int64_t dim, float eps,
                       float* out) = 0;
  // y (rows, w.rows()) = x (rows, w.cols()) w^T (+ bias). y must not alias x.
  virtual void MatMul(const float* x, int64_t rows, const BackendMatrix& w, const DeviceVector* bias, float* y) = 0;
  // out = silu(gate) * up, elementwise over n; out may equal gate.
  virtual void SiluMul(const float* gate, const float* up, int64_t n, float* out) = 0;
  // y += x over n.
  virtual void Add(float* y, const float* x, int64_t n) = 0;
  // x[0..n) = value.
  virtual void Fill(float* x, int64_t n, float value) = 0;
  // Rotates the first rot_dim values of num_heads heads in every row: row r's
  // head h starts at x + r * row_stride + h * head_stride; row r turns by its
  // BeginForward rope row.
  virtual void Rope(float* x, int64_t row_stride, int64_t num_heads, int64_t head_stride, cpu::RopeStyle style) = 0;
  // Writes every row's k (num_kv_heads * head_dim) and v (num_kv_heads *
  // v_head_dim) to its entry's cache at its position in `layer`, then out (rows,
  // num_heads, v_head_dim) = causal attention of q (rows, num_heads, head_dim)
  // over each entry's cache up to the row's own position.
  virtual void Attention(int64_t layer, const cpu::AttentionShape& shape, const float* q, const float* k,
                         const float* v, float* out) = 0;
  // MLA for every row: writes RmsNorm(latent) * kv_a_norm and the rope key of
  // kv_a to the caches of `layer` (first stream: kv_lora_rank, second: rope_dim),
  // then out (rows, num_heads, v_head_dim) by the absorbed form, with kv_b
  // (num_heads * (nope + v_head_dim), kv_lora_rank) from UploadMatrix of float32.
  virtual void MlaAttention(int64_t layer, const MlaShape& shape, const float* q, const float* kv_a,
                            const DeviceVector& kv_a_norm, const BackendMatrix& kv_b, float* out) = 0;
  // For each of `rows` rows of router_logits (rows, n_routed_experts): the
  // config's top num_experts_per_tok experts and their weights, exactly as
  // model/moe.h's RouteToken. correction_bias is null unless noaux_tc.
  virtual void MoeRoute(const ModelConfig& config, const float* router_logits, int64_t rows,
                        const DeviceVector* correction_bias, int32_t* ids, float* weights) = 0;
  // out (rows, hidden) += sum_i weights[r, i] * expert ids[r, i](x[r]) with each
  // expert run once over all the rows routed to it; ids, weights (rows, top_k).
  virtual void MoeExperts(std::span<const ExpertWeights> experts, int64_t top_k, const float* x, int64_t rows,
                          const int32_t* ids, const float* weights, float* out) = 0;
  // out (ctx.logits_rows.size(), width) = those rows of x (rows, width).
  virtual void GatherLogitsRows(const float* x, int64_t width, float* out) = 0;
};

// CPU backend on `pool` (which must outlive it), or the CUDA backend on device
// 0. Unsupported when this build has no CUDA or no GPU is visible, saying which.
Result<std::unique_ptr<Backend>> CreateBackend(DeviceKind kind, ThreadPool& pool);

}  // namespace fathom

// CudaBackend: the Backend of backend.h on one NVIDIA GPU (see cuda_backend.h).
//
// Products: float32 weights go through cublasSgemm (default math, so no TF32 and
// float32 results within 1e-4 of the CPU); float16 / bfloat16 weights through
// cublasGemmEx with the activations rounded to the weight's type and float32
// accumulation and output. GGUF Q8_0 / Q4_0 weights stay in their blocks: up to
// 32 rows use fathom's GEMV (one pass over the blocks per 8 rows), larger batches
// widen kDequantTileBytes of weight rows at a time to bfloat16 and use cuBLAS,
// since a prefill is compute-bound and a bounded tile keeps the extra memory
// small even for a 150k-row LM head. Other block formats are widened to bfloat16
// on the host at upload.
//
// Non-obvious rules: the batch's int32 metadata and rope rows travel in ONE
// host-to-device copy per forward into a persistent buffer, so a captured decode
// graph reads each step's block tables from the same addresses. A graph is
// captured only on the second step of a shape (the first, run eagerly, grows
// every buffer the shape needs), so capture never allocates; any capture that
// fails falls back to running the body eagerly.
#include "backend/cuda_backend.h"

#ifndef FATHOM_HAS_CUDA

namespace fathom {

Result<std::unique_ptr<Backend>> CreateCudaBackend(int /*device_index*/) {
  return Unsupported("this fathom was built without CUDA; build it with the cuda preset (scripts/build.sh cuda) "
                     "to use --device cuda");
}

}  // namespace fathom

#else  // FATHOM_HAS_CUDA

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "core/convert.h"
#include "core/float_formats.h"
#include "kernels/cuda/attention_kernels.h"
#include "kernels/cuda/batch_layout.h"
#include "kernels/cuda/elementwise_kernels.h"
#include "kernels/cuda/moe_kernels.h"
#include "kernels/cuda/quant_kernels.h"
#include "model/forward_context.h"
#include "model/kv_cache.h"

namespace fathom {
namespace {

using cuda::WeightFormat;

constexpr int64_t kMiB = 1024 * 1024;
constexpr int64_t kCublasWorkspaceBytes = 32 * kMiB;
constexpr int64_t kDequantTileBytes = 64 * kMiB;     // bf16 weight rows widened per cuBLAS call
constexpr int64_t kUploadChunkElems = 16 * kMiB;     // host floats per widening step at upload
constexpr size_t kMaxGraphs = 256;                   // captured decode shapes kept at once
constexpr int64_t kMaxGemvPasses = 4;                // quantised products up to 4 * kMaxGemvRows rows use the GEMV

Status CudaStatus(cudaError_t err, const char* call) {
  if (err == cudaSuccess) return Status::Ok();
  return Internal(std::string(call) + ": " + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")");
}

Status CublasStatus(cublasStatus_t st, const char* call) {
  if (st == CUBLAS_STATUS_SUCCESS) return Status::Ok();
  return Internal(std::string(call) + ": " + cublasGetStatusName(st) + " (" + cublasGetStatusString(st) + ")");
}

// True while this thread captures a graph: memory calls then need the relaxed
// capture mode, or CUDA refuses them (and a refused cudaFree would leak).
thread_local bool t_capturing = false;

// Runs fn (a cudaMalloc or cudaFree) so that a capture on this thread allows it.
template <typename Fn>
cudaError_t OutsideCapture(Fn fn) {
  if (!t_capturing) return fn();
  cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
  cudaThreadExchangeStreamCaptureMode(&mode);
  const cudaError_t err = fn();
  cudaThreadExchangeStreamCaptureMode(&mode);
  return err;
}

class CudaBuffer final : public DeviceBuffer {
 public:
  CudaBuffer(void* data, int64_t num_bytes) : DeviceBuffer(data, num_bytes) {}
  ~CudaBuffer() override {
    if (data() != nullptr) OutsideCapture([&] { return cudaFree(data()); });
  }
};

// Page-locked host memory, so cudaMemcpyAsync from it is truly asynchronous and
// may be captured. Not copyable.
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  ~PinnedBuffer() {
    if (data_ != nullptr) cudaFreeHost(data_);
  }
  void* data() const { return data_; }
  // At least num_bytes; the contents are lost when it grows.
  Status Reserve(int64_t num_bytes) {
    if (num_bytes <= size_) return Status::Ok();
    if (data_ != nullptr) cudaFreeHost(data_);
    data_ = nullptr;
    size_ = 0;
    const int64_t want = std::max<int64_t>(num_bytes, 4096) * 3 / 2;
    FATHOM_RETURN_IF_ERROR(CudaStatus(cudaMallocHost(&data_, static_cast<size_t>(want)), "cudaMallocHost"));
    size_ = want;
    return Status::Ok();
  }

 private:
  void* data_ = nullptr;
  int64_t size_ = 0;
};

class CudaMatrix final : public BackendMatrix {
 public:
  CudaMatrix(int64_t rows, int64_t cols, DType dtype, WeightFormat format, std::unique_ptr<DeviceBuffer> data)
      : BackendMatrix(rows, cols, dtype, data->num_bytes()), format_(format), data_(std::move(data)) {}
  WeightFormat format() const { return format_; }
  const void* data() const { return data_->data(); }

 private:
  WeightFormat format_;
  std::unique_ptr<DeviceBuffer> data_;  // (rows, cols) in format_
};

// What a captured decode graph depends on besides the weights: the shape, the
// metadata buffer's address, where the KV pool's layers sit (a pool freed and
// made again may reuse the address with another size) and the workspace's
// buffers. Backend-private scratch is not in it: moving any clears every graph.
struct GraphKey {
  int32_t num_rows, num_entries, max_blocks, block_size, rot_dim, num_logits;
  const void* meta;
  const void* pool_data;
  int64_t pool_blocks;
  uint64_t workspace_generation;

  bool operator<(const GraphKey& o) const {
    return std::tie(num_rows, num_entries, max_blocks, block_size, rot_dim, num_logits, meta, pool_data, pool_blocks,
                    workspace_generation) < std::tie(o.num_rows, o.num_entries, o.max_blocks, o.block_size, o.rot_dim,
                                                     o.num_logits, o.meta, o.pool_data, o.pool_blocks,
                                                     o.workspace_generation);
  }
};

bool SameDims(const cuda::AttentionDims& a, const cuda::AttentionDims& b) {
  return a.num_heads == b.num_heads && a.num_kv_heads == b.num_kv_heads && a.head_dim == b.head_dim &&
         a.v_head_dim == b.v_head_dim;
}
bool SameDims(const cuda::MlaDims& a, const cuda::MlaDims& b) {
  return a.num_heads == b.num_heads && a.nope_dim == b.nope_dim && a.rope_dim == b.rope_dim &&
         a.v_head_dim == b.v_head_dim && a.kv_lora_rank == b.kv_lora_rank;
}

// A captured step and the attention shapes it used, whose scratch needs are
// re-checked before each replay (they may depend on the batch's lengths).
struct CapturedStep {
  cudaGraphExec_t exec = nullptr;
  std::vector<cuda::AttentionDims> attention;
  std::vector<cuda::MlaDims> mla;
};

int64_t RoundUpPow2(int64_t n) {
  int64_t p = 1;
  while (p < n) p *= 2;
  return p;
}

// Thread-compatible for the forward (one at a time); Allocate is thread-safe.
class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device) : device_(device), workspace_(*this) {
    const char* env = std::getenv("FATHOM_CUDA_GRAPHS");
    graphs_enabled_ = env == nullptr || std::string(env) != "0";
  }
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  ~CudaBackend() override {
    cudaSetDevice(device_);
    if (stream_ != nullptr) cudaStreamSynchronize(stream_);
    ClearGraphs();
    if (cublas_ != nullptr) cublasDestroy(cublas_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  // Creates the stream and the cuBLAS handle. Called once, before any other use.
  Status Init() {
    FATHOM_RETURN_IF_ERROR(CudaStatus(cudaSetDevice(device_), "cudaSetDevice"));
    cudaDeviceProp prop{};
    FATHOM_RETURN_IF_ERROR(CudaStatus(cudaGetDeviceProperties(&prop, device_), "cudaGetDeviceProperties"));
    const int64_t gib = static_cast<int64_t>(prop.totalGlobalMem) / (1024 * kMiB);
    description_ = "cuda:" + std::to_string(device_) + " " + prop.name + " (sm_" + std::to_string(prop.major) +
                   std::to_string(prop.minor) + ", " + std::to_string(gib) + " GiB)";
    FATHOM_RETURN_IF_ERROR(
        CudaStatus(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreateWithFlags"));
    FATHOM_RETURN_IF_ERROR(CublasStatus(cublasCreate(&cublas_), "cublasCreate"));
    FATHOM_RETURN_IF_ERROR(CublasStatus(cublasSetStream(cublas_, stream_), "cublasSetStream"));
    FATHOM_RETURN_IF_ERROR(CublasStatus(cublasSetMathMode(cublas_, CUBLAS_DEFAULT_MATH), "cublasSetMathMode"));
    // A workspace of our own, so cuBLAS never allocates while a graph is captured.
    FATHOM_ASSIGN_OR_RETURN(cublas_workspace_, Allocate(kCublasWorkspaceBytes));
    FATHOM_RETURN_IF_ERROR(CublasStatus(
        cublasSetWorkspace(cublas_, cublas_workspace_->data(), static_cast<size_t>(kCublasWorkspaceBytes)),
        "cublasSetWorkspace"));
    return Status::Ok();
  }

  // ---- DeviceMemory

  DeviceKind kind() const override { return DeviceKind::kCuda; }

  Result<std::unique_ptr<DeviceBuffer>> Allocate(int64_t num_bytes) override {
    if (num_bytes < 0) return InvalidArgument("cuda: cannot allocate " + std::to_string(num_bytes) + " bytes");
    FATHOM_RETURN_IF_ERROR(CudaStatus(cudaSetDevice(device_), "cudaSetDevice"));
    // A buffer that grows during a capture is allowed, and the capture is thrown
    // away (its pointers are stale).
    if (t_capturing) capture_grew_ = true;
    void* data = nullptr;
    const cudaError_t err =
        OutsideCapture([&] { return cudaMalloc(&data, static_cast<size_t>(std::max<int64_t>(num_bytes, 1))); });
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      return ResourceExhausted("cuda: out of device memory allocating " +
                               std::to_string((num_bytes + kMiB - 1) / kMiB) + " MiB on " + description_);
    }
    FATHOM_RETURN_IF_ERROR(CudaStatus(err, "cudaMalloc"));
    return std::unique_ptr<DeviceBuffer>(new CudaBuffer(data, num_bytes));
  }

  void CopyWithin(void* dst, const void* src, int64_t num_bytes) override {
    if (num_bytes <= 0) return;
    Check(cudaMemcpyAsync(dst, src, static_cast<size_t>(num_bytes), cudaMemcpyDeviceToDevice, stream_),
          "cudaMemcpyAsync (device to device)");
  }
  void CopyFromHost(void* dst, const void* host_src, int64_t num_bytes) override {
    Record(CopyFromHostNow(dst, host_src, num_bytes));
  }
  void CopyToHost(void* host_dst, const void* src, int64_t num_bytes) override {
    if (num_bytes <= 0) return;
    Check(cudaMemcpyAsync(host_dst, src, static_cast<size_t>(num_bytes), cudaMemcpyDeviceToHost, stream_),
          "cudaMemcpyAsync (device to host)");
    Check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize (after a copy to the host)");
  }
  int64_t FreeBytes() const override {
    size_t free_bytes = 0, total_bytes = 0;
    if (cudaSetDevice(device_) != cudaSuccess || cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) {
      cudaGetLastError();
      return -1;
    }
    return static_cast<int64_t>(free_bytes);
  }

  // ---- Backend: weights

  std::string description() const override { return description_; }

  Result<std::unique_ptr<BackendMatrix>> UploadMatrix(const Tensor& w,
                                                      std::shared_ptr<const cpu::PackedWeight> /*packed*/) override {
    if (w.ndim() != 2 || !w.is_contiguous()) {
      return InvalidArgument("cuda: UploadMatrix takes a contiguous 2-D tensor, got " + w.ShapeString());
    }
    const int64_t rows = w.dim(0), cols = w.dim(1);
    WeightFormat format = WeightFormat::kBF16;
    switch (w.dtype()) {
      case DType::kF32: format = WeightFormat::kF32; break;
      case DType::kF16: format = WeightFormat::kF16; break;
      case DType::kBF16: format = WeightFormat::kBF16; break;
      case DType::kQ8_0: format = WeightFormat::kQ8_0; break;
      case DType::kQ4_0: format = WeightFormat::kQ4_0; break;
      default: return UploadWidenedToBf16(w);
    }
    FATHOM_ASSIGN_OR_RETURN(auto buffer, Allocate(w.num_bytes()));
    FATHOM_RETURN_IF_ERROR(CopyFromHostNow(buffer->data(), w.data(), w.num_bytes()));
    return std::unique_ptr<BackendMatrix>(new CudaMatrix(rows, cols, w.dtype(), format, std::move(buffer)));
  }

  Result<DeviceVector> UploadVector(std::span<const float> values) override {
    if (values.empty()) return DeviceVector{};
    const int64_t num_bytes = static_cast<int64_t>(values.size() * sizeof(float));
    FATHOM_ASSIGN_OR_RETURN(auto buffer, Allocate(num_bytes));
    FATHOM_RETURN_IF_ERROR(CopyFromHostNow(buffer->data(), values.data(), num_bytes));
    DeviceVector v{.data = buffer->as<float>(), .size = static_cast<int64_t>(values.size())};
    std::lock_guard<std::mutex> lock(vectors_mutex_);
    vectors_.push_back(std::move(buffer));
    return v;
  }

  Workspace& workspace() override { return workspace_; }

  // ---- Backend: one forward

  Status BeginForward(const ForwardContext& ctx, std::span<const float> rope_rows, int64_t rot_dim) override;
  void RunStep(StepBody body) override;

  Status FinishForward() override {
    Check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
    Status s = std::move(status_);
    status_ = Status::Ok();
    ctx_ = nullptr;
    pool_ = nullptr;
    return s;
  }

  // ---- Backend: ops

  void Embed(const BackendMatrix& table, float* out) override {
    const auto& m = static_cast<const CudaMatrix&>(table);
    cuda::LaunchEmbed(m.format(), m.data(), m.rows(), m.cols(), layout_.tokens, layout_.num_rows, out, stream_);
    CheckLaunch("LaunchEmbed");
  }

  void RmsNorm(const float* x, const DeviceVector& weight, int64_t rows, int64_t dim, float eps, float* out) override {
    if (weight.size != dim) {
      Record(InvalidArgument("cuda RmsNorm: weight has " + std::to_string(weight.size) + " values for dim " +
                             std::to_string(dim)));
      return;
    }
    cuda::LaunchRmsNorm(x, weight.data, rows, dim, eps, out, stream_);
    CheckLaunch("LaunchRmsNorm");
  }

  void MatMul(const float* x, int64_t rows, const BackendMatrix& w, const DeviceVector* bias, float* y) override;

  void SiluMul(const float* gate, const float* up, int64_t n, float* out) override {
    cuda::LaunchSiluMul(gate, up, n, out, stream_);
    CheckLaunch("LaunchSiluMul");
  }

  void Add(float* y, const float* x, int64_t n) override {
    cuda::LaunchAdd(y, x, n, stream_);
    CheckLaunch("LaunchAdd");
  }

  void Fill(float* x, int64_t n, float value) override {
    cuda::LaunchFill(x, n, value, stream_);
    CheckLaunch("LaunchFill");
  }

  void Rope(float* x, int64_t row_stride, int64_t num_heads, int64_t head_stride, cpu::RopeStyle style) override {
    cuda::LaunchRope(x, layout_.num_rows, row_stride, num_heads, head_stride, layout_.rope, layout_.rot_dim,
                     style == cpu::RopeStyle::kInterleaved, stream_);
    CheckLaunch("LaunchRope");
  }

  void Attention(int64_t layer, const cpu::AttentionShape& shape, const float* q, const float* k, const float* v,
                 float* out) override;
  void MlaAttention(int64_t layer, const MlaShape& shape, const float* q, const float* kv_a,
                    const DeviceVector& kv_a_norm, const BackendMatrix& kv_b, float* out) override;
  void MoeRoute(const ModelConfig& config, const float* router_logits, int64_t rows,
                const DeviceVector* correction_bias, int32_t* ids, float* weights) override;
  void MoeExperts(std::span<const ExpertWeights> experts, int64_t top_k, const float* x, int64_t rows,
                  const int32_t* ids, const float* weights, float* out) override;

  void GatherLogitsRows(const float* x, int64_t width, float* out) override {
    cuda::LaunchGatherLogitsRows(x, layout_.logits_rows, layout_.num_logits, width, out, stream_);
    CheckLaunch("LaunchGatherLogitsRows");
  }

 private:
  // Keeps the first error of the forward (later ones are usually its echoes).
  void Record(Status s) {
    if (!s.ok() && status_.ok()) status_ = std::move(s);
  }
  void Check(cudaError_t err, const char* call) {
    if (err == cudaSuccess) return;
    cudaGetLastError();  // a failed call also sets the last error: the next CheckLaunch must not blame its launch
    Record(CudaStatus(err, call));
  }
  void CheckCublas(cublasStatus_t st, const char* call) {
    if (st != CUBLAS_STATUS_SUCCESS) Record(CublasStatus(st, call));
  }
  // After a kernel launch: a bad configuration shows up here at once.
  void CheckLaunch(const char* launcher) { Check(cudaGetLastError(), launcher); }

  Status CopyFromHostNow(void* dst, const void* host_src, int64_t num_bytes) {
    if (num_bytes <= 0) return Status::Ok();
    FATHOM_RETURN_IF_ERROR(CudaStatus(cudaSetDevice(device_), "cudaSetDevice"));
    FATHOM_RETURN_IF_ERROR(CudaStatus(
        cudaMemcpyAsync(dst, host_src, static_cast<size_t>(num_bytes), cudaMemcpyHostToDevice, stream_),
        "cudaMemcpyAsync (host to device)"));
    return CudaStatus(cudaStreamSynchronize(stream_), "cudaStreamSynchronize (after a copy from the host)");
  }

  // A backend-private device buffer of at least num_bytes, grown by half again
  // when too small (the old one is freed only after the stream drained, at the
  // next BeginForward). Returns null after recording the error.
  void* Scratch(std::unique_ptr<DeviceBuffer>& buf, int64_t num_bytes, const char* what) {
    if (buf != nullptr && buf->num_bytes() >= num_bytes) return buf->data();
    const int64_t want = std::max<int64_t>(num_bytes, buf != nullptr ? buf->num_bytes() * 3 / 2 : 0);
    Result<std::unique_ptr<DeviceBuffer>> grown = Allocate(want);
    if (!grown.ok()) {
      Record(grown.status().WithContext(what));
      return nullptr;
    }
    if (buf != nullptr) retired_.push_back(std::move(buf));
    buf = std::move(grown).value();
    graphs_stale_ = true;  // captured graphs may point at the retired buffer
    return buf->data();
  }

  Result<std::unique_ptr<BackendMatrix>> UploadWidenedToBf16(const Tensor& w);
  // x (n) rounded to the 16-bit `type` in act16_; null after recording an error.
  const uint16_t* ActivationsTo16(const float* x, int64_t n, cudaDataType type);
  // y (rows, n; row stride ldy) = x16 (rows, k) w^T with w (n, k), both of 16-bit `type`.
  void Gemm16(const uint16_t* x16, int64_t rows, const void* w, cudaDataType type, int64_t n, int64_t k, float* y,
              int64_t ldy);
  void ClearGraphs();
  GraphKey CurrentKey() const;
  bool ScratchFitsForReplay(const CapturedStep& step) const;
  void CaptureAndLaunch(const GraphKey& key, StepBody body);

  int device_;
  std::string description_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  std::unique_ptr<DeviceBuffer> cublas_workspace_;
  Workspace workspace_;
  std::mutex vectors_mutex_;                            // a loader may upload from several threads
  std::vector<std::unique_ptr<DeviceBuffer>> vectors_;  // every UploadVector
  Status status_;                                       // the forward's first error

  // This forward (BeginForward .. FinishForward).
  const ForwardContext* ctx_ = nullptr;
  const KvBlockPool* pool_ = nullptr;  // every entry's cache pool
  cuda::BatchLayout layout_;      // device pointers into meta_
  bool is_decode_ = false;        // every entry has exactly one new token
  PinnedBuffer staging_;          // host side of meta_
  std::unique_ptr<DeviceBuffer> meta_;

  // Scratch the ops grow on demand.
  std::unique_ptr<DeviceBuffer> act16_;         // (rows, k) activations as 16-bit floats
  std::unique_ptr<DeviceBuffer> dequant_tile_;  // (tile rows, k) bf16 weights
  std::unique_ptr<DeviceBuffer> attn_scratch_;  // the attention kernels' scratch
  std::unique_ptr<DeviceBuffer> moe_gate_;      // (rows, moe_intermediate)
  std::unique_ptr<DeviceBuffer> moe_up_;        // (rows, moe_intermediate)
  PinnedBuffer expert_begin_host_;              // (n_routed_experts + 1)
  std::vector<std::unique_ptr<DeviceBuffer>> retired_;  // grown-out-of scratch, freed at BeginForward

  // CUDA graphs of decode steps.
  bool graphs_enabled_ = true;
  bool capture_disabled_ = false;  // a capture failed for a reason a retry would meet again
  bool graphs_stale_ = false;      // a scratch buffer moved since the graphs were captured
  bool capturing_ = false;           // a graph is being captured (on the thread where t_capturing is set)
  bool capture_grew_ = false;        // a buffer was allocated during the capture
  bool capture_host_sync_ = false;   // an op needed the host during the capture
  bool host_sync_in_step_ = false;   // an op synchronised with the host during this step
  std::vector<cuda::AttentionDims> step_attention_;  // attention shapes of the step being captured
  std::vector<cuda::MlaDims> step_mla_;
  std::map<GraphKey, CapturedStep> graphs_;
  std::set<GraphKey> warmed_;  // shapes run eagerly once with their buffers grown
  uint64_t graphs_workspace_generation_ = 0;  // the workspace generation graphs_ were captured at
};

// ---------------------------------------------------------------- weights

Result<std::unique_ptr<BackendMatrix>> CudaBackend::UploadWidenedToBf16(const Tensor& w) {
  const DType dtype = w.dtype();
  if (!GetDTypeInfo(dtype).can_convert) {
    return Unsupported("cuda: cannot multiply weights stored as " + std::string(DTypeName(dtype)));
  }
  const int64_t rows = w.dim(0), cols = w.dim(1);
  FATHOM_ASSIGN_OR_RETURN(const int64_t row_bytes, DTypeByteSize(dtype, cols));
  FATHOM_ASSIGN_OR_RETURN(auto buffer, Allocate(rows * cols * 2));
  const int64_t chunk_rows =
      std::max<int64_t>(1, std::min<int64_t>(rows, kUploadChunkElems / std::max<int64_t>(cols, 1)));
  std::vector<float> widened(static_cast<size_t>(chunk_rows * cols));     // (chunk_rows, cols)
  std::vector<uint16_t> narrowed(static_cast<size_t>(chunk_rows * cols));  // (chunk_rows, cols) bf16 bits
  const auto* src = static_cast<const uint8_t*>(w.data());
  auto* dst = buffer->as<uint16_t>();
  for (int64_t r0 = 0; r0 < rows; r0 += chunk_rows) {
    const int64_t n = std::min(chunk_rows, rows - r0) * cols;
    FATHOM_RETURN_IF_ERROR(ToFloat32(dtype, src + r0 * row_bytes, n, widened.data()));
    for (int64_t i = 0; i < n; ++i) narrowed[static_cast<size_t>(i)] = F32ToBF16(widened[static_cast<size_t>(i)]);
    FATHOM_RETURN_IF_ERROR(CopyFromHostNow(dst + r0 * cols, narrowed.data(), n * 2));
  }
  return std::unique_ptr<BackendMatrix>(new CudaMatrix(rows, cols, DType::kBF16, WeightFormat::kBF16,
                                                       std::move(buffer)));
}

// ---------------------------------------------------------------- one forward

Status CudaBackend::BeginForward(const ForwardContext& ctx, std::span<const float> rope_rows, int64_t rot_dim) {
  FATHOM_RETURN_IF_ERROR(CudaStatus(cudaSetDevice(device_), "cudaSetDevice"));
  const int64_t num_rows = ctx.num_rows;
  const int64_t num_entries = static_cast<int64_t>(ctx.batch.size());
  const int64_t num_logits = static_cast<int64_t>(ctx.logits_rows.size());
  if (num_rows <= 0 || num_entries <= 0) return InvalidArgument("cuda: a forward needs at least one row");
  if (rot_dim < 0 || static_cast<int64_t>(rope_rows.size()) != num_rows * rot_dim) {
    return InvalidArgument("cuda: " + std::to_string(rope_rows.size()) + " rope values for " +
                           std::to_string(num_rows) + " rows of " + std::to_string(rot_dim));
  }
  const KvBlockPool* pool = &ctx.batch[0].cache->pool();
  int64_t longest_table = 1;
  for (const BatchEntry& entry : ctx.batch) {
    if (&entry.cache->pool() != pool) {
      return InvalidArgument("cuda: every sequence of one forward must cache into the same KV block pool");
    }
    longest_table = std::max<int64_t>(longest_table, static_cast<int64_t>(entry.cache->block_table().size()));
  }
  if (&pool->memory() != static_cast<const DeviceMemory*>(this)) {
    return InvalidArgument("cuda: the KV cache is not in this GPU's memory (create it through the CUDA backend)");
  }
  const int64_t max_blocks = RoundUpPow2(longest_table);

  // One int32 array after another, then the rope rows at a 16-byte boundary.
  const int64_t off_tokens = 0, off_positions = num_rows, off_row_entry = 2 * num_rows;
  const int64_t off_row_begin = 3 * num_rows, off_first_pos = off_row_begin + num_entries + 1;
  const int64_t off_tables = off_first_pos + num_entries, off_logits = off_tables + num_entries * max_blocks;
  const int64_t off_rope = (off_logits + num_logits + 3) / 4 * 4;
  const int64_t total_words = off_rope + num_rows * rot_dim;
  if (total_words > INT32_MAX) return InvalidArgument("cuda: the batch's metadata is too large");

  // The staging buffer may still feed the previous forward's copy until the
  // stream drains; so may the retired scratch.
  FATHOM_RETURN_IF_ERROR(CudaStatus(cudaStreamSynchronize(stream_), "cudaStreamSynchronize"));
  retired_.clear();
  const int64_t total_bytes = total_words * 4;
  FATHOM_RETURN_IF_ERROR(staging_.Reserve(total_bytes));
  if (meta_ == nullptr || meta_->num_bytes() < total_bytes) {
    meta_.reset();
    FATHOM_ASSIGN_OR_RETURN(meta_, Allocate(std::max<int64_t>(total_bytes * 3 / 2, 4096)));
    graphs_stale_ = true;
  }

  auto* words = static_cast<int32_t*>(staging_.data());
  int32_t max_new = 0, max_len = 0;
  for (int64_t r = 0; r < num_rows; ++r) {
    const int64_t pos = ctx.positions[static_cast<size_t>(r)];
    if (pos < 0 || pos >= INT32_MAX) return InvalidArgument("cuda: position " + std::to_string(pos) + " out of range");
    words[off_tokens + r] = ctx.tokens[static_cast<size_t>(r)];
    words[off_positions + r] = static_cast<int32_t>(pos);
    max_len = std::max(max_len, static_cast<int32_t>(pos + 1));
  }
  for (int64_t e = 0; e < num_entries; ++e) {
    const auto ue = static_cast<size_t>(e);
    const int64_t begin = ctx.row_begin[ue], end = ctx.row_begin[ue + 1];
    for (int64_t r = begin; r < end; ++r) words[off_row_entry + r] = static_cast<int32_t>(e);
    words[off_row_begin + e] = static_cast<int32_t>(begin);
    words[off_first_pos + e] = static_cast<int32_t>(ctx.first_pos(ue));
    max_new = std::max(max_new, static_cast<int32_t>(end - begin));
    std::span<const int32_t> table = ctx.batch[ue].cache->block_table();
    int32_t* row = words + off_tables + e * max_blocks;
    std::copy(table.begin(), table.end(), row);
    std::fill(row + table.size(), row + max_blocks, 0);
  }
  words[off_row_begin + num_entries] = static_cast<int32_t>(ctx.row_begin[static_cast<size_t>(num_entries)]);
  for (int64_t i = 0; i < num_logits; ++i) {
    words[off_logits + i] = static_cast<int32_t>(ctx.logits_rows[static_cast<size_t>(i)]);
  }
  for (int64_t i = off_logits + num_logits; i < off_rope; ++i) words[i] = 0;
  if (!rope_rows.empty()) std::memcpy(words + off_rope, rope_rows.data(), rope_rows.size_bytes());
  FATHOM_RETURN_IF_ERROR(CudaStatus(cudaMemcpyAsync(meta_->data(), staging_.data(), static_cast<size_t>(total_bytes),
                                                    cudaMemcpyHostToDevice, stream_),
                                    "cudaMemcpyAsync (batch metadata)"));

  const int32_t* dev = meta_->as<int32_t>();
  layout_ = cuda::BatchLayout{};
  layout_.num_rows = static_cast<int32_t>(num_rows);
  layout_.num_entries = static_cast<int32_t>(num_entries);
  layout_.max_new = max_new;
  layout_.max_len = max_len;
  layout_.block_size = static_cast<int32_t>(pool->block_size());
  layout_.max_blocks = static_cast<int32_t>(max_blocks);
  layout_.rot_dim = static_cast<int32_t>(rot_dim);
  layout_.num_logits = static_cast<int32_t>(num_logits);
  layout_.tokens = dev + off_tokens;
  layout_.positions = dev + off_positions;
  layout_.row_entry = dev + off_row_entry;
  layout_.row_begin = dev + off_row_begin;
  layout_.first_pos = dev + off_first_pos;
  layout_.block_tables = dev + off_tables;
  layout_.rope = reinterpret_cast<const float*>(dev + off_rope);
  layout_.logits_rows = dev + off_logits;

  ctx_ = &ctx;
  pool_ = pool;  // const: the kernels write rows through its stream pointers, not through the pool object
  is_decode_ = max_new == 1 && num_rows == num_entries;
  return Status::Ok();
}

GraphKey CudaBackend::CurrentKey() const {
  return GraphKey{layout_.num_rows,
                  layout_.num_entries,
                  layout_.max_blocks,
                  layout_.block_size,
                  layout_.rot_dim,
                  layout_.num_logits,
                  meta_ != nullptr ? meta_->data() : nullptr,
                  pool_ != nullptr ? pool_->first(0) : nullptr,
                  pool_ != nullptr ? pool_->num_blocks() : 0,
                  workspace_.generation()};
}

void CudaBackend::ClearGraphs() {
  for (auto& [key, step] : graphs_) cudaGraphExecDestroy(step.exec);
  graphs_.clear();
  warmed_.clear();
  graphs_stale_ = false;
}

bool CudaBackend::ScratchFitsForReplay(const CapturedStep& step) const {
  const int64_t have = attn_scratch_ != nullptr ? attn_scratch_->num_bytes() : 0;
  for (const auto& d : step.attention) {
    if (cuda::PagedAttentionScratchFloats(layout_, d) * 4 > have) return false;
  }
  for (const auto& d : step.mla) {
    if (cuda::MlaScratchFloats(layout_, d) * 4 > have) return false;
  }
  return true;
}

void CudaBackend::RunStep(StepBody body) {
  if (!graphs_enabled_ || capture_disabled_ || !is_decode_ || !status_.ok()) {
    body();
    return;
  }
  // Graphs of an older workspace point at freed buffers; too many shapes, and the
  // oldest are likely dead (a batch size long gone): start over.
  if (graphs_stale_ || workspace_.generation() != graphs_workspace_generation_ ||
      graphs_.size() >= kMaxGraphs) {
    ClearGraphs();
    graphs_workspace_generation_ = workspace_.generation();
  }
  const GraphKey key = CurrentKey();
  if (auto it = graphs_.find(key); it != graphs_.end()) {
    if (ScratchFitsForReplay(it->second)) {
      Check(cudaGraphLaunch(it->second.exec, stream_), "cudaGraphLaunch");
      return;
    }
    body();  // this step's lengths need more scratch: it grows, and the graphs are captured again
    return;
  }
  if (warmed_.count(key) == 0) {
    // First step of this shape: run eagerly so every buffer reaches its size.
    host_sync_in_step_ = false;
    body();
    if (host_sync_in_step_) {
      capture_disabled_ = true;  // an op needs the host mid-step (MoE): this model cannot be captured
      return;
    }
    if (graphs_stale_ || workspace_.generation() != graphs_workspace_generation_) {
      ClearGraphs();
      graphs_workspace_generation_ = workspace_.generation();
    }
    warmed_.insert(CurrentKey());
    return;
  }
  CaptureAndLaunch(key, body);
}

void CudaBackend::CaptureAndLaunch(const GraphKey& key, StepBody body) {
  capture_grew_ = false;
  capture_host_sync_ = false;
  step_attention_.clear();
  step_mla_.clear();
  cudaError_t err = cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal);
  if (err != cudaSuccess) {
    cudaGetLastError();
    capture_disabled_ = true;
    body();
    return;
  }
  capturing_ = true;
  t_capturing = true;
  body();
  t_capturing = false;
  capturing_ = false;
  cudaGraph_t graph = nullptr;
  err = cudaStreamEndCapture(stream_, &graph);
  cudaGraphExec_t exec = nullptr;
  bool ok = err == cudaSuccess && graph != nullptr && status_.ok() && !capture_grew_ && !capture_host_sync_ &&
            workspace_.generation() == key.workspace_generation;
  if (ok) ok = cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess;
  if (graph != nullptr) cudaGraphDestroy(graph);
  if (!ok) {
    // Nothing recorded in a failed capture ran: forget its errors and run the step for real.
    cudaGetLastError();
    status_ = Status::Ok();
    if (!capture_grew_) capture_disabled_ = true;  // growth is cured by the eager run; anything else recurs
    if (graphs_stale_) ClearGraphs();
    body();
    return;
  }
  graphs_[key] = CapturedStep{.exec = exec, .attention = step_attention_, .mla = step_mla_};
  Check(cudaGraphLaunch(exec, stream_), "cudaGraphLaunch");
}

// ---------------------------------------------------------------- ops

const uint16_t* CudaBackend::ActivationsTo16(const float* x, int64_t n, cudaDataType type) {
  auto* x16 = static_cast<uint16_t*>(Scratch(act16_, n * 2, "cuda MatMul activations"));
  if (x16 == nullptr) return nullptr;
  if (type == CUDA_R_16F) {
    cuda::LaunchF32ToF16(x, n, x16, stream_);
  } else {
    cuda::LaunchF32ToBf16(x, n, x16, stream_);
  }
  CheckLaunch(type == CUDA_R_16F ? "LaunchF32ToF16" : "LaunchF32ToBf16");
  return x16;
}

void CudaBackend::Gemm16(const uint16_t* x16, int64_t rows, const void* w, cudaDataType type, int64_t n, int64_t k,
                         float* y, int64_t ldy) {
  const float alpha = 1.0f, beta = 0.0f;
  // Column-major view: y^T (n, rows) = w (k, n)^T x^T (k, rows).
  CheckCublas(cublasGemmEx(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n), static_cast<int>(rows),
                           static_cast<int>(k), &alpha, w, type, static_cast<int>(k), x16, type, static_cast<int>(k),
                           &beta, y, CUDA_R_32F, static_cast<int>(ldy), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
              "cublasGemmEx");
}

void CudaBackend::MatMul(const float* x, int64_t rows, const BackendMatrix& w, const DeviceVector* bias, float* y) {
  const auto& m = static_cast<const CudaMatrix&>(w);
  const int64_t n = m.rows(), k = m.cols();
  if (rows <= 0 || n <= 0 || k <= 0) return;
  if (rows > INT32_MAX || n > INT32_MAX || k > INT32_MAX || rows * k > INT64_MAX / 2) {
    Record(InvalidArgument("cuda MatMul: sizes past cuBLAS's int range"));
    return;
  }
  switch (m.format()) {
    case WeightFormat::kF32: {
      const float alpha = 1.0f, beta = 0.0f;
      CheckCublas(cublasSgemm(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n), static_cast<int>(rows),
                              static_cast<int>(k), &alpha, static_cast<const float*>(m.data()), static_cast<int>(k), x,
                              static_cast<int>(k), &beta, y, static_cast<int>(n)),
                  "cublasSgemm");
      break;
    }
    case WeightFormat::kF16:
    case WeightFormat::kBF16: {
      // cuBLAS wants both inputs in one type, so x is rounded to w's.
      const cudaDataType type = m.format() == WeightFormat::kF16 ? CUDA_R_16F : CUDA_R_16BF;
      const uint16_t* x16 = ActivationsTo16(x, rows * k, type);
      if (x16 == nullptr) return;
      Gemm16(x16, rows, m.data(), type, n, k, y, n);
      break;
    }
    case WeightFormat::kQ8_0:
    case WeightFormat::kQ4_0: {
      if (rows <= kMaxGemvPasses * cuda::kMaxGemvRows) {
        // Each GEMV pass reads the blocks once (~1.1 bytes a weight); widening
        // to bf16 would move ~5 bytes a weight, so a few passes are cheaper.
        for (int64_t r0 = 0; r0 < rows; r0 += cuda::kMaxGemvRows) {
          const int64_t mr = std::min<int64_t>(cuda::kMaxGemvRows, rows - r0);
          cuda::LaunchQuantGemv(m.format(), m.data(), n, k, x + r0 * k, static_cast<int>(mr), y + r0 * n, stream_);
          CheckLaunch("LaunchQuantGemv");
        }
        break;
      }
      // Widen a tile of weight rows to bf16 at a time and let cuBLAS multiply it
      // into the matching columns of y.
      const uint16_t* x16 = ActivationsTo16(x, rows * k, CUDA_R_16BF);
      if (x16 == nullptr) return;
      const int64_t tile_rows = std::max<int64_t>(1, std::min<int64_t>(n, kDequantTileBytes / (2 * k)));
      auto* tile = static_cast<uint16_t*>(Scratch(dequant_tile_, tile_rows * k * 2, "cuda MatMul dequantised tile"));
      if (tile == nullptr) return;
      for (int64_t n0 = 0; n0 < n; n0 += tile_rows) {
        const int64_t tn = std::min(tile_rows, n - n0);
        cuda::LaunchDequantizeRowsToBf16(m.format(), m.data(), n0, tn, k, tile, stream_);
        CheckLaunch("LaunchDequantizeRowsToBf16");
        Gemm16(x16, rows, tile, CUDA_R_16BF, tn, k, y + n0, n);
      }
      break;
    }
  }
  if (bias != nullptr && !bias->empty()) {
    if (bias->size != n) {
      Record(InvalidArgument("cuda MatMul: bias of " + std::to_string(bias->size) + " for " + std::to_string(n) +
                             " outputs"));
      return;
    }
    cuda::LaunchAddBias(y, bias->data, rows, n, stream_);
    CheckLaunch("LaunchAddBias");
  }
}

void CudaBackend::Attention(int64_t layer, const cpu::AttentionShape& shape, const float* q, const float* k,
                            const float* v, float* out) {
  if (pool_ == nullptr) {
    Record(Internal("cuda Attention called outside BeginForward .. FinishForward"));
    return;
  }
  const KvCacheShape& cs = pool_->shape();
  const int64_t k_width = shape.num_kv_heads * shape.head_dim, v_width = shape.num_kv_heads * shape.v_head_dim;
  if (cs.first_width != k_width || cs.second_width != v_width || layer < 0 || layer >= cs.num_layers) {
    Record(InvalidArgument("cuda Attention: the KV cache's rows (" + std::to_string(cs.first_width) + ", " +
                           std::to_string(cs.second_width) + ") do not fit layer " + std::to_string(layer) +
                           "'s heads"));
    return;
  }
  const int64_t bs = pool_->block_size();
  const cuda::PagedStream ks{.base = pool_->first(layer), .block_stride = bs * k_width, .width = k_width};
  const cuda::PagedStream vs{.base = pool_->second(layer), .block_stride = bs * v_width, .width = v_width};
  const cuda::AttentionDims d{.num_heads = static_cast<int>(shape.num_heads),
                              .num_kv_heads = static_cast<int>(shape.num_kv_heads),
                              .head_dim = static_cast<int>(shape.head_dim),
                              .v_head_dim = static_cast<int>(shape.v_head_dim), .scale = shape.scale};
  cuda::LaunchWriteKvRows(layout_, k, k_width, ks, stream_);
  CheckLaunch("LaunchWriteKvRows (keys)");
  cuda::LaunchWriteKvRows(layout_, v, v_width, vs, stream_);
  CheckLaunch("LaunchWriteKvRows (values)");
  const int64_t scratch_floats = cuda::PagedAttentionScratchFloats(layout_, d);
  float* scratch = nullptr;
  if (scratch_floats > 0) {
    scratch = static_cast<float*>(Scratch(attn_scratch_, scratch_floats * 4, "cuda attention scratch"));
    if (scratch == nullptr) return;
  }
  if (capturing_ && std::none_of(step_attention_.begin(), step_attention_.end(),
                                 [&](const cuda::AttentionDims& s) { return SameDims(s, d); })) {
    step_attention_.push_back(d);
  }
  cuda::LaunchPagedAttention(layout_, d, q, ks, vs, out, scratch, stream_);
  CheckLaunch("LaunchPagedAttention");
}

void CudaBackend::MlaAttention(int64_t layer, const MlaShape& shape, const float* q, const float* kv_a,
                               const DeviceVector& kv_a_norm, const BackendMatrix& kv_b, float* out) {
  if (pool_ == nullptr) {
    Record(Internal("cuda MlaAttention called outside BeginForward .. FinishForward"));
    return;
  }
  const auto& b = static_cast<const CudaMatrix&>(kv_b);
  if (b.format() != WeightFormat::kF32) {
    Record(Unsupported("cuda MlaAttention: kv_b must be uploaded as F32, got " + std::string(DTypeName(b.dtype()))));
    return;
  }
  const KvCacheShape& cs = pool_->shape();
  if (cs.first_width != shape.kv_lora_rank || cs.second_width != shape.rope_dim || layer < 0 ||
      layer >= cs.num_layers || kv_a_norm.size != shape.kv_lora_rank) {
    Record(InvalidArgument("cuda MlaAttention: the cache's rows (" + std::to_string(cs.first_width) + ", " +
                           std::to_string(cs.second_width) + ") or kv_a_norm do not fit layer " +
                           std::to_string(layer)));
    return;
  }
  const int64_t bs = pool_->block_size();
  const cuda::PagedStream latent{.base = pool_->first(layer), .block_stride = bs * shape.kv_lora_rank,
                                 .width = shape.kv_lora_rank};
  const cuda::PagedStream k_pe{.base = pool_->second(layer), .block_stride = bs * shape.rope_dim,
                               .width = shape.rope_dim};
  const cuda::MlaDims d{.num_heads = static_cast<int>(shape.num_heads), .nope_dim = static_cast<int>(shape.nope_dim),
                        .rope_dim = static_cast<int>(shape.rope_dim), .v_head_dim = static_cast<int>(shape.v_head_dim),
                        .kv_lora_rank = static_cast<int>(shape.kv_lora_rank), .scale = shape.scale,
                        .latent_eps = shape.latent_eps};
  cuda::LaunchMlaWriteCache(layout_, d, kv_a, kv_a_norm.data, latent, k_pe, stream_);
  CheckLaunch("LaunchMlaWriteCache");
  const int64_t scratch_floats = cuda::MlaScratchFloats(layout_, d);
  float* scratch = nullptr;
  if (scratch_floats > 0) {
    scratch = static_cast<float*>(Scratch(attn_scratch_, scratch_floats * 4, "cuda MLA scratch"));
    if (scratch == nullptr) return;
  }
  if (capturing_ &&
      std::none_of(step_mla_.begin(), step_mla_.end(), [&](const cuda::MlaDims& s) { return SameDims(s, d); })) {
    step_mla_.push_back(d);
  }
  cuda::LaunchMlaAttention(layout_, d, q, static_cast<const float*>(b.data()), latent, k_pe, out, scratch, stream_);
  CheckLaunch("LaunchMlaAttention");
}

void CudaBackend::MoeRoute(const ModelConfig& config, const float* router_logits, int64_t rows,
                           const DeviceVector* correction_bias, int32_t* ids, float* weights) {
  if (rows <= 0) return;
  cuda::MoeRouting r;
  r.n_routed_experts = static_cast<int>(config.n_routed_experts);
  r.top_k = static_cast<int>(config.num_experts_per_tok);
  r.n_group = static_cast<int>(std::max<int64_t>(config.n_group, 1));
  r.topk_group = static_cast<int>(std::max<int64_t>(config.topk_group, 1));
  r.scoring = config.scoring_func == ScoringFunc::kSigmoid ? cuda::MoeScoring::kSigmoid : cuda::MoeScoring::kSoftmax;
  switch (config.topk_method) {
    case TopkMethod::kGreedy: r.method = cuda::MoeTopk::kGreedy; break;
    case TopkMethod::kGroupLimitedGreedy: r.method = cuda::MoeTopk::kGroupLimitedGreedy; break;
    case TopkMethod::kNoauxTc: r.method = cuda::MoeTopk::kNoauxTc; break;
  }
  r.normalize = config.arch == Architecture::kDeepseekV3 && config.norm_topk_prob;
  r.routed_scaling_factor = static_cast<float>(config.routed_scaling_factor);
  const float* bias = correction_bias != nullptr && !correction_bias->empty() ? correction_bias->data : nullptr;
  if (r.method == cuda::MoeTopk::kNoauxTc && bias == nullptr) {
    Record(InvalidArgument("cuda MoeRoute: noaux_tc routing needs e_score_correction_bias"));
    return;
  }
  cuda::LaunchMoeRoute(r, router_logits, static_cast<int>(rows), bias, ids, weights, stream_);
  CheckLaunch("LaunchMoeRoute");
}

void CudaBackend::MoeExperts(std::span<const ExpertWeights> experts, int64_t top_k, const float* x, int64_t rows,
                             const int32_t* ids, const float* weights, float* out) {
  if (rows <= 0 || experts.empty()) return;
  // The expert loop needs the per-expert row counts on the host: a graph cannot hold it.
  host_sync_in_step_ = true;
  if (capturing_) {
    capture_host_sync_ = true;
    return;
  }
  for (const ExpertWeights& e : experts) {
    if (e.gate == nullptr || e.up == nullptr || e.down == nullptr) {
      Record(InvalidArgument("cuda MoeExperts: an expert without gate, up or down matrix"));
      return;
    }
  }
  using Buf = Workspace::Buf;
  using IntBuf = Workspace::IntBuf;
  const int64_t num_experts = static_cast<int64_t>(experts.size());
  const int64_t hidden = experts[0].down->rows(), inter = experts[0].gate->rows();
  int32_t* begin = workspace_.Ints(IntBuf::kExpertBegin, num_experts + 1);          // (n_routed_experts + 1)
  int32_t* routed_rows = workspace_.Ints(IntBuf::kRoutedRows, rows * top_k);        // (rows * top_k), by expert
  float* routed_weights = workspace_.Floats(Buf::kRoutedWeights, rows * top_k);     // (rows * top_k), by expert
  cuda::LaunchMoeSortByExpert(ids, weights, static_cast<int>(rows), static_cast<int>(top_k),
                              static_cast<int>(num_experts), begin, routed_rows, routed_weights, stream_);
  CheckLaunch("LaunchMoeSortByExpert");
  Record(expert_begin_host_.Reserve((num_experts + 1) * 4));
  if (!status_.ok()) return;
  auto* host_begin = static_cast<int32_t*>(expert_begin_host_.data());
  Check(cudaMemcpyAsync(host_begin, begin, static_cast<size_t>((num_experts + 1) * 4), cudaMemcpyDeviceToHost,
                        stream_),
        "cudaMemcpyAsync (expert row counts)");
  Check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize (expert row counts)");
  if (!status_.ok()) return;

  float* gathered = workspace_.Floats(Buf::kGathered, rows * hidden);     // (m, hidden) per expert
  float* expert_out = workspace_.Floats(Buf::kExpertOut, rows * hidden);  // (m, hidden) per expert
  auto* gate = static_cast<float*>(Scratch(moe_gate_, rows * inter * 4, "cuda MoE gate"));  // (m, inter)
  auto* up = static_cast<float*>(Scratch(moe_up_, rows * inter * 4, "cuda MoE up"));        // (m, inter)
  if (gate == nullptr || up == nullptr) return;
  for (int64_t e = 0; e < num_experts; ++e) {
    const int32_t first = host_begin[e], m = host_begin[e + 1] - first;
    if (m <= 0) continue;
    if (m > rows) {
      Record(Internal("cuda MoeExperts: expert " + std::to_string(e) + " got " + std::to_string(m) + " rows of " +
                      std::to_string(rows)));
      return;
    }
    const ExpertWeights& w = experts[static_cast<size_t>(e)];
    cuda::LaunchGatherRows(x, routed_rows + first, m, static_cast<int>(hidden), gathered, stream_);
    CheckLaunch("LaunchGatherRows");
    MatMul(gathered, m, *w.gate, nullptr, gate);
    MatMul(gathered, m, *w.up, nullptr, up);
    SiluMul(gate, up, m * inter, gate);
    MatMul(gate, m, *w.down, nullptr, expert_out);
    cuda::LaunchScatterAddRows(expert_out, routed_rows + first, routed_weights + first, m, static_cast<int>(hidden),
                               out, stream_);
    CheckLaunch("LaunchScatterAddRows");
  }
}

}  // namespace

Result<std::unique_ptr<Backend>> CreateCudaBackend(int device_index) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    cudaGetLastError();
    return Unsupported(std::string("no CUDA device is visible") +
                       (err != cudaSuccess ? std::string(" (") + cudaGetErrorName(err) + ": " +
                                                 cudaGetErrorString(err) + ")"
                                           : std::string()));
  }
  if (device_index < 0 || device_index >= count) {
    return Unsupported("CUDA device " + std::to_string(device_index) + " does not exist (" + std::to_string(count) +
                       " visible)");
  }
  auto backend = std::make_unique<CudaBackend>(device_index);
  FATHOM_RETURN_IF_ERROR(backend->Init());
  return std::unique_ptr<Backend>(std::move(backend));
}

}  // namespace fathom

#endif  // FATHOM_HAS_CUDA

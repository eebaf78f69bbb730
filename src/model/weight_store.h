// The weights of one model, looked up by their Hugging Face names whatever file
// they came from: a safetensors directory, or a llama.cpp GGUF file whose
// tensors are renamed (blk.N.attn_q ...) and whose experts are stacked.
//
// Non-obvious rule: matrices stay in the file's mapping when the kernels read
// their dtype directly (F32, F16, BF16), so loading costs no copy; anything else
// (FP8 with its 128x128 scales) is dequantized once into float32 owned here.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backend/device_memory.h"
#include "core/status.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "formats/model_config.h"

namespace fathom {

class GgufFile;
class SafetensorsModel;

// How to load a model's weights.
struct LoadOptions {
  // Quantize float weights (F32, F16, BF16, FP8) to this type as they load, with
  // the per-tensor choices of quant/quant_policy.h. Weights a GGUF file already
  // stores block-quantized are used as they are. REQUIRES: IsQuantTarget.
  std::optional<DType> quant;
  // Threads that quantize at load; null quantizes on the calling thread.
  ThreadPool* pool = nullptr;
  // Where the forward runs (model_registry.h's LoadCausalLm creates the backend).
  DeviceKind device = DeviceKind::kCpu;
};

// Movable, not copyable. Immutable after Open except for the byte counter, so
// lookups from one thread at a time (loading is single-threaded).
class WeightStore {
 public:
  // `path` is a Hugging Face model directory (config.json + safetensors) or a
  // GGUF file. Errors name the file.
  static Result<WeightStore> Open(const std::string& path, LoadOptions options = {});

  WeightStore(WeightStore&&) noexcept;
  WeightStore& operator=(WeightStore&&) noexcept;
  WeightStore(const WeightStore&) = delete;
  WeightStore& operator=(const WeightStore&) = delete;
  ~WeightStore();

  const ModelConfig& config() const { return config_; }
  const std::string& path() const { return path_; }
  bool is_gguf() const { return gguf_ != nullptr; }

  // Returns true iff the model holds tensor `name` (HF naming).
  bool Has(std::string_view name) const;

  // The 2-D weight `name` of shape (rows, cols): a view of the mapping for F32,
  // F16, BF16 and the GGUF block formats, an owned float32 copy for FP8, and an
  // owned quantized copy when LoadOptions::quant asks for one. NotFound names a missing
  // tensor, InvalidArgument a shape mismatch (expected and actual), Unsupported
  // a dtype the CPU path cannot multiply yet.
  Result<Tensor> Matrix(std::string_view name, int64_t rows, int64_t cols);

  // The 1-D tensor `name` of n values as float32 (norm weights, biases).
  Result<std::vector<float>> Vector(std::string_view name, int64_t n);

  // Bytes of the tensors handed out so far (views count their mapped bytes),
  // with matrices that decode reads from a packed copy counted at that copy's size.
  int64_t bytes_loaded() const { return bytes_loaded_; }

  // Records that a matrix handed out (view_bytes counted) is read from now on as
  // a packed copy of packed_bytes instead.
  void CountPackedCopy(int64_t view_bytes, int64_t packed_bytes) { bytes_loaded_ += packed_bytes - view_bytes; }

  // The threads that load (LoadOptions::pool), or null.
  ThreadPool* pool() const { return options_.pool; }

 private:
  WeightStore() = default;

  struct Raw {
    DType dtype;
    std::vector<int64_t> shape;  // row-major
    const uint8_t* data;
  };
  // The stored tensor called `name` (HF naming), or NotFound.
  Result<Raw> Find(std::string_view name) const;
  // Matrix without LoadOptions::quant.
  Result<Tensor> StoredMatrix(std::string_view name, int64_t rows, int64_t cols);

  std::string path_;
  ModelConfig config_;
  LoadOptions options_;
  std::unique_ptr<SafetensorsModel> safetensors_;
  std::unique_ptr<GgufFile> gguf_;
  int64_t bytes_loaded_ = 0;
};

// The llama.cpp GGUF name of an HF tensor name, and for a per-expert weight the
// expert index into llama.cpp's stacked tensor (-1 otherwise). Returns an empty
// name for tensors llama.cpp does not store.
struct GgufName {
  std::string name;
  int64_t expert = -1;
};
GgufName GgufNameOf(std::string_view hf_name);

}  // namespace fathom

#include "model/weight_store.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <utility>

#include "core/convert.h"
#include "formats/gguf_config.h"
#include "formats/gguf_file.h"
#include "formats/safetensors_model.h"
#include "kernels/cpu/matmul.h"
#include "quant/quant_policy.h"

namespace fathom {
namespace {

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

bool ConsumePrefix(std::string_view& s, std::string_view prefix) {
  if (!s.starts_with(prefix)) return false;
  s.remove_prefix(prefix.size());
  return true;
}

// Reads a decimal number followed by '.', advancing `s` past both.
bool ConsumeIndex(std::string_view& s, int64_t* out) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  if (ec != std::errc() || end == s.data() || end == s.data() + s.size() || *end != '.') return false;
  s.remove_prefix(end - s.data() + 1);
  return true;
}

// HF per-layer suffix -> llama.cpp's tensor stem (the weight/bias suffix is kept).
constexpr std::array<std::pair<std::string_view, std::string_view>, 21> kLayerNames = {{
    {"input_layernorm", "attn_norm"},
    {"post_attention_layernorm", "ffn_norm"},
    {"self_attn.q_proj", "attn_q"},
    {"self_attn.k_proj", "attn_k"},
    {"self_attn.v_proj", "attn_v"},
    {"self_attn.o_proj", "attn_output"},
    {"self_attn.q_a_proj", "attn_q_a"},
    {"self_attn.q_a_layernorm", "attn_q_a_norm"},
    {"self_attn.q_b_proj", "attn_q_b"},
    {"self_attn.kv_a_proj_with_mqa", "attn_kv_a_mqa"},
    {"self_attn.kv_a_layernorm", "attn_kv_a_norm"},
    {"self_attn.kv_b_proj", "attn_kv_b"},
    {"self_attn.k_b_proj", "attn_k_b"},  // llama.cpp's per-head split of kv_b_proj, no HF counterpart
    {"self_attn.v_b_proj", "attn_v_b"},
    {"mlp.gate_proj", "ffn_gate"},
    {"mlp.up_proj", "ffn_up"},
    {"mlp.down_proj", "ffn_down"},
    {"mlp.gate", "ffn_gate_inp"},
    {"mlp.shared_experts.gate_proj", "ffn_gate_shexp"},
    {"mlp.shared_experts.up_proj", "ffn_up_shexp"},
    {"mlp.shared_experts.down_proj", "ffn_down_shexp"},
}};

}  // namespace

GgufName GgufNameOf(std::string_view hf) {
  if (hf == "model.embed_tokens.weight") return {"token_embd.weight"};
  if (hf == "model.norm.weight") return {"output_norm.weight"};
  if (hf == "lm_head.weight") return {"output.weight"};
  if (hf == "rope_freqs.weight") return {"rope_freqs.weight"};
  int64_t layer = 0;
  if (!ConsumePrefix(hf, "model.layers.") || !ConsumeIndex(hf, &layer)) return {};
  const std::string blk = "blk." + std::to_string(layer) + ".";
  if (hf == "mlp.gate.e_score_correction_bias") return {blk + "exp_probs_b.bias"};
  int64_t expert = 0;
  if (ConsumePrefix(hf, "mlp.experts.")) {
    if (!ConsumeIndex(hf, &expert)) return {};
    for (std::string_view proj : {"gate", "up", "down"}) {
      if (hf == std::string(proj) + "_proj.weight") return {blk + "ffn_" + std::string(proj) + "_exps.weight", expert};
    }
    return {};
  }
  const size_t dot = hf.rfind('.');
  if (dot == std::string_view::npos) return {};
  const std::string_view stem = hf.substr(0, dot), kind = hf.substr(dot);
  for (const auto& [from, to] : kLayerNames) {
    if (stem == from) return {blk + std::string(to) + std::string(kind)};
  }
  return {};
}

WeightStore::WeightStore(WeightStore&&) noexcept = default;
WeightStore& WeightStore::operator=(WeightStore&&) noexcept = default;
WeightStore::~WeightStore() = default;

Result<WeightStore> WeightStore::Open(const std::string& path, LoadOptions options) {
  namespace fs = std::filesystem;
  if (options.quant && !IsQuantTarget(*options.quant)) {
    return InvalidArgument("cannot quantize to " + std::string(DTypeName(*options.quant)));
  }
  WeightStore store;
  store.path_ = path;
  store.options_ = options;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    FATHOM_ASSIGN_OR_RETURN(store.config_, LoadHfConfig((fs::path(path) / "config.json").string()));
    FATHOM_ASSIGN_OR_RETURN(SafetensorsModel st, SafetensorsModel::Open(path));
    store.safetensors_ = std::make_unique<SafetensorsModel>(std::move(st));
  } else if (path.ends_with(".gguf")) {
    FATHOM_ASSIGN_OR_RETURN(GgufFile gguf, GgufFile::Open(path));
    store.gguf_ = std::make_unique<GgufFile>(std::move(gguf));
    FATHOM_ASSIGN_OR_RETURN(store.config_, ConfigFromGguf(*store.gguf_));
  } else if (!fs::exists(path, ec)) {
    return NotFound(path + ": no such file or directory");
  } else {
    return InvalidArgument(path + ": expected a Hugging Face model directory or a .gguf file");
  }
  FATHOM_RETURN_IF_ERROR(store.config_.Validate().WithContext(path));
  return store;
}

Result<WeightStore::Raw> WeightStore::Find(std::string_view name) const {
  if (safetensors_ != nullptr) {
    const SafetensorsTensor* t = safetensors_->Find(name);
    if (t == nullptr) return NotFound(path_ + ": missing tensor '" + std::string(name) + "'");
    return Raw{t->dtype, t->shape, t->data};
  }
  const GgufName g = GgufNameOf(name);
  const GgufTensorInfo* t = g.name.empty() ? nullptr : gguf_->FindTensor(g.name);
  if (t == nullptr) {
    return NotFound(path_ + ": missing tensor '" + (g.name.empty() ? std::string(name) : g.name) + "' (" +
                    std::string(name) + ")");
  }
  std::vector<int64_t> shape = t->RowMajorShape();
  if (g.expert < 0) {
    // llama.cpp's per-head MLA tensors (heads, a, b) are read as (heads * a, b).
    if (shape.size() == 3 && (g.name.ends_with("attn_k_b.weight") || g.name.ends_with("attn_v_b.weight"))) {
      shape = {shape[0] * shape[1], shape[2]};
    }
    return Raw{t->dtype, shape, t->data};
  }
  if (shape.size() != 3 || g.expert >= shape[0]) {
    return InvalidArgument(path_ + ": tensor '" + g.name + "' has shape " + ShapeText(shape) + ", expected experts " +
                           "stacked along the first dimension past " + std::to_string(g.expert));
  }
  FATHOM_ASSIGN_OR_RETURN(const int64_t per_expert, DTypeByteSize(t->dtype, shape[1] * shape[2]));
  return Raw{t->dtype, {shape[1], shape[2]}, t->data + g.expert * per_expert};
}

bool WeightStore::Has(std::string_view name) const { return Find(name).ok(); }

Result<Tensor> WeightStore::Matrix(std::string_view name, int64_t rows, int64_t cols) {
  FATHOM_ASSIGN_OR_RETURN(Tensor stored, StoredMatrix(name, rows, cols));
  if (!options_.quant || IsBlockQuantized(stored.dtype())) return stored;
  const std::array<int64_t, 2> shape = {rows, cols};
  const DType want = QuantTypeFor(name, shape, *options_.quant, config_.tie_word_embeddings);
  if (want == stored.dtype()) return stored;
  FATHOM_ASSIGN_OR_RETURN(Tensor out, Tensor::Zeros(want, {rows, cols}));
  const int64_t row_bytes = *DTypeByteSize(want, cols);
  // Rows are independent; each task widens a few rows to float32 and quantizes them.
  constexpr int64_t kRowsPerTask = 16;
  const int64_t num_tasks = (rows + kRowsPerTask - 1) / kRowsPerTask;
  const auto task = [&](int64_t begin, int64_t end) {
    std::vector<float> f32(kRowsPerTask * cols);  // (rows, cols)
    for (int64_t t = begin; t < end; ++t) {
      const int64_t r0 = t * kRowsPerTask, nr = std::min(kRowsPerTask, rows - r0);
      cpu::WeightRowsToF32(stored, r0, nr, f32.data());
      FATHOM_CHECK(FromFloat32(want, f32.data(), nr * cols, out.data_as<uint8_t>() + r0 * row_bytes).ok());
    }
  };
  if (options_.pool != nullptr) {
    options_.pool->ParallelFor(num_tasks, 1, task);
  } else {
    task(0, num_tasks);
  }
  bytes_loaded_ += out.num_bytes() - stored.num_bytes();
  return out;
}

Result<Tensor> WeightStore::StoredMatrix(std::string_view name, int64_t rows, int64_t cols) {
  FATHOM_ASSIGN_OR_RETURN(Raw raw, Find(name));
  const std::vector<int64_t> want = {rows, cols};
  if (raw.shape != want) {
    return InvalidArgument(path_ + ": tensor '" + std::string(name) + "' has shape " + ShapeText(raw.shape) +
                           ", expected " + ShapeText(want));
  }
  if (cpu::IsMatMulDType(raw.dtype)) {
    const int64_t num_bytes = *DTypeByteSize(raw.dtype, rows * cols);
    bytes_loaded_ += num_bytes;
    // safetensors packs tensors back to back, so a tensor after one of odd byte
    // length may sit off its element alignment; such a tensor is copied.
    const int64_t align = IsBlockQuantized(raw.dtype) ? 2 : *DTypeByteSize(raw.dtype, 1);
    if (reinterpret_cast<uintptr_t>(raw.data) % align == 0) {
      return Tensor::View(raw.dtype, want, raw.data);
    }
    FATHOM_ASSIGN_OR_RETURN(Tensor copy, Tensor::Zeros(raw.dtype, want));
    std::memcpy(copy.data(), raw.data, static_cast<size_t>(num_bytes));
    return copy;
  }
  if (raw.dtype == DType::kF8E4M3 && safetensors_ != nullptr) {
    std::string scale_name(name);
    if (scale_name.ends_with(".weight")) scale_name += "_scale_inv";
    const int64_t block = config_.fp8.block_rows;
    const std::vector<int64_t> scale_shape = {(rows + block - 1) / block, (cols + block - 1) / block};
    FATHOM_ASSIGN_OR_RETURN(Raw scale, Find(scale_name));
    if (scale.dtype != DType::kF32 || scale.shape != scale_shape) {
      return InvalidArgument(path_ + ": FP8 scale '" + scale_name + "' is " + std::string(DTypeName(scale.dtype)) +
                             ShapeText(scale.shape) + ", expected F32" + ShapeText(scale_shape));
    }
    FATHOM_ASSIGN_OR_RETURN(Tensor out, Tensor::Zeros(DType::kF32, want));
    std::vector<float> scale_inv(scale_shape[0] * scale_shape[1]);  // copied: the mapping may be unaligned
    std::memcpy(scale_inv.data(), scale.data, scale_inv.size() * sizeof(float));
    FATHOM_RETURN_IF_ERROR(DequantizeFp8BlockScaled(raw.data, scale_inv.data(), rows, cols,
                                                    out.data_as<float>(), block));
    bytes_loaded_ += out.num_bytes();
    return out;
  }
  return Unsupported(path_ + ": tensor '" + std::string(name) + "' is " + std::string(DTypeName(raw.dtype)) +
                     "; the CPU path multiplies F32, F16, BF16, FP8, Q8_0, Q4_0, Q4_K and Q6_K weights");
}

Result<std::vector<float>> WeightStore::Vector(std::string_view name, int64_t n) {
  FATHOM_ASSIGN_OR_RETURN(Raw raw, Find(name));
  if (raw.shape != std::vector<int64_t>{n}) {
    return InvalidArgument(path_ + ": tensor '" + std::string(name) + "' has shape " + ShapeText(raw.shape) +
                           ", expected [" + std::to_string(n) + "]");
  }
  std::vector<float> out(n);
  FATHOM_RETURN_IF_ERROR(ToFloat32(raw.dtype, raw.data, n, out.data()).WithContext(path_ + ": " + std::string(name)));
  bytes_loaded_ += *DTypeByteSize(raw.dtype, n);
  return out;
}

}  // namespace fathom

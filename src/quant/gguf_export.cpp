#include "quant/gguf_export.h"

#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/convert.h"
#include "core/progress.h"
#include "core/thread_pool.h"
#include "formats/gguf_file.h"
#include "formats/gguf_writer.h"
#include "kernels/cpu/matmul.h"
#include "model/weight_layout.h"
#include "model/weight_store.h"
#include "quant/gguf_metadata.h"
#include "quant/quant_policy.h"
#include "tokenizer/gguf_vocab.h"

namespace fathom {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Writes source row `row` of a piece as float32 (cols values). Called from pool
// threads at once; must not touch shared mutable state.
using RowReader = std::function<void(int64_t row, float* dst)>;

// Consecutive output rows that come from one source matrix (an expert, a head
// block of kv_b, a whole weight). Opened (loaded, dequantized) only when written.
struct Piece {
  int64_t num_rows = 0;
  std::function<Result<RowReader>()> open;
};

// One output tensor: its llama.cpp name, storage type, ggml shape, and the rows
// (of ne[0] values each) its pieces produce in order.
struct PlannedTensor {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> ne;  // ggml order
  std::vector<Piece> pieces;
  int64_t cols() const { return ne[0]; }
};

// Quantizes every piece of `t` into `out` (the tensor's bytes), rows in parallel.
Status FillTensor(const PlannedTensor& t, ThreadPool& pool, Progress& progress, std::span<uint8_t> out) {
  FATHOM_ASSIGN_OR_RETURN(const int64_t row_bytes, DTypeByteSize(t.dtype, t.cols()));
  int64_t row0 = 0;
  for (const Piece& piece : t.pieces) {
    FATHOM_ASSIGN_OR_RETURN(RowReader read, piece.open());
    std::mutex mu;
    Status first_error;
    uint8_t* base = out.data() + row0 * row_bytes;
    pool.ParallelFor(piece.num_rows, 64, [&](int64_t begin, int64_t end) {
      std::vector<float> row(static_cast<size_t>(t.cols()));  // (cols)
      for (int64_t r = begin; r < end; ++r) {
        read(r, row.data());
        Status s = FromFloat32(t.dtype, row.data(), t.cols(), base + r * row_bytes);
        if (!s.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          if (first_error.ok()) first_error = s.WithContext(t.name);
          return;
        }
      }
    });
    FATHOM_RETURN_IF_ERROR(first_error);
    row0 += piece.num_rows;
    progress.Advance(piece.num_rows * row_bytes);
  }
  return Status();
}

// ---- Hugging Face directories ---------------------------------------------------

// Reads a 2-D weight row by row; `source_row` maps an output row to the stored one.
Piece MatrixPiece(WeightStore& store, std::string name, int64_t rows, int64_t cols,
                  std::function<int64_t(int64_t)> source_row = nullptr) {
  return {rows, [&store, name = std::move(name), rows, cols, source_row]() -> Result<RowReader> {
            FATHOM_ASSIGN_OR_RETURN(Tensor w, store.Matrix(name, rows, cols));
            auto shared = std::make_shared<Tensor>(std::move(w));
            return RowReader([shared, source_row](int64_t r, float* dst) {
              cpu::WeightRowsToF32(*shared, source_row ? source_row(r) : r, 1, dst);
            });
          }};
}

Piece ValuesPiece(std::function<Result<std::vector<float>>()> load) {
  return {1, [load = std::move(load)]() -> Result<RowReader> {
            FATHOM_ASSIGN_OR_RETURN(std::vector<float> v, load());
            auto shared = std::make_shared<std::vector<float>>(std::move(v));
            return RowReader([shared](int64_t, float* dst) { std::memcpy(dst, shared->data(), shared->size() * sizeof(float)); });
          }};
}

// llama.cpp's converter reorders each head's q/k rows from rotate_half pairs
// (i, i + d/2) to adjacent pairs (2i, 2i + 1), which its interleaved rope expects:
// output row 2i + t of a head is source row t * d/2 + i.
int64_t InterleavedRopeRow(int64_t row, int64_t head_dim) {
  const int64_t head = row / head_dim, in_head = row % head_dim;
  return head * head_dim + (in_head % 2) * (head_dim / 2) + in_head / 2;
}

// kv_b_proj (heads * (nope + v), kv_lora_rank) as float32, read once for the two
// tensors llama.cpp splits it into (see AddKvB).
Result<std::shared_ptr<const std::vector<float>>> LoadKvB(WeightStore& store, const std::string& name) {
  const ModelConfig& c = store.config();
  const int64_t rows = c.num_attention_heads * (c.qk_nope_head_dim + c.v_head_dim);
  FATHOM_ASSIGN_OR_RETURN(Tensor w, store.Matrix(name, rows, c.kv_lora_rank));
  auto out = std::make_shared<std::vector<float>>(static_cast<size_t>(rows * c.kv_lora_rank));
  cpu::WeightRowsToF32(w, 0, rows, out->data());
  return std::shared_ptr<const std::vector<float>>(std::move(out));
}

class HfPlanner {
 public:
  HfPlanner(WeightStore& store, DType target) : store_(store), c_(store.config()), target_(target) {}

  Result<std::vector<PlannedTensor>> Plan() {
    if (c_.arch == Architecture::kLlama && c_.rope_scaling.type == RopeType::kLlama3) {
      const std::vector<float> factors = Llama3RopeFactors(c_);
      Add("rope_freqs.weight", DType::kF32, {static_cast<int64_t>(factors.size())},
          {ValuesPiece([factors] { return Result<std::vector<float>>(factors); })});
    }
    for (const WeightSpec& w : HfWeightLayout(c_)) {
      // llama.cpp's converter drops DeepSeek's MTP layers; FP8 scales are folded in.
      if (w.is_mtp || w.role == WeightRole::kFp8Scale) continue;
      FATHOM_RETURN_IF_ERROR(AddSpec(w));
    }
    return std::move(planned_);
  }

 private:
  void Add(std::string name, DType dtype, std::vector<int64_t> ne, std::vector<Piece> pieces) {
    planned_.push_back({std::move(name), dtype, std::move(ne), std::move(pieces)});
  }

  DType TypeFor(const std::string& hf_name, int64_t rows, int64_t cols) const {
    const int64_t shape[] = {rows, cols};
    return QuantTypeFor(hf_name, shape, target_, c_.tie_word_embeddings);
  }

  Status AddSpec(const WeightSpec& w) {
    const std::string& n = w.name;
    if (n.find(".mlp.experts.") != std::string::npos) {
      if (n.ends_with(".experts.0.gate_proj.weight")) AddExperts(n.substr(0, n.find(".experts.")));
      return Status();
    }
    if (n.ends_with("self_attn.kv_b_proj.weight")) {
      AddKvB(n);
      return Status();
    }
    const GgufName g = GgufNameOf(n);
    if (g.name.empty()) return Unsupported("tensor '" + n + "' has no llama.cpp name");
    if (w.shape.size() == 1) {
      const int64_t len = w.shape[0];
      std::function<int64_t(int64_t)> perm = RopeRows(n);
      Add(g.name, DType::kF32, {len}, {ValuesPiece([&store = store_, n, len, perm]() -> Result<std::vector<float>> {
            FATHOM_ASSIGN_OR_RETURN(std::vector<float> v, store.Vector(n, len));
            if (!perm) return v;
            std::vector<float> out(v.size());
            for (int64_t i = 0; i < len; ++i) out[i] = v[perm(i)];
            return out;
          })});
      return Status();
    }
    const int64_t rows = w.shape[0], cols = w.shape[1];
    Add(g.name, TypeFor(n, rows, cols), {cols, rows}, {MatrixPiece(store_, n, rows, cols, RopeRows(n))});
    return Status();
  }

  // The row permutation of a llama q/k projection (weight or bias), or none.
  std::function<int64_t(int64_t)> RopeRows(const std::string& n) const {
    if (c_.arch != Architecture::kLlama) return nullptr;
    if (n.find("self_attn.q_proj.") == std::string::npos && n.find("self_attn.k_proj.") == std::string::npos) {
      return nullptr;
    }
    const int64_t hd = c_.head_dim;
    return [hd](int64_t r) { return InterleavedRopeRow(r, hd); };
  }

  // llama.cpp stacks the experts of a layer: ffn_{gate,up,down}_exps (experts, out, in).
  void AddExperts(const std::string& mlp) {
    const int64_t h = c_.hidden_size, inter = c_.moe_intermediate_size, num = c_.n_routed_experts;
    for (const char* proj : {"gate", "up", "down"}) {
      const bool down = std::string_view(proj) == "down";
      const int64_t rows = down ? h : inter, cols = down ? inter : h;
      std::vector<Piece> pieces;
      for (int64_t e = 0; e < num; ++e) {
        pieces.push_back(MatrixPiece(store_, mlp + ".experts." + std::to_string(e) + "." + proj + "_proj.weight", rows, cols));
      }
      const std::string first = mlp + ".experts.0." + proj + "_proj.weight";
      Add(GgufNameOf(first).name, TypeFor(first, rows, cols), {cols, rows, num}, std::move(pieces));
    }
  }

  // kv_b_proj rows are, per head, nope rows of W_UK then v rows of W_UV, each of
  // kv_lora_rank values. llama.cpp stores attn_k_b (heads, kv_lora_rank, nope),
  // each W_UK transposed, and attn_v_b (heads, v, kv_lora_rank).
  void AddKvB(const std::string& kv_b) {
    const int64_t nh = c_.num_attention_heads, nope = c_.qk_nope_head_dim, vd = c_.v_head_dim, r = c_.kv_lora_rank;
    const std::string stem = kv_b.substr(0, kv_b.size() - std::string("kv_b_proj.weight").size());
    // The first of the two pieces to open loads the matrix, the second takes it
    // and lets it go with its tensor (with FP8 weights this also dequantizes once).
    struct Shared {
      std::shared_ptr<const std::vector<float>> matrix;
      int users_left = 2;
    };
    auto shared = std::make_shared<Shared>();
    WeightStore& store = store_;
    auto take = [&store, kv_b, shared]() -> Result<std::shared_ptr<const std::vector<float>>> {
      if (shared->matrix == nullptr) {
        FATHOM_ASSIGN_OR_RETURN(shared->matrix, LoadKvB(store, kv_b));
      }
      std::shared_ptr<const std::vector<float>> m = shared->matrix;
      if (--shared->users_left <= 0) shared->matrix.reset();
      return m;
    };
    Piece k_piece = {nh * r, [take, nope, vd, r]() -> Result<RowReader> {
                       FATHOM_ASSIGN_OR_RETURN(auto m, take());
                       return RowReader([m, nope, vd, r](int64_t row, float* dst) {
                         const int64_t head = row / r, i = row % r;
                         const float* w_uk = m->data() + head * (nope + vd) * r;  // (nope, r)
                         for (int64_t d = 0; d < nope; ++d) dst[d] = w_uk[d * r + i];
                       });
                     }};
    Piece v_piece = {nh * vd, [take, nope, vd, r]() -> Result<RowReader> {
                       FATHOM_ASSIGN_OR_RETURN(auto m, take());
                       return RowReader([m, nope, vd, r](int64_t row, float* dst) {
                         const int64_t head = row / vd, j = row % vd;
                         std::memcpy(dst, m->data() + (head * (nope + vd) + nope + j) * r, r * sizeof(float));
                       });
                     }};
    const std::string k_name = stem + "k_b_proj.weight", v_name = stem + "v_b_proj.weight";
    Add(GgufNameOf(k_name).name, TypeFor(k_name, nh * r, nope), {nope, r, nh}, {std::move(k_piece)});
    Add(GgufNameOf(v_name).name, TypeFor(v_name, nh * vd, r), {r, vd, nh}, {std::move(v_piece)});
  }

  WeightStore& store_;
  const ModelConfig& c_;
  DType target_;
  std::vector<PlannedTensor> planned_;
};

Result<json> ReadJsonFile(const fs::path& path, bool required) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    if (required) return NotFound(path.string() + ": no such file");
    return json();
  }
  json j = json::parse(f, nullptr, false);
  if (j.is_discarded()) return Corrupt(path.string() + ": not valid JSON");
  return j;
}

// chat_template.jinja beside the config wins over tokenizer_config.json's
// chat_template (a string, or a list of {name, template} whose "default" is used).
std::string ChatTemplateOf(const fs::path& dir, const json& config) {
  std::ifstream jinja(dir / "chat_template.jinja", std::ios::binary);
  if (jinja) return std::string(std::istreambuf_iterator<char>(jinja), {});
  const json t = config.is_object() ? config.value("chat_template", json()) : json();
  if (t.is_string()) return t.get<std::string>();
  if (t.is_array()) {
    for (const json& e : t) {
      if (e.is_object() && e.value("name", "") == "default" && e.contains("template") && e["template"].is_string()) {
        return e["template"].get<std::string>();
      }
    }
  }
  return "";
}

Status PlanHfDirectory(WeightStore& store, const std::string& dir, DType target, GgufWriter* writer,
                       std::vector<PlannedTensor>* planned) {
  const ModelConfig& c = store.config();
  std::string name = fs::path(dir).lexically_normal().filename().string();
  if (name.empty()) name = fs::path(dir).lexically_normal().parent_path().filename().string();
  FATHOM_ASSIGN_OR_RETURN(GenerationConfig generation, LoadGenerationConfig(dir));
  FATHOM_ASSIGN_OR_RETURN(GgufMetadata meta, GgufModelMetadata(c, name, target, generation));
  FATHOM_ASSIGN_OR_RETURN(json tokenizer, ReadJsonFile(fs::path(dir) / "tokenizer.json", true));
  FATHOM_ASSIGN_OR_RETURN(json tok_config, ReadJsonFile(fs::path(dir) / "tokenizer_config.json", false));
  Result<GgufMetadata> vocab = TokenizerJsonToGgufVocab(tokenizer, tok_config, c.vocab_size, ChatTemplateOf(dir, tok_config));
  if (!vocab.ok()) return vocab.status().WithContext(dir);
  for (auto& [k, v] : meta) writer->Set(k, std::move(v));
  for (auto& [k, v] : *vocab) writer->Set(k, std::move(v));
  FATHOM_ASSIGN_OR_RETURN(*planned, HfPlanner(store, target).Plan());
  return Status();
}

uint64_t SafetensorsBytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".safetensors") total += e.file_size(ec);
  }
  return total;
}

// ---- GGUF files -----------------------------------------------------------------

// The HF name quant_policy.h decides by, for a llama.cpp tensor name: only the
// embedding, the head and the router are treated specially.
std::string PolicyNameOf(const std::string& gguf_name) {
  if (gguf_name == "token_embd.weight") return "model.embed_tokens.weight";
  if (gguf_name == "output.weight") return "lm_head.weight";
  if (gguf_name.ends_with("ffn_gate_inp.weight")) return "model.layers.0.mlp.gate.weight";
  return gguf_name;
}

Status PlanGgufFile(const GgufFile& in, DType target, GgufWriter* writer, std::vector<PlannedTensor>* planned) {
  if (in.Find("general.architecture") == nullptr) return Corrupt("missing general.architecture");
  for (const auto& [k, v] : in.metadata()) writer->Set(k, v);
  writer->Set("general.file_type", GgufValue::U32(LlamaFileType(target)));
  writer->Set("general.quantization_version", GgufValue::U32(2));
  const bool tied = in.FindTensor("output.weight") == nullptr;
  for (const GgufTensorInfo& t : in.tensors()) {
    if (!GetDTypeInfo(t.dtype).can_convert) {
      return Unsupported("tensor '" + t.name + "' is " + std::string(DTypeName(t.dtype)) + ", which cannot be dequantized");
    }
    const int64_t cols = t.ne[0], rows = cols > 0 ? t.num_elements() / cols : 0;
    DType dtype = DType::kF32;
    if (t.ne.size() >= 2) {
      const int64_t shape[] = {rows, cols};
      dtype = QuantTypeFor(PolicyNameOf(t.name), shape, target, tied);
    }
    FATHOM_ASSIGN_OR_RETURN(const int64_t in_row_bytes, DTypeByteSize(t.dtype, cols));
    const uint8_t* data = t.data;
    const DType in_dtype = t.dtype;
    Piece piece = {rows, [data, in_dtype, in_row_bytes, cols]() -> Result<RowReader> {
                     return RowReader([=](int64_t r, float* dst) {
                       // Cannot fail: the dtype converts and cols fits its blocks (checked above
                       // and by GgufFile's invariants).
                       (void)ToFloat32(in_dtype, data + r * in_row_bytes, cols, dst);
                     });
                   }};
    planned->push_back({t.name, dtype, t.ne, {std::move(piece)}});
  }
  return Status();
}

Status CheckOutputWritable(const std::string& out_path) {
  fs::path dir = fs::path(out_path).parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return IoError(out_path + ": directory " + dir.string() + " does not exist");
  if (::access(dir.c_str(), W_OK) != 0) return IoError(out_path + ": directory " + dir.string() + " is not writable");
  if (fs::is_directory(out_path, ec)) return IoError(out_path + ": is a directory");
  return Status();
}

}  // namespace

Result<GgufExportSummary> ExportGguf(const std::string& in_path, const std::string& out_path,
                                     const GgufExportOptions& options) {
  FATHOM_CHECK(IsQuantTarget(options.target));
  const auto start = std::chrono::steady_clock::now();
  std::error_code ec;
  if (!fs::exists(in_path, ec)) return NotFound(in_path + ": no such file or directory");
  FATHOM_RETURN_IF_ERROR(CheckOutputWritable(out_path));

  GgufExportSummary summary;
  GgufWriter writer;
  std::vector<PlannedTensor> planned;
  // Both sources stay open until Write has streamed every tensor.
  std::unique_ptr<WeightStore> store;
  std::unique_ptr<GgufFile> gguf;
  if (fs::is_directory(in_path, ec)) {
    FATHOM_ASSIGN_OR_RETURN(WeightStore s, WeightStore::Open(in_path));
    store = std::make_unique<WeightStore>(std::move(s));
    FATHOM_RETURN_IF_ERROR(PlanHfDirectory(*store, in_path, options.target, &writer, &planned));
    summary.input_bytes = SafetensorsBytes(in_path);
  } else {
    FATHOM_ASSIGN_OR_RETURN(GgufFile g, GgufFile::Open(in_path));
    gguf = std::make_unique<GgufFile>(std::move(g));
    FATHOM_RETURN_IF_ERROR(PlanGgufFile(*gguf, options.target, &writer, &planned).WithContext(in_path));
    summary.input_bytes = gguf->file_size();
  }

  int64_t total_bytes = 0;
  for (const PlannedTensor& t : planned) {
    int64_t n = 1;
    for (int64_t d : t.ne) n *= d;
    summary.num_weights += n;
    FATHOM_ASSIGN_OR_RETURN(const int64_t num_bytes, DTypeByteSize(t.dtype, n));
    total_bytes += num_bytes;
  }
  ThreadPool pool(options.num_threads);
  Progress progress("quantize " + std::string(DTypeName(options.target)), total_bytes, options.show_progress);
  for (const PlannedTensor& t : planned) {
    const PlannedTensor* tp = &t;
    FATHOM_RETURN_IF_ERROR(writer
                               .AddTensor(t.name, t.dtype, t.ne,
                                          [tp, &pool, &progress](std::span<uint8_t> out) {
                                            return FillTensor(*tp, pool, progress, out);
                                          })
                               .WithContext(out_path));
  }
  FATHOM_RETURN_IF_ERROR(writer.Write(out_path).WithContext(out_path));
  summary.num_tensors = static_cast<int64_t>(planned.size());
  summary.output_bytes = fs::file_size(out_path, ec);
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace fathom

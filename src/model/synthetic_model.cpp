#include "model/synthetic_model.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/convert.h"
#include "core/mapped_file.h"
#include "core/progress.h"
#include "core/thread_pool.h"
#include "formats/safetensors_writer.h"
#include "model/presets.h"
#include "model/weight_layout.h"
#include "tokenizer/builtin_vocab.h"

namespace fathom {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr int64_t kChunk = int64_t{1} << 16;  // values per independently seeded chunk

uint64_t Fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// How a tensor's values are drawn: uniform with this mean and standard deviation.
struct InitRule {
  double mean = 0.0;
  double std = 0.0;
};

InitRule RuleFor(const WeightSpec& w) {
  const double fan_in = w.shape.size() == 2 ? static_cast<double>(w.shape[1]) : 1.0;
  const bool is_head = w.name == "lm_head.weight" || w.name.find("shared_head.head") != std::string::npos;
  switch (w.role) {
    case WeightRole::kEmbedding: return {0.0, is_head ? 1.0 / std::sqrt(fan_in) : 1.0};
    case WeightRole::kNorm: return {1.0, 0.1};
    case WeightRole::kBias:
    case WeightRole::kRouterBias: return {0.0, 0.1};
    default: return {0.0, 1.0 / std::sqrt(fan_in)};  // keeps activations near unit scale
  }
}

// Values [begin, begin + n) of the tensor named `name`.
void DrawValues(uint64_t seed, const std::string& name, InitRule rule, int64_t begin, int64_t n, float* out) {
  const double half_width = rule.std * std::sqrt(3.0);  // uniform with this std
  const uint64_t base = seed * 0x2545F4914F6CDD1Dull ^ Fnv1a(name);
  for (int64_t done = 0; done < n;) {
    const int64_t pos = begin + done;
    const int64_t chunk = pos / kChunk;
    uint64_t state = base + static_cast<uint64_t>(chunk) * 0x9E3779B97F4A7C15ull;
    for (int64_t skip = chunk * kChunk; skip < pos; ++skip) SplitMix64(state);
    const int64_t end = std::min(n, (chunk + 1) * kChunk - begin);
    for (; done < end; ++done) {
      const double u = static_cast<double>(SplitMix64(state) >> 11) * (1.0 / 9007199254740992.0);
      out[done] = static_cast<float>(rule.mean + (2.0 * u - 1.0) * half_width);
    }
  }
}

class WeightWriter {
 public:
  WeightWriter(const ModelConfig& config, const SynthOptions& options, ThreadPool* pool, Progress* progress)
      : config_(config), options_(options), pool_(pool), progress_(progress) {}

  // Plain tensors are drawn and converted chunk by chunk on the pool.
  Status FillPlain(const WeightSpec& w, DType dtype, std::span<uint8_t> out) const {
    const int64_t n = w.num_elements();
    const int64_t elem_bytes = GetDTypeInfo(dtype).block_bytes;
    std::vector<Status> errors(static_cast<size_t>((n + kChunk - 1) / kChunk));
    pool_->ParallelFor((n + kChunk - 1) / kChunk, 1, [&](int64_t b, int64_t e) {
      std::vector<float> buf(kChunk);
      for (int64_t c = b; c < e; ++c) {
        const int64_t begin = c * kChunk, len = std::min(kChunk, n - begin);
        DrawValues(options_.seed, w.name, RuleFor(w), begin, len, buf.data());
        errors[c] = FromFloat32(dtype, buf.data(), len, out.data() + begin * elem_bytes);
        progress_->Advance(len * elem_bytes);
      }
    });
    for (const Status& s : errors) FATHOM_RETURN_IF_ERROR(s);
    return Status::Ok();
  }

  // An FP8 weight and its scale come from the same float matrix; each fill
  // recomputes it, so neither depends on the other being written first.
  Status FillFp8(const WeightSpec& weight, bool want_scale, std::span<uint8_t> out) const {
    const int64_t rows = weight.shape[0], cols = weight.shape[1];
    std::vector<float> values(static_cast<size_t>(rows * cols));
    pool_->ParallelFor(rows, 0, [&](int64_t b, int64_t e) {
      DrawValues(options_.seed, weight.name, RuleFor(weight), b * cols, (e - b) * cols, values.data() + b * cols);
    });
    const int64_t block = config_.fp8.block_rows;
    const int64_t srows = (rows + block - 1) / block, scols = (cols + block - 1) / block;
    std::vector<uint8_t> q(want_scale ? static_cast<size_t>(rows * cols) : 0);
    std::vector<float> scales(static_cast<size_t>(srows * scols));
    uint8_t* q_out = want_scale ? q.data() : out.data();
    FATHOM_RETURN_IF_ERROR(QuantizeFp8BlockScaled(values.data(), rows, cols, q_out, scales.data(), block));
    if (want_scale) std::memcpy(out.data(), scales.data(), scales.size() * sizeof(float));
    progress_->Advance(static_cast<int64_t>(out.size()));
    return Status::Ok();
  }

  std::vector<TensorSource> Sources(const std::vector<WeightSpec>& specs) const {
    std::map<std::string, const WeightSpec*> by_name;
    for (const WeightSpec& w : specs) by_name[w.name] = &w;
    std::vector<TensorSource> sources;
    for (const WeightSpec& w : specs) {
      const DType dtype = StoredDType(config_, w.role, options_.dtype);
      TensorSource src{w.name, dtype, w.shape, nullptr};
      if (dtype == DType::kF8E4M3) {
        src.fill = [this, &w](std::span<uint8_t> out) { return FillFp8(w, false, out); };
      } else if (w.role == WeightRole::kFp8Scale) {
        const std::string weight_name = w.name.substr(0, w.name.size() - std::string("_scale_inv").size());
        const WeightSpec* weight = by_name.at(weight_name);
        src.fill = [this, weight](std::span<uint8_t> out) { return FillFp8(*weight, true, out); };
      } else {
        src.fill = [this, &w, dtype](std::span<uint8_t> out) { return FillPlain(w, dtype, out); };
      }
      sources.push_back(std::move(src));
    }
    return sources;
  }

 private:
  const ModelConfig& config_;
  const SynthOptions& options_;
  ThreadPool* pool_;
  Progress* progress_;
};

// A tokenizer to put in the model: the built-in one or a copy of a real one.
struct TokenizerFiles {
  std::string tokenizer_json;
  std::string tokenizer_config_json;
  int64_t vocab_size = 0;
  std::optional<int64_t> bos_token_id;
  std::optional<int64_t> eos_token_id;
};

std::optional<int64_t> SpecialTokenId(const json& tokenizer, const json& config, const char* key) {
  if (!config.contains(key)) return std::nullopt;
  const json& t = config[key];
  std::string content = t.is_string() ? t.get<std::string>()
                        : (t.is_object() && t.contains("content") && t["content"].is_string())
                            ? t["content"].get<std::string>()
                            : "";
  if (content.empty()) return std::nullopt;
  for (const json& a : tokenizer.value("added_tokens", json::array())) {
    if (a.is_object() && a.value("content", "") == content && a.contains("id") && a["id"].is_number_integer()) {
      return a["id"].get<int64_t>();
    }
  }
  return std::nullopt;
}

Result<TokenizerFiles> LoadTokenizer(const SynthOptions& options, bool thinking_prompt) {
  TokenizerFiles files;
  if (options.tokenizer_dir.empty()) {
    BuiltinVocab v = MakeBuiltinVocab(512, thinking_prompt);
    files.tokenizer_json = v.tokenizer_json.dump(2);
    files.tokenizer_config_json = v.tokenizer_config_json.dump(2);
    files.vocab_size = v.vocab_size;
    files.bos_token_id = v.bos_token_id;
    files.eos_token_id = v.eos_token_id;
    return files;
  }
  const std::string tok_path = options.tokenizer_dir + "/tokenizer.json";
  const std::string cfg_path = options.tokenizer_dir + "/tokenizer_config.json";
  FATHOM_ASSIGN_OR_RETURN(files.tokenizer_json, ReadTextFile(tok_path));
  FATHOM_ASSIGN_OR_RETURN(files.tokenizer_config_json, ReadTextFile(cfg_path));
  json tok = json::parse(files.tokenizer_json, nullptr, false);
  json cfg = json::parse(files.tokenizer_config_json, nullptr, false);
  if (!tok.is_object()) return Corrupt(tok_path + ": not a JSON object");
  if (!cfg.is_object()) return Corrupt(cfg_path + ": not a JSON object");
  int64_t max_id = -1;
  if (tok.contains("model") && tok["model"].is_object() && tok["model"].contains("vocab") &&
      tok["model"]["vocab"].is_object()) {
    for (const auto& [piece, id] : tok["model"]["vocab"].items()) {
      if (id.is_number_integer()) max_id = std::max(max_id, id.get<int64_t>());
    }
  }
  for (const json& a : tok.value("added_tokens", json::array())) {
    if (a.is_object() && a.contains("id") && a["id"].is_number_integer()) max_id = std::max(max_id, a["id"].get<int64_t>());
  }
  if (max_id < 0) return Corrupt(tok_path + ": no vocabulary found");
  files.vocab_size = max_id + 1;
  files.bos_token_id = SpecialTokenId(tok, cfg, "bos_token");
  files.eos_token_id = SpecialTokenId(tok, cfg, "eos_token");
  return files;
}

bool IsTinyPreset(const std::string& name) { return name.rfind("tiny", 0) == 0; }

}  // namespace

Result<ModelConfig> SynthConfig(const SynthOptions& options) {
  FATHOM_ASSIGN_OR_RETURN(ModelConfig config, FindPreset(options.arch, options.preset));
  if (options.num_layers) {
    if (*options.num_layers < 1) return InvalidArgument("--layers must be at least 1");
    config.num_hidden_layers = *options.num_layers;
  }
  if (options.dtype != DType::kBF16 && options.dtype != DType::kF32) {
    return InvalidArgument("--dtype must be bf16 or f32");
  }
  config.torch_dtype = options.dtype == DType::kF32 ? "float32" : "bfloat16";
  FATHOM_RETURN_IF_ERROR(config.Validate());
  return config;
}

Status WriteSyntheticModel(const SynthOptions& options) {
  FATHOM_ASSIGN_OR_RETURN(ModelConfig config, SynthConfig(options));
  const bool thinking = !config.is_deepseek();  // R1-Distill models open <think> themselves
  FATHOM_ASSIGN_OR_RETURN(TokenizerFiles tok, LoadTokenizer(options, thinking));

  // The vocab covers every tokenizer id; tiny presets take the tokenizer's size.
  if (options.vocab_size) {
    config.vocab_size = *options.vocab_size;
  } else if (IsTinyPreset(options.preset)) {
    config.vocab_size = tok.vocab_size;
  }
  if (config.vocab_size < tok.vocab_size) {
    return InvalidArgument("vocab size " + std::to_string(config.vocab_size) + " is smaller than the tokenizer's " +
                           std::to_string(tok.vocab_size));
  }
  if (tok.bos_token_id) config.bos_token_id = tok.bos_token_id;
  if (tok.eos_token_id) config.eos_token_ids = {*tok.eos_token_id};
  FATHOM_RETURN_IF_ERROR(config.Validate());

  std::error_code ec;
  const fs::path dir(options.out_dir);
  if (fs::exists(dir, ec) && !fs::is_empty(dir, ec)) {
    return InvalidArgument(options.out_dir + ": exists and is not empty");
  }
  fs::create_directories(dir, ec);
  if (ec) return IoError(options.out_dir + ": cannot create: " + ec.message());

  json generation = {{"_from_model_config", true}, {"do_sample", true}, {"temperature", 0.6}, {"top_p", 0.95}};
  if (config.bos_token_id) generation["bos_token_id"] = *config.bos_token_id;
  if (!config.eos_token_ids.empty()) generation["eos_token_id"] = config.eos_token_ids[0];
  FATHOM_RETURN_IF_ERROR(WriteFileAtomic((dir / "config.json").string(), config.ToHfJson().dump(2) + "\n"));
  FATHOM_RETURN_IF_ERROR(WriteFileAtomic((dir / "generation_config.json").string(), generation.dump(2) + "\n"));
  FATHOM_RETURN_IF_ERROR(WriteFileAtomic((dir / "tokenizer.json").string(), tok.tokenizer_json));
  FATHOM_RETURN_IF_ERROR(WriteFileAtomic((dir / "tokenizer_config.json").string(), tok.tokenizer_config_json));

  const std::vector<WeightSpec> specs = HfWeightLayout(config);
  int64_t total_bytes = 0;
  for (const WeightSpec& w : specs) {
    FATHOM_ASSIGN_OR_RETURN(int64_t bytes,
                            DTypeByteSize(StoredDType(config, w.role, options.dtype), w.num_elements()));
    total_bytes += bytes;
  }
  ThreadPool pool(options.num_threads);
  Progress progress("writing " + options.out_dir, total_bytes, options.show_progress);
  WeightWriter writer(config, options, &pool, &progress);
  const std::vector<TensorSource> sources = writer.Sources(specs);
  Result<std::vector<std::string>> written =
      WriteShardedSafetensors(options.out_dir, sources, options.max_shard_bytes, {{"format", "pt"}});
  return written.status();
}

}  // namespace fathom

#include "formats/model_config.h"

#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

#include "core/mapped_file.h"

namespace fathom {
namespace {

using nlohmann::json;

// Reads typed fields out of a JSON object, remembering the first error so the
// parser reads as a list of fields rather than a ladder of checks.
class FieldReader {
 public:
  FieldReader(const json& obj, std::string where) : obj_(obj), where_(std::move(where)) {}

  bool Has(const char* key) const { return obj_.contains(key) && !obj_.at(key).is_null(); }

  int64_t Int(const char* key, std::optional<int64_t> fallback) {
    if (!Has(key)) return Missing<int64_t>(key, fallback);
    const json& v = obj_.at(key);
    if (v.is_number_integer()) return v.get<int64_t>();
    if (v.is_number_float()) {
      double d = v.get<double>();
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15) return static_cast<int64_t>(d);
    }
    return Fail<int64_t>(key, "must be an integer, got " + Describe(v));
  }

  std::optional<int64_t> OptionalInt(const char* key) {
    if (!Has(key)) return std::nullopt;
    return Int(key, std::nullopt);
  }

  double Number(const char* key, std::optional<double> fallback) {
    if (!Has(key)) return Missing<double>(key, fallback);
    const json& v = obj_.at(key);
    if (v.is_number()) {
      double d = v.get<double>();
      if (std::isfinite(d)) return d;
    }
    return Fail<double>(key, "must be a finite number, got " + Describe(v));
  }

  bool Bool(const char* key, bool fallback) {
    if (!Has(key)) return fallback;
    const json& v = obj_.at(key);
    if (v.is_boolean()) return v.get<bool>();
    return Fail<bool>(key, "must be true or false, got " + Describe(v));
  }

  std::string String(const char* key, std::optional<std::string> fallback) {
    if (!Has(key)) return Missing<std::string>(key, fallback);
    const json& v = obj_.at(key);
    if (v.is_string()) return v.get<std::string>();
    return Fail<std::string>(key, "must be a string, got " + Describe(v));
  }

  // A field that may be an integer or a list of integers (eos_token_id).
  std::vector<int64_t> IntList(const char* key) {
    std::vector<int64_t> out;
    if (!Has(key)) return out;
    const json& v = obj_.at(key);
    if (v.is_number_integer()) return {v.get<int64_t>()};
    if (v.is_array()) {
      for (const json& e : v) {
        if (!e.is_number_integer()) return Fail<std::vector<int64_t>>(key, "must hold integers, got " + Describe(e));
        out.push_back(e.get<int64_t>());
      }
      return out;
    }
    return Fail<std::vector<int64_t>>(key, "must be an integer or a list of integers, got " + Describe(v));
  }

  const json* Object(const char* key) {
    if (!Has(key)) return nullptr;
    const json& v = obj_.at(key);
    if (v.is_object()) return &v;
    Fail<int>(key, "must be an object, got " + Describe(v));
    return nullptr;
  }

  template <typename T>
  T Fail(const char* key, const std::string& problem) {
    if (status_.ok()) status_ = Corrupt(where_ + "'" + key + "' " + problem);
    return T{};
  }

  const Status& status() const { return status_; }
  void Absorb(const Status& s) {
    if (status_.ok() && !s.ok()) status_ = s;
  }

 private:
  template <typename T>
  T Missing(const char* key, const std::optional<T>& fallback) {
    if (fallback.has_value()) return *fallback;
    if (status_.ok()) status_ = Corrupt(where_ + "missing required key '" + key + "'");
    return T{};
  }

  static std::string Describe(const json& v) {
    std::string s = v.dump();
    if (s.size() > 40) s = s.substr(0, 37) + "...";
    return std::string(v.type_name()) + " " + s;
  }

  const json& obj_;
  std::string where_;
  Status status_;
};

Result<RopeType> ParseRopeType(const std::string& name) {
  if (name == "default" || name.empty()) return RopeType::kDefault;
  if (name == "linear") return RopeType::kLinear;
  if (name == "llama3") return RopeType::kLlama3;
  if (name == "yarn") return RopeType::kYarn;
  return Unsupported("rope scaling type '" + name + "' is not supported (default, linear, llama3, yarn are)");
}

// Fills `rope` from a rope_scaling / rope_parameters object. rope_parameters may
// also carry rope_theta, which the caller reads.
void ParseRopeScaling(const json& obj, const std::string& key, RopeScaling* rope, FieldReader* outer) {
  FieldReader r(obj, "'" + key + "': ");
  std::string type = r.Has("rope_type") ? r.String("rope_type", "") : r.String("type", "default");
  Result<RopeType> t = ParseRopeType(type);
  if (!t.ok()) {
    outer->Absorb(t.status());
    return;
  }
  rope->type = *t;
  rope->factor = r.Number("factor", rope->type == RopeType::kDefault ? std::optional<double>(1.0) : std::nullopt);
  if (rope->type == RopeType::kLlama3) {
    rope->low_freq_factor = r.Number("low_freq_factor", std::nullopt);
    rope->high_freq_factor = r.Number("high_freq_factor", std::nullopt);
    rope->original_max_position_embeddings = r.Int("original_max_position_embeddings", std::nullopt);
  } else if (rope->type == RopeType::kYarn) {
    rope->original_max_position_embeddings = r.Int("original_max_position_embeddings", 0);
    rope->beta_fast = r.Number("beta_fast", 32.0);
    rope->beta_slow = r.Number("beta_slow", 1.0);
    rope->mscale = r.Number("mscale", 1.0);
    rope->mscale_all_dim = r.Number("mscale_all_dim", 0.0);
    if (r.Has("attention_factor")) rope->attention_factor = r.Number("attention_factor", std::nullopt);
  }
  outer->Absorb(r.status());
}

void ParseQuantization(const json& q, Fp8Quantization* fp8, FieldReader* outer) {
  FieldReader r(q, "'quantization_config': ");
  std::string method = r.String("quant_method", std::nullopt);
  if (!r.status().ok()) {
    outer->Absorb(r.status());
    return;
  }
  if (method != "fp8") {
    outer->Absorb(Unsupported("quantization_config: quant_method '" + method + "' is not supported (fp8 is)"));
    return;
  }
  fp8->enabled = true;
  fp8->fmt = r.String("fmt", "e4m3");
  fp8->activation_scheme = r.String("activation_scheme", "dynamic");
  if (fp8->fmt != "e4m3") r.Fail<int>("fmt", "must be \"e4m3\", got \"" + fp8->fmt + "\"");
  if (r.Has("weight_block_size")) {
    const json& b = q.at("weight_block_size");
    if (!b.is_array() || b.size() != 2 || !b[0].is_number_integer() || !b[1].is_number_integer()) {
      r.Fail<int>("weight_block_size", "must be a list of two integers");
    } else {
      fp8->block_rows = b[0].get<int64_t>();
      fp8->block_cols = b[1].get<int64_t>();
    }
  }
  outer->Absorb(r.status());
}

void ParseDeepseekFields(FieldReader& r, ModelConfig* c) {
  // Defaults are those of the published configuration classes.
  bool v3 = c->arch == Architecture::kDeepseekV3;
  c->moe_intermediate_size = r.Int("moe_intermediate_size", v3 ? 2048 : 1407);
  // Absent means the class default (1536); an explicit null (V2-Lite) is handled by
  // the caller because FieldReader treats null as absent.
  c->q_lora_rank = r.Int("q_lora_rank", 1536);
  c->kv_lora_rank = r.Int("kv_lora_rank", 512);
  c->qk_nope_head_dim = r.Int("qk_nope_head_dim", 128);
  c->qk_rope_head_dim = r.Int("qk_rope_head_dim", 64);
  c->v_head_dim = r.Int("v_head_dim", 128);
  c->n_routed_experts = r.Int("n_routed_experts", v3 ? std::optional<int64_t>(256) : std::optional<int64_t>(0));
  c->n_shared_experts = r.Int("n_shared_experts", v3 ? std::optional<int64_t>(1) : std::optional<int64_t>(0));
  c->num_experts_per_tok = r.Int("num_experts_per_tok", v3 ? std::optional<int64_t>(8) : std::optional<int64_t>(0));
  c->first_k_dense_replace = r.Int("first_k_dense_replace", v3 ? 3 : 0);
  c->moe_layer_freq = r.Int("moe_layer_freq", 1);
  c->n_group = r.Int("n_group", v3 ? 8 : 1);
  c->topk_group = r.Int("topk_group", v3 ? 4 : 1);
  c->norm_topk_prob = r.Bool("norm_topk_prob", v3);
  c->routed_scaling_factor = r.Number("routed_scaling_factor", v3 ? 2.5 : 1.0);
  c->num_nextn_predict_layers = r.Int("num_nextn_predict_layers", 0);

  std::string method = r.String("topk_method", v3 ? "noaux_tc" : "greedy");
  if (method == "greedy") c->topk_method = TopkMethod::kGreedy;
  else if (method == "group_limited_greedy") c->topk_method = TopkMethod::kGroupLimitedGreedy;
  else if (method == "noaux_tc") c->topk_method = TopkMethod::kNoauxTc;
  else r.Fail<int>("topk_method", "'" + method + "' is not one of greedy, group_limited_greedy, noaux_tc");

  std::string scoring = r.String("scoring_func", v3 ? "sigmoid" : "softmax");
  if (scoring == "softmax") c->scoring_func = ScoringFunc::kSoftmax;
  else if (scoring == "sigmoid") c->scoring_func = ScoringFunc::kSigmoid;
  else r.Fail<int>("scoring_func", "'" + scoring + "' is not one of softmax, sigmoid");
}

}  // namespace

std::string_view ArchitectureName(Architecture arch) {
  switch (arch) {
    case Architecture::kLlama: return "llama";
    case Architecture::kQwen2: return "qwen2";
    case Architecture::kDeepseekV2: return "deepseek_v2";
    case Architecture::kDeepseekV3: return "deepseek_v3";
  }
  return "unknown";
}

std::string_view HfArchitectureClass(Architecture arch) {
  switch (arch) {
    case Architecture::kLlama: return "LlamaForCausalLM";
    case Architecture::kQwen2: return "Qwen2ForCausalLM";
    case Architecture::kDeepseekV2: return "DeepseekV2ForCausalLM";
    case Architecture::kDeepseekV3: return "DeepseekV3ForCausalLM";
  }
  return "unknown";
}

std::optional<Architecture> ArchitectureFromName(std::string_view name) {
  for (Architecture a : {Architecture::kLlama, Architecture::kQwen2, Architecture::kDeepseekV2,
                         Architecture::kDeepseekV3}) {
    if (name == ArchitectureName(a) || name == HfArchitectureClass(a)) return a;
  }
  if (name == "deepseek-v2" || name == "deepseekv2") return Architecture::kDeepseekV2;
  if (name == "deepseek-v3" || name == "deepseekv3") return Architecture::kDeepseekV3;
  return std::nullopt;
}

std::string_view RopeTypeName(RopeType type) {
  switch (type) {
    case RopeType::kDefault: return "default";
    case RopeType::kLinear: return "linear";
    case RopeType::kLlama3: return "llama3";
    case RopeType::kYarn: return "yarn";
  }
  return "unknown";
}

std::string_view TopkMethodName(TopkMethod method) {
  switch (method) {
    case TopkMethod::kGreedy: return "greedy";
    case TopkMethod::kGroupLimitedGreedy: return "group_limited_greedy";
    case TopkMethod::kNoauxTc: return "noaux_tc";
  }
  return "unknown";
}

std::string_view ScoringFuncName(ScoringFunc func) {
  return func == ScoringFunc::kSoftmax ? "softmax" : "sigmoid";
}

bool ModelConfig::IsMoeLayer(int64_t i) const {
  return n_routed_experts > 0 && i >= first_k_dense_replace && moe_layer_freq > 0 && i % moe_layer_freq == 0;
}

Result<ModelConfig> ParseHfConfig(const json& j, const std::string& origin) {
  std::string where = origin.empty() ? "" : origin + ": ";
  if (!j.is_object()) return Corrupt(where + "config must be a JSON object");
  FieldReader r(j, where);
  ModelConfig c;

  // model_type decides the family; `architectures` is the fallback.
  std::optional<Architecture> arch;
  if (r.Has("model_type")) {
    c.model_type = r.String("model_type", std::nullopt);
    arch = ArchitectureFromName(c.model_type);
    if (!arch && r.status().ok()) {
      return Unsupported(where + "model_type '" + c.model_type +
                         "' is not supported (llama, qwen2, deepseek_v2, deepseek_v3 are)");
    }
  } else if (j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty() &&
             j["architectures"][0].is_string()) {
    std::string cls = j["architectures"][0].get<std::string>();
    arch = ArchitectureFromName(cls);
    if (!arch) {
      return Unsupported(where + "architecture '" + cls +
                         "' is not supported (LlamaForCausalLM, Qwen2ForCausalLM, DeepseekV2ForCausalLM, "
                         "DeepseekV3ForCausalLM are)");
    }
  } else {
    return Corrupt(where + "missing required key 'model_type'");
  }
  if (!r.status().ok()) return r.status();
  c.arch = *arch;
  if (c.model_type.empty()) c.model_type = std::string(ArchitectureName(c.arch));
  bool deepseek = c.is_deepseek();

  c.vocab_size = r.Int("vocab_size", std::nullopt);
  c.hidden_size = r.Int("hidden_size", std::nullopt);
  c.intermediate_size = r.Int("intermediate_size", std::nullopt);
  c.num_hidden_layers = r.Int("num_hidden_layers", std::nullopt);
  c.num_attention_heads = r.Int("num_attention_heads", std::nullopt);
  c.num_key_value_heads = r.Int("num_key_value_heads", c.num_attention_heads);
  c.max_position_embeddings = r.Int("max_position_embeddings", deepseek ? 4096 : 2048);
  c.rms_norm_eps = r.Number("rms_norm_eps", 1e-6);
  c.tie_word_embeddings = r.Bool("tie_word_embeddings", false);
  c.hidden_act = r.String("hidden_act", "silu");
  c.attention_bias = r.Bool("attention_bias", false);
  c.mlp_bias = r.Bool("mlp_bias", false);
  c.qkv_bias = c.arch == Architecture::kQwen2 || (c.arch == Architecture::kLlama && c.attention_bias);
  c.torch_dtype = r.Has("torch_dtype") ? r.String("torch_dtype", std::nullopt) : r.String("dtype", "bfloat16");
  if (r.Has("bos_token_id")) c.bos_token_id = r.Int("bos_token_id", std::nullopt);
  c.eos_token_ids = r.IntList("eos_token_id");
  if (!r.status().ok()) return r.status();

  if (r.Has("head_dim")) {
    c.head_dim = r.Int("head_dim", std::nullopt);
  } else if (c.num_attention_heads > 0) {
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }

  // Rope: the published name first, then transformers >= 5's rope_parameters.
  c.rope_theta = r.Number("rope_theta", 10000.0);
  if (const json* rs = r.Object("rope_scaling")) {
    ParseRopeScaling(*rs, "rope_scaling", &c.rope_scaling, &r);
  } else if (const json* rp = r.Object("rope_parameters")) {
    ParseRopeScaling(*rp, "rope_parameters", &c.rope_scaling, &r);
    FieldReader pr(*rp, where + "'rope_parameters': ");
    if (pr.Has("rope_theta")) c.rope_theta = pr.Number("rope_theta", std::nullopt);
    r.Absorb(pr.status());
  }

  if (deepseek) {
    ParseDeepseekFields(r, &c);
    // An explicit null q_lora_rank (V2-Lite) means a plain q_proj.
    if (j.contains("q_lora_rank") && j["q_lora_rank"].is_null()) c.q_lora_rank = std::nullopt;
    c.head_dim = c.qk_nope_head_dim + c.qk_rope_head_dim;
  }
  if (const json* q = r.Object("quantization_config")) ParseQuantization(*q, &c.fp8, &r);
  if (!r.status().ok()) return r.status();

  Status valid = c.Validate();
  if (!valid.ok()) return valid.WithContext(origin.empty() ? "config" : origin);
  return c;
}

Status ModelConfig::Validate() const {
  auto positive = [](int64_t v, const char* name) -> Status {
    if (v <= 0) return Corrupt(std::string(name) + " must be positive, got " + std::to_string(v));
    return Status::Ok();
  };
  // Sizes beyond these are not models but attempts to overflow something.
  constexpr int64_t kMaxDim = int64_t{1} << 24;
  for (auto [v, name] : {std::pair{vocab_size, "vocab_size"}, {hidden_size, "hidden_size"},
                         {intermediate_size, "intermediate_size"}, {num_hidden_layers, "num_hidden_layers"},
                         {num_attention_heads, "num_attention_heads"},
                         {num_key_value_heads, "num_key_value_heads"}, {head_dim, "head_dim"}}) {
    FATHOM_RETURN_IF_ERROR(positive(v, name));
    if (v > kMaxDim) return Corrupt(std::string(name) + " = " + std::to_string(v) + " is implausibly large");
  }
  if (num_hidden_layers > 4096) return Corrupt("num_hidden_layers is implausibly large");
  if (max_position_embeddings <= 0) return Corrupt("max_position_embeddings must be positive");
  if (num_attention_heads % num_key_value_heads != 0) {
    return Corrupt("num_attention_heads (" + std::to_string(num_attention_heads) +
                   ") is not a multiple of num_key_value_heads (" + std::to_string(num_key_value_heads) + ")");
  }
  if (!(rms_norm_eps > 0 && rms_norm_eps < 1)) return Corrupt("rms_norm_eps must be in (0, 1)");
  if (!(rope_theta > 0)) return Corrupt("rope_theta must be positive");
  if (hidden_act != "silu") return Unsupported("hidden_act '" + hidden_act + "' is not supported (silu is)");
  const RopeScaling& rs = rope_scaling;
  if (rs.type != RopeType::kDefault && !(rs.factor > 0)) return Corrupt("rope scaling factor must be positive");
  if (rs.type == RopeType::kLlama3 && !rs.freqs_from_tensor) {
    if (rs.original_max_position_embeddings <= 0) return Corrupt("llama3 rope needs original_max_position_embeddings");
    if (!(rs.high_freq_factor > rs.low_freq_factor)) return Corrupt("llama3 rope needs high_freq_factor > low_freq_factor");
  }
  if (!is_deepseek()) {
    if (head_dim % 2 != 0) return Corrupt("head_dim must be even for rotary embeddings");
    return Status::Ok();
  }
  if (q_lora_rank.has_value()) FATHOM_RETURN_IF_ERROR(positive(*q_lora_rank, "q_lora_rank"));
  for (auto [v, name] : {std::pair{kv_lora_rank, "kv_lora_rank"}, {qk_nope_head_dim, "qk_nope_head_dim"},
                         {qk_rope_head_dim, "qk_rope_head_dim"}, {v_head_dim, "v_head_dim"}}) {
    FATHOM_RETURN_IF_ERROR(positive(v, name));
    if (v > kMaxDim) return Corrupt(std::string(name) + " is implausibly large");
  }
  if (qk_rope_head_dim % 2 != 0) return Corrupt("qk_rope_head_dim must be even");
  if (n_routed_experts < 0 || n_shared_experts < 0 || first_k_dense_replace < 0 || num_nextn_predict_layers < 0) {
    return Corrupt("expert and layer counts must not be negative");
  }
  if (n_routed_experts > 0) {
    FATHOM_RETURN_IF_ERROR(positive(moe_intermediate_size, "moe_intermediate_size"));
    FATHOM_RETURN_IF_ERROR(positive(moe_layer_freq, "moe_layer_freq"));
    if (n_routed_experts > 65536) return Corrupt("n_routed_experts is implausibly large");
    if (num_experts_per_tok <= 0 || num_experts_per_tok > n_routed_experts) {
      return Corrupt("num_experts_per_tok must be in [1, n_routed_experts], got " + std::to_string(num_experts_per_tok));
    }
    if (n_group <= 0 || n_routed_experts % n_group != 0) {
      return Corrupt("n_routed_experts (" + std::to_string(n_routed_experts) + ") must be a multiple of n_group (" +
                     std::to_string(n_group) + ")");
    }
    if (topk_group <= 0 || topk_group > n_group) return Corrupt("topk_group must be in [1, n_group]");
    if (topk_method != TopkMethod::kGreedy &&
        num_experts_per_tok > topk_group * (n_routed_experts / n_group)) {
      return Corrupt("num_experts_per_tok exceeds the experts in topk_group groups");
    }
  }
  if (fp8.enabled && (fp8.block_rows <= 0 || fp8.block_cols <= 0)) return Corrupt("weight_block_size must be positive");
  return Status::Ok();
}

nlohmann::json ModelConfig::ToHfJson() const {
  json j;
  j["architectures"] = json::array({std::string(HfArchitectureClass(arch))});
  j["model_type"] = model_type;
  j["vocab_size"] = vocab_size;
  j["hidden_size"] = hidden_size;
  j["intermediate_size"] = intermediate_size;
  j["num_hidden_layers"] = num_hidden_layers;
  j["num_attention_heads"] = num_attention_heads;
  j["num_key_value_heads"] = num_key_value_heads;
  if (!is_deepseek()) j["head_dim"] = head_dim;
  j["max_position_embeddings"] = max_position_embeddings;
  j["rms_norm_eps"] = rms_norm_eps;
  j["rope_theta"] = rope_theta;
  const RopeScaling& rs = rope_scaling;
  if (rs.type == RopeType::kDefault) {
    j["rope_scaling"] = nullptr;
  } else {
    json r = {{"rope_type", std::string(RopeTypeName(rs.type))}, {"factor", rs.factor}};
    if (rs.type == RopeType::kLlama3) {
      r["low_freq_factor"] = rs.low_freq_factor;
      r["high_freq_factor"] = rs.high_freq_factor;
      r["original_max_position_embeddings"] = rs.original_max_position_embeddings;
    } else if (rs.type == RopeType::kYarn) {
      r["type"] = "yarn";
      r["original_max_position_embeddings"] = rs.original_max_position_embeddings;
      r["beta_fast"] = rs.beta_fast;
      r["beta_slow"] = rs.beta_slow;
      r["mscale"] = rs.mscale;
      r["mscale_all_dim"] = rs.mscale_all_dim;
      if (rs.attention_factor) r["attention_factor"] = *rs.attention_factor;
    }
    j["rope_scaling"] = r;
  }
  j["tie_word_embeddings"] = tie_word_embeddings;
  j["hidden_act"] = hidden_act;
  if (arch != Architecture::kQwen2) j["attention_bias"] = attention_bias;
  if (arch == Architecture::kLlama) j["mlp_bias"] = mlp_bias;
  if (is_deepseek()) {
    j["q_lora_rank"] = q_lora_rank ? json(*q_lora_rank) : json(nullptr);
    j["kv_lora_rank"] = kv_lora_rank;
    j["qk_nope_head_dim"] = qk_nope_head_dim;
    j["qk_rope_head_dim"] = qk_rope_head_dim;
    j["v_head_dim"] = v_head_dim;
    j["moe_intermediate_size"] = moe_intermediate_size;
    j["n_routed_experts"] = n_routed_experts;
    j["n_shared_experts"] = n_shared_experts;
    j["num_experts_per_tok"] = num_experts_per_tok;
    j["first_k_dense_replace"] = first_k_dense_replace;
    j["moe_layer_freq"] = moe_layer_freq;
    j["topk_method"] = std::string(TopkMethodName(topk_method));
    j["n_group"] = n_group;
    j["topk_group"] = topk_group;
    j["scoring_func"] = std::string(ScoringFuncName(scoring_func));
    j["norm_topk_prob"] = norm_topk_prob;
    j["routed_scaling_factor"] = routed_scaling_factor;
    if (num_nextn_predict_layers > 0) j["num_nextn_predict_layers"] = num_nextn_predict_layers;
  }
  if (fp8.enabled) {
    j["quantization_config"] = {{"quant_method", "fp8"},
                                {"fmt", fp8.fmt},
                                {"activation_scheme", fp8.activation_scheme},
                                {"weight_block_size", {fp8.block_rows, fp8.block_cols}}};
  }
  if (bos_token_id) j["bos_token_id"] = *bos_token_id;
  if (eos_token_ids.size() == 1) j["eos_token_id"] = eos_token_ids[0];
  else if (!eos_token_ids.empty()) j["eos_token_id"] = eos_token_ids;
  j["torch_dtype"] = torch_dtype;
  return j;
}

Result<ModelConfig> ParseHfConfigText(std::string_view text, const std::string& origin) {
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Corrupt((origin.empty() ? "config" : origin) + ": not valid JSON");
  return ParseHfConfig(j, origin);
}

Result<ModelConfig> LoadHfConfig(const std::string& path) {
  FATHOM_ASSIGN_OR_RETURN(std::string text, ReadTextFile(path, 16u << 20));
  return ParseHfConfigText(text, path);
}

}  // namespace fathom

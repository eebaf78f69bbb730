#include "formats/gguf_config.h"

#include <string>

namespace fathom {
namespace {

// Typed access to "<arch>.<key>" metadata, remembering the first error.
class GgufKeys {
 public:
  GgufKeys(const GgufFile& file, std::string arch) : file_(file), arch_(std::move(arch)) {}

  const GgufValue* Find(const std::string& key) const { return file_.Find(arch_ + "." + key); }

  // Some converters write per-layer arrays (head counts); the first entry stands
  // for all layers, and the config only supports uniform layers.
  int64_t Int(const std::string& key, std::optional<int64_t> fallback) {
    const GgufValue* v = Find(key);
    if (v == nullptr) return Missing(key, fallback);
    if (v->is_array() && !v->elements().empty()) v = &v->elements()[0];
    std::optional<int64_t> i = v->AsInt();
    if (!i) return Fail(key, "must be an integer");
    return *i;
  }

  double Float(const std::string& key, std::optional<double> fallback) {
    const GgufValue* v = Find(key);
    if (v == nullptr) {
      if (fallback) return *fallback;
      Missing(key, std::nullopt);
      return 0.0;
    }
    std::optional<double> d = v->AsFloat();
    if (!d) return Fail(key, "must be a number");
    return *d;
  }

  bool Bool(const std::string& key, bool fallback) {
    const GgufValue* v = Find(key);
    if (v == nullptr) return fallback;
    std::optional<bool> b = v->AsBool();
    if (!b) {
      Fail(key, "must be a bool");
      return fallback;
    }
    return *b;
  }

  std::string String(const std::string& key, const std::string& fallback) {
    const GgufValue* v = Find(key);
    if (v == nullptr) return fallback;
    if (v->AsString() == nullptr) {
      Fail(key, "must be a string");
      return fallback;
    }
    return *v->AsString();
  }

  const Status& status() const { return status_; }

 private:
  int64_t Missing(const std::string& key, std::optional<int64_t> fallback) {
    if (fallback) return *fallback;
    if (status_.ok()) status_ = Corrupt("missing metadata key '" + arch_ + "." + key + "'");
    return 0;
  }
  int64_t Fail(const std::string& key, const std::string& problem) {
    if (status_.ok()) status_ = Corrupt("metadata key '" + arch_ + "." + key + "' " + problem);
    return 0;
  }

  const GgufFile& file_;
  std::string arch_;
  Status status_;
};

bool HasTensor(const GgufFile& file, const std::string& name) { return file.FindTensor(name) != nullptr; }

int64_t VocabSize(const GgufFile& file, GgufKeys& keys) {
  if (keys.Find("vocab_size") != nullptr) return keys.Int("vocab_size", std::nullopt);
  if (const GgufValue* tokens = file.Find("tokenizer.ggml.tokens"); tokens != nullptr && tokens->is_array()) {
    return static_cast<int64_t>(tokens->elements().size());
  }
  if (const GgufTensorInfo* embd = file.FindTensor("token_embd.weight"); embd != nullptr && embd->ne.size() == 2) {
    return embd->ne[1];
  }
  return 0;
}

void ReadRope(GgufKeys& k, ModelConfig* c) {
  c->rope_theta = k.Float("rope.freq_base", 10000.0);
  const std::string type = k.String("rope.scaling.type", "none");
  RopeScaling& rs = c->rope_scaling;
  if (type == "linear") {
    rs.type = RopeType::kLinear;
    rs.factor = k.Float("rope.scaling.factor", 1.0);
  } else if (type == "yarn") {
    rs.type = RopeType::kYarn;
    rs.factor = k.Float("rope.scaling.factor", 1.0);
    rs.original_max_position_embeddings = k.Int("rope.scaling.original_context_length", 0);
    // llama.cpp's converter stores 0.1 * mscale_all_dim; DeepSeek sets mscale equal to it.
    const double log_mult = k.Float("rope.scaling.yarn_log_multiplier", 0.0);
    rs.mscale_all_dim = log_mult / 0.1;
    rs.mscale = log_mult > 0 ? rs.mscale_all_dim : 1.0;
    rs.beta_fast = k.Float("rope.scaling.yarn_beta_fast", 32.0);
    rs.beta_slow = k.Float("rope.scaling.yarn_beta_slow", 1.0);
  }
}

}  // namespace

Result<ModelConfig> ConfigFromGguf(const GgufFile& file) {
  const GgufValue* arch_value = file.Find("general.architecture");
  if (arch_value == nullptr || arch_value->AsString() == nullptr) {
    return Corrupt("missing string metadata key 'general.architecture'");
  }
  const std::string arch = *arch_value->AsString();
  GgufKeys k(file, arch);
  ModelConfig c;
  if (arch == "llama") {
    c.arch = Architecture::kLlama;
  } else if (arch == "qwen2") {
    c.arch = Architecture::kQwen2;
  } else if (arch == "deepseek2") {
    const bool sigmoid = k.Int("expert_gating_func", 1) == 2;
    c.arch = sigmoid || HasTensor(file, "blk.0.exp_probs_b.bias") ? Architecture::kDeepseekV3
                                                                    : Architecture::kDeepseekV2;
    // V3 layers before leading_dense_block_count have no routing bias; look further.
    for (const GgufTensorInfo& t : file.tensors()) {
      if (t.name.find("exp_probs_b") != std::string::npos) c.arch = Architecture::kDeepseekV3;
    }
  } else {
    return Unsupported("GGUF architecture '" + arch + "' is not supported (llama, qwen2, deepseek2 are)");
  }
  c.model_type = std::string(ArchitectureName(c.arch));

  c.vocab_size = VocabSize(file, k);
  c.hidden_size = k.Int("embedding_length", std::nullopt);
  c.num_hidden_layers = k.Int("block_count", std::nullopt);
  c.intermediate_size = k.Int("feed_forward_length", std::nullopt);
  c.num_attention_heads = k.Int("attention.head_count", std::nullopt);
  c.num_key_value_heads = k.Int("attention.head_count_kv", c.num_attention_heads);
  c.max_position_embeddings = k.Int("context_length", 4096);
  c.rms_norm_eps = k.Float("attention.layer_norm_rms_epsilon", 1e-6);
  c.tie_word_embeddings = !HasTensor(file, "output.weight");
  if (!k.status().ok()) return k.status();
  ReadRope(k, &c);

  if (!c.is_deepseek()) {
    c.head_dim = k.Int("attention.key_length", c.num_attention_heads > 0 ? c.hidden_size / c.num_attention_heads : 0);
    c.qkv_bias = c.arch == Architecture::kQwen2 || HasTensor(file, "blk.0.attn_q.bias");
    c.attention_bias = c.arch == Architecture::kLlama && HasTensor(file, "blk.0.attn_output.bias");
    c.mlp_bias = HasTensor(file, "blk.0.ffn_up.bias");
    if (c.arch == Architecture::kLlama && HasTensor(file, "rope_freqs.weight")) {
      c.rope_scaling.type = RopeType::kLlama3;
      c.rope_scaling.freqs_from_tensor = true;
    }
  } else {
    const int64_t q_lora = k.Int("attention.q_lora_rank", 0);
    if (q_lora > 0) c.q_lora_rank = q_lora;
    c.kv_lora_rank = k.Int("attention.kv_lora_rank", std::nullopt);
    c.qk_rope_head_dim = k.Int("rope.dimension_count", std::nullopt);
    // Newer converters store the MLA head sizes under *_mla and the latent sizes
    // in key_length/value_length.
    const bool mla_keys = k.Find("attention.key_length_mla") != nullptr;
    const int64_t key_len = k.Int(mla_keys ? "attention.key_length_mla" : "attention.key_length", std::nullopt);
    c.v_head_dim = k.Int(mla_keys ? "attention.value_length_mla" : "attention.value_length", std::nullopt);
    c.qk_nope_head_dim = key_len - c.qk_rope_head_dim;
    c.head_dim = key_len;
    c.first_k_dense_replace = k.Int("leading_dense_block_count", 0);
    c.moe_intermediate_size = k.Int("expert_feed_forward_length", 0);
    c.n_routed_experts = k.Int("expert_count", 0);
    c.n_shared_experts = k.Int("expert_shared_count", 0);
    c.num_experts_per_tok = k.Int("expert_used_count", 0);
    c.routed_scaling_factor = k.Float("expert_weights_scale", 1.0);
    c.norm_topk_prob = k.Bool("expert_weights_norm", false);
    c.n_group = k.Int("expert_group_count", 1);
    c.topk_group = k.Int("expert_group_used_count", c.n_group);
    c.num_nextn_predict_layers = k.Int("nextn_predict_layers", 0);
    if (c.arch == Architecture::kDeepseekV3) {
      c.scoring_func = ScoringFunc::kSigmoid;
      c.topk_method = TopkMethod::kNoauxTc;
    } else {
      c.scoring_func = ScoringFunc::kSoftmax;
      c.topk_method = c.n_group > 1 ? TopkMethod::kGroupLimitedGreedy : TopkMethod::kGreedy;
    }
  }
  if (!k.status().ok()) return k.status();

  auto token_id = [&](const char* key) -> std::optional<int64_t> {
    const GgufValue* v = file.Find(key);
    return v != nullptr ? v->AsInt() : std::nullopt;
  };
  c.bos_token_id = token_id("tokenizer.ggml.bos_token_id");
  if (std::optional<int64_t> eos = token_id("tokenizer.ggml.eos_token_id")) c.eos_token_ids = {*eos};
  FATHOM_RETURN_IF_ERROR(c.Validate());
  return c;
}

}  // namespace fathom

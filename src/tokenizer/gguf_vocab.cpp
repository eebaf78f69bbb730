#include "tokenizer/gguf_vocab.h"

#include "formats/gguf_file.h"

namespace fathom {
namespace {

using nlohmann::json;

// llama.cpp token types (llama_token_type).
constexpr int64_t kTokenTypeControl = 3;
constexpr int64_t kTokenTypeUserDefined = 4;

constexpr const char* kLlama3Regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr const char* kQwen2Regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

Result<std::vector<std::string>> StringArray(const GgufFile& gguf, const char* key, bool required) {
  const GgufValue* v = gguf.Find(key);
  std::vector<std::string> out;
  if (v == nullptr) {
    if (required) return NotFound(std::string("GGUF has no ") + key);
    return out;
  }
  if (!v->is_array() || v->element_type() != GgufType::kString) {
    return Corrupt(std::string(key) + " is not an array of strings");
  }
  out.reserve(v->elements().size());
  for (const GgufValue& e : v->elements()) out.push_back(*e.AsString());
  return out;
}

}  // namespace

std::optional<std::vector<std::string>> PreTokenizerRegexesForGguf(const std::string& pre) {
  if (pre == "llama-bpe" || pre == "llama3" || pre == "dbrx" || pre == "smaug-bpe") {
    return std::vector<std::string>{kLlama3Regex};
  }
  if (pre == "qwen2") return std::vector<std::string>{kQwen2Regex};
  if (pre == "deepseek-v3") {
    return std::vector<std::string>{
        "\\p{N}{1,3}", "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
        "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| "
        "?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"};
  }
  if (pre == "deepseek-llm") {
    return std::vector<std::string>{
        "[\r\n]",
        // Code points with singleton decompositions (U+1F7D, U+2126, ...) are escaped so
        // no editor's normalisation can change them.
        "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-"
        "Ὅὐ-ὗὙὛὝ"
        "Ὗ-\\x{1F7D}ᾀ-ᾴᾶ-ᾼ\\x{1FBE}ῂ-ῄῆ-ῌῐ-\\x{1FD3}ῖ-\\x{1FDB}ῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\\x{2126}ℨ\\x{212A}-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-"
        "ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚ"
        "ａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
        "\\s?[!-/:-~！-／：-～‘-‟　-。]+", "\\s+$", "[一-龥ࠀ-一가-퟿]+", "\\p{N}+"};
  }
  return std::nullopt;
}

Result<GgufTokenizerFiles> GgufVocabToTokenizerJson(const GgufFile& gguf) {
  const GgufValue* model = gguf.Find("tokenizer.ggml.model");
  if (model == nullptr) return NotFound("GGUF has no tokenizer.ggml.model");
  const std::string model_name = model->AsString() ? *model->AsString() : "";
  if (model_name != "gpt2") {
    return Unsupported("tokenizer.ggml.model \"" + model_name + "\" is not supported (only gpt2 BPE)");
  }
  std::string pre = "default";
  if (const GgufValue* v = gguf.Find("tokenizer.ggml.pre"); v != nullptr && v->AsString()) pre = *v->AsString();
  std::optional<std::vector<std::string>> regexes = PreTokenizerRegexesForGguf(pre);
  if (!regexes) return Unsupported("tokenizer.ggml.pre \"" + pre + "\" is not supported");

  FATHOM_ASSIGN_OR_RETURN(std::vector<std::string> tokens, StringArray(gguf, "tokenizer.ggml.tokens", true));
  FATHOM_ASSIGN_OR_RETURN(std::vector<std::string> merges, StringArray(gguf, "tokenizer.ggml.merges", false));
  std::vector<int64_t> types(tokens.size(), 1);
  if (const GgufValue* v = gguf.Find("tokenizer.ggml.token_type")) {
    if (!v->is_array() || v->elements().size() != tokens.size()) {
      return Corrupt("tokenizer.ggml.token_type does not have one entry per token");
    }
    for (size_t i = 0; i < tokens.size(); ++i) types[i] = v->elements()[i].AsInt().value_or(1);
  }

  json vocab = json::object();
  json added = json::array();
  for (size_t i = 0; i < tokens.size(); ++i) {
    const bool control = types[i] == kTokenTypeControl;
    if (control || types[i] == kTokenTypeUserDefined) {
      added.push_back({{"id", i},
                       {"content", tokens[i]},
                       {"single_word", false},
                       {"lstrip", false},
                       {"rstrip", false},
                       {"normalized", false},
                       {"special", control}});
    }
    vocab[tokens[i]] = i;
  }
  json split_steps = json::array();
  for (const std::string& r : *regexes) {
    split_steps.push_back(
        {{"type", "Split"}, {"pattern", {{"Regex", r}}}, {"behavior", "Isolated"}, {"invert", false}});
  }
  split_steps.push_back({{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}});

  GgufTokenizerFiles out;
  out.tokenizer_json = {
      {"added_tokens", added},
      {"normalizer", pre == "qwen2" ? json{{"type", "NFC"}} : json()},
      {"pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", split_steps}}},
      {"post_processor", nullptr},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}, {"ignore_merges", pre == "llama-bpe"}}},
  };
  json config = json::object();
  auto token_at = [&](const char* key) -> std::optional<std::string> {
    const GgufValue* v = gguf.Find(key);
    if (v == nullptr) return std::nullopt;
    std::optional<int64_t> id = v->AsInt();
    if (!id || *id < 0 || *id >= static_cast<int64_t>(tokens.size())) return std::nullopt;
    return tokens[static_cast<size_t>(*id)];
  };
  if (auto bos = token_at("tokenizer.ggml.bos_token_id")) config["bos_token"] = *bos;
  if (auto eos = token_at("tokenizer.ggml.eos_token_id")) config["eos_token"] = *eos;
  if (const GgufValue* v = gguf.Find("tokenizer.ggml.add_bos_token")) {
    if (config.contains("bos_token")) config["add_bos_token"] = v->AsInt().value_or(0) != 0;
  }
  if (const GgufValue* v = gguf.Find("tokenizer.ggml.add_eos_token")) {
    if (config.contains("eos_token")) config["add_eos_token"] = v->AsInt().value_or(0) != 0;
  }
  out.tokenizer_config_json = std::move(config);
  return out;
}

}  // namespace fathom

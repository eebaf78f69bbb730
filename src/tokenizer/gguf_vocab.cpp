#include "tokenizer/gguf_vocab.h"

#include "formats/gguf_file.h"
#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <map>
#include <string_view>

namespace fathom {
namespace {

using nlohmann::json;

// llama.cpp token types (llama_token_type).
constexpr int64_t kTokenTypeNormal = 1;
constexpr int64_t kTokenTypeControl = 3;
constexpr int64_t kTokenTypeUserDefined = 4;
constexpr int64_t kTokenTypeUnused = 5;
// Far above any real vocabulary; guards the token table against a hostile id.
constexpr int64_t kMaxVocab = int64_t{1} << 24;

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

// The Split regexes of a tokenizer.json pre_tokenizer (a Split, or a Sequence of
// them followed by a ByteLevel without its own regex), in order.
std::vector<std::string> SplitRegexes(const json& pre) {
  std::vector<std::string> out;
  if (!pre.is_object()) return out;
  const json steps = pre.value("type", "") == "Sequence" ? pre.value("pretokenizers", json::array()) : json::array({pre});
  for (const json& step : steps) {
    if (!step.is_object() || step.value("type", "") != "Split") continue;
    const json pattern = step.value("pattern", json::object());
    if (pattern.is_object() && pattern.contains("Regex") && pattern["Regex"].is_string()) {
      out.push_back(pattern["Regex"].get<std::string>());
    }
  }
  return out;
}

// Whether tokenizer.json's post-processor puts `token` first (`first`) or last
// in a single sequence: a TemplateProcessing does iff its template starts (ends)
// with that special token, a ByteLevel never does; nullopt for anything else.
std::optional<bool> PostProcessorAdds(const json& post, const std::optional<std::string>& token, bool first) {
  if (!post.is_object()) return std::nullopt;
  const std::string type = post.value("type", "");
  if (type == "ByteLevel") return false;
  if (type != "TemplateProcessing" || !token) return std::nullopt;
  const json single = post.value("single", json::array());
  if (!single.is_array() || single.size() < 2) return false;
  const json& end = first ? single.front() : single.back();
  return end.is_object() && end.contains("SpecialToken") && end["SpecialToken"].value("id", "") == *token;
}

// The converter's heuristic for added tokens that ought to be control tokens even
// though the tokenizer does not mark them special.
bool LooksSpecial(const std::string& t) {
  auto wrapped = [&](std::string_view open, std::string_view close) {
    return t.size() >= open.size() + close.size() && t.starts_with(open) && t.ends_with(close);
  };
  return t == "<pad>" || t == "<mask>" || wrapped("<|", "|>") || wrapped("<\xef\xbd\x9c", "\xef\xbd\x9c>") ||
         wrapped("<unused", ">");
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

std::optional<std::string> GgufPreTokenizerFor(const json& tokenizer_json) {
  if (!tokenizer_json.is_object()) return std::nullopt;
  const std::vector<std::string> regexes = SplitRegexes(tokenizer_json.value("pre_tokenizer", json()));
  for (const char* name : {"llama-bpe", "qwen2", "deepseek-v3", "deepseek-llm"}) {
    if (PreTokenizerRegexesForGguf(name) == regexes) return std::string(name);
  }
  return std::nullopt;
}

Result<std::vector<std::pair<std::string, GgufValue>>> TokenizerJsonToGgufVocab(const json& tokenizer_json,
                                                                               const json& tokenizer_config_json,
                                                                               int64_t vocab_size,
                                                                               const std::string& chat_template) {
  const json model = tokenizer_json.is_object() ? tokenizer_json.value("model", json()) : json();
  if (!model.is_object() || model.value("type", "") != "BPE") {
    return Unsupported("tokenizer.json: only byte-level BPE tokenizers can be written to GGUF");
  }
  std::optional<std::string> pre = GgufPreTokenizerFor(tokenizer_json);
  if (!pre) {
    return Unsupported("tokenizer.json: its pre-tokenizer regexes match none llama.cpp knows "
                       "(llama-bpe, qwen2, deepseek-v3, deepseek-llm)");
  }
  const json vocab = model.value("vocab", json::object());
  if (!vocab.is_object()) return Corrupt("tokenizer.json: model.vocab is not an object");

  // id -> text, then the added tokens over it (they may repeat vocab entries).
  std::vector<std::string> tokens(static_cast<size_t>(std::max<int64_t>(vocab_size, 0)));
  std::vector<int64_t> types(tokens.size(), kTokenTypeUnused);
  auto place = [&](int64_t id, const std::string& text, int64_t type) -> Status {
    if (id < 0 || id >= kMaxVocab) return Corrupt("tokenizer.json: token id " + std::to_string(id) + " out of range");
    if (static_cast<size_t>(id) >= tokens.size()) {
      tokens.resize(static_cast<size_t>(id) + 1);
      types.resize(static_cast<size_t>(id) + 1, kTokenTypeUnused);
    }
    tokens[static_cast<size_t>(id)] = text;
    types[static_cast<size_t>(id)] = type;
    return Status();
  };
  for (const auto& [text, id] : vocab.items()) {
    if (!id.is_number_integer()) return Corrupt("tokenizer.json: vocab id of '" + text + "' is not an integer");
    FATHOM_RETURN_IF_ERROR(place(id.get<int64_t>(), text, kTokenTypeNormal));
  }
  const json added = tokenizer_json.value("added_tokens", json::array());
  for (const json& t : added.is_array() ? added : json::array()) {
    if (!t.is_object() || !t.contains("id") || !t["id"].is_number_integer() || !t.contains("content") ||
        !t["content"].is_string()) {
      return Corrupt("tokenizer.json: an added token lacks an integer id or a string content");
    }
    std::string text = t["content"].get<std::string>();
    const bool control = t.value("special", false) || LooksSpecial(text);
    if (!control) {
      // The converter stores user-defined tokens with their U+2581 as plain spaces.
      for (size_t pos; (pos = text.find("\xe2\x96\x81")) != std::string::npos;) text.replace(pos, 3, " ");
    }
    FATHOM_RETURN_IF_ERROR(place(t["id"].get<int64_t>(), text, control ? kTokenTypeControl : kTokenTypeUserDefined));
  }
  std::map<std::string, int64_t> ids;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (types[i] == kTokenTypeUnused) tokens[i] = "[PAD" + std::to_string(i) + "]";
    ids.emplace(tokens[i], static_cast<int64_t>(i));
  }

  std::vector<std::string> merges;
  const json merges_json = model.value("merges", json::array());
  for (const json& m : merges_json.is_array() ? merges_json : json::array()) {
    if (m.is_string()) {
      merges.push_back(m.get<std::string>());
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
    } else {
      return Corrupt("tokenizer.json: a merge is neither \"a b\" nor [\"a\", \"b\"]");
    }
  }

  std::vector<std::pair<std::string, GgufValue>> out;
  out.emplace_back("tokenizer.ggml.model", GgufValue::String("gpt2"));
  out.emplace_back("tokenizer.ggml.pre", GgufValue::String(*pre));
  std::vector<int32_t> types32(types.begin(), types.end());
  out.emplace_back("tokenizer.ggml.tokens", GgufValue::StringArray(std::move(tokens)));
  out.emplace_back("tokenizer.ggml.token_type", GgufValue::I32Array(std::move(types32)));
  out.emplace_back("tokenizer.ggml.merges", GgufValue::StringArray(std::move(merges)));
  for (const auto& [config_key, gguf_key] : {std::pair{"bos_token", "tokenizer.ggml.bos_token_id"},
                                             std::pair{"eos_token", "tokenizer.ggml.eos_token_id"},
                                             std::pair{"unk_token", "tokenizer.ggml.unknown_token_id"},
                                             std::pair{"pad_token", "tokenizer.ggml.padding_token_id"}}) {
    const std::optional<std::string> text = ConfigTokenContent(tokenizer_config_json, config_key);
    if (!text) continue;
    const auto it = ids.find(*text);
    if (it != ids.end()) out.emplace_back(gguf_key, GgufValue::U32(static_cast<uint32_t>(it->second)));
  }
  for (const auto& [key, token_key] : {std::pair{"add_bos_token", "bos_token"}, std::pair{"add_eos_token", "eos_token"}}) {
    std::optional<bool> add;
    if (tokenizer_config_json.is_object() && tokenizer_config_json.contains(key) &&
        tokenizer_config_json[key].is_boolean()) {
      add = tokenizer_config_json[key].get<bool>();
    } else {
      add = PostProcessorAdds(tokenizer_json.value("post_processor", json()), ConfigTokenContent(tokenizer_config_json, token_key),
                              std::string_view(key) == "add_bos_token");
    }
    if (add) out.emplace_back(std::string("tokenizer.ggml.") + key, GgufValue::Bool(*add));
  }
  if (!chat_template.empty()) out.emplace_back("tokenizer.chat_template", GgufValue::String(chat_template));
  return out;
}

}  // namespace fathom

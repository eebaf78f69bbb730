#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "formats/gguf_file.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/gguf_vocab.h"
#include "core/utf8.h"

namespace fathom {
namespace {

using nlohmann::json;

Result<AddedToken> ParseAddedToken(const json& j) {
  if (!j.is_object() || !j.contains("id") || !j.contains("content")) {
    return Corrupt("added token " + j.dump() + " lacks an id or content");
  }
  AddedToken t;
  t.id = j["id"].get<int32_t>();
  t.content = j["content"].get<std::string>();
  t.special = j.value("special", false);
  t.lstrip = j.value("lstrip", false);
  t.rstrip = j.value("rstrip", false);
  t.single_word = j.value("single_word", false);
  t.normalized = j.value("normalized", !t.special);
  return t;
}

std::optional<bool> ConfigBool(const json& config, const char* key) {
  if (!config.is_object() || !config.contains(key) || !config[key].is_boolean()) return std::nullopt;
  return config[key].get<bool>();
}

Result<json> ReadJson(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound(path.string() + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Corrupt(path.string() + ": not valid JSON");
  return j;
}

}  // namespace

std::optional<std::string> ConfigTokenContent(const json& config, const char* key) {
  if (!config.is_object() || !config.contains(key)) return std::nullopt;
  const json& v = config[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return std::nullopt;
}

Result<Tokenizer> Tokenizer::FromJson(const json& tokenizer, const json& config, SpecialTokenSource source) {
  if (!tokenizer.is_object()) return Corrupt("tokenizer.json is not a JSON object");
  for (const char* key : {"truncation", "padding"}) {
    if (tokenizer.contains(key) && !tokenizer[key].is_null()) {
      return Unsupported(std::string("tokenizer.json \"") + key + "\" is not supported");
    }
  }
  Tokenizer t;
  FATHOM_ASSIGN_OR_RETURN(t.normalizer_, Normalizer::FromJson(tokenizer.value("normalizer", json())));
  FATHOM_ASSIGN_OR_RETURN(PreTokenizer pre, PreTokenizer::FromJson(tokenizer.value("pre_tokenizer", json())));
  t.pre_tokenizer_ = std::make_unique<PreTokenizer>(std::move(pre));
  FATHOM_ASSIGN_OR_RETURN(t.model_, BpeModel::FromJson(tokenizer.value("model", json())));
  const json decoder = tokenizer.value("decoder", json());
  if (!decoder.is_object() || decoder.value("type", std::string()) != "ByteLevel") {
    return Unsupported("decoder " + decoder.dump() + " is not supported (only ByteLevel)");
  }

  // Vocabulary: the model's, then added tokens (which may extend or shadow it).
  int32_t max_id = -1;
  for (const auto& [text, id] : t.model_->vocab()) max_id = std::max(max_id, id);
  std::vector<AddedToken> added;
  for (const json& j : tokenizer.value("added_tokens", json::array())) {
    FATHOM_ASSIGN_OR_RETURN(AddedToken token, ParseAddedToken(j));
    max_id = std::max(max_id, token.id);
    added.push_back(std::move(token));
  }
  if (max_id < 0) return Corrupt("tokenizer.json has an empty vocabulary");
  t.token_bytes_.assign(static_cast<size_t>(max_id) + 1, std::string());
  t.is_special_.assign(static_cast<size_t>(max_id) + 1, 0);
  for (const auto& [text, id] : t.model_->vocab()) {
    if (id >= 0) t.token_bytes_[id] = DecodeByteLevelToken(text);
  }
  std::vector<AddedToken> raw, normalized;
  for (const AddedToken& a : added) {
    if (a.id < 0) return Corrupt("added token \"" + a.content + "\" has a negative id");
    t.token_bytes_[a.id] = DecodeByteLevelToken(a.content);
    t.is_special_[a.id] = a.special ? 1 : 0;
    t.added_by_content_.emplace_back(a.content, a.id);
    if (a.normalized && !t.normalizer_.is_identity()) {
      AddedToken n = a;
      n.content = t.normalizer_.Normalize(a.content);
      normalized.push_back(std::move(n));
    } else if (a.normalized) {
      normalized.push_back(a);
    } else {
      raw.push_back(a);
    }
  }
  std::sort(t.added_by_content_.begin(), t.added_by_content_.end());
  t.raw_matcher_ = AddedTokenMatcher(std::move(raw));
  t.normalized_matcher_ = AddedTokenMatcher(std::move(normalized));

  if (std::optional<std::string> bos = ConfigTokenContent(config, "bos_token")) {
    const int32_t id = t.TokenToId(*bos);
    if (id >= 0) t.bos_id_ = id;
  }
  if (std::optional<std::string> eos = ConfigTokenContent(config, "eos_token")) {
    const int32_t id = t.TokenToId(*eos);
    if (id >= 0) t.eos_id_ = id;
  }
  const std::optional<bool> add_bos = ConfigBool(config, "add_bos_token");
  const std::optional<bool> add_eos = ConfigBool(config, "add_eos_token");
  if (source == SpecialTokenSource::kTransformers && (add_bos.has_value() || add_eos.has_value())) {
    if (add_bos.value_or(false)) {
      if (!t.bos_id_) return Corrupt("tokenizer_config.json sets add_bos_token but names no known bos_token");
      t.prefix_ids_.push_back(*t.bos_id_);
    }
    if (add_eos.value_or(false)) {
      if (!t.eos_id_) return Corrupt("tokenizer_config.json sets add_eos_token but names no known eos_token");
      t.suffix_ids_.push_back(*t.eos_id_);
    }
  } else {
    FATHOM_RETURN_IF_ERROR(t.ParsePostProcessor(tokenizer.value("post_processor", json())));
  }
  return t;
}

Status Tokenizer::ParsePostProcessor(const json& j) {
  if (j.is_null()) return Status::Ok();
  const std::string type = j.value("type", std::string());
  if (type == "ByteLevel") return Status::Ok();  // it only adjusts offsets
  if (type == "Sequence") {
    for (const json& p : j.value("processors", json::array())) FATHOM_RETURN_IF_ERROR(ParsePostProcessor(p));
    return Status::Ok();
  }
  if (type != "TemplateProcessing") return Unsupported("post_processor type \"" + type + "\" is not supported");
  const json specials = j.value("special_tokens", json::object());
  bool seen_sequence = false;
  for (const json& item : j.value("single", json::array())) {
    if (item.contains("Sequence")) {
      if (item["Sequence"].value("id", std::string()) != "A") {
        return Unsupported("TemplateProcessing single template uses a sequence other than $A");
      }
      seen_sequence = true;
      continue;
    }
    if (!item.contains("SpecialToken")) return Corrupt("TemplateProcessing item " + item.dump() + " is unknown");
    const std::string name = item["SpecialToken"].value("id", std::string());
    if (!specials.contains(name)) return Corrupt("TemplateProcessing names unknown special token \"" + name + "\"");
    for (const json& id : specials[name].value("ids", json::array())) {
      (seen_sequence ? suffix_ids_ : prefix_ids_).push_back(id.get<int32_t>());
    }
  }
  return Status::Ok();
}

Result<Tokenizer> Tokenizer::Load(const std::string& path, SpecialTokenSource source) {
  namespace fs = std::filesystem;
  const fs::path p(path);
  std::error_code ec;
  fs::path tokenizer_path, config_path;
  if (fs::is_directory(p, ec)) {
    tokenizer_path = p / "tokenizer.json";
    config_path = p / "tokenizer_config.json";
    if (!fs::exists(tokenizer_path, ec)) {
      // A directory holding just one GGUF file works too.
      for (const auto& entry : fs::directory_iterator(p, ec)) {
        if (entry.path().extension() == ".gguf") return Load(entry.path().string(), source);
      }
      return NotFound(path + ": no tokenizer.json in the directory");
    }
  } else if (p.extension() == ".gguf") {
    FATHOM_ASSIGN_OR_RETURN(GgufFile gguf, GgufFile::Open(path));
    Result<Tokenizer> t = FromGguf(gguf);
    if (!t.ok()) return t.status().WithContext(path);
    return t;
  } else {
    tokenizer_path = p;
    config_path = p.parent_path() / "tokenizer_config.json";
  }
  FATHOM_ASSIGN_OR_RETURN(json tokenizer, ReadJson(tokenizer_path));
  json config;
  if (fs::exists(config_path, ec)) {
    FATHOM_ASSIGN_OR_RETURN(config, ReadJson(config_path));
  }
  Result<Tokenizer> t = FromJson(tokenizer, config, source);
  if (!t.ok()) return t.status().WithContext(tokenizer_path.string());
  return t;
}

Result<Tokenizer> Tokenizer::FromGguf(const GgufFile& gguf) {
  FATHOM_ASSIGN_OR_RETURN(GgufTokenizerFiles files, GgufVocabToTokenizerJson(gguf));
  return FromJson(files.tokenizer_json, files.tokenizer_config_json, SpecialTokenSource::kTransformers);
}

int32_t Tokenizer::TokenToId(std::string_view token) const {
  auto it = std::lower_bound(added_by_content_.begin(), added_by_content_.end(), token,
                             [](const auto& a, std::string_view b) { return a.first < b; });
  if (it != added_by_content_.end() && it->first == token) return it->second;
  std::optional<std::string> bytes = ByteLevelToBytes(token);
  if (bytes) {
    const int32_t id = model_->FindBytes(*bytes);
    if (id >= 0) return id;
  }
  for (const auto& [text, id] : model_->vocab()) {
    if (text == token) return id;
  }
  return -1;
}

const std::string& Tokenizer::TokenBytes(int32_t id) const {
  static const std::string kEmpty;
  return id >= 0 && id < vocab_size() ? token_bytes_[id] : kEmpty;
}

bool Tokenizer::IsSpecial(int32_t id) const { return id >= 0 && id < vocab_size() && is_special_[id] != 0; }

Status Tokenizer::EncodeNormalized(std::string_view text, std::vector<int32_t>* ids) const {
  thread_local std::string buffer;
  thread_local std::vector<PreTokenizer::Piece> pieces;
  buffer.assign(text);
  pieces.clear();
  FATHOM_RETURN_IF_ERROR(pre_tokenizer_->Split(&buffer, {0, static_cast<uint32_t>(buffer.size())}, &pieces));
  for (const PreTokenizer::Piece& p : pieces) {
    model_->Tokenize(std::string_view(buffer.data() + p.begin, p.end - p.begin), ids);
  }
  return Status::Ok();
}

Status Tokenizer::EncodeText(std::string_view text, std::vector<int32_t>* ids) const {
  std::vector<AddedTokenMatcher::Segment> raw_segments;
  if (raw_matcher_.empty()) {
    raw_segments.push_back({0, static_cast<uint32_t>(text.size()), -1});
  } else {
    raw_matcher_.Split(text, &raw_segments);
  }
  std::vector<AddedTokenMatcher::Segment> segments;
  for (const AddedTokenMatcher::Segment& raw : raw_segments) {
    if (raw.id >= 0) {
      ids->push_back(raw.id);
      continue;
    }
    const std::string_view part = text.substr(raw.begin, raw.end - raw.begin);
    std::string normalized_storage;
    std::string_view normalized = part;
    if (!normalizer_.is_identity()) {
      normalized_storage = normalizer_.Normalize(part);
      normalized = normalized_storage;
    }
    segments.clear();
    if (normalized_matcher_.empty()) {
      segments.push_back({0, static_cast<uint32_t>(normalized.size()), -1});
    } else {
      normalized_matcher_.Split(normalized, &segments);
    }
    for (const AddedTokenMatcher::Segment& s : segments) {
      if (s.id >= 0) {
        ids->push_back(s.id);
      } else {
        FATHOM_RETURN_IF_ERROR(EncodeNormalized(normalized.substr(s.begin, s.end - s.begin), ids));
      }
    }
  }
  return Status::Ok();
}

Result<std::vector<int32_t>> Tokenizer::Encode(std::string_view text, bool add_special_tokens) const {
  if (text.size() > UINT32_MAX / 4) return OutOfRange("text of " + std::to_string(text.size()) + " bytes is too long");
  std::string repaired;
  if (!utf8::IsValid(text)) {
    utf8::AppendLossy(text, &repaired);
    text = repaired;
  }
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  if (add_special_tokens) ids.insert(ids.end(), prefix_ids_.begin(), prefix_ids_.end());
  FATHOM_RETURN_IF_ERROR(EncodeText(text, &ids));
  if (add_special_tokens) ids.insert(ids.end(), suffix_ids_.begin(), suffix_ids_.end());
  return ids;
}

std::string Tokenizer::Decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  std::string bytes;
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size()) continue;
    if (skip_special_tokens && is_special_[id]) continue;
    bytes += token_bytes_[id];
  }
  if (utf8::IsValid(bytes)) return bytes;
  std::string out;
  utf8::AppendLossy(bytes, &out);
  return out;
}

}  // namespace fathom

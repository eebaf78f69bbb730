#include "chat/chat_template.h"

#include <filesystem>

#include "core/mapped_file.h"
#include "formats/gguf_file.h"

namespace fathom {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

// A special token is a string or an AddedToken object {"content": ...}.
std::optional<std::string> TokenText(const json& config, const char* key) {
  auto it = config.find(key);
  if (it == config.end()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) {
    auto c = it->find("content");
    if (c != it->end() && c->is_string()) return c->get<std::string>();
  }
  return std::nullopt;
}

Result<json> ReadJson(const std::string& path) {
  FATHOM_ASSIGN_OR_RETURN(std::string text, ReadTextFile(path));
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return Corrupt(path + ": not valid JSON");
  return j;
}

Result<std::string> PickTemplate(const json& value, const std::string& name, const std::string& path) {
  if (value.is_string()) {
    if (!name.empty() && name != "default") return NotFound(path + ": has a single chat template, not '" + name + "'");
    return value.get<std::string>();
  }
  if (!value.is_array()) return Corrupt(path + ": chat_template must be a string or a list of {name, template}");
  const std::string want = name.empty() ? "default" : name;
  std::string names;
  for (const json& entry : value) {
    if (!entry.is_object() || !entry.contains("name") || !entry.contains("template") || !entry["name"].is_string() ||
        !entry["template"].is_string()) {
      return Corrupt(path + ": chat_template entries must be {name, template}");
    }
    if (entry["name"] == want) return entry["template"].get<std::string>();
    names += (names.empty() ? "" : ", ") + entry["name"].get<std::string>();
  }
  return NotFound(path + ": no chat template named '" + want + "' (has: " + names + ")");
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

Result<ChatTemplate> ChatTemplate::FromString(std::string_view source, std::optional<std::string> bos_token,
                                              std::optional<std::string> eos_token) {
  FATHOM_ASSIGN_OR_RETURN(jinja::JinjaTemplate tmpl, jinja::JinjaTemplate::Parse(source));
  ChatTemplate out(std::move(tmpl), std::string(source));
  out.bos_token_ = std::move(bos_token);
  out.eos_token_ = std::move(eos_token);
  return out;
}

Result<ChatTemplate> ChatTemplate::FromTokenizerConfig(const std::string& path, const std::string& name) {
  FATHOM_ASSIGN_OR_RETURN(json config, ReadJson(path));
  if (!config.is_object()) return Corrupt(path + ": expected a JSON object");
  std::string source;
  const fs::path beside = fs::path(path).parent_path() / "chat_template.jinja";
  std::error_code ec;
  if (name.empty() && fs::is_regular_file(beside, ec)) {
    FATHOM_ASSIGN_OR_RETURN(source, ReadTextFile(beside.string()));
  } else {
    auto it = config.find("chat_template");
    if (it == config.end() || it->is_null()) return NotFound(path + ": has no chat_template");
    FATHOM_ASSIGN_OR_RETURN(source, PickTemplate(*it, name, path));
  }
  Result<ChatTemplate> t = FromString(source, TokenText(config, "bos_token"), TokenText(config, "eos_token"));
  if (!t.ok()) return t.status().WithContext(path);
  return t;
}

Result<ChatTemplate> ChatTemplate::FromGguf(const std::string& path, const std::string& name) {
  FATHOM_ASSIGN_OR_RETURN(GgufFile file, GgufFile::Open(path));
  const std::string key = name.empty() || name == "default" ? "tokenizer.chat_template" : "tokenizer.chat_template." + name;
  const GgufValue* v = file.Find(key);
  if (v == nullptr || v->AsString() == nullptr) return NotFound(path + ": has no " + key);
  auto token = [&](const char* id_key) -> std::optional<std::string> {
    const GgufValue* id = file.Find(id_key);
    const GgufValue* tokens = file.Find("tokenizer.ggml.tokens");
    if (id == nullptr || tokens == nullptr || !id->AsUint()) return std::nullopt;
    const uint64_t i = *id->AsUint();
    if (i >= tokens->elements().size() || tokens->elements()[i].AsString() == nullptr) return std::nullopt;
    return *tokens->elements()[i].AsString();
  };
  Result<ChatTemplate> t = FromString(*v->AsString(), token("tokenizer.ggml.bos_token_id"), token("tokenizer.ggml.eos_token_id"));
  if (!t.ok()) return t.status().WithContext(path);
  return t;
}

Result<ChatTemplate> ChatTemplate::FromJinjaFile(const std::string& path) {
  FATHOM_ASSIGN_OR_RETURN(std::string source, ReadTextFile(path));
  std::optional<std::string> bos, eos;
  const fs::path config_path = fs::path(path).parent_path() / "tokenizer_config.json";
  std::error_code ec;
  if (fs::is_regular_file(config_path, ec)) {
    Result<json> config = ReadJson(config_path.string());
    if (config.ok() && config->is_object()) {
      bos = TokenText(*config, "bos_token");
      eos = TokenText(*config, "eos_token");
    }
  }
  Result<ChatTemplate> t = FromString(source, bos, eos);
  if (!t.ok()) return t.status().WithContext(path);
  return t;
}

Result<ChatTemplate> ChatTemplate::Load(const std::string& path, const std::string& name) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    const fs::path config = fs::path(path) / "tokenizer_config.json";
    if (fs::is_regular_file(config, ec)) return FromTokenizerConfig(config.string(), name);
    const fs::path jinja_file = fs::path(path) / "chat_template.jinja";
    if (fs::is_regular_file(jinja_file, ec)) return FromJinjaFile(jinja_file.string());
    return NotFound(path + ": no tokenizer_config.json or chat_template.jinja");
  }
  if (!fs::exists(path, ec)) return NotFound(path + ": no such file or directory");
  if (EndsWith(path, ".gguf")) return FromGguf(path, name);
  if (EndsWith(path, ".jinja")) return FromJinjaFile(path);
  return FromTokenizerConfig(path, name);
}

Result<std::string> ChatTemplate::Render(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                                         const nlohmann::ordered_json& tools,
                                         const std::vector<std::pair<std::string, nlohmann::ordered_json>>& extra,
                                         const jinja::RenderLimits& limits) const {
  jinja::ValueDict vars;
  vars.Set("messages", jinja::Value::FromJson(messages));
  vars.Set("tools", jinja::Value::FromJson(tools));
  vars.Set("documents", jinja::Value::None());
  vars.Set("add_generation_prompt", jinja::Value::Bool(add_generation_prompt));
  if (bos_token_) vars.Set("bos_token", jinja::Value::String(*bos_token_));
  if (eos_token_) vars.Set("eos_token", jinja::Value::String(*eos_token_));
  for (const auto& [k, v] : extra) vars.Set(k, jinja::Value::FromJson(v));
  return template_.Render(vars, limits);
}

}  // namespace fathom

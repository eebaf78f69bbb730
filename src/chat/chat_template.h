// A model's chat template: where it comes from (tokenizer_config.json, a
// chat_template.jinja beside it, a GGUF file's tokenizer.chat_template, or a
// .jinja file) and how a conversation becomes a prompt. Rendering passes the
// same variables transformers' apply_chat_template does: messages, tools
// (None when absent), documents (None), add_generation_prompt, bos_token and
// eos_token when the tokenizer defines them, and the caller's extra variables.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "chat/jinja_template.h"
#include "core/status.h"

namespace fathom {

// Immutable after loading; Render is const and thread-safe. Copies share the tree.
class ChatTemplate {
 public:
  // `source` is Jinja text; empty optionals leave bos_token / eos_token undefined.
  static Result<ChatTemplate> FromString(std::string_view source, std::optional<std::string> bos_token,
                                         std::optional<std::string> eos_token);
  // Reads a tokenizer_config.json: chat_template as a string or as a list of
  // {name, template} (picks `name`, or "default" when `name` is empty). A
  // chat_template.jinja in the same directory takes precedence over the config's
  // template, as in transformers.
  static Result<ChatTemplate> FromTokenizerConfig(const std::string& path, const std::string& name = "");
  // Reads tokenizer.chat_template (or tokenizer.chat_template.<name>) from a GGUF
  // file; bos/eos come from tokenizer.ggml.tokens at the bos/eos token ids.
  static Result<ChatTemplate> FromGguf(const std::string& path, const std::string& name = "");
  // Reads a .jinja file; bos/eos come from a tokenizer_config.json beside it, if any.
  static Result<ChatTemplate> FromJinjaFile(const std::string& path);
  // Dispatches on `path`: a directory (its tokenizer_config.json / chat_template.jinja),
  // a .gguf file, a .jinja file, or a tokenizer_config.json.
  static Result<ChatTemplate> Load(const std::string& path, const std::string& name = "");

  // Returns the prompt for `messages` (a JSON array of message objects). `tools`
  // is a JSON array or null; `extra` variables override the others.
  Result<std::string> Render(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                             const nlohmann::ordered_json& tools = nullptr,
                             const std::vector<std::pair<std::string, nlohmann::ordered_json>>& extra = {},
                             const jinja::RenderLimits& limits = {}) const;

  const std::string& source() const { return source_; }
  const std::optional<std::string>& bos_token() const { return bos_token_; }
  const std::optional<std::string>& eos_token() const { return eos_token_; }

 private:
  ChatTemplate(jinja::JinjaTemplate tmpl, std::string source) : template_(std::move(tmpl)), source_(std::move(source)) {}

  jinja::JinjaTemplate template_;
  std::string source_;
  std::optional<std::string> bos_token_;
  std::optional<std::string> eos_token_;
};

}  // namespace fathom

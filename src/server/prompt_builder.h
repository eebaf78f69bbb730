// Turns a parsed request's messages or prompt into the token ids the engine runs,
// and fixes max_tokens against the context that is left. Chat prompts go through
// the model's chat template with the generation prompt and the tools, then are
// tokenized without special tokens (the template already wrote BOS); completion
// prompts are tokenized with them, as transformers' tokenizer(text) does.
//
// The non-obvious rule (vLLM's): a prompt that fills the context (length >=
// max_model_len) is a 400 "context_length_exceeded"; a max_tokens larger than
// what is left is clamped, not refused.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "chat/chat_template.h"
#include "server/api_error.h"
#include "server/openai_request.h"
#include "tokenizer/tokenizer.h"

namespace fathom {

inline constexpr int64_t kDefaultCompletionMaxTokens = 16;  // OpenAI's default for /v1/completions

// Immutable after construction; thread-safe. Holds a pointer to the tokenizer,
// which must outlive it.
class PromptBuilder {
 public:
  // `chat_template` unset: chat requests fail with a 400 naming the missing template.
  PromptBuilder(const Tokenizer* tokenizer, std::optional<ChatTemplate> chat_template, int64_t max_model_len)
      : tokenizer_(tokenizer), chat_template_(std::move(chat_template)), max_model_len_(max_model_len) {}

  // Renders `messages` (normalised by ParseMessages) with the template.
  ApiError RenderChat(const Json& messages, const Json& tools, bool add_generation_prompt, std::string* text) const;

  // Tokenizes `text`; a tokenizer failure is a 400 on `param`.
  ApiError Tokenize(const std::string& text, bool add_special_tokens, const std::string& param,
                    std::vector<int32_t>* ids) const;

  // Fills request->generation.prompt_tokens and .max_tokens (the asked value, or
  // the route's default: what is left of the context for chat, 16 for
  // completions, clamped to what is left). *prompt_text receives the rendered
  // chat prompt or the completion prompt's text (decoded when given as ids).
  // Returns a 400 for an empty prompt or one of max_model_len tokens or more.
  ApiError Build(OpenAiRequest* request, std::string* prompt_text) const;

  int64_t max_model_len() const { return max_model_len_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const std::optional<ChatTemplate>& chat_template() const { return chat_template_; }

 private:
  const Tokenizer* tokenizer_;
  std::optional<ChatTemplate> chat_template_;
  int64_t max_model_len_;
};

}  // namespace fathom

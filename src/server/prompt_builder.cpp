#include "server/prompt_builder.h"

#include <algorithm>

namespace fathom {

ApiError PromptBuilder::RenderChat(const Json& messages, const Json& tools, bool add_generation_prompt,
                                   std::string* text) const {
  if (!chat_template_) {
    return BadRequest("this model has no chat template; use /v1/completions", "messages");
  }
  Result<std::string> rendered = chat_template_->Render(messages, add_generation_prompt, tools);
  if (!rendered.ok()) {
    return BadRequest("the chat template rejected the messages: " + rendered.status().message(), "messages");
  }
  *text = std::move(*rendered);
  return {};
}

ApiError PromptBuilder::Tokenize(const std::string& text, bool add_special_tokens, const std::string& param,
                                 std::vector<int32_t>* ids) const {
  Result<std::vector<int32_t>> encoded = tokenizer_->Encode(text, add_special_tokens);
  if (!encoded.ok()) return BadRequest("cannot tokenize: " + encoded.status().message(), param);
  *ids = std::move(*encoded);
  return {};
}

ApiError PromptBuilder::Build(OpenAiRequest* request, std::string* prompt_text) const {
  const bool is_chat = request->route == ApiRoute::kChatCompletions;
  const std::string param = is_chat ? "messages" : "prompt";
  std::vector<int32_t>& tokens = request->generation.prompt_tokens;
  if (is_chat) {
    if (ApiError e = RenderChat(request->messages, request->tools, /*add_generation_prompt=*/true, prompt_text);
        !e.ok()) {
      return e;
    }
    if (ApiError e = Tokenize(*prompt_text, /*add_special_tokens=*/false, param, &tokens); !e.ok()) return e;
  } else if (request->prompt_text) {
    *prompt_text = *request->prompt_text;
    if (ApiError e = Tokenize(*prompt_text, /*add_special_tokens=*/true, param, &tokens); !e.ok()) return e;
  } else {
    tokens = request->prompt_token_ids;
    *prompt_text = tokenizer_->Decode(tokens, /*skip_special_tokens=*/false);
  }
  if (tokens.empty()) return BadRequest("the prompt encodes to no tokens", param);
  const int64_t num_prompt = static_cast<int64_t>(tokens.size());
  if (num_prompt >= max_model_len_) {
    return BadRequest("This model's maximum context length is " + std::to_string(max_model_len_) +
                          " tokens. However, your prompt has " + std::to_string(num_prompt) +
                          " tokens, which leaves no room for a completion.",
                      param, "context_length_exceeded");
  }
  const int64_t left = max_model_len_ - num_prompt;
  const int64_t asked = request->max_tokens.value_or(is_chat ? left : kDefaultCompletionMaxTokens);
  request->generation.max_tokens = std::min(asked, left);
  return {};
}

}  // namespace fathom

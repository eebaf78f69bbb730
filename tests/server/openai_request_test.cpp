#include "server/openai_request.h"

#include <gtest/gtest.h>

#include <string>

namespace fathom {
namespace {

RequestLimits Limits() { return {.served_model_name = "tiny", .vocab_size = 512, .default_include_reasoning = true}; }

ApiError ParseChat(const std::string& body, OpenAiRequest* out) {
  Json j;
  if (ApiError e = ParseJsonBody(body, &j); !e.ok()) return e;
  return ParseChatCompletionRequest(j, Limits(), out);
}

ApiError ParseCompletion(const std::string& body, OpenAiRequest* out) {
  Json j;
  if (ApiError e = ParseJsonBody(body, &j); !e.ok()) return e;
  return ParseCompletionRequest(j, Limits(), out);
}

constexpr const char* kMsgs = R"("messages": [{"role": "user", "content": "hi"}])";

std::string Chat(const std::string& extra) {
  return std::string("{") + kMsgs + (extra.empty() ? "" : ", " + extra) + "}";
}

// The field a chat body with `extra` fails on; "" when it parses.
struct ErrorCase {
  std::string extra;
  std::string param;
  StatusCode code = StatusCode::kInvalidArgument;
};

TEST(OpenAiRequestTest, ChatDefaults) {
  OpenAiRequest r;
  ASSERT_TRUE(ParseChat(Chat(""), &r).ok());
  EXPECT_EQ(r.route, ApiRoute::kChatCompletions);
  EXPECT_EQ(r.model, "tiny");
  EXPECT_EQ(r.messages, Json::parse(R"([{"role": "user", "content": "hi"}])"));
  EXPECT_FALSE(r.max_tokens.has_value());
  EXPECT_FALSE(r.stream);
  EXPECT_FALSE(r.include_usage);
  EXPECT_TRUE(r.include_reasoning);  // the server's default
  EXPECT_FALSE(r.parse_tool_calls);
  EXPECT_TRUE(r.tools.is_null());
  EXPECT_EQ(r.generation.n, 1);
  EXPECT_FALSE(r.generation.logprobs.has_value());
  EXPECT_FLOAT_EQ(r.generation.sampling.temperature, 1.0f);
  EXPECT_TRUE(r.generation.skip_special_tokens);
}

TEST(OpenAiRequestTest, ChatEveryField) {
  OpenAiRequest r;
  const std::string body = Chat(R"("model": "tiny", "max_tokens": 7, "max_completion_tokens": 9,
      "temperature": 0.5, "top_p": 0.9, "top_k": 40, "min_p": 0.05, "presence_penalty": 0.5,
      "frequency_penalty": -0.5, "repetition_penalty": 1.1, "logit_bias": {"5": 10, "7": -100},
      "seed": 42, "stop": ["a", "b"], "n": 3, "logprobs": true, "top_logprobs": 5, "user": "u1",
      "stream": true, "stream_options": {"include_usage": true}, "stop_token_ids": [3, 4],
      "ignore_eos": true, "skip_special_tokens": false, "include_reasoning": false,
      "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
      "tool_choice": "auto")");
  ApiError e = ParseChat(body, &r);
  ASSERT_TRUE(e.ok()) << e.status.message();
  const GenerationRequest& g = r.generation;
  EXPECT_EQ(r.max_tokens, 9);  // max_completion_tokens wins
  EXPECT_FLOAT_EQ(g.sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(g.sampling.top_p, 0.9f);
  EXPECT_EQ(g.sampling.top_k, 40);
  EXPECT_FLOAT_EQ(g.sampling.min_p, 0.05f);
  EXPECT_FLOAT_EQ(g.sampling.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(g.sampling.frequency_penalty, -0.5f);
  EXPECT_FLOAT_EQ(g.sampling.repetition_penalty, 1.1f);
  ASSERT_EQ(g.sampling.logit_bias.size(), 2u);
  EXPECT_EQ(g.sampling.logit_bias[0], (std::pair<int32_t, float>{5, 10.0f}));
  EXPECT_EQ(g.sampling.logit_bias[1], (std::pair<int32_t, float>{7, -100.0f}));
  EXPECT_EQ(g.sampling.seed, 42u);
  EXPECT_EQ(g.stop, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(g.n, 3);
  EXPECT_EQ(g.logprobs, 5);
  EXPECT_TRUE(r.chat_logprobs);
  EXPECT_EQ(r.user, "u1");
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_EQ(g.stop_token_ids, (std::vector<int32_t>{3, 4}));
  EXPECT_TRUE(g.ignore_eos);
  EXPECT_FALSE(g.skip_special_tokens);
  EXPECT_FALSE(r.include_reasoning);
  EXPECT_TRUE(r.parse_tool_calls);
  ASSERT_TRUE(r.tools.is_array());
  EXPECT_EQ(r.tools[0]["function"]["name"], "f");
}

// /tokenize validates a body's tools with ParseTools alone (no messages needed).
TEST(OpenAiRequestTest, ParseToolsAlone) {
  OpenAiRequest r;
  ASSERT_TRUE(ParseTools(Json::parse(R"({"tools": [{"type": "function", "function": {"name": "f"}}]})"), &r).ok());
  ASSERT_TRUE(r.tools.is_array());
  EXPECT_TRUE(r.parse_tool_calls);
  OpenAiRequest bad;
  EXPECT_EQ(ParseTools(Json::parse(R"({"tools": [{"type": "bogus"}]})"), &bad).param, "tools[0].type");
  EXPECT_EQ(ParseTools(Json::parse(R"({"tools": "x"})"), &bad).param, "tools");
  OpenAiRequest none;
  ASSERT_TRUE(ParseTools(Json::parse(R"({"tools": []})"), &none).ok());
  EXPECT_TRUE(none.tools.is_null());
}

TEST(OpenAiRequestTest, TopKMinusOneDisables) {
  OpenAiRequest r;
  ASSERT_TRUE(ParseChat(Chat(R"("top_k": -1)"), &r).ok());
  EXPECT_EQ(r.generation.sampling.top_k, 0);
}

TEST(OpenAiRequestTest, IntegralFloatsAreIntegers) {
  OpenAiRequest r;
  ASSERT_TRUE(ParseChat(Chat(R"("max_tokens": 5.0, "n": 2.0)"), &r).ok());
  EXPECT_EQ(r.max_tokens, 5);
  EXPECT_EQ(r.generation.n, 2);
}

TEST(OpenAiRequestTest, NullsAreAbsent) {
  OpenAiRequest r;
  ASSERT_TRUE(ParseChat(Chat(R"("max_tokens": null, "temperature": null, "stop": null, "tools": null,
                                 "seed": null, "logit_bias": null, "model": null)"),
                        &r)
                  .ok());
  EXPECT_FALSE(r.max_tokens.has_value());
  EXPECT_FALSE(r.generation.sampling.seed.has_value());
}

TEST(OpenAiRequestTest, ToolChoiceNoneKeepsToolsForTheTemplate) {
  OpenAiRequest r;
  ASSERT_TRUE(
      ParseChat(Chat(R"("tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "none")"), &r).ok());
  EXPECT_FALSE(r.parse_tool_calls);
  EXPECT_TRUE(r.tools.is_array());
}

TEST(OpenAiRequestTest, MessagesAreNormalised) {
  OpenAiRequest r;
  const std::string body = R"({"messages": [
      {"role": "developer", "content": "sys"},
      {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
      {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
          "function": {"name": "f", "arguments": {"x": 1}}}]},
      {"role": "tool", "content": "42", "tool_call_id": "c1"}]})";
  ApiError e = ParseChat(body, &r);
  ASSERT_TRUE(e.ok()) << e.status.message();
  EXPECT_EQ(r.messages, Json::parse(R"([
      {"role": "system", "content": "sys"},
      {"role": "user", "content": "a\nb"},
      {"role": "assistant", "content": null, "tool_calls": [{"type": "function", "id": "c1",
          "function": {"name": "f", "arguments": "{\"x\":1}"}}]},
      {"role": "tool", "content": "42", "tool_call_id": "c1"}])"));
}

TEST(OpenAiRequestTest, ChatErrorsNameTheirParam) {
  const std::vector<ErrorCase> cases = {
      {R"("max_tokens": -1)", "max_tokens"},
      {R"("max_tokens": 0)", "max_tokens"},
      {R"("max_tokens": "5")", "max_tokens"},
      {R"("max_tokens": 1.5)", "max_tokens"},
      {R"("max_tokens": 1e300)", "max_tokens"},
      {R"("max_tokens": true)", "max_tokens"},
      {R"("max_completion_tokens": -3)", "max_completion_tokens"},
      {R"("temperature": 2.5)", "temperature"},
      {R"("temperature": -0.1)", "temperature"},
      {R"("temperature": "hot")", "temperature"},
      {R"("top_p": 0)", "top_p"},
      {R"("top_p": 1.01)", "top_p"},
      {R"("top_k": -2)", "top_k"},
      {R"("top_k": 0.5)", "top_k"},
      {R"("min_p": 1.5)", "min_p"},
      {R"("presence_penalty": 2.01)", "presence_penalty"},
      {R"("frequency_penalty": -3)", "frequency_penalty"},
      {R"("repetition_penalty": 0)", "repetition_penalty"},
      {R"("logit_bias": {"x": 1})", "logit_bias"},
      {R"("logit_bias": {"512": 1})", "logit_bias"},
      {R"("logit_bias": {"-1": 1})", "logit_bias"},
      {R"("logit_bias": {"5": 101})", "logit_bias"},
      {R"("logit_bias": {"5": "1"})", "logit_bias"},
      {R"("logit_bias": [1])", "logit_bias"},
      {R"("seed": "1")", "seed"},
      {R"("seed": 1.5)", "seed"},
      {R"("stop": 5)", "stop"},
      {R"("stop": [1])", "stop[0]"},
      {R"("stop": ["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o","p","q"])", "stop"},
      {R"("n": 0)", "n"},
      {R"("n": 17)", "n"},
      {R"("n": -1)", "n"},
      {R"("logprobs": 1)", "logprobs"},
      {R"("logprobs": true, "top_logprobs": 99)", "top_logprobs"},
      {R"("logprobs": true, "top_logprobs": -1)", "top_logprobs"},
      {R"("top_logprobs": 2)", "top_logprobs"},
      {R"("stream": "yes")", "stream"},
      {R"("stream_options": {"include_usage": true})", "stream_options"},
      {R"("stream": true, "stream_options": {"include_usage": 1})", "stream_options.include_usage"},
      {R"("stream": true, "stream_options": [])", "stream_options"},
      {R"("user": 5)", "user"},
      {R"("stop_token_ids": [600])", "stop_token_ids"},
      {R"("stop_token_ids": ["a"])", "stop_token_ids[0]"},
      {R"("stop_token_ids": 3)", "stop_token_ids"},
      {R"("ignore_eos": "true")", "ignore_eos"},
      {R"("skip_special_tokens": 0)", "skip_special_tokens"},
      {R"("include_reasoning": "no")", "include_reasoning"},
      {R"("tools": {})", "tools"},
      {R"("tools": [{"type": "code"}])", "tools[0].type"},
      {R"("tools": [{"type": "function"}])", "tools[0].function"},
      {R"("tools": [{"type": "function", "function": {"name": ""}}])", "tools[0].function.name"},
      {R"("tools": [{"type": "function", "function": {"name": "f", "parameters": 3}}])",
       "tools[0].function.parameters"},
      {R"("tool_choice": "sometimes")", "tool_choice"},
      {R"("tool_choice": "required")", "tool_choice", StatusCode::kUnsupported},
      {R"("tool_choice": {"type": "function", "function": {"name": "f"}})", "tool_choice", StatusCode::kUnsupported},
      {R"("tool_choice": 1)", "tool_choice"},
      {R"("model": 5)", "model"},
  };
  for (const ErrorCase& c : cases) {
    OpenAiRequest r;
    ApiError e = ParseChat(Chat(c.extra), &r);
    EXPECT_FALSE(e.ok()) << c.extra;
    EXPECT_EQ(e.param, c.param) << c.extra << ": " << e.status.message();
    EXPECT_EQ(e.status.code(), c.code) << c.extra;
    EXPECT_EQ(ToHttpError(e).http_status, 400) << c.extra;
  }
}

TEST(OpenAiRequestTest, UnknownModelIs404ModelNotFound) {
  OpenAiRequest r;
  ApiError e = ParseChat(Chat(R"("model": "gpt-4")"), &r);
  EXPECT_EQ(e.status.code(), StatusCode::kNotFound);
  EXPECT_EQ(e.param, "model");
  EXPECT_EQ(e.code, "model_not_found");
  const HttpError h = ToHttpError(e);
  EXPECT_EQ(h.http_status, 404);
  EXPECT_EQ(h.body["error"]["code"], "model_not_found");
  EXPECT_EQ(h.body["error"]["type"], "invalid_request_error");
}

TEST(OpenAiRequestTest, MessageErrorsNameTheirParam) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({})", "messages"},
      {R"({"messages": null})", "messages"},
      {R"({"messages": "hi"})", "messages"},
      {R"({"messages": []})", "messages"},
      {R"({"messages": [1]})", "messages[0]"},
      {R"({"messages": [{"content": "x"}]})", "messages[0].role"},
      {R"({"messages": [{"role": "wizard", "content": "x"}]})", "messages[0].role"},
      {R"({"messages": [{"role": "user"}]})", "messages[0].content"},
      {R"({"messages": [{"role": "user", "content": 5}]})", "messages[0].content"},
      {R"({"messages": [{"role": "user", "content": [5]}]})", "messages[0].content[0]"},
      {R"({"messages": [{"role": "user", "content": [{"type": "text"}]}]})", "messages[0].content[0].text"},
      {R"({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]})",
       "messages[0].content[0].type"},
      {R"({"messages": [{"role": "assistant", "content": "x", "tool_calls": 5}]})", "messages[0].tool_calls"},
      {R"({"messages": [{"role": "assistant", "content": "x", "tool_calls": [{"function": {}}]}]})",
       "messages[0].tool_calls[0].function.name"},
      {R"({"messages": [{"role": "tool", "content": "x", "tool_call_id": 5}]})", "messages[0].tool_call_id"},
  };
  for (const auto& [body, param] : cases) {
    OpenAiRequest r;
    ApiError e = ParseChat(body, &r);
    EXPECT_FALSE(e.ok()) << body;
    EXPECT_EQ(e.param, param) << body << ": " << e.status.message();
    EXPECT_EQ(ToHttpError(e).http_status, 400) << body;
  }
}

TEST(OpenAiRequestTest, HostileBodies) {
  OpenAiRequest r;
  for (const std::string& body :
       std::vector<std::string>{"", "{", "[]", "5", "null", "\"x\"", "{\"messages\": NaN}", "{\"a\": Infinity}",
                                "{\"messages\": [}", "{\"temperature\": 1e999}", std::string(100000, '[')}) {
    ApiError e = ParseChat(body, &r);
    EXPECT_EQ(e.status.code(), StatusCode::kInvalidArgument) << body.substr(0, 20);
    EXPECT_EQ(ToHttpError(e).http_status, 400);
  }
  // Deep nesting inside a string is just text.
  Json j;
  EXPECT_TRUE(ParseJsonBody("{\"a\": \"" + std::string(1000, '[') + "\"}", &j).ok());
  // Deep nesting in an ignored field is still refused before parsing.
  std::string deep = "{\"junk\": " + std::string(65, '[') + std::string(65, ']') + "}";
  EXPECT_FALSE(ParseJsonBody(deep, &j).ok());
  std::string ok_depth = "{\"junk\": " + std::string(60, '[') + std::string(60, ']') + "}";
  EXPECT_TRUE(ParseJsonBody(ok_depth, &j).ok());
}

TEST(OpenAiRequestTest, CompletionPromptForms) {
  OpenAiRequest r;
  ASSERT_TRUE(ParseCompletion(R"({"prompt": "hello", "echo": true, "logprobs": 2, "max_tokens": 4})", &r).ok());
  EXPECT_EQ(r.route, ApiRoute::kCompletions);
  EXPECT_EQ(r.prompt_text, "hello");
  EXPECT_TRUE(r.echo);
  EXPECT_EQ(r.generation.logprobs, 2);
  EXPECT_EQ(r.max_tokens, 4);

  OpenAiRequest ids;
  ASSERT_TRUE(ParseCompletion(R"({"prompt": [1, 2, 3]})", &ids).ok());
  EXPECT_FALSE(ids.prompt_text.has_value());
  EXPECT_EQ(ids.prompt_token_ids, (std::vector<int32_t>{1, 2, 3}));

  OpenAiRequest one_string;
  ASSERT_TRUE(ParseCompletion(R"({"prompt": ["hello"]})", &one_string).ok());
  EXPECT_EQ(one_string.prompt_text, "hello");

  OpenAiRequest nested;
  ASSERT_TRUE(ParseCompletion(R"({"prompt": [[4, 5]]})", &nested).ok());
  EXPECT_EQ(nested.prompt_token_ids, (std::vector<int32_t>{4, 5}));
}

TEST(OpenAiRequestTest, CompletionErrorsNameTheirParam) {
  const std::vector<std::tuple<std::string, std::string, StatusCode>> cases = {
      {R"({})", "prompt", StatusCode::kInvalidArgument},
      {R"({"prompt": 5})", "prompt", StatusCode::kInvalidArgument},
      {R"({"prompt": []})", "prompt", StatusCode::kInvalidArgument},
      {R"({"prompt": ["a", "b"]})", "prompt", StatusCode::kUnsupported},
      {R"({"prompt": [1, "a"]})", "prompt[1]", StatusCode::kInvalidArgument},
      {R"({"prompt": [1, 512]})", "prompt", StatusCode::kInvalidArgument},
      {R"({"prompt": [-1]})", "prompt", StatusCode::kInvalidArgument},
      {R"({"prompt": [[]]})", "prompt", StatusCode::kInvalidArgument},
      {R"({"prompt": "x", "logprobs": true})", "logprobs", StatusCode::kInvalidArgument},
      {R"({"prompt": "x", "logprobs": 21})", "logprobs", StatusCode::kInvalidArgument},
      {R"({"prompt": "x", "echo": 1})", "echo", StatusCode::kInvalidArgument},
      {R"({"prompt": "x", "max_tokens": -5})", "max_tokens", StatusCode::kInvalidArgument},
      {R"({"prompt": "x", "suffix": "y"})", "suffix", StatusCode::kUnsupported},
      {R"({"prompt": "x", "model": "other"})", "model", StatusCode::kNotFound},
  };
  for (const auto& [body, param, code] : cases) {
    OpenAiRequest r;
    ApiError e = ParseCompletion(body, &r);
    EXPECT_FALSE(e.ok()) << body;
    EXPECT_EQ(e.param, param) << body << ": " << e.status.message();
    EXPECT_EQ(e.status.code(), code) << body;
  }
}

TEST(ApiErrorTest, StatusCodesMapToHttp) {
  EXPECT_EQ(ToHttpError(BadRequest("x", "p")).http_status, 400);
  const HttpError full = ToHttpError(ApiErrorOf(ResourceExhausted("queue full")));
  EXPECT_EQ(full.http_status, 429);
  EXPECT_EQ(full.retry_after_seconds, 1);
  EXPECT_EQ(full.body["error"]["type"], "rate_limit_error");
  EXPECT_EQ(ToHttpError(ApiErrorOf(Unavailable("bye"))).http_status, 503);
  EXPECT_EQ(ToHttpError(ApiErrorOf(Internal("bug"))).http_status, 500);
  EXPECT_EQ(ToHttpError(ApiErrorOf(Unsupported("no"))).http_status, 400);
  const HttpError bad = ToHttpError(BadRequest("too long", "messages", "context_length_exceeded"));
  EXPECT_EQ(bad.body, nlohmann::json::parse(R"({"error": {"message": "too long", "type": "invalid_request_error",
      "param": "messages", "code": "context_length_exceeded"}})"));
  const HttpError bare = ToHttpError(BadRequest("m"));
  EXPECT_TRUE(bare.body["error"]["param"].is_null());
  EXPECT_TRUE(bare.body["error"]["code"].is_null());
  EXPECT_EQ(HttpStatusError(405, "no").body["error"]["type"], "invalid_request_error");
  EXPECT_EQ(HttpStatusError(404, "no").http_status, 404);
}

}  // namespace
}  // namespace fathom

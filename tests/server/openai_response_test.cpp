#include "server/openai_response.h"

#include <gtest/gtest.h>

#include <random>

#include "tokenizer/builtin_vocab.h"

namespace fathom {
namespace {

const Tokenizer& Tok() {
  static const Tokenizer* tokenizer = [] {
    const BuiltinVocab v = MakeBuiltinVocab(512, true);
    return new Tokenizer(std::move(Tokenizer::FromJson(v.tokenizer_json, v.tokenizer_config_json).value()));
  }();
  return *tokenizer;
}

ResponseOptions ChatOptions() {
  ResponseOptions o;
  o.route = ApiRoute::kChatCompletions;
  o.id = "chatcmpl-test";
  o.created = 1700000000;
  o.model = "tiny";
  return o;
}

ResponseOptions CompletionOptions() {
  ResponseOptions o;
  o.route = ApiRoute::kCompletions;
  o.id = "cmpl-test";
  o.created = 1;
  o.model = "tiny";
  return o;
}

ChoiceDelta Delta(int32_t index, std::string text, std::optional<FinishReason> finish = std::nullopt) {
  ChoiceDelta d;
  d.index = index;
  d.text = std::move(text);
  d.finish_reason = finish;
  return d;
}

RequestOutput Output(std::vector<ChoiceDelta> deltas, bool finished, int64_t prompt = 5, int64_t generated = 3) {
  RequestOutput o;
  o.deltas = std::move(deltas);
  o.is_finished = finished;
  o.num_prompt_tokens = prompt;
  o.num_cached_tokens = 2;
  o.num_generated_tokens = generated;
  return o;
}

TEST(ResponseIdTest, PrefixAndHex) {
  const std::string a = NewResponseId("chatcmpl-");
  const std::string b = NewResponseId("chatcmpl-");
  EXPECT_EQ(a.size(), 9u + 32u);
  EXPECT_EQ(a.rfind("chatcmpl-", 0), 0u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef", 9), std::string::npos);
  EXPECT_NE(a, b);
}

TEST(SseTest, EventFraming) {
  EXPECT_EQ(SseEvent(Json{{"a", 1}}), "data: {\"a\":1}\n\n");
  EXPECT_EQ(kSseDone, "data: [DONE]\n\n");
  // Invalid UTF-8 (a token may end mid-character) is replaced, never thrown.
  EXPECT_EQ(DumpJson(Json(std::string("x\xe4"))), "\"x\xef\xbf\xbd\"");
}

TEST(ResponseBuilderTest, ChatFinalWithReasoning) {
  ResponseOptions o = ChatOptions();
  o.include_reasoning = true;
  ResponseBuilder b(o, &Tok());
  b.Add(Output({Delta(0, "Let me th")}, false));
  b.Add(Output({Delta(0, "ink.</think>\n\nFour.", FinishReason::kStop)}, true));
  EXPECT_TRUE(b.error().ok());
  EXPECT_EQ(b.FinalResponse(), Json::parse(R"({
    "id": "chatcmpl-test", "object": "chat.completion", "created": 1700000000, "model": "tiny",
    "choices": [{"index": 0,
                 "message": {"role": "assistant", "content": "\n\nFour.", "reasoning_content": "Let me think."},
                 "logprobs": null, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8,
              "prompt_tokens_details": {"cached_tokens": 2}}})"));
}

TEST(ResponseBuilderTest, ChatWithoutCloseIsAllReasoning) {
  ResponseOptions o = ChatOptions();
  o.include_reasoning = true;
  ResponseBuilder b(o, &Tok());
  b.Add(Output({Delta(0, "still thinking", FinishReason::kLength)}, true));
  const Json msg = b.FinalResponse()["choices"][0]["message"];
  EXPECT_EQ(msg["content"], "");
  EXPECT_EQ(msg["reasoning_content"], "still thinking");
  EXPECT_EQ(b.FinalResponse()["choices"][0]["finish_reason"], "length");
}

TEST(ResponseBuilderTest, ChatReasoningOffKeepsRawText) {
  ResponseBuilder b(ChatOptions(), &Tok());
  b.Add(Output({Delta(0, "a</think>b", FinishReason::kStop)}, true));
  const Json msg = b.FinalResponse()["choices"][0]["message"];
  EXPECT_EQ(msg, Json::parse(R"({"role": "assistant", "content": "a</think>b"})"));
}

TEST(ResponseBuilderTest, ChatStreamChunks) {
  ResponseOptions o = ChatOptions();
  o.include_reasoning = true;
  o.include_usage = true;
  ResponseBuilder b(o, &Tok());
  std::vector<Json> chunks = b.StreamChunks(Output({Delta(0, "hm</think>")}, false));
  std::vector<Json> rest = b.StreamChunks(Output({Delta(0, "ok", FinishReason::kStop)}, true));
  chunks.insert(chunks.end(), rest.begin(), rest.end());
  chunks.push_back(b.UsageChunk());
  auto chunk = [](const char* choices) {
    Json c = Json::parse(R"({"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 1700000000,
                             "model": "tiny"})");
    c["choices"] = Json::parse(choices);
    c["usage"] = nullptr;
    return c;
  };
  std::vector<Json> want = {
      chunk(
          R"([{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": null, "finish_reason": null}])"),
      chunk(R"([{"index": 0, "delta": {"reasoning_content": "hm"}, "logprobs": null, "finish_reason": null}])"),
      chunk(R"([{"index": 0, "delta": {"content": "ok"}, "logprobs": null, "finish_reason": null}])"),
      chunk(R"([{"index": 0, "delta": {}, "logprobs": null, "finish_reason": "stop"}])"),
      chunk("[]"),
  };
  want.back()["usage"] = Json::parse(R"({"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8,
                                         "prompt_tokens_details": {"cached_tokens": 2}})");
  ASSERT_EQ(chunks.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(chunks[i], want[i]) << i << ": " << chunks[i].dump();
}

TEST(ResponseBuilderTest, StreamWithoutUsageHasNoUsageKey) {
  ResponseBuilder b(ChatOptions(), &Tok());
  for (const Json& c : b.StreamChunks(Output({Delta(0, "x", FinishReason::kStop)}, true))) {
    EXPECT_FALSE(c.contains("usage"));
  }
}

constexpr const char* kToolText =
    "Sure.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n"
    "{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>";

TEST(ResponseBuilderTest, ChatToolCallsFinal) {
  ResponseOptions o = ChatOptions();
  o.parse_tool_calls = true;
  o.tool_format = ToolCallFormat::kV3;
  o.tool_call_id_seed = 7;
  ResponseBuilder b(o, &Tok());
  b.Add(Output({Delta(0, kToolText, FinishReason::kStop)}, true));
  const Json choice = b.FinalResponse()["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "tool_calls");
  EXPECT_EQ(choice["message"]["content"], "Sure.");
  ASSERT_EQ(choice["message"]["tool_calls"].size(), 1u);
  const Json call = choice["message"]["tool_calls"][0];
  EXPECT_EQ(call["type"], "function");
  EXPECT_EQ(call["function"]["name"], "get_weather");
  EXPECT_EQ(Json::parse(call["function"]["arguments"].get<std::string>()), Json::parse(R"({"city": "Paris"})"));
  EXPECT_EQ(call["id"].get<std::string>().rfind("call_", 0), 0u);
}

TEST(ResponseBuilderTest, ChatToolCallsOnlyHaveNullContent) {
  ResponseOptions o = ChatOptions();
  o.parse_tool_calls = true;
  ResponseBuilder b(o, &Tok());
  b.Add(Output({Delta(0, std::string(kToolText).substr(5), FinishReason::kStop)}, true));
  EXPECT_TRUE(b.FinalResponse()["choices"][0]["message"]["content"].is_null());
}

TEST(ResponseBuilderTest, ChatToolCallsStreamed) {
  ResponseOptions o = ChatOptions();
  o.parse_tool_calls = true;
  ResponseBuilder b(o, &Tok());
  std::vector<Json> chunks;
  const std::string text = kToolText;
  for (size_t i = 0; i < text.size(); i += 7) {
    const bool last = i + 7 >= text.size();
    for (Json& c : b.StreamChunks(
             Output({Delta(0, text.substr(i, 7), last ? std::optional(FinishReason::kStop) : std::nullopt)}, last))) {
      chunks.push_back(std::move(c));
    }
  }
  std::string content;
  Json calls = Json::array();
  for (const Json& c : chunks) {
    const Json& d = c["choices"][0]["delta"];
    if (d.contains("content")) content += d["content"].get<std::string>();
    if (d.contains("tool_calls")) {
      for (const Json& call : d["tool_calls"]) calls.push_back(call);
    }
  }
  EXPECT_EQ(content, "Sure.");
  ASSERT_GE(calls.size(), 1u);
  EXPECT_EQ(calls[0]["index"], 0);
  EXPECT_EQ(calls[0]["type"], "function");
  EXPECT_EQ(calls[0]["function"]["name"], "get_weather");
  EXPECT_EQ(chunks.back()["choices"][0]["finish_reason"], "tool_calls");
}

TEST(ResponseBuilderTest, ChatLogprobsShape) {
  ResponseOptions o = ChatOptions();
  o.logprobs = 1;
  ResponseBuilder b(o, &Tok());
  ChoiceDelta d = Delta(0, "xy", FinishReason::kStop);
  d.token_ids = {100, 101};
  d.logprobs = {PositionLogprobs{{100, -0.5f}, {{100, -0.5f}}},
                PositionLogprobs{{101, -std::numeric_limits<float>::infinity()}, {{7, -0.1f}}}};
  b.Add(Output({d}, true));
  const Json lp = b.FinalResponse()["choices"][0]["logprobs"];
  ASSERT_EQ(lp["content"].size(), 2u);
  const Json& first = lp["content"][0];
  const std::string& bytes = Tok().TokenBytes(100);
  Json want_bytes = Json::array();
  for (unsigned char c : bytes) want_bytes.push_back(static_cast<int>(c));
  EXPECT_EQ(first["token"], bytes);
  EXPECT_DOUBLE_EQ(first["logprob"].get<double>(), -0.5);
  EXPECT_EQ(first["bytes"], want_bytes);
  ASSERT_EQ(first["top_logprobs"].size(), 1u);
  EXPECT_EQ(first["top_logprobs"][0]["token"], bytes);
  EXPECT_EQ(lp["content"][1]["logprob"], -9999.0);  // JSON has no -inf
  EXPECT_EQ(std::vector<std::string>({"token", "logprob", "bytes", "top_logprobs"}), [&] {
    std::vector<std::string> keys;
    for (const auto& [k, v] : first.items()) keys.push_back(k);
    return keys;
  }());
}

TEST(ResponseBuilderTest, CompletionFinalWithEchoAndLogprobs) {
  ResponseOptions o = CompletionOptions();
  o.logprobs = 0;
  o.echo_text = "P:";
  ResponseBuilder b(o, &Tok());
  ChoiceDelta d = Delta(0, Tok().TokenBytes(100) + Tok().TokenBytes(101), FinishReason::kLength);
  d.token_ids = {100, 101};
  d.logprobs = {PositionLogprobs{{100, -1.0f}, {}}, PositionLogprobs{{101, -2.0f}, {}}};
  b.Add(Output({d}, true, 4, 2));
  const Json r = b.FinalResponse();
  EXPECT_EQ(r["object"], "text_completion");
  const Json& c = r["choices"][0];
  const std::string t0 = Tok().TokenBytes(100), t1 = Tok().TokenBytes(101);
  EXPECT_EQ(c["text"], "P:" + t0 + t1);
  EXPECT_EQ(c["finish_reason"], "length");
  Json want_lp = {{"tokens", {t0, t1}},
                  {"token_logprobs", {-1.0, -2.0}},
                  {"top_logprobs", Json::array({Json{{t0, -1.0}}, Json{{t1, -2.0}}})},
                  {"text_offset", {2, 2 + static_cast<int64_t>(t0.size())}}};
  EXPECT_EQ(c["logprobs"], want_lp);
  EXPECT_EQ(r["usage"]["total_tokens"], 6);
}

TEST(ResponseBuilderTest, CompletionStreamChunks) {
  ResponseOptions o = CompletionOptions();
  ResponseBuilder b(o, &Tok());
  std::vector<Json> a = b.StreamChunks(Output({Delta(0, "ab")}, false));
  std::vector<Json> z = b.StreamChunks(Output({Delta(0, "c", FinishReason::kStop)}, true));
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(z.size(), 1u);
  EXPECT_EQ(a[0], Json::parse(R"({"id": "cmpl-test", "object": "text_completion", "created": 1, "model": "tiny",
      "choices": [{"index": 0, "text": "ab", "logprobs": null, "finish_reason": null}]})"));
  EXPECT_EQ(z[0]["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(z[0]["choices"][0]["text"], "c");
}

TEST(ResponseBuilderTest, MultipleChoicesKeepTheirIndex) {
  ResponseOptions o = ChatOptions();
  o.n = 2;
  ResponseBuilder b(o, &Tok());
  b.Add(Output({Delta(1, "B"), Delta(0, "A")}, false));
  b.Add(Output({Delta(0, "a", FinishReason::kStop), Delta(1, "b", FinishReason::kLength)}, true));
  const Json r = b.FinalResponse();
  ASSERT_EQ(r["choices"].size(), 2u);
  EXPECT_EQ(r["choices"][0]["index"], 0);
  EXPECT_EQ(r["choices"][0]["message"]["content"], "Aa");
  EXPECT_EQ(r["choices"][1]["index"], 1);
  EXPECT_EQ(r["choices"][1]["message"]["content"], "Bb");
  EXPECT_EQ(r["choices"][1]["finish_reason"], "length");
}

TEST(ResponseBuilderTest, EngineErrorIsReported) {
  ResponseBuilder b(ChatOptions(), &Tok());
  RequestOutput out = Output({Delta(0, "", FinishReason::kError)}, true);
  out.error = Internal("forward failed");
  b.Add(out);
  EXPECT_EQ(b.error().message(), "forward failed");
}

// Streamed deltas, however the text is chunked, concatenate to the final message.
TEST(ResponseBuilderTest, StreamConcatenationEqualsFinal) {
  const std::string text = std::string("  <think>step one\nstep two</think>\n\nanswer ") + kToolText + " tail é";
  std::mt19937 rng(3);
  for (int trial = 0; trial < 50; ++trial) {
    ResponseOptions o = ChatOptions();
    o.include_reasoning = true;
    o.parse_tool_calls = true;
    ResponseBuilder streamed(o, &Tok());
    ResponseBuilder whole(o, &Tok());
    whole.Add(Output({Delta(0, text, FinishReason::kStop)}, true));
    std::string reasoning, content;
    nlohmann::json calls = nlohmann::json::array();
    std::string finish;
    for (size_t i = 0; i < text.size();) {
      const size_t n = std::min<size_t>(1 + rng() % 9, text.size() - i);
      const bool last = i + n == text.size();
      for (const Json& c : streamed.StreamChunks(
               Output({Delta(0, text.substr(i, n), last ? std::optional(FinishReason::kStop) : std::nullopt)}, last))) {
        const Json& ch = c["choices"][0];
        const Json& d = ch["delta"];
        if (d.contains("reasoning_content")) reasoning += d["reasoning_content"].get<std::string>();
        if (d.contains("content")) content += d["content"].get<std::string>();
        if (d.contains("tool_calls")) {
          for (const Json& tc : d["tool_calls"]) AppendToolCallDelta(nlohmann::json(tc), calls);
        }
        if (!ch["finish_reason"].is_null()) finish = ch["finish_reason"];
      }
      i += n;
    }
    const Json msg = whole.FinalResponse()["choices"][0]["message"];
    EXPECT_EQ(reasoning, msg["reasoning_content"].get<std::string>());
    EXPECT_EQ(content, msg["content"].get<std::string>());
    EXPECT_EQ(Json(calls), msg["tool_calls"]);
    EXPECT_EQ(finish, "tool_calls");
  }
}

}  // namespace
}  // namespace fathom

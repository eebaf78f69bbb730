#include "server/openai_request.h"

#include <cmath>
#include <limits>
#include <set>

namespace fathom {
namespace {

// True iff `body` nests arrays/objects deeper than `max_depth` (strings skipped).
bool NestsDeeperThan(std::string_view body, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

const char* TypeName(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::boolean:
      return "boolean";
    case Json::value_t::string:
      return "string";
    case Json::value_t::array:
      return "array";
    case Json::value_t::object:
      return "object";
    case Json::value_t::number_float:
      return "number";
    default:
      return "integer";
  }
}

ApiError TypeError(const std::string& param, const char* want, const Json& got) {
  return BadRequest("'" + param + "' must be " + want + ", got " + TypeName(got), param);
}

// Each getter leaves *out alone when the key is absent or null.
ApiError GetBool(const Json& obj, const char* key, bool* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return {};
  if (!it->is_boolean()) return TypeError(key, "a boolean", *it);
  *out = it->get<bool>();
  return {};
}

ApiError GetString(const Json& obj, const std::string& key, const std::string& param, std::optional<std::string>* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return {};
  if (!it->is_string()) return TypeError(param, "a string", *it);
  *out = it->get<std::string>();
  return {};
}

// An integer-valued JSON number (5 or 5.0) as int64; false for anything else.
bool AsInt64(const Json& v, int64_t* out) {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
    *out = static_cast<int64_t>(u);
    return true;
  }
  if (v.is_number_integer()) {
    *out = v.get<int64_t>();
    return true;
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) >= 9.2e18) return false;
    *out = static_cast<int64_t>(d);
    return true;
  }
  return false;
}

ApiError GetInt(const Json& obj, const char* key, int64_t lo, int64_t hi, std::optional<int64_t>* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return {};
  int64_t v = 0;
  if (it->is_boolean() || !AsInt64(*it, &v)) return TypeError(key, "an integer", *it);
  if (v < lo || v > hi) {
    return BadRequest("'" + std::string(key) + "' must be in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                          "], got " + std::to_string(v),
                      key);
  }
  *out = v;
  return {};
}

std::string FormatNumber(double v) {
  Json j = v;
  return j.dump();
}

// A finite number in [lo, hi] (or (lo, hi] when lo_open).
ApiError GetNumber(const Json& obj, const char* key, double lo, double hi, bool lo_open, std::optional<double>* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return {};
  if (!it->is_number()) return TypeError(key, "a number", *it);
  const double v = it->get<double>();
  const bool in_range = std::isfinite(v) && (lo_open ? v > lo : v >= lo) && v <= hi;
  if (!in_range) {
    return BadRequest("'" + std::string(key) + "' must be in " + (lo_open ? "(" : "[") + FormatNumber(lo) + ", " +
                          FormatNumber(hi) + "], got " + FormatNumber(v),
                      key);
  }
  *out = v;
  return {};
}

ApiError ParseModel(const Json& body, const RequestLimits& limits, OpenAiRequest* out) {
  std::optional<std::string> model;
  if (ApiError e = GetString(body, "model", "model", &model); !e.ok()) return e;
  if (model && *model != limits.served_model_name) {
    return ApiErrorOf(
        NotFound("The model '" + *model + "' does not exist; this server serves '" + limits.served_model_name + "'"),
        "model", "model_not_found");
  }
  out->model = limits.served_model_name;
  return {};
}

ApiError ParseStop(const Json& body, std::vector<std::string>* out) {
  auto it = body.find("stop");
  if (it == body.end() || it->is_null()) return {};
  if (it->is_string()) {
    if (!it->get_ref<const std::string&>().empty()) out->push_back(it->get<std::string>());
    return {};
  }
  if (!it->is_array()) return TypeError("stop", "a string or an array of strings", *it);
  if (it->size() > static_cast<size_t>(kMaxStopStrings)) {
    return BadRequest("'stop' may hold at most " + std::to_string(kMaxStopStrings) + " strings", "stop");
  }
  for (size_t i = 0; i < it->size(); ++i) {
    const Json& s = (*it)[i];
    if (!s.is_string()) return TypeError("stop[" + std::to_string(i) + "]", "a string", s);
    if (!s.get_ref<const std::string&>().empty()) out->push_back(s.get<std::string>());
  }
  return {};
}

ApiError ParseTokenIdArray(const Json& arr, const std::string& param, int64_t vocab_size, std::vector<int32_t>* out) {
  if (!arr.is_array()) return TypeError(param, "an array of token ids", arr);
  out->reserve(arr.size());
  for (size_t i = 0; i < arr.size(); ++i) {
    int64_t id = 0;
    if (arr[i].is_boolean() || !AsInt64(arr[i], &id)) {
      return TypeError(param + "[" + std::to_string(i) + "]", "an integer token id", arr[i]);
    }
    if (id < 0 || id >= vocab_size) {
      return BadRequest("token id " + std::to_string(id) + " in '" + param + "' is outside the vocabulary [0, " +
                            std::to_string(vocab_size) + ")",
                        param);
    }
    out->push_back(static_cast<int32_t>(id));
  }
  return {};
}

ApiError ParseLogitBias(const Json& body, int64_t vocab_size, std::vector<std::pair<int32_t, float>>* out) {
  auto it = body.find("logit_bias");
  if (it == body.end() || it->is_null()) return {};
  if (!it->is_object()) return TypeError("logit_bias", "an object of token id to bias", *it);
  std::set<int32_t> seen;
  for (const auto& [key, value] : it->items()) {
    size_t used = 0;
    int64_t id = -1;
    try {
      id = std::stoll(key, &used);
    } catch (...) {
      used = 0;
    }
    if (used == 0 || used != key.size() || id < 0 || id >= vocab_size) {
      return BadRequest("'logit_bias' key '" + key + "' is not a token id in [0, " + std::to_string(vocab_size) + ")",
                        "logit_bias");
    }
    if (!value.is_number() || !std::isfinite(value.get<double>()) || value.get<double>() < -100.0 ||
        value.get<double>() > 100.0) {
      return BadRequest("'logit_bias' values must be numbers in [-100, 100]", "logit_bias");
    }
    if (seen.insert(static_cast<int32_t>(id)).second) {
      out->emplace_back(static_cast<int32_t>(id), static_cast<float>(value.get<double>()));
    }
  }
  return {};
}

// The fields both routes share: sampling, stops, n, stream, user, engine flags.
ApiError ParseCommon(const Json& body, const RequestLimits& limits, OpenAiRequest* out) {
  if (ApiError e = ParseModel(body, limits, out); !e.ok()) return e;
  GenerationRequest& g = out->generation;
  SamplingParams& s = g.sampling;
  // OpenAI's default temperature is 1; greedy only when asked.
  std::optional<double> d;
  if (ApiError e = GetNumber(body, "temperature", 0.0, 2.0, false, &d); !e.ok()) return e;
  if (d) s.temperature = static_cast<float>(*d);
  d.reset();
  if (ApiError e = GetNumber(body, "top_p", 0.0, 1.0, true, &d); !e.ok()) return e;
  if (d) s.top_p = static_cast<float>(*d);
  d.reset();
  if (ApiError e = GetNumber(body, "min_p", 0.0, 1.0, false, &d); !e.ok()) return e;
  if (d) s.min_p = static_cast<float>(*d);
  d.reset();
  if (ApiError e = GetNumber(body, "presence_penalty", -2.0, 2.0, false, &d); !e.ok()) return e;
  if (d) s.presence_penalty = static_cast<float>(*d);
  d.reset();
  if (ApiError e = GetNumber(body, "frequency_penalty", -2.0, 2.0, false, &d); !e.ok()) return e;
  if (d) s.frequency_penalty = static_cast<float>(*d);
  d.reset();
  if (ApiError e = GetNumber(body, "repetition_penalty", 0.0, 1e6, true, &d); !e.ok()) return e;
  if (d) s.repetition_penalty = static_cast<float>(*d);

  std::optional<int64_t> i;
  if (ApiError e = GetInt(body, "top_k", -1, std::numeric_limits<int32_t>::max(), &i); !e.ok()) return e;
  if (i) s.top_k = *i <= 0 ? 0 : static_cast<int32_t>(*i);  // -1 and 0 both mean disabled
  i.reset();
  if (auto it = body.find("seed"); it != body.end() && !it->is_null()) {
    if (it->is_number_unsigned()) {
      s.seed = it->get<uint64_t>();
    } else if (int64_t v = 0; !it->is_boolean() && AsInt64(*it, &v)) {
      s.seed = static_cast<uint64_t>(v);
    } else {
      return TypeError("seed", "an integer", *it);
    }
  }
  if (ApiError e = ParseLogitBias(body, limits.vocab_size, &s.logit_bias); !e.ok()) return e;

  if (ApiError e = GetInt(body, "n", 1, kMaxChoices, &i); !e.ok()) return e;
  if (i) g.n = static_cast<int32_t>(*i);
  i.reset();
  if (ApiError e = ParseStop(body, &g.stop); !e.ok()) return e;
  if (auto it = body.find("stop_token_ids"); it != body.end() && !it->is_null()) {
    if (ApiError e = ParseTokenIdArray(*it, "stop_token_ids", limits.vocab_size, &g.stop_token_ids); !e.ok()) return e;
  }
  if (ApiError e = GetBool(body, "ignore_eos", &g.ignore_eos); !e.ok()) return e;
  if (ApiError e = GetBool(body, "skip_special_tokens", &g.skip_special_tokens); !e.ok()) return e;

  if (ApiError e = GetBool(body, "stream", &out->stream); !e.ok()) return e;
  if (auto it = body.find("stream_options"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) return TypeError("stream_options", "an object", *it);
    if (!out->stream) return BadRequest("'stream_options' is only allowed when 'stream' is true", "stream_options");
    if (auto u = it->find("include_usage"); u != it->end() && !u->is_null()) {
      if (!u->is_boolean()) return TypeError("stream_options.include_usage", "a boolean", *u);
      out->include_usage = u->get<bool>();
    }
  }
  std::optional<std::string> user;
  if (ApiError e = GetString(body, "user", "user", &user); !e.ok()) return e;
  if (user) out->user = *user;
  return {};
}

ApiError ParseMaxTokens(const Json& body, const char* key, OpenAiRequest* out) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return {};
  int64_t v = 0;
  if (it->is_boolean() || !AsInt64(*it, &v)) return TypeError(key, "an integer", *it);
  if (v < 1) return BadRequest("'" + std::string(key) + "' must be at least 1, got " + std::to_string(v), key);
  out->max_tokens = v;
  return {};
}

// Joins the text parts of a content array, as vLLM does for string-format templates.
ApiError ContentText(const Json& content, const std::string& param, std::string* out) {
  if (content.is_string()) {
    *out = content.get<std::string>();
    return {};
  }
  if (!content.is_array()) return TypeError(param, "a string or an array of content parts", content);
  std::string text;
  for (size_t j = 0; j < content.size(); ++j) {
    const Json& part = content[j];
    const std::string part_param = param + "[" + std::to_string(j) + "]";
    if (!part.is_object()) return TypeError(part_param, "an object", part);
    auto type = part.find("type");
    if (type == part.end() || !type->is_string())
      return BadRequest("'" + part_param + ".type' must be a string", part_param + ".type");
    if (*type != "text") {
      return ApiErrorOf(
          Unsupported("content part type '" + type->get<std::string>() + "' is not supported; only 'text'"),
          part_param + ".type");
    }
    auto t = part.find("text");
    if (t == part.end() || !t->is_string())
      return BadRequest("'" + part_param + ".text' must be a string", part_param + ".text");
    if (j > 0) text += "\n";
    text += t->get<std::string>();
  }
  *out = std::move(text);
  return {};
}

ApiError ParseToolCallsOfMessage(const Json& calls, const std::string& param, Json* out) {
  if (!calls.is_array()) return TypeError(param, "an array", calls);
  *out = Json::array();
  for (size_t k = 0; k < calls.size(); ++k) {
    const Json& c = calls[k];
    const std::string p = param + "[" + std::to_string(k) + "]";
    if (!c.is_object()) return TypeError(p, "an object", c);
    auto fn = c.find("function");
    if (fn == c.end() || !fn->is_object()) return BadRequest("'" + p + ".function' must be an object", p + ".function");
    auto name = fn->find("name");
    if (name == fn->end() || !name->is_string())
      return BadRequest("'" + p + ".function.name' must be a string", p + ".function.name");
    Json call = {{"type", "function"}};
    if (auto id = c.find("id"); id != c.end() && id->is_string()) call["id"] = *id;
    std::string arguments = "{}";
    if (auto args = fn->find("arguments"); args != fn->end() && !args->is_null()) {
      if (args->is_string()) {
        arguments = args->get<std::string>();
      } else if (args->is_object()) {
        arguments = args->dump();
      } else {
        return TypeError(p + ".function.arguments", "a string", *args);
      }
    }
    call["function"] = {{"name", *name}, {"arguments", arguments}};
    out->push_back(std::move(call));
  }
  return {};
}

}  // namespace

ApiError ParseTools(const Json& body, OpenAiRequest* out) {
  auto it = body.find("tools");
  if (it != body.end() && !it->is_null()) {
    if (!it->is_array()) return TypeError("tools", "an array", *it);
    if (it->size() > 1024) return BadRequest("'tools' may hold at most 1024 tools", "tools");
    Json tools = Json::array();
    for (size_t k = 0; k < it->size(); ++k) {
      const Json& t = (*it)[k];
      const std::string p = "tools[" + std::to_string(k) + "]";
      if (!t.is_object()) return TypeError(p, "an object", t);
      auto type = t.find("type");
      if (type == t.end() || *type != "function")
        return BadRequest("'" + p + ".type' must be \"function\"", p + ".type");
      auto fn = t.find("function");
      if (fn == t.end() || !fn->is_object())
        return BadRequest("'" + p + ".function' must be an object", p + ".function");
      auto name = fn->find("name");
      if (name == fn->end() || !name->is_string() || name->get_ref<const std::string&>().empty()) {
        return BadRequest("'" + p + ".function.name' must be a non-empty string", p + ".function.name");
      }
      if (auto d = fn->find("description"); d != fn->end() && !d->is_null() && !d->is_string()) {
        return TypeError(p + ".function.description", "a string", *d);
      }
      if (auto params = fn->find("parameters"); params != fn->end() && !params->is_null() && !params->is_object()) {
        return TypeError(p + ".function.parameters", "an object", *params);
      }
      tools.push_back(t);
    }
    if (!tools.empty()) out->tools = std::move(tools);
  }
  bool tool_choice_none = false;
  if (auto tc = body.find("tool_choice"); tc != body.end() && !tc->is_null()) {
    if (tc->is_string()) {
      const std::string& v = tc->get_ref<const std::string&>();
      if (v == "none") {
        tool_choice_none = true;
      } else if (v == "required") {
        return ApiErrorOf(Unsupported("tool_choice \"required\" is not supported; use \"auto\" or \"none\""),
                          "tool_choice");
      } else if (v != "auto") {
        return BadRequest("'tool_choice' must be \"none\", \"auto\" or an object, got \"" + v + "\"", "tool_choice");
      }
    } else if (tc->is_object()) {
      return ApiErrorOf(Unsupported("a named tool_choice is not supported; use \"auto\" or \"none\""), "tool_choice");
    } else {
      return TypeError("tool_choice", "a string", *tc);
    }
  }
  out->parse_tool_calls = !out->tools.is_null() && !tool_choice_none;
  return {};
}

ApiError ParseJsonBody(std::string_view body, Json* out) {
  if (NestsDeeperThan(body, kMaxJsonDepth)) {
    return BadRequest("the request body nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  }
  Json parsed = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return BadRequest("the request body is not valid JSON");
  if (!parsed.is_object()) return BadRequest("the request body must be a JSON object");
  *out = std::move(parsed);
  return {};
}

ApiError ParseMessages(const Json& messages, Json* out) {
  if (!messages.is_array()) return TypeError("messages", "an array", messages);
  if (messages.empty()) return BadRequest("'messages' must not be empty", "messages");
  if (messages.size() > static_cast<size_t>(kMaxMessages)) {
    return BadRequest("'messages' may hold at most " + std::to_string(kMaxMessages) + " messages", "messages");
  }
  Json normalized = Json::array();
  for (size_t i = 0; i < messages.size(); ++i) {
    const Json& m = messages[i];
    const std::string p = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) return TypeError(p, "an object", m);
    auto role_it = m.find("role");
    if (role_it == m.end() || !role_it->is_string())
      return BadRequest("'" + p + ".role' must be a string", p + ".role");
    std::string role = role_it->get<std::string>();
    if (role == "developer") role = "system";  // OpenAI's newer name for the system role
    if (role != "system" && role != "user" && role != "assistant" && role != "tool") {
      return BadRequest("'" + p + ".role' must be system, developer, user, assistant or tool, got '" + role + "'",
                        p + ".role");
    }
    Json message = {{"role", role}};
    auto content = m.find("content");
    const bool has_content = content != m.end() && !content->is_null();
    if (has_content) {
      std::string text;
      if (ApiError e = ContentText(*content, p + ".content", &text); !e.ok()) return e;
      message["content"] = std::move(text);
    } else if (role == "assistant") {
      message["content"] = nullptr;
    } else {
      return BadRequest("'" + p + ".content' is required for role '" + role + "'", p + ".content");
    }
    if (role == "assistant") {
      if (auto calls = m.find("tool_calls"); calls != m.end() && !calls->is_null()) {
        Json parsed;
        if (ApiError e = ParseToolCallsOfMessage(*calls, p + ".tool_calls", &parsed); !e.ok()) return e;
        if (!parsed.empty()) message["tool_calls"] = std::move(parsed);
      }
    }
    for (const char* key : {"name", "tool_call_id"}) {
      if (auto v = m.find(key); v != m.end() && !v->is_null()) {
        if (!v->is_string()) return TypeError(p + "." + key, "a string", *v);
        message[key] = *v;
      }
    }
    normalized.push_back(std::move(message));
  }
  *out = std::move(normalized);
  return {};
}

ApiError ParseChatCompletionRequest(const Json& body, const RequestLimits& limits, OpenAiRequest* out) {
  out->route = ApiRoute::kChatCompletions;
  auto messages = body.find("messages");
  if (messages == body.end() || messages->is_null()) return BadRequest("'messages' is required", "messages");
  if (ApiError e = ParseMessages(*messages, &out->messages); !e.ok()) return e;
  if (ApiError e = ParseCommon(body, limits, out); !e.ok()) return e;
  if (ApiError e = ParseMaxTokens(body, "max_tokens", out); !e.ok()) return e;
  if (ApiError e = ParseMaxTokens(body, "max_completion_tokens", out); !e.ok()) return e;  // wins over max_tokens
  if (ApiError e = ParseTools(body, out); !e.ok()) return e;

  if (ApiError e = GetBool(body, "logprobs", &out->chat_logprobs); !e.ok()) return e;
  std::optional<int64_t> top;
  if (ApiError e = GetInt(body, "top_logprobs", 0, kMaxTopLogprobs, &top); !e.ok()) return e;
  if (top && !out->chat_logprobs) {
    return BadRequest("'top_logprobs' requires 'logprobs' to be true", "top_logprobs");
  }
  if (out->chat_logprobs) out->generation.logprobs = static_cast<int32_t>(top.value_or(0));

  out->include_reasoning = limits.default_include_reasoning;
  if (ApiError e = GetBool(body, "include_reasoning", &out->include_reasoning); !e.ok()) return e;
  return {};
}

ApiError ParseCompletionRequest(const Json& body, const RequestLimits& limits, OpenAiRequest* out) {
  out->route = ApiRoute::kCompletions;
  auto prompt = body.find("prompt");
  if (prompt == body.end() || prompt->is_null()) return BadRequest("'prompt' is required", "prompt");
  if (prompt->is_string()) {
    out->prompt_text = prompt->get<std::string>();
  } else if (prompt->is_array()) {
    // ["text"] and [[ids]] are single prompts; more than one is a batch.
    if (prompt->empty()) return BadRequest("'prompt' must not be empty", "prompt");
    const Json& first = (*prompt)[0];
    if (first.is_string() || first.is_array()) {
      if (prompt->size() > 1) return ApiErrorOf(Unsupported("batched prompts are not supported"), "prompt");
      if (first.is_string()) {
        out->prompt_text = first.get<std::string>();
      } else if (ApiError e = ParseTokenIdArray(first, "prompt[0]", limits.vocab_size, &out->prompt_token_ids);
                 !e.ok()) {
        return e;
      }
    } else if (ApiError e = ParseTokenIdArray(*prompt, "prompt", limits.vocab_size, &out->prompt_token_ids); !e.ok()) {
      return e;
    }
    if (!out->prompt_text && out->prompt_token_ids.empty()) return BadRequest("'prompt' must not be empty", "prompt");
  } else {
    return TypeError("prompt", "a string, an array of token ids or an array of one string", *prompt);
  }
  if (ApiError e = ParseCommon(body, limits, out); !e.ok()) return e;
  if (ApiError e = ParseMaxTokens(body, "max_tokens", out); !e.ok()) return e;
  if (ApiError e = GetBool(body, "echo", &out->echo); !e.ok()) return e;
  std::optional<int64_t> logprobs;
  if (ApiError e = GetInt(body, "logprobs", 0, kMaxTopLogprobs, &logprobs); !e.ok()) return e;
  if (logprobs) out->generation.logprobs = static_cast<int32_t>(*logprobs);
  if (auto suffix = body.find("suffix"); suffix != body.end() && !suffix->is_null()) {
    return ApiErrorOf(Unsupported("'suffix' is not supported"), "suffix");
  }
  return {};
}

}  // namespace fathom

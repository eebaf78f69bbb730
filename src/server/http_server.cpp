#include "server/http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <cstdio>
#include <ctime>
#include <exception>

namespace fathom {
namespace {

constexpr const char* kJson = "application/json";
constexpr std::chrono::milliseconds kPollInterval{50};
// A non-streaming request waits this long past its deadline for the engine's
// final (kAbort) output before answering 500: only a stuck engine gets here.
constexpr std::chrono::seconds kDeadlineSlack{30};
// A stream with nothing to say for this long writes an SSE comment, which clients
// ignore; a write is the only way to learn that a client left while its request
// waits in the queue or prefills, so that it is cancelled then and not at its end.
// The same holds for a non-streaming answer, whose heartbeat is one space before
// the JSON body.
constexpr std::chrono::seconds kHeartbeat{1};
constexpr std::string_view kSseHeartbeat = ": keep-alive\n\n";
constexpr std::string_view kJsonHeartbeat = " ";
// A request abandoned by its client waits this long for the engine's final
// (kAbort) output, so that the metrics count how it ended.
constexpr std::chrono::seconds kAbandonWait{5};
// cpp-httplib 0.11 gzips a provider's body when the content type is exactly
// "application/json", which would hold heartbeats back in the compressor; with
// the charset parameter it sends every write as it comes.
constexpr const char* kJsonNoCompress = "application/json; charset=utf-8";

const char* const kRoutes[][2] = {
    {"POST", "/v1/chat/completions"}, {"POST", "/v1/completions"}, {"GET", "/v1/models"}, {"POST", "/tokenize"},
    {"POST", "/detokenize"},          {"GET", "/health"},          {"GET", "/ready"},     {"GET", "/metrics"},
};

bool IsKnownPath(const std::string& path) {
  for (const auto& r : kRoutes) {
    if (path == r[1]) return true;
  }
  return false;
}

void SendJson(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(DumpJson(body), kJson);
}

std::string DumpErrorBody(const HttpError& e) {
  return e.body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void SendHttpError(httplib::Response& res, const HttpError& e) {
  if (e.retry_after_seconds) res.set_header("Retry-After", std::to_string(*e.retry_after_seconds));
  res.status = e.http_status;
  res.set_content(DumpErrorBody(e), kJson);
}

// The body alone, for an error found after the status line went out.
std::string ErrorBodyText(const ApiError& e) { return DumpErrorBody(ToHttpError(e)); }

void SendError(httplib::Response& res, const ApiError& e) { SendHttpError(res, ToHttpError(e)); }

// Engine::Submit's errors: a full queue is 429, shutdown 503, the rest 400.
ApiError SubmitError(const Status& s) {
  ApiError e = ApiErrorOf(s);
  if (s.code() == StatusCode::kResourceExhausted) e.retry_after_seconds = 1;
  return e;
}

int64_t UnixSeconds() { return static_cast<int64_t>(std::time(nullptr)); }

// cpp-httplib 0.11 listens with a backlog of 5, so a burst of new connections
// (64 clients starting at once) overflows the accept queue and the kernel drops
// handshakes that clients then see as resets after a second. This subclass only
// reaches the listening socket to widen that queue.
class BackloggedServer : public httplib::Server {
 public:
  void WidenBacklog() {
    const socket_t fd = svr_sock_;
    if (fd != INVALID_SOCKET) ::listen(fd, SOMAXCONN);
  }
};

}  // namespace

SubmittedRequest::~SubmittedRequest() {
  try {
    if (!is_finished_) Abandon();
  } catch (...) {  // a destructor must not throw; the handle is cancelled before anything can
  }
}

std::optional<RequestOutput> SubmittedRequest::Next(std::chrono::milliseconds timeout) {
  std::optional<RequestOutput> out = handle_->Next(timeout);
  if (out) {
    timer_.Observe(*out);
    if (out->is_finished) is_finished_ = true;
  }
  return out;
}

void SubmittedRequest::Abandon() {
  if (is_finished_) return;
  handle_->Cancel();
  const EngineClock::time_point give_up = EngineClock::now() + kAbandonWait;
  while (!is_finished_ && EngineClock::now() < give_up) Next(kPollInterval);
  is_finished_ = true;
}

HttpServer::HttpServer(Engine* engine, const PromptBuilder* prompts, ServerMetrics* metrics, HttpServerOptions options)
    : engine_(engine),
      prompts_(prompts),
      metrics_(metrics),
      options_(std::move(options)),
      created_(UnixSeconds()),
      server_(std::make_unique<BackloggedServer>()) {
  limits_.served_model_name = options_.served_model_name;
  limits_.vocab_size = prompts_->tokenizer().vocab_size();
  limits_.default_include_reasoning = options_.default_include_reasoning;
  RegisterRoutes();
}

HttpServer::~HttpServer() { Stop(); }

Status HttpServer::Bind() {
  if (options_.port == 0) {
    bound_port_ = server_->bind_to_any_port(options_.host);
    if (bound_port_ <= 0) return IoError("cannot listen on " + options_.host + " (any port)");
    static_cast<BackloggedServer&>(*server_).WidenBacklog();
    return {};
  }
  if (!server_->bind_to_port(options_.host, options_.port)) {
    return IoError("cannot listen on " + options_.host + ":" + std::to_string(options_.port) +
                   " (in use, or not an address of this machine)");
  }
  bound_port_ = options_.port;
  static_cast<BackloggedServer&>(*server_).WidenBacklog();
  return {};
}

Status HttpServer::Serve() {
  if (!server_->listen_after_bind()) return IoError("the HTTP listener stopped with an error");
  return {};
}

void HttpServer::Stop() {
  if (server_) server_->stop();
}

void HttpServer::RegisterRoutes() {
  httplib::Server& s = *server_;
  const size_t num_threads = static_cast<size_t>(std::max(options_.num_http_threads, 1));
  s.new_task_queue = [num_threads] { return new httplib::ThreadPool(num_threads); };
  s.set_payload_max_length(options_.max_body_bytes);
  s.set_keep_alive_max_count(1000);
  s.set_keep_alive_timeout(5);
  s.set_read_timeout(30);
  s.set_write_timeout(30);
  s.set_tcp_nodelay(true);

  s.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
    HandleCompletion(ApiRoute::kChatCompletions, req, res);
  });
  s.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
    HandleCompletion(ApiRoute::kCompletions, req, res);
  });
  s.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) { HandleModels(res); });
  s.Post("/tokenize", [this](const httplib::Request& req, httplib::Response& res) { HandleTokenize(req, res); });
  s.Post("/detokenize", [this](const httplib::Request& req, httplib::Response& res) { HandleDetokenize(req, res); });
  s.Get("/health", [](const httplib::Request&, httplib::Response& res) { res.set_content("", "text/plain"); });
  s.Get("/ready", [this](const httplib::Request&, httplib::Response& res) {
    if (is_draining() || !engine_->Stats().is_accepting) {
      SendJson(res, 503, {{"status", "shutting_down"}});
    } else {
      SendJson(res, 200, {{"status", "ready"}});
    }
  });
  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) { HandleMetrics(res); });

  s.set_error_handler([this](const httplib::Request& req, httplib::Response& res) { HandleRouterError(req, res); });
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    SendError(res, ApiErrorOf(Internal("internal error: " + what)));
  });
  s.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    metrics_->CountRequest(IsKnownPath(req.path) ? req.path : "other", res.status);
  });
}

void HttpServer::HandleRouterError(const httplib::Request& req, httplib::Response& res) const {
  if (!res.body.empty() || res.is_chunked_content_provider_) return;  // a handler already answered
  if (res.status == 404 && IsKnownPath(req.path)) {
    SendHttpError(res, HttpStatusError(405, "method " + req.method + " is not allowed on " + req.path));
    std::string allow;
    for (const auto& r : kRoutes) {
      if (req.path == r[1]) allow = r[0];
    }
    res.set_header("Allow", allow);
    return;
  }
  switch (res.status) {
    case 404:
      SendHttpError(res, HttpStatusError(404, "no route " + req.method + " " + req.path));
      return;
    case 413:
      SendHttpError(res, HttpStatusError(413, "the request body is larger than " +
                                                  std::to_string(options_.max_body_bytes) + " bytes"));
      return;
    default:
      SendHttpError(res, HttpStatusError(res.status, "the HTTP request could not be served (status " +
                                                         std::to_string(res.status) + ")"));
  }
}

void HttpServer::HandleCompletion(ApiRoute route, const httplib::Request& req, httplib::Response& res) {
  const EngineClock::time_point arrival = EngineClock::now();
  if (is_draining()) return SendError(res, ApiErrorOf(Unavailable("the server is shutting down")));
  Json body;
  if (ApiError e = ParseJsonBody(req.body, &body); !e.ok()) return SendError(res, e);
  OpenAiRequest request;
  ApiError parsed = route == ApiRoute::kChatCompletions ? ParseChatCompletionRequest(body, limits_, &request)
                                                        : ParseCompletionRequest(body, limits_, &request);
  if (!parsed.ok()) return SendError(res, parsed);
  std::string prompt_text;
  if (ApiError e = prompts_->Build(&request, &prompt_text); !e.ok()) return SendError(res, e);
  request.generation.deadline = arrival + options_.request_timeout;

  const bool is_chat = route == ApiRoute::kChatCompletions;
  ResponseOptions ro;
  ro.route = route;
  ro.id = NewResponseId(is_chat ? "chatcmpl-" : "cmpl-");
  ro.created = UnixSeconds();
  ro.model = request.model;
  ro.n = request.generation.n;
  ro.include_reasoning = is_chat && request.include_reasoning;
  ro.parse_tool_calls = is_chat && request.parse_tool_calls;
  ro.tool_format = options_.tool_format;
  ro.tool_call_id_seed = std::hash<std::string>{}(ro.id);
  ro.include_usage = request.include_usage;
  ro.logprobs = request.generation.logprobs;
  if (!is_chat && request.echo) ro.echo_text = prompt_text;
  auto builder = std::make_unique<ResponseBuilder>(std::move(ro), &prompts_->tokenizer());

  const std::optional<EngineClock::time_point> deadline = request.generation.deadline;
  Result<std::shared_ptr<RequestHandle>> submitted = engine_->Submit(std::move(request.generation));
  if (!submitted.ok()) return SendError(res, SubmitError(submitted.status()));
  // From here on the request runs in the engine: the guard cancels it if
  // anything below throws or the client leaves before its end.
  auto guarded = std::make_unique<SubmittedRequest>(*submitted, metrics_, arrival);

  if (request.stream) return Stream(std::move(guarded), std::move(builder), res);
  Respond(std::move(guarded), std::move(builder), deadline, res);
}

void HttpServer::Respond(std::unique_ptr<SubmittedRequest> request, std::unique_ptr<ResponseBuilder> builder,
                         std::optional<EngineClock::time_point> deadline, httplib::Response& res) {
  // cpp-httplib 0.11 tells a handler nothing about its connection, so the answer is
  // a chunked body whose provider waits on the engine: a silent second writes one
  // space (JSON allows leading whitespace), and a failed write or a closed socket
  // cancels the request. The trade-off: the status line goes out before the
  // provider runs, so once Submit succeeded the status is 200 and an engine
  // failure (or a stuck engine past its deadline) is an OpenAI error object in the
  // body; everything decided before Submit keeps its own status.
  struct State {
    std::unique_ptr<SubmittedRequest> request;
    std::unique_ptr<ResponseBuilder> builder;
    std::optional<EngineClock::time_point> deadline;
    EngineClock::time_point last_write = EngineClock::now();
  };
  auto state = std::make_shared<State>(State{std::move(request), std::move(builder), deadline});
  res.status = 200;
  res.set_chunked_content_provider(
      kJsonNoCompress,
      [state](size_t /*offset*/, httplib::DataSink& sink) {
        auto abandon = [&] {
          state->request->Abandon();
          return false;
        };
        auto finish = [&](const std::string& body) {
          if (!sink.write(body.data(), body.size())) return false;
          sink.done();
          return true;
        };
        try {
          std::optional<RequestOutput> out = state->request->Next(kPollInterval);
          if (out) {
            state->builder->Add(*out);
            if (out->is_finished) {
              if (!state->builder->error().ok()) {
                return finish(ErrorBodyText(ApiErrorOf(Internal(state->builder->error().message()))));
              }
              return finish(DumpJson(state->builder->FinalResponse()));
            }
          }
          // Unfinished: the heartbeat is due every kHeartbeat whether or not tokens
          // came, since none of them is written before the end.
          const EngineClock::time_point now = EngineClock::now();
          if (!out && state->deadline && now > *state->deadline + kDeadlineSlack) {
            state->request->Abandon();
            return finish(
                ErrorBodyText(ApiErrorOf(Internal("the engine did not finish the request after its deadline"))));
          }
          if (now - state->last_write < kHeartbeat) return true;
          state->last_write = now;
          if (!sink.is_writable()) return abandon();
          return sink.write(kJsonHeartbeat.data(), kJsonHeartbeat.size()) ? true : abandon();
        } catch (const std::exception&) {
          return abandon();  // the exception must not leave the provider: httplib would not catch it
        }
      },
      [state](bool success) {
        if (!success) state->request->Abandon();
      });
}

void HttpServer::Stream(std::unique_ptr<SubmittedRequest> request, std::unique_ptr<ResponseBuilder> builder,
                        httplib::Response& res) {
  struct StreamState {
    std::unique_ptr<SubmittedRequest> request;
    std::unique_ptr<ResponseBuilder> builder;
    EngineClock::time_point last_write = EngineClock::now();
  };
  auto state = std::make_shared<StreamState>(StreamState{std::move(request), std::move(builder)});
  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      "text/event-stream",
      [state](size_t /*offset*/, httplib::DataSink& sink) {
        auto cancel = [&] {
          state->request->Abandon();
          return false;
        };
        auto write = [&](std::string_view event) { return sink.write(event.data(), event.size()); };
        try {
          std::optional<RequestOutput> out = state->request->Next(kPollInterval);
          if (!out) {
            if (!sink.is_writable()) return cancel();
            if (EngineClock::now() - state->last_write < kHeartbeat) return true;
            state->last_write = EngineClock::now();
            return write(kSseHeartbeat) ? true : cancel();
          }
          state->last_write = EngineClock::now();
          for (const Json& chunk : state->builder->StreamChunks(*out)) {
            if (!write(SseEvent(chunk))) return cancel();
          }
          if (!out->is_finished) return true;
          if (!state->builder->error().ok()) {
            const HttpError e = ToHttpError(ApiErrorOf(Internal(state->builder->error().message())));
            if (!write(SseEvent(Json(e.body)))) return false;
          }
          if (state->builder->include_usage()) {
            if (!write(SseEvent(state->builder->UsageChunk()))) return false;
          }
          if (!write(kSseDone)) return false;
          sink.done();
          return true;
        } catch (const std::exception&) {
          return cancel();  // the exception must not leave the provider: httplib would not catch it
        }
      },
      [state](bool success) {
        if (!success) state->request->Abandon();
      });
}

void HttpServer::HandleModels(httplib::Response& res) const {
  Json model = {{"id", options_.served_model_name},
                {"object", "model"},
                {"created", created_},
                {"owned_by", "fathom"},
                {"root", options_.model_path},
                {"max_model_len", prompts_->max_model_len()}};
  SendJson(res, 200, {{"object", "list"}, {"data", Json::array({std::move(model)})}});
}

void HttpServer::HandleTokenize(const httplib::Request& req, httplib::Response& res) const {
  Json body;
  if (ApiError e = ParseJsonBody(req.body, &body); !e.ok()) return SendError(res, e);
  if (auto m = body.find("model");
      m != body.end() && !m->is_null() && (!m->is_string() || *m != options_.served_model_name)) {
    return SendError(
        res, ApiErrorOf(NotFound("The model does not exist; this server serves '" + options_.served_model_name + "'"),
                        "model", "model_not_found"));
  }
  auto get_bool = [&](const char* key, bool fallback, bool* out) -> ApiError {
    *out = fallback;
    auto it = body.find(key);
    if (it == body.end() || it->is_null()) return {};
    if (!it->is_boolean()) return BadRequest(std::string("'") + key + "' must be a boolean", key);
    *out = it->get<bool>();
    return {};
  };
  std::string text;
  bool add_special = false;
  if (auto messages = body.find("messages"); messages != body.end() && !messages->is_null()) {
    Json normalized;
    if (ApiError e = ParseMessages(*messages, &normalized); !e.ok()) return SendError(res, e);
    bool add_generation_prompt = true;
    if (ApiError e = get_bool("add_generation_prompt", true, &add_generation_prompt); !e.ok()) return SendError(res, e);
    if (ApiError e = get_bool("add_special_tokens", false, &add_special); !e.ok()) return SendError(res, e);
    OpenAiRequest with_tools;  // only its tools: the chat route's validation
    if (ApiError e = ParseTools(body, &with_tools); !e.ok()) return SendError(res, e);
    if (ApiError e = prompts_->RenderChat(normalized, with_tools.tools, add_generation_prompt, &text); !e.ok()) {
      return SendError(res, e);
    }
  } else if (auto prompt = body.find("prompt"); prompt != body.end() && prompt->is_string()) {
    text = prompt->get<std::string>();
    if (ApiError e = get_bool("add_special_tokens", true, &add_special); !e.ok()) return SendError(res, e);
  } else {
    return SendError(res, BadRequest("'prompt' (a string) or 'messages' is required", "prompt"));
  }
  std::vector<int32_t> ids;
  if (ApiError e = prompts_->Tokenize(text, add_special, "prompt", &ids); !e.ok()) return SendError(res, e);
  SendJson(res, 200, {{"count", ids.size()}, {"max_model_len", prompts_->max_model_len()}, {"tokens", std::move(ids)}});
}

void HttpServer::HandleDetokenize(const httplib::Request& req, httplib::Response& res) const {
  Json body;
  if (ApiError e = ParseJsonBody(req.body, &body); !e.ok()) return SendError(res, e);
  auto tokens = body.find("tokens");
  if (tokens == body.end() || !tokens->is_array()) {
    return SendError(res, BadRequest("'tokens' must be an array of token ids", "tokens"));
  }
  const int64_t vocab = prompts_->tokenizer().vocab_size();
  std::vector<int32_t> ids;
  for (const Json& t : *tokens) {
    if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= vocab) {
      return SendError(res, BadRequest("'tokens' must hold token ids in [0, " + std::to_string(vocab) + ")", "tokens"));
    }
    ids.push_back(static_cast<int32_t>(t.get<int64_t>()));
  }
  SendJson(res, 200, {{"prompt", prompts_->tokenizer().Decode(ids, /*skip_special_tokens=*/false)}});
}

void HttpServer::HandleMetrics(httplib::Response& res) {
  res.status = 200;
  res.set_content(metrics_->Render(engine_->Stats()), "text/plain; version=0.0.4; charset=utf-8");
}

}  // namespace fathom

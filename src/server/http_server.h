// The OpenAI-compatible HTTP server: routes, streaming (SSE), readiness and
// metrics, on cpp-httplib with a fixed pool of worker threads.
//
// Routes: POST /v1/chat/completions, POST /v1/completions, GET /v1/models,
// POST /tokenize, POST /detokenize, GET /health, GET /ready, GET /metrics. Every
// error, the router's own 404/405/413 included, has OpenAI's shape.
//
// The non-obvious rule: an HTTP worker never blocks the engine. It submits, then
// polls its RequestHandle with a short timeout; when a client goes away (a write
// fails or the socket closed) it cancels the request, so the engine frees the
// sequence at its next step. Streamed or not, the answer to an accepted request
// is written by a chunked content provider: a non-streaming answer writes a space
// after each silent second (valid leading JSON whitespace) so that a client who
// left is noticed. Hence once Submit succeeded the status is 200, and an engine
// failure is an OpenAI error object in the body; validation errors, 429, 503 and
// context_length_exceeded are decided before and keep their statuses. Every
// request's deadline (--request-timeout) applies to streams as well.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "chat/tool_call_parser.h"
#include "core/status.h"
#include "engine/engine.h"
#include "server/api_error.h"
#include "server/openai_request.h"
#include "server/openai_response.h"
#include "server/prompt_builder.h"
#include "server/server_metrics.h"

namespace httplib {
class Server;
class Request;
class Response;
}  // namespace httplib

namespace fathom {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 8000;                            // 0: any free port (see port())
  int num_http_threads = 128;                 // connections served at once (a keep-alive connection holds one)
  size_t max_body_bytes = 8u << 20;           // larger bodies get 413
  std::chrono::seconds request_timeout{600};  // a request's deadline after its arrival
  std::string served_model_name;
  std::string model_path;                  // shown as /v1/models "root"
  bool default_include_reasoning = false;  // --reasoning, resolved
  ToolCallFormat tool_format = ToolCallFormat::kV3;
};

// A request the engine accepted, as one HTTP handler sees it: its handle and its
// metrics timer. It never outlives its handler unfinished: destroying it before
// the finished output was seen (a throw, a client that left) cancels the request.
// Not thread-safe; not copyable.
class SubmittedRequest {
 public:
  SubmittedRequest(std::shared_ptr<RequestHandle> handle, ServerMetrics* metrics, EngineClock::time_point arrival)
      : handle_(std::move(handle)), timer_(metrics, arrival) {}
  ~SubmittedRequest();
  SubmittedRequest(const SubmittedRequest&) = delete;
  SubmittedRequest& operator=(const SubmittedRequest&) = delete;

  // RequestHandle::Next, with every output observed by the metrics timer.
  std::optional<RequestOutput> Next(std::chrono::milliseconds timeout);
  // Cancels the request and waits a few seconds for its final (kAbort) output so
  // that the metrics count it. Idempotent; does nothing once finished.
  void Abandon();
  bool is_finished() const { return is_finished_; }

 private:
  std::shared_ptr<RequestHandle> handle_;
  ServerMetrics::RequestTimer timer_;
  bool is_finished_ = false;  // the output with is_finished was seen (or Abandon gave up)
};

// Thread-safe: Serve runs on one thread; BeginDraining and Stop may be called
// from any other. Holds pointers to the engine, prompt builder and metrics, which
// must outlive it. Not copyable.
class HttpServer {
 public:
  HttpServer(Engine* engine, const PromptBuilder* prompts, ServerMetrics* metrics, HttpServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds the listening socket. Returns IoError naming host:port if it cannot.
  Status Bind();
  // The bound port. REQUIRES: Bind() succeeded.
  int port() const { return bound_port_; }
  // Serves until Stop(). REQUIRES: Bind() succeeded. Returns IoError if listening failed.
  Status Serve();
  // From now on /ready answers 503 and new completions get 503; running ones go on.
  void BeginDraining() { is_draining_.store(true); }
  bool is_draining() const { return is_draining_.load(); }
  // Closes the listening socket and makes Serve return. Idempotent.
  void Stop();

 private:
  void RegisterRoutes();
  void HandleCompletion(ApiRoute route, const httplib::Request& req, httplib::Response& res);
  void HandleModels(httplib::Response& res) const;
  void HandleTokenize(const httplib::Request& req, httplib::Response& res) const;
  void HandleDetokenize(const httplib::Request& req, httplib::Response& res) const;
  void HandleMetrics(httplib::Response& res);
  void HandleRouterError(const httplib::Request& req, httplib::Response& res) const;

  // Answers with the outputs of `request` as server-sent events.
  void Stream(std::unique_ptr<SubmittedRequest> request, std::unique_ptr<ResponseBuilder> builder,
              httplib::Response& res);
  // Answers with one JSON body once `request` finished (see the file comment).
  void Respond(std::unique_ptr<SubmittedRequest> request, std::unique_ptr<ResponseBuilder> builder,
               std::optional<EngineClock::time_point> deadline, httplib::Response& res);

  Engine* engine_;
  const PromptBuilder* prompts_;
  ServerMetrics* metrics_;
  HttpServerOptions options_;
  RequestLimits limits_;
  int64_t created_;  // unix seconds at start: the model's "created"
  std::unique_ptr<httplib::Server> server_;
  int bound_port_ = 0;
  std::atomic<bool> is_draining_{false};
};

}  // namespace fathom

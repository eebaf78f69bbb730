// The one place a Status becomes an HTTP error: OpenAI's body
// {"error": {"message", "type", "param", "code"}} and the status code it rides on.
// The non-obvious rule: the HTTP status follows the StatusCode alone (400 for a bad
// request, 404 for an unknown model or route, 429 for a full queue, 503 while
// shutting down), so a handler never picks a number itself; 500 is reserved for
// kInternal and the codes only a server fault can produce.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>

#include "core/status.h"

namespace fathom {

// A Status plus the OpenAI fields a client reads to find its mistake. Value type.
struct ApiError {
  Status status;                           // OK: no error
  std::string param;                       // the request field at fault ("messages[0].content"); "" if none
  std::string code;                        // OpenAI's machine code ("model_not_found"); "" if none
  std::optional<int> retry_after_seconds;  // sent as Retry-After (429, 503)

  bool ok() const { return status.ok(); }
};

// Shorthands; each returns a non-OK ApiError.
inline ApiError BadRequest(std::string message, std::string param = "", std::string code = "") {
  return {InvalidArgument(std::move(message)), std::move(param), std::move(code), std::nullopt};
}
inline ApiError ApiErrorOf(Status status, std::string param = "", std::string code = "") {
  return {std::move(status), std::move(param), std::move(code), std::nullopt};
}

// What goes on the wire for an error.
struct HttpError {
  int http_status = 500;
  nlohmann::json body;  // {"error": {...}}
  std::optional<int> retry_after_seconds;
};

// Maps `error` (REQUIRES: !error.ok()) to its HTTP status and OpenAI body:
//   kInvalidArgument, kOutOfRange, kUnsupported, kCorrupt -> 400 invalid_request_error
//   kNotFound -> 404 (not_found_error, or invalid_request_error with a code)
//   kResourceExhausted -> 429 rate_limit_error (Retry-After: 1 unless set)
//   kUnavailable -> 503 service_unavailable (Retry-After when set)
//   kIoError, kInternal -> 500 internal_server_error
HttpError ToHttpError(const ApiError& error);

// An error for a bare HTTP status the router produced (404 route, 405 method,
// 413 payload too large), in the same shape.
HttpError HttpStatusError(int http_status, std::string message);

}  // namespace fathom

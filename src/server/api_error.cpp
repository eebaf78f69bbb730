#include "server/api_error.h"

namespace fathom {
namespace {

nlohmann::json Body(const std::string& message, const char* type, const std::string& param, const std::string& code) {
  nlohmann::json error = {{"message", message}, {"type", type}, {"param", nullptr}, {"code", nullptr}};
  if (!param.empty()) error["param"] = param;
  if (!code.empty()) error["code"] = code;
  return {{"error", std::move(error)}};
}

}  // namespace

HttpError ToHttpError(const ApiError& error) {
  HttpError out;
  const std::string& message = error.status.message();
  out.retry_after_seconds = error.retry_after_seconds;
  switch (error.status.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange:
    case StatusCode::kUnsupported:
    case StatusCode::kCorrupt:
      out.http_status = 400;
      out.body = Body(message, "invalid_request_error", error.param, error.code);
      break;
    case StatusCode::kNotFound:
      out.http_status = 404;
      out.body =
          Body(message, error.code.empty() ? "not_found_error" : "invalid_request_error", error.param, error.code);
      break;
    case StatusCode::kResourceExhausted:
      out.http_status = 429;
      out.body = Body(message, "rate_limit_error", error.param, error.code);
      if (!out.retry_after_seconds) out.retry_after_seconds = 1;
      break;
    case StatusCode::kUnavailable:
      out.http_status = 503;
      out.body = Body(message, "service_unavailable", error.param, error.code);
      break;
    case StatusCode::kOk:  // a bug in the caller; still answer in shape
    case StatusCode::kIoError:
    case StatusCode::kInternal:
      out.http_status = 500;
      out.body = Body(message.empty() ? "internal error" : message, "internal_server_error", error.param, error.code);
      break;
  }
  return out;
}

HttpError HttpStatusError(int http_status, std::string message) {
  HttpError out;
  out.http_status = http_status;
  const char* type = http_status == 404   ? "not_found_error"
                     : http_status >= 500 ? "internal_server_error"
                                          : "invalid_request_error";
  out.body = Body(message, type, "", "");
  return out;
}

}  // namespace fathom

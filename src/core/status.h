// Errors as values. A Status says what went wrong in words a user can act on
// ("model.safetensors: tensor 'x' ends at byte 900 past the file end 512"); a
// Result<T> holds either a value or a non-OK Status. Anything a user, a file or a
// request can cause is a Status; only bugs trip FATHOM_CHECK.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace fathom {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,    // the caller asked for something malformed
  kNotFound,           // a file, key, tensor or model that is not there
  kCorrupt,            // a file whose bytes contradict its own format
  kUnsupported,        // well-formed, but something fathom does not handle
  kIoError,            // the operating system refused
  kOutOfRange,         // an index or size past a limit
  kResourceExhausted,  // out of memory, blocks or quota
  kUnavailable,        // not now: shutting down or not ready; a retry later may succeed
  kInternal,           // a bug surfaced as a value
};

std::string_view StatusCodeName(StatusCode code);

// Value type; cheap to move. Thread-compatible.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns a copy whose message is "<context>: <message>"; OK stays OK.
  Status WithContext(std::string_view context) const;

  // "Corrupt: model.gguf: ..." for logs; user-facing output prints message().
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status Corrupt(std::string m) { return {StatusCode::kCorrupt, std::move(m)}; }
inline Status Unsupported(std::string m) { return {StatusCode::kUnsupported, std::move(m)}; }
inline Status IoError(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
inline Status OutOfRange(std::string m) { return {StatusCode::kOutOfRange, std::move(m)}; }
inline Status ResourceExhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
inline Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

// Either a T or a non-OK Status. REQUIRES: a Status stored here is not OK.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : data_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : data_(std::move(status)) {  // NOLINT: implicit by design
    if (std::get<Status>(data_).ok()) data_ = Status(StatusCode::kInternal, "Result built from OK status");
  }

  bool ok() const { return std::holds_alternative<T>(data_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(data_);
  }
  T& value() & { return std::get<T>(data_); }
  const T& value() const& { return std::get<T>(data_); }
  T&& value() && { return std::get<T>(std::move(data_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> data_;
};

[[noreturn]] void CheckFailed(const char* file, int line, const char* expr, const std::string& detail);

}  // namespace fathom

#define FATHOM_CONCAT_INNER(a, b) a##b
#define FATHOM_CONCAT(a, b) FATHOM_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function if `expr` is not OK.
#define FATHOM_RETURN_IF_ERROR(expr)              \
  do {                                            \
    ::fathom::Status _fathom_st = (expr);         \
    if (!_fathom_st.ok()) return _fathom_st;      \
  } while (0)

// `FATHOM_ASSIGN_OR_RETURN(auto x, F());` binds the value or returns the error.
#define FATHOM_ASSIGN_OR_RETURN(lhs, expr) \
  FATHOM_ASSIGN_OR_RETURN_IMPL(FATHOM_CONCAT(_fathom_r, __LINE__), lhs, expr)
#define FATHOM_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()

// For invariants only a bug can break; aborts with file:line.
#define FATHOM_CHECK(cond)                                                  \
  do {                                                                      \
    if (!(cond)) ::fathom::CheckFailed(__FILE__, __LINE__, #cond, "");      \
  } while (0)
#define FATHOM_CHECK_MSG(cond, msg)                                         \
  do {                                                                      \
    if (!(cond)) ::fathom::CheckFailed(__FILE__, __LINE__, #cond, (msg));   \
  } while (0)

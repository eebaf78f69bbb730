// Progress of long work (writing models, quantizing, loading) on stderr: a line
// redrawn in place on a terminal, or a line per 10% when stderr is a file/pipe,
// so CI logs stay short. Silent when disabled.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace fathom {

// Thread-safe: Advance may be called from worker threads.
class Progress {
 public:
  Progress(std::string label, int64_t total, bool enabled = true);
  ~Progress();  // finishes the line
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void Advance(int64_t amount);
  void SetLabel(std::string label);

 private:
  void Draw(bool final);

  std::string label_;
  const int64_t total_;
  const bool enabled_;
  const bool is_tty_;
  std::atomic<int64_t> done_{0};
  std::mutex mu_;
  int last_decile_ = -1;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace fathom

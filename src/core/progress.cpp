#include "core/progress.h"

#include <unistd.h>

#include <cstdio>

namespace fathom {

Progress::Progress(std::string label, int64_t total, bool enabled)
    : label_(std::move(label)),
      total_(total > 0 ? total : 1),
      enabled_(enabled),
      is_tty_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

Progress::~Progress() { Draw(true); }

void Progress::SetLabel(std::string label) {
  std::lock_guard<std::mutex> lock(mu_);
  label_ = std::move(label);
}

void Progress::Advance(int64_t amount) {
  done_ += amount;
  if (!enabled_) return;
  Draw(false);
}

void Progress::Draw(bool final) {
  if (!enabled_) return;
  std::lock_guard<std::mutex> lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  const int64_t done = done_.load();
  const double fraction = static_cast<double>(done) / static_cast<double>(total_);
  const int decile = static_cast<int>(fraction * 10);
  if (final && !is_tty_ && last_decile_ == 10) return;  // the 100% line is out already
  if (!final) {
    if (is_tty_ && now - last_draw_ < std::chrono::milliseconds(200)) return;
    if (!is_tty_ && decile == last_decile_) return;
  }
  last_draw_ = now;
  last_decile_ = decile;
  const double secs = std::chrono::duration<double>(now - start_).count();
  std::fprintf(stderr, "%s%s: %5.1f%% (%.1f s)%s", is_tty_ ? "\r" : "", label_.c_str(), 100.0 * fraction, secs,
               is_tty_ && !final ? "" : "\n");
  std::fflush(stderr);
}

}  // namespace fathom

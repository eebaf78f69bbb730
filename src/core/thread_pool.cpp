#include "core/thread_pool.h"

#include <algorithm>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace fathom {
namespace {

// How long an idle thread polls before it sleeps: long enough to cover the gap
// between two kernels of a decode step, short enough not to burn a core for long
// when the pool is idle (~100 us at a pause of ~40 cycles).
constexpr int kSpinIterations = 20000;

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

}  // namespace

ThreadPool::ThreadPool(int num_threads) {
  if (num_threads <= 0) num_threads = std::max(1u, std::thread::hardware_concurrency());
  for (int i = 1; i < num_threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true, std::memory_order_release);
  }
  start_cv_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::RunChunks() {
  for (;;) {
    const int64_t begin = next_.fetch_add(grain_, std::memory_order_relaxed);
    if (begin >= n_) return;
    fn_.call(fn_.fn, begin, std::min(n_, begin + grain_));
  }
}

void ThreadPool::WorkerLoop() {
  uint64_t seen = 0;
  for (;;) {
    // Spin first: the next region usually starts within microseconds.
    int spins = 0;
    while (generation_.load(std::memory_order_acquire) == seen && !stop_.load(std::memory_order_acquire) &&
           spins < kSpinIterations) {
      CpuRelax();
      ++spins;
    }
    if (generation_.load(std::memory_order_acquire) == seen && !stop_.load(std::memory_order_acquire)) {
      std::unique_lock<std::mutex> lock(mu_);
      ++sleepers_;
      start_cv_.wait(lock, [&] {
        return stop_.load(std::memory_order_acquire) || generation_.load(std::memory_order_acquire) != seen;
      });
      --sleepers_;
    }
    if (stop_.load(std::memory_order_acquire)) return;
    seen = generation_.load(std::memory_order_acquire);
    RunChunks();
    if (active_workers_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> lock(mu_);
      if (caller_sleeping_) done_cv_.notify_one();
    }
  }
}

void ThreadPool::Run(int64_t n, int64_t grain, ChunkFn fn) {
  if (n <= 0) return;
  if (grain <= 0) grain = (n + num_threads() - 1) / num_threads();
  if (workers_.empty() || n <= grain) {
    for (int64_t b = 0; b < n; b += grain) fn.call(fn.fn, b, std::min(n, b + grain));
    return;
  }
  std::lock_guard<std::mutex> region(region_mu_);
  fn_ = fn;
  n_ = n;
  grain_ = grain;
  next_.store(0, std::memory_order_relaxed);
  active_workers_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
  {
    // Under mu_ so a worker between its last check and its wait cannot miss it.
    std::lock_guard<std::mutex> lock(mu_);
    generation_.fetch_add(1, std::memory_order_release);
    if (sleepers_ > 0) start_cv_.notify_all();
  }
  RunChunks();
  int spins = 0;
  while (active_workers_.load(std::memory_order_acquire) != 0 && spins < kSpinIterations) {
    CpuRelax();
    ++spins;
  }
  if (active_workers_.load(std::memory_order_acquire) != 0) {
    std::unique_lock<std::mutex> lock(mu_);
    caller_sleeping_ = true;
    done_cv_.wait(lock, [&] { return active_workers_.load(std::memory_order_acquire) == 0; });
    caller_sleeping_ = false;
  }
}

}  // namespace fathom

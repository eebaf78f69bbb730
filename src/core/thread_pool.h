// A fixed pool of worker threads for data-parallel kernels. ParallelFor splits an
// index range into chunks that the workers and the calling thread share, and
// returns when every chunk is done: kernels see a plain blocking call.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace fathom {

// Thread-safe: ParallelFor may be called from several threads; calls are
// serialised (one parallel region runs at a time). Not copyable or movable.
class ThreadPool {
 public:
  // num_threads counts the caller: 1 means no workers, all work inline.
  // 0 means one per hardware thread.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(begin, end) over disjoint chunks covering [0, n), each at most `grain`
  // long (grain <= 0 picks one chunk per thread). REQUIRES: fn is safe to run
  // concurrently on disjoint ranges and does not call ParallelFor on this pool.
  void ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void WorkerLoop();
  void RunChunks();

  std::vector<std::thread> workers_;
  std::mutex region_mu_;  // serialises parallel regions

  std::mutex mu_;
  std::condition_variable start_cv_;
  std::condition_variable done_cv_;
  uint64_t generation_ = 0;   // bumped per region; workers wait for a new one
  bool stop_ = false;
  int active_workers_ = 0;    // workers still inside the current region

  // The current region; written under mu_ before generation_ is bumped.
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0;
  int64_t grain_ = 1;
  int64_t next_ = 0;          // next unclaimed index, guarded by mu_
};

}  // namespace fathom

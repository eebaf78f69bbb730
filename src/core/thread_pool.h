// A fixed pool of worker threads for data-parallel kernels. ParallelFor splits an
// index range into chunks that the workers and the calling thread share, and
// returns when every chunk is done: kernels see a plain blocking call.
//
// The one non-obvious rule: a decode step opens hundreds of parallel regions of a
// few microseconds each, so waking workers through a condition variable (a
// syscall each way) would cost as much as the work. Workers therefore spin on an
// atomic generation counter for a short while after each region before they
// sleep, and ParallelFor takes the callable by reference without wrapping it in
// std::function, so a region allocates nothing.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <type_traits>
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
  template <typename Fn>
  void ParallelFor(int64_t n, int64_t grain, Fn&& fn) {
    using F = std::remove_reference_t<Fn>;
    Run(n, grain, ChunkFn{const_cast<void*>(static_cast<const void*>(&fn)), [](void* f, int64_t b, int64_t e) {
                            (*static_cast<F*>(f))(b, e);
                          }});
  }

 private:
  // A non-owning reference to the region's callable.
  struct ChunkFn {
    void* fn;
    void (*call)(void*, int64_t, int64_t);
  };

  void Run(int64_t n, int64_t grain, ChunkFn fn);
  void WorkerLoop();
  void RunChunks();

  std::vector<std::thread> workers_;
  std::mutex region_mu_;  // serialises parallel regions

  // Sleeping after the spin: workers wait on start_cv_, the caller on done_cv_.
  std::mutex mu_;
  std::condition_variable start_cv_;
  std::condition_variable done_cv_;
  int sleepers_ = 0;           // workers blocked on start_cv_, guarded by mu_
  bool caller_sleeping_ = false;  // guarded by mu_

  std::atomic<uint64_t> generation_{0};  // bumped per region (release) once its fields are set
  std::atomic<bool> stop_{false};
  std::atomic<int> active_workers_{0};   // workers still inside the current region
  std::atomic<int64_t> next_{0};         // next unclaimed index

  // The current region; written before generation_ is bumped.
  ChunkFn fn_{};
  int64_t n_ = 0;
  int64_t grain_ = 1;
};

}  // namespace fathom

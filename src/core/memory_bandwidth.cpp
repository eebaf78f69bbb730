#include "core/memory_bandwidth.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <new>

#include "kernels/cpu/target_clones.h"

namespace fathom {
namespace {

// Sums a slice with independent accumulators so the loop is bound by loads, not
// by one add chain; compiled for AVX-512/AVX2 too, so the probe reads as fast as
// the decode kernels it is compared with (a baseline SSE2 loop under-reads).
FATHOM_TARGET_CLONES uint64_t SumSlice(const uint64_t* data, int64_t n) {
  uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    s0 += data[i + 0];
    s1 += data[i + 1];
    s2 += data[i + 2];
    s3 += data[i + 3];
    s4 += data[i + 4];
    s5 += data[i + 5];
    s6 += data[i + 6];
    s7 += data[i + 7];
  }
  for (; i < n; ++i) s0 += data[i];
  return s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7;
}

}  // namespace

Result<double> MeasureReadBandwidth(ThreadPool& pool, const ReadBandwidthOptions& options) {
  if (options.num_bytes < (int64_t{1} << 20)) return InvalidArgument("read bandwidth buffer must be at least 1 MiB");
  if (options.num_runs < 1) return InvalidArgument("read bandwidth needs at least one run");
  const int64_t n = options.num_bytes / static_cast<int64_t>(sizeof(uint64_t));
  std::unique_ptr<uint64_t[]> buffer(new (std::nothrow) uint64_t[n]);  // (n,)
  if (!buffer) return ResourceExhausted("cannot allocate a " + std::to_string(options.num_bytes) + "-byte buffer");
  uint64_t* data = buffer.get();

  // One slice per thread, the same split for the first touch and every pass.
  const int64_t grain = (n + pool.num_threads() - 1) / pool.num_threads();
  pool.ParallelFor(n, grain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) data[i] = static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ull;
  });

  std::atomic<uint64_t> sink{0};  // an observable side effect, so the reads cannot be elided
  double best_s = 0.0;
  for (int run = 0; run < options.num_runs; ++run) {
    const auto start = std::chrono::steady_clock::now();
    pool.ParallelFor(n, grain, [&](int64_t begin, int64_t end) {
      sink.fetch_add(SumSlice(data + begin, end - begin), std::memory_order_relaxed);
    });
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (run == 0 || s < best_s) best_s = s;
  }
  return static_cast<double>(n * static_cast<int64_t>(sizeof(uint64_t))) / best_s;
}

}  // namespace fathom

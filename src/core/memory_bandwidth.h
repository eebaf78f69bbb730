// The machine's sustained memory read bandwidth, measured the way a decode step
// reads weights: every thread streams its own contiguous slice of one buffer much
// larger than the last-level cache. Benchmarks divide achieved GB/s by this.
//
// Non-obvious rule: the buffer is first touched by the same threads (same split)
// that later read it, so on a NUMA machine each slice lives near its reader, as
// mapped weights do after the first forward.
#pragma once

#include <cstdint>

#include "core/status.h"
#include "core/thread_pool.h"

namespace fathom {

struct ReadBandwidthOptions {
  int64_t num_bytes = int64_t{1} << 30;  // buffer size; far above any LLC
  int num_runs = 5;                      // the best run counts
};

// Returns the best read bandwidth in bytes per second over `num_runs` full
// passes with pool.num_threads() threads; ResourceExhausted if the buffer cannot
// be allocated, InvalidArgument for a size under 1 MiB or no runs.
Result<double> MeasureReadBandwidth(ThreadPool& pool, const ReadBandwidthOptions& options = {});

}  // namespace fathom

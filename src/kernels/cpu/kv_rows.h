// Where one stream of cached attention rows lies when the cache is paged: a
// plain view the attention kernels read through, so they know nothing of block
// pools or sequences (model/kv_cache.h builds it).
//
// Non-obvious rule: rows are contiguous only within a block, so a kernel that
// walks positions in order steps through them a block run at a time
// (ForEachBlockRun) instead of dividing by block_size for every row.
#pragma once

#include <algorithm>
#include <cstdint>

namespace fathom {

// Row p is at base + block_table[p / block_size] * block_stride + (p % block_size) * width.
// Does not own anything; base and block_table must outlive it.
struct KvRows {
  float* base = nullptr;
  const int32_t* block_table = nullptr;
  int64_t block_size = 0;
  int64_t block_stride = 0;  // floats from one block's row 0 to the next block's
  int64_t width = 0;         // floats per row

  float* row(int64_t p) const { return base + block_table[p / block_size] * block_stride + (p % block_size) * width; }
};

// Calls fn(i, count) for the runs [p0 + i, p0 + i + count) that split positions
// [p0, p0 + n) at block boundaries, in order: within a run, row p0 + i + j is
// row(p0 + i) + j * width. Every stream of one cache shares its block_size, so
// the runs of one stream are the runs of the other.
template <typename Fn>
void ForEachBlockRun(int64_t block_size, int64_t p0, int64_t n, Fn&& fn) {
  for (int64_t i = 0; i < n;) {
    const int64_t count = std::min(n - i, block_size - (p0 + i) % block_size);
    fn(i, count);
    i += count;
  }
}

}  // namespace fathom

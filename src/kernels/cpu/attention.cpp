#include "kernels/cpu/attention.h"

#include "kernels/cpu/matmul.h"

namespace fathom::cpu {

void CausalAttention(ThreadPool& pool, const AttentionShape& s, const float* q, int64_t num_tokens, int64_t first_pos,
                     const KvRows& k_rows, const KvRows& v_rows, float* out) {
  const int64_t group = s.num_heads / s.num_kv_heads;
  pool.ParallelFor(num_tokens * s.num_heads, 1, [&](int64_t begin, int64_t end) {
    for (int64_t job = begin; job < end; ++job) {
      const int64_t t = job / s.num_heads;
      const int64_t h = job % s.num_heads;
      const int64_t k_off = (h / group) * s.head_dim;    // this head's keys within a cache row
      const int64_t v_off = (h / group) * s.v_head_dim;  // and its values
      const int64_t len = first_pos + t + 1;
      const float* qh = q + (t * s.num_heads + h) * s.head_dim;
      AttendOnline(
          len, s.v_head_dim,
          [&](int64_t p0, int64_t n, float* scores) {
            ForEachBlockRun(k_rows.block_size, p0, n, [&](int64_t i, int64_t count) {
              const float* k = k_rows.row(p0 + i) + k_off;
              for (int64_t j = 0; j < count; ++j) scores[i + j] = Dot(qh, k + j * k_rows.width, s.head_dim) * s.scale;
            });
          },
          [&](int64_t p) { return v_rows.row(p) + v_off; }, out + (t * s.num_heads + h) * s.v_head_dim);
    }
  });
}

}  // namespace fathom::cpu

#include "kernels/cpu/attention.h"

#include "kernels/cpu/matmul.h"

namespace fathom::cpu {

void CausalAttention(ThreadPool& pool, const AttentionShape& s, const float* q, int64_t num_tokens, int64_t first_pos,
                     const float* k_cache, const float* v_cache, float* out) {
  const int64_t group = s.num_heads / s.num_kv_heads;
  const int64_t k_row = s.num_kv_heads * s.head_dim;
  const int64_t v_row = s.num_kv_heads * s.v_head_dim;
  pool.ParallelFor(num_tokens * s.num_heads, 1, [&](int64_t begin, int64_t end) {
    for (int64_t job = begin; job < end; ++job) {
      const int64_t t = job / s.num_heads;
      const int64_t h = job % s.num_heads;
      const int64_t kv = h / group;
      const int64_t len = first_pos + t + 1;
      const float* qh = q + (t * s.num_heads + h) * s.head_dim;
      const float* k = k_cache + kv * s.head_dim;
      const float* v = v_cache + kv * s.v_head_dim;
      AttendOnline(
          len, s.v_head_dim,
          [&](int64_t p0, int64_t n, float* scores) {
            for (int64_t i = 0; i < n; ++i) scores[i] = Dot(qh, k + (p0 + i) * k_row, s.head_dim) * s.scale;
          },
          [&](int64_t p) { return v + p * v_row; }, out + (t * s.num_heads + h) * s.v_head_dim);
    }
  });
}

}  // namespace fathom::cpu

// CausalAttention against a naive double-precision reference: grouped KV heads
// (6 query heads over 2, 3 or 6 KV heads), a cache already holding earlier
// positions, value heads narrower than key heads, and more than one thread count;
// and a paged cache (scrambled blocks through a block table) giving bit-identical
// output to a contiguous one.
#include "kernels/cpu/attention.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "tests/kernels/cpu/kernel_test_util.h"

namespace fathom::cpu {
namespace {

// Values in [-1.5, 1.5).
std::vector<float> RandomFloats(int64_t n, uint32_t seed) { return testing_util::RandomFloats(n, -1.5f, 1.5f, seed); }

// `rows` as one block holding every position: the contiguous cache.
KvRows ContiguousRows(std::vector<float>& rows, int64_t width) {
  static const int32_t kBlockZero = 0;
  const int64_t num_rows = static_cast<int64_t>(rows.size()) / width;
  return {.base = rows.data(), .block_table = &kBlockZero, .block_size = num_rows, .block_stride = 0, .width = width};
}

// softmax_p(scale * q_h(t) . k_{h/group}(p)) v_{h/group}(p) over p <= first_pos + t.
std::vector<double> ReferenceAttention(const AttentionShape& s, const std::vector<float>& q, int64_t num_tokens,
                                       int64_t first_pos, const std::vector<float>& k_cache,
                                       const std::vector<float>& v_cache) {
  const int64_t group = s.num_heads / s.num_kv_heads;
  std::vector<double> out(num_tokens * s.num_heads * s.v_head_dim, 0.0);
  for (int64_t t = 0; t < num_tokens; ++t) {
    for (int64_t h = 0; h < s.num_heads; ++h) {
      const int64_t kv = h / group, len = first_pos + t + 1;
      std::vector<double> scores(len);
      double max = -INFINITY;
      for (int64_t p = 0; p < len; ++p) {
        double dot = 0.0;
        for (int64_t d = 0; d < s.head_dim; ++d) {
          dot += static_cast<double>(q[(t * s.num_heads + h) * s.head_dim + d]) *
                 k_cache[(p * s.num_kv_heads + kv) * s.head_dim + d];
        }
        scores[p] = dot * s.scale;
        max = std::max(max, scores[p]);
      }
      double denom = 0.0;
      for (double& sc : scores) denom += (sc = std::exp(sc - max));
      for (int64_t p = 0; p < len; ++p) {
        for (int64_t d = 0; d < s.v_head_dim; ++d) {
          out[(t * s.num_heads + h) * s.v_head_dim + d] +=
              scores[p] / denom * v_cache[(p * s.num_kv_heads + kv) * s.v_head_dim + d];
        }
      }
    }
  }
  return out;
}

TEST(CausalAttentionTest, MatchesNaiveReferenceWithGroupedHeads) {
  ThreadPool pool1(1), pool4(4);
  uint32_t seed = 0;
  for (int64_t num_kv_heads : {2, 3, 6}) {
    for (int64_t first_pos : {0, 1, 9}) {
      for (int64_t num_tokens : {1, 5}) {
        const AttentionShape shape = {.num_heads = 6,
                                      .num_kv_heads = num_kv_heads,
                                      .head_dim = 12,
                                      .v_head_dim = 7,
                                      .scale = 1.0f / std::sqrt(12.0f)};
        const int64_t positions = first_pos + num_tokens;  // exactly the rows the call may read
        const std::vector<float> q = RandomFloats(num_tokens * shape.num_heads * shape.head_dim, ++seed);
        const std::vector<float> k = RandomFloats(positions * num_kv_heads * shape.head_dim, ++seed);
        const std::vector<float> v = RandomFloats(positions * num_kv_heads * shape.v_head_dim, ++seed);
        const std::vector<double> want = ReferenceAttention(shape, q, num_tokens, first_pos, k, v);
        std::vector<float> out1(want.size()), out4(want.size());
        std::vector<float> k_copy = k, v_copy = v;
        const KvRows k_rows = ContiguousRows(k_copy, num_kv_heads * shape.head_dim);
        const KvRows v_rows = ContiguousRows(v_copy, num_kv_heads * shape.v_head_dim);
        CausalAttention(pool1, shape, q.data(), num_tokens, first_pos, k_rows, v_rows, out1.data());
        CausalAttention(pool4, shape, q.data(), num_tokens, first_pos, k_rows, v_rows, out4.data());
        for (size_t i = 0; i < want.size(); ++i) {
          // Each output is a convex combination of values of magnitude <= 1.5.
          ASSERT_NEAR(out1[i], want[i], 1e-5)
              << "kv_heads=" << num_kv_heads << " first_pos=" << first_pos << " tokens=" << num_tokens << " at " << i;
        }
        EXPECT_EQ(out1, out4) << "kv_heads=" << num_kv_heads << " first_pos=" << first_pos;
      }
    }
  }
}

// A token sees no later position: changing the cache past it leaves its output alone.
TEST(CausalAttentionTest, IgnoresLaterPositions) {
  ThreadPool pool(2);
  const AttentionShape shape = {.num_heads = 2, .num_kv_heads = 1, .head_dim = 4, .v_head_dim = 4, .scale = 0.5f};
  const std::vector<float> q = RandomFloats(3 * 2 * 4, 1);
  std::vector<float> k = RandomFloats(3 * 4, 2), v = RandomFloats(3 * 4, 3);
  std::vector<float> before(3 * 2 * 4), after(3 * 2 * 4);
  const KvRows k_rows = ContiguousRows(k, 4), v_rows = ContiguousRows(v, 4);
  CausalAttention(pool, shape, q.data(), 3, 0, k_rows, v_rows, before.data());
  for (int i = 8; i < 12; ++i) k[i] = v[i] = 100.0f;  // position 2 only
  CausalAttention(pool, shape, q.data(), 3, 0, k_rows, v_rows, after.data());
  EXPECT_EQ(std::vector<float>(before.begin(), before.begin() + 16),
            std::vector<float>(after.begin(), after.begin() + 16));
  EXPECT_NE(std::vector<float>(before.begin() + 16, before.end()), std::vector<float>(after.begin() + 16, after.end()));
}

// The same rows scattered over blocks of 3 in a shuffled order, with unused
// blocks between them, read through a block table: the output is bit-identical
// to the contiguous cache's, across the online softmax's 256-position blocks.
TEST(CausalAttentionTest, PagedRowsGiveBitIdenticalOutput) {
  ThreadPool pool(2);
  const AttentionShape shape = {.num_heads = 4, .num_kv_heads = 2, .head_dim = 8, .v_head_dim = 6, .scale = 0.3f};
  const int64_t k_width = 2 * 8, v_width = 2 * 6, block_size = 3;
  const int64_t first_pos = 290, num_tokens = 7, positions = first_pos + num_tokens;
  const int64_t num_used = (positions + block_size - 1) / block_size, num_blocks = 2 * num_used;
  std::vector<float> k = RandomFloats(positions * k_width, 11), v = RandomFloats(positions * v_width, 12);
  const std::vector<float> q = RandomFloats(num_tokens * shape.num_heads * shape.head_dim, 13);

  std::vector<int32_t> ids(num_blocks);
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), std::mt19937(5));
  const std::vector<int32_t> table(ids.begin(), ids.begin() + num_used);
  std::vector<float> k_pool(num_blocks * block_size * k_width, NAN), v_pool(num_blocks * block_size * v_width, NAN);
  const KvRows k_paged = {.base = k_pool.data(), .block_table = table.data(), .block_size = block_size,
                          .block_stride = block_size * k_width, .width = k_width};
  const KvRows v_paged = {.base = v_pool.data(), .block_table = table.data(), .block_size = block_size,
                          .block_stride = block_size * v_width, .width = v_width};
  for (int64_t p = 0; p < positions; ++p) {
    std::copy_n(k.data() + p * k_width, k_width, k_paged.row(p));
    std::copy_n(v.data() + p * v_width, v_width, v_paged.row(p));
  }
  std::vector<float> contiguous(num_tokens * shape.num_heads * shape.v_head_dim), paged(contiguous.size());
  CausalAttention(pool, shape, q.data(), num_tokens, first_pos, ContiguousRows(k, k_width), ContiguousRows(v, v_width),
                  contiguous.data());
  CausalAttention(pool, shape, q.data(), num_tokens, first_pos, k_paged, v_paged, paged.data());
  EXPECT_EQ(paged, contiguous);
}

}  // namespace
}  // namespace fathom::cpu

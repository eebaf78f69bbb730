// CausalAttention against a naive double-precision reference: grouped KV heads
// (6 query heads over 2, 3 or 6 KV heads), a cache already holding earlier
// positions, value heads narrower than key heads, and more than one thread count.
#include "kernels/cpu/attention.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "tests/kernels/cpu/kernel_test_util.h"

namespace fathom::cpu {
namespace {

// Values in [-1.5, 1.5).
std::vector<float> RandomFloats(int64_t n, uint32_t seed) { return testing_util::RandomFloats(n, -1.5f, 1.5f, seed); }

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
        CausalAttention(pool1, shape, q.data(), num_tokens, first_pos, k.data(), v.data(), out1.data());
        CausalAttention(pool4, shape, q.data(), num_tokens, first_pos, k.data(), v.data(), out4.data());
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
  CausalAttention(pool, shape, q.data(), 3, 0, k.data(), v.data(), before.data());
  for (int i = 8; i < 12; ++i) k[i] = v[i] = 100.0f;  // position 2 only
  CausalAttention(pool, shape, q.data(), 3, 0, k.data(), v.data(), after.data());
  EXPECT_EQ(std::vector<float>(before.begin(), before.begin() + 16),
            std::vector<float>(after.begin(), after.begin() + 16));
  EXPECT_NE(std::vector<float>(before.begin() + 16, before.end()), std::vector<float>(after.begin() + 16, after.end()));
}

}  // namespace
}  // namespace fathom::cpu

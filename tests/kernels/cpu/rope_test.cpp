// ApplyRope against the two reference formulations it claims to follow:
// transformers' x * cos + rotate_half(x) * sin for kNeox, and DeepSeek's
// complex multiplication of (x[2i], x[2i+1]) pairs for kInterleaved; then the
// property rotary embeddings exist for: with RopeTable's angles, q(p) . k(s)
// depends only on p - s.
#include "kernels/cpu/rope.h"

#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <vector>

#include "formats/model_config.h"
#include "model/rope_table.h"
#include "tests/kernels/cpu/kernel_test_util.h"

namespace fathom::cpu {
namespace {

std::vector<float> RandomFloats(int64_t n, uint32_t seed) { return testing_util::RandomFloats(n, -1.0f, 1.0f, seed); }

// Angles that are not a table's: cos/sin of arbitrary values per pair.
void ArbitraryCosSin(int64_t half, std::vector<float>& cos, std::vector<float>& sin) {
  cos.resize(half);
  sin.resize(half);
  for (int64_t i = 0; i < half; ++i) {
    const double angle = 0.7 * static_cast<double>(i + 1) - 1.3;
    cos[i] = static_cast<float>(std::cos(angle));
    sin[i] = static_cast<float>(std::sin(angle));
  }
}

// transformers' apply_rotary_pos_emb on one head: x * cat(cos, cos) + rotate_half(x) * cat(sin, sin),
// rotate_half(x) = cat(-x[half:], x[:half]).
std::vector<double> NeoxReference(const float* x, int64_t rot_dim, const std::vector<float>& cos,
                                  const std::vector<float>& sin) {
  const int64_t half = rot_dim / 2;
  std::vector<double> out(rot_dim);
  for (int64_t j = 0; j < rot_dim; ++j) {
    const double rotated = j < half ? -static_cast<double>(x[j + half]) : x[j - half];
    out[j] = x[j] * static_cast<double>(cos[j % half]) + rotated * sin[j % half];
  }
  return out;
}

// DeepSeek's apply_rotary_emb on one head: view_as_complex(x pairs) * (cos + i sin).
std::vector<double> InterleavedReference(const float* x, int64_t rot_dim, const std::vector<float>& cos,
                                         const std::vector<float>& sin) {
  std::vector<double> out(rot_dim);
  for (int64_t i = 0; i < rot_dim / 2; ++i) {
    const std::complex<double> v = std::complex<double>(x[2 * i], x[2 * i + 1]) * std::complex<double>(cos[i], sin[i]);
    out[2 * i] = v.real();
    out[2 * i + 1] = v.imag();
  }
  return out;
}

// Heads of head_stride values with the rotated part first; the rest of each
// head must come through untouched (partial rotary, MLA's rope tail).
TEST(ApplyRopeTest, MatchesReferenceFormulas) {
  for (RopeStyle style : {RopeStyle::kNeox, RopeStyle::kInterleaved}) {
    for (auto [rot_dim, head_stride] : {std::pair<int64_t, int64_t>{2, 2}, {8, 8}, {16, 24}, {6, 11}}) {
      const int64_t num_heads = 3;
      std::vector<float> cos, sin;
      ArbitraryCosSin(rot_dim / 2, cos, sin);
      const std::vector<float> in = RandomFloats(num_heads * head_stride, static_cast<uint32_t>(rot_dim));
      std::vector<float> x = in;
      ApplyRope(x.data(), num_heads, head_stride, rot_dim, cos.data(), sin.data(), style);
      for (int64_t h = 0; h < num_heads; ++h) {
        const float* head_in = in.data() + h * head_stride;
        const std::vector<double> want = style == RopeStyle::kNeox ? NeoxReference(head_in, rot_dim, cos, sin)
                                                                   : InterleavedReference(head_in, rot_dim, cos, sin);
        for (int64_t j = 0; j < rot_dim; ++j) {
          EXPECT_NEAR(x[h * head_stride + j], want[j], 1e-6)
              << (style == RopeStyle::kNeox ? "neox" : "interleaved") << " rot_dim=" << rot_dim << " head " << h;
        }
        for (int64_t j = rot_dim; j < head_stride; ++j) EXPECT_EQ(x[h * head_stride + j], head_in[j]);
      }
    }
  }
}

// The pairing is only a layout: interleaving the halves, rotating pairwise and
// de-interleaving is rotate_half's rotation, bit for bit. That is why llama.cpp's
// permuted q/k rows work with its interleaved rope.
TEST(ApplyRopeTest, InterleavedOnPermutedRowsIsNeox) {
  const int64_t rot_dim = 16, half = rot_dim / 2;
  std::vector<float> cos, sin;
  ArbitraryCosSin(half, cos, sin);
  std::vector<float> neox = RandomFloats(rot_dim, 8);
  std::vector<float> pairs(rot_dim);
  for (int64_t i = 0; i < half; ++i) {
    pairs[2 * i] = neox[i];
    pairs[2 * i + 1] = neox[i + half];
  }
  ApplyRope(neox.data(), 1, rot_dim, rot_dim, cos.data(), sin.data(), RopeStyle::kNeox);
  ApplyRope(pairs.data(), 1, rot_dim, rot_dim, cos.data(), sin.data(), RopeStyle::kInterleaved);
  for (int64_t i = 0; i < half; ++i) {
    EXPECT_EQ(pairs[2 * i], neox[i]);
    EXPECT_EQ(pairs[2 * i + 1], neox[i + half]);
  }
}

// Rotates a copy of `x` (one head of rot_dim values) to `position`.
std::vector<float> Rotated(const std::vector<float>& x, const RopeTable& table, int64_t position, RopeStyle style) {
  std::vector<float> cos(table.rot_dim() / 2), sin(table.rot_dim() / 2);
  table.CosSin(position, cos.data(), sin.data());
  std::vector<float> out = x;
  ApplyRope(out.data(), 1, table.rot_dim(), table.rot_dim(), cos.data(), sin.data(), style);
  return out;
}

double DotD(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

TEST(ApplyRopeTest, ScoreDependsOnlyOnRelativePosition) {
  ModelConfig config;  // default rope scaling
  config.rope_theta = 10000.0;
  const int64_t rot_dim = 32;
  const RopeTable table(config, rot_dim);
  ASSERT_EQ(table.attention_factor(), 1.0f);
  const std::vector<float> q = RandomFloats(rot_dim, 1), k = RandomFloats(rot_dim, 2);
  const double norm = std::sqrt(DotD(q, q) * DotD(k, k));
  for (RopeStyle style : {RopeStyle::kNeox, RopeStyle::kInterleaved}) {
    for (int64_t delta : {0, 1, 5, 31}) {
      const double base = DotD(Rotated(q, table, delta, style), Rotated(k, table, 0, style));
      for (int64_t shift : {1, 7, 100, 250}) {
        const double shifted = DotD(Rotated(q, table, delta + shift, style), Rotated(k, table, shift, style));
        EXPECT_NEAR(shifted, base, 1e-4 * norm) << "delta=" << delta << " shift=" << shift;
      }
    }
    // ... and does depend on it, so the check above is not vacuous.
    const double at0 = DotD(Rotated(q, table, 0, style), Rotated(k, table, 0, style));
    const double at3 = DotD(Rotated(q, table, 3, style), Rotated(k, table, 0, style));
    EXPECT_GT(std::abs(at3 - at0), 1e-2 * norm);
    // At equal positions the rotation cancels: the score is the plain dot product.
    EXPECT_NEAR(DotD(Rotated(q, table, 42, style), Rotated(k, table, 42, style)), DotD(q, k), 1e-5 * norm);
  }
}

}  // namespace
}  // namespace fathom::cpu

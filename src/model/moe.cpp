#include "model/moe.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/matmul.h"

namespace fathom {
namespace {

// Indices of the k largest values, larger first; equal values keep the lower
// index first (torch.topk gives no order guarantee for ties; random weights
// make them vanishingly rare except for masked zeros).
std::vector<int32_t> TopK(const std::vector<float>& v, int64_t k) {
  std::vector<int32_t> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(),
                    [&](int32_t a, int32_t b) { return v[a] > v[b] || (v[a] == v[b] && a < b); });
  idx.resize(k);
  return idx;
}

// Masks every expert outside the topk_group groups with the best group scores:
// to 0.0 as V2's reference (masked_fill(..., 0.0)), to -inf as V3's (transformers
// and DeepSeek's inference/model.py; the remote code's 0.0 can pick a masked
// expert when every kept corrected score is negative).
void MaskToBestGroups(const ModelConfig& c, const std::vector<float>& group_scores, float masked,
                      std::vector<float>& scores) {
  const int64_t per_group = c.n_routed_experts / c.n_group;
  std::vector<bool> keep(c.n_group, false);
  for (int32_t g : TopK(group_scores, c.topk_group)) keep[g] = true;
  for (int64_t e = 0; e < c.n_routed_experts; ++e) {
    if (!keep[e / per_group]) scores[e] = masked;
  }
}

}  // namespace

Result<MoeWeights> MoeWeights::Load(WeightStore& store, const std::string& p) {
  const ModelConfig& c = store.config();
  MoeWeights w;
  FATHOM_ASSIGN_OR_RETURN(w.gate, store.Matrix(p + ".gate.weight", c.n_routed_experts, c.hidden_size));
  if (c.topk_method == TopkMethod::kNoauxTc) {
    FATHOM_ASSIGN_OR_RETURN(w.e_score_correction_bias,
                            store.Vector(p + ".gate.e_score_correction_bias", c.n_routed_experts));
  }
  for (int64_t e = 0; e < c.n_routed_experts; ++e) {
    FATHOM_ASSIGN_OR_RETURN(Mlp m, Mlp::Load(store, p + ".experts." + std::to_string(e), c.hidden_size,
                                             c.moe_intermediate_size, false));
    w.experts.push_back(std::move(m));
  }
  if (c.n_shared_experts > 0) {
    FATHOM_ASSIGN_OR_RETURN(w.shared_experts, Mlp::Load(store, p + ".shared_experts", c.hidden_size,
                                                        c.moe_intermediate_size * c.n_shared_experts, false));
  }
  return w;
}

void RouteToken(const ModelConfig& c, const float* router_logits, const float* correction_bias, int32_t* ids,
                float* weights) {
  const int64_t n = c.n_routed_experts, k = c.num_experts_per_tok;
  const int64_t per_group = n / std::max<int64_t>(c.n_group, 1);
  std::vector<float> scores(router_logits, router_logits + n);  // (n_routed_experts)
  if (c.scoring_func == ScoringFunc::kSigmoid) {
    for (float& s : scores) s = 1.0f / (1.0f + std::exp(-s));
  } else {
    cpu::SoftmaxInPlace(scores.data(), n);
  }
  std::vector<float> choice = scores;  // what experts are ranked by
  switch (c.topk_method) {
    case TopkMethod::kGreedy:
      break;
    case TopkMethod::kGroupLimitedGreedy: {
      // A group scores by its best expert.
      std::vector<float> group_scores(c.n_group);
      for (int64_t g = 0; g < c.n_group; ++g) {
        group_scores[g] = *std::max_element(choice.begin() + g * per_group, choice.begin() + (g + 1) * per_group);
      }
      MaskToBestGroups(c, group_scores, 0.0f, choice);
      break;
    }
    case TopkMethod::kNoauxTc: {
      // A group scores by the sum of its two best bias-corrected experts.
      for (int64_t e = 0; e < n; ++e) choice[e] += correction_bias[e];
      std::vector<float> group_scores(c.n_group);
      for (int64_t g = 0; g < c.n_group; ++g) {
        std::vector<float> group(choice.begin() + g * per_group, choice.begin() + (g + 1) * per_group);
        std::partial_sort(group.begin(), group.begin() + std::min<int64_t>(2, per_group), group.end(),
                          std::greater<float>());
        group_scores[g] = group[0] + (per_group > 1 ? group[1] : 0.0f);
      }
      MaskToBestGroups(c, group_scores, -std::numeric_limits<float>::infinity(), choice);
      break;
    }
  }
  const std::vector<int32_t> top = TopK(choice, k);
  float sum = 0.0f;
  for (int64_t i = 0; i < k; ++i) {
    ids[i] = top[i];
    weights[i] = scores[top[i]];
    sum += weights[i];
  }
  // As transformers: V3 normalises when norm_topk_prob and always scales; V2
  // always scales and never normalises (its remote code normalises instead of
  // scaling when norm_topk_prob and top_k > 1; no published V2 config sets it).
  const bool normalize = c.arch == Architecture::kDeepseekV3 && c.norm_topk_prob;
  for (int64_t i = 0; i < k; ++i) {
    if (normalize) weights[i] /= sum + 1e-20f;
    weights[i] *= static_cast<float>(c.routed_scaling_factor);
  }
}

void MoeForward(ThreadPool& pool, const ModelConfig& c, const MoeWeights& w, const float* x, int64_t rows,
                float* out) {
  const int64_t h = c.hidden_size, n = c.n_routed_experts, k = c.num_experts_per_tok;
  std::vector<float> router_logits(rows * n);  // (rows, n_routed_experts), float32 as the reference computes it
  cpu::MatMul(pool, x, rows, h, w.gate, nullptr, router_logits.data());
  std::vector<int32_t> ids(rows * k);      // (rows, top_k)
  std::vector<float> weights(rows * k);    // (rows, top_k)
  const float* bias = w.e_score_correction_bias.empty() ? nullptr : w.e_score_correction_bias.data();
  for (int64_t r = 0; r < rows; ++r) {
    RouteToken(c, router_logits.data() + r * n, bias, ids.data() + r * k, weights.data() + r * k);
  }

  if (w.shared_experts.has_value()) {
    w.shared_experts->Apply(pool, x, rows, out);
  } else {
    std::fill(out, out + rows * h, 0.0f);
  }
  // Group the rows by expert so each expert's weights are read once per forward.
  std::vector<std::vector<std::pair<int64_t, float>>> routed(n);  // expert -> (row, weight)
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < k; ++i) routed[ids[r * k + i]].emplace_back(r, weights[r * k + i]);
  }
  std::vector<float> gathered, expert_out;
  for (int64_t e = 0; e < n; ++e) {
    const auto& assigned = routed[e];
    if (assigned.empty()) continue;
    const int64_t m = static_cast<int64_t>(assigned.size());
    gathered.resize(m * h);    // (m, hidden)
    expert_out.resize(m * h);  // (m, hidden)
    for (int64_t i = 0; i < m; ++i) std::copy_n(x + assigned[i].first * h, h, gathered.data() + i * h);
    w.experts[e].Apply(pool, gathered.data(), m, expert_out.data());
    for (int64_t i = 0; i < m; ++i) cpu::Axpy(assigned[i].second, expert_out.data() + i * h, h, out + assigned[i].first * h);
  }
}

}  // namespace fathom

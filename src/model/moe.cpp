#include "model/moe.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "kernels/cpu/elementwise.h"

namespace fathom {
namespace {

// Per-thread routing buffers, grown once: routing runs for every token.
struct RouteScratch {
  std::vector<float> scores, choice, group_scores, group;
  std::vector<int32_t> order;
  std::vector<uint8_t> keep;
};

// Writes to idx[0..k) the indices of the k largest of v[0..n), larger first;
// equal values keep the lower index first (torch.topk gives no order guarantee
// for ties; random weights make them vanishingly rare except for masked zeros).
// `order` is scratch of at least n.
void TopK(const float* v, int64_t n, int64_t k, int32_t* order, int32_t* idx) {
  std::iota(order, order + n, 0);
  std::partial_sort(order, order + k, order + n,
                    [&](int32_t a, int32_t b) { return v[a] > v[b] || (v[a] == v[b] && a < b); });
  std::copy_n(order, k, idx);
}

// Masks every expert outside the topk_group groups with the best group scores:
// to 0.0 as V2's reference (masked_fill(..., 0.0)), to -inf as V3's (transformers
// and DeepSeek's inference/model.py; the remote code's 0.0 can pick a masked
// expert when every kept corrected score is negative).
void MaskToBestGroups(const ModelConfig& c, RouteScratch& s, float masked, float* scores) {
  const int64_t per_group = c.n_routed_experts / c.n_group;
  int32_t* best = s.order.data() + c.n_group;  // order holds n_routed_experts >= 2 * n_group
  TopK(s.group_scores.data(), c.n_group, c.topk_group, s.order.data(), best);
  std::fill(s.keep.begin(), s.keep.begin() + c.n_group, uint8_t{0});
  for (int64_t i = 0; i < c.topk_group; ++i) s.keep[best[i]] = 1;
  for (int64_t e = 0; e < c.n_routed_experts; ++e) {
    if (!s.keep[e / per_group]) scores[e] = masked;
  }
}

}  // namespace

Result<MoeWeights> MoeWeights::Load(WeightStore& store, Backend& backend, const std::string& p) {
  const ModelConfig& c = store.config();
  MoeWeights w;
  // The router stays unpacked float: transformers computes its logits in float32.
  FATHOM_ASSIGN_OR_RETURN(Tensor gate, store.Matrix(p + ".gate.weight", c.n_routed_experts, c.hidden_size));
  FATHOM_ASSIGN_OR_RETURN(w.gate, backend.UploadMatrix(gate, nullptr));
  if (c.topk_method == TopkMethod::kNoauxTc) {
    FATHOM_ASSIGN_OR_RETURN(w.e_score_correction_bias,
                            LoadVector(store, backend, p + ".gate.e_score_correction_bias", c.n_routed_experts));
  }
  for (int64_t e = 0; e < c.n_routed_experts; ++e) {
    FATHOM_ASSIGN_OR_RETURN(Mlp m, Mlp::Load(store, backend, p + ".experts." + std::to_string(e), c.hidden_size,
                                             c.moe_intermediate_size, false));
    w.experts.push_back(std::move(m));
  }
  for (const Mlp& m : w.experts) {
    w.expert_weights.push_back({m.gate_proj.weight.get(), m.up_proj.weight.get(), m.down_proj.weight.get()});
  }
  if (c.n_shared_experts > 0) {
    FATHOM_ASSIGN_OR_RETURN(w.shared_experts, Mlp::Load(store, backend, p + ".shared_experts", c.hidden_size,
                                                        c.moe_intermediate_size * c.n_shared_experts, false));
  }
  return w;
}

void RouteToken(const ModelConfig& c, const float* router_logits, const float* correction_bias, int32_t* ids,
                float* weights) {
  const int64_t n = c.n_routed_experts, k = c.num_experts_per_tok;
  const int64_t groups = std::max<int64_t>(c.n_group, 1), per_group = n / groups;
  thread_local RouteScratch s;
  if (s.scores.size() < static_cast<size_t>(n) || s.keep.size() < static_cast<size_t>(groups)) {
    s.scores.resize(n);
    s.choice.resize(n);
    s.group.resize(n);
    s.order.resize(std::max(n, 2 * groups));
    s.group_scores.resize(groups);
    s.keep.resize(groups);
  }
  float* scores = s.scores.data();  // (n_routed_experts)
  std::copy_n(router_logits, n, scores);
  if (c.scoring_func == ScoringFunc::kSigmoid) {
    for (int64_t e = 0; e < n; ++e) scores[e] = 1.0f / (1.0f + std::exp(-scores[e]));
  } else {
    cpu::SoftmaxInPlace(scores, n);
  }
  float* choice = s.choice.data();  // (n_routed_experts): what experts are ranked by
  std::copy_n(scores, n, choice);
  switch (c.topk_method) {
    case TopkMethod::kGreedy:
      break;
    case TopkMethod::kGroupLimitedGreedy: {
      // A group scores by its best expert.
      for (int64_t g = 0; g < c.n_group; ++g) {
        s.group_scores[g] = *std::max_element(choice + g * per_group, choice + (g + 1) * per_group);
      }
      MaskToBestGroups(c, s, 0.0f, choice);
      break;
    }
    case TopkMethod::kNoauxTc: {
      // A group scores by the sum of its two best bias-corrected experts.
      for (int64_t e = 0; e < n; ++e) choice[e] += correction_bias[e];
      for (int64_t g = 0; g < c.n_group; ++g) {
        float* group = s.group.data();
        std::copy_n(choice + g * per_group, per_group, group);
        std::partial_sort(group, group + std::min<int64_t>(2, per_group), group + per_group, std::greater<float>());
        s.group_scores[g] = group[0] + (per_group > 1 ? group[1] : 0.0f);
      }
      MaskToBestGroups(c, s, -std::numeric_limits<float>::infinity(), choice);
      break;
    }
  }
  TopK(choice, n, k, s.order.data(), ids);
  float sum = 0.0f;
  for (int64_t i = 0; i < k; ++i) {
    weights[i] = scores[ids[i]];
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

void MoeForward(Backend& b, const ModelConfig& c, const MoeWeights& w, const float* x, int64_t rows, float* out) {
  const int64_t h = c.hidden_size, n = c.n_routed_experts, k = c.num_experts_per_tok;
  Workspace& ws = b.workspace();
  using Buf = Workspace::Buf;
  // (rows, n_routed_experts), float32 as the reference computes it
  float* router_logits = ws.Floats(Buf::kRouterLogits, rows * n);
  b.MatMul(x, rows, *w.gate, nullptr, router_logits);
  int32_t* ids = ws.Ints(Workspace::IntBuf::kRouteIds, rows * k);  // (rows, top_k)
  float* weights = ws.Floats(Buf::kRouteWeights, rows * k);         // (rows, top_k)
  b.MoeRoute(c, router_logits, rows, w.e_score_correction_bias.empty() ? nullptr : &w.e_score_correction_bias, ids,
             weights);
  if (w.shared_experts.has_value()) {
    w.shared_experts->Apply(b, x, rows, out);
  } else {
    b.Fill(out, rows * h, 0.0f);
  }
  b.MoeExperts(w.expert_weights, k, x, rows, ids, weights, out);
}

}  // namespace fathom

#include "model/mla_attention.h"

#include <algorithm>
#include <cmath>

#include "backend/cpu_backend.h"
#include "kernels/cpu/matmul.h"
#include "model/rope_table.h"

namespace fathom {

namespace {

// kv_b_proj as float32 (heads * (nope + v), kv_lora_rank): absorption reads it by
// column as well as by row. Newer llama.cpp GGUF files split it per head into
// attn_k_b (heads, kv_lora_rank, nope), the W_UK blocks transposed, and attn_v_b
// (heads, v, kv_lora_rank); they are put back together here.
Result<Tensor> LoadKvB(WeightStore& store, const std::string& p) {
  const ModelConfig& c = store.config();
  const int64_t nh = c.num_attention_heads, nope = c.qk_nope_head_dim, vd = c.v_head_dim, r = c.kv_lora_rank;
  if (!store.is_gguf() || store.Has(p + ".kv_b_proj.weight")) {
    FATHOM_ASSIGN_OR_RETURN(Tensor kv_b, store.Matrix(p + ".kv_b_proj.weight", nh * (nope + vd), r));
    FATHOM_ASSIGN_OR_RETURN(Tensor out, Tensor::Zeros(DType::kF32, {nh * (nope + vd), r}));
    cpu::WeightRowsToF32(kv_b, 0, nh * (nope + vd), out.data_as<float>());
    return out;
  }
  FATHOM_ASSIGN_OR_RETURN(Tensor k_b, store.Matrix(p + ".k_b_proj.weight", nh * r, nope));
  FATHOM_ASSIGN_OR_RETURN(Tensor v_b, store.Matrix(p + ".v_b_proj.weight", nh * vd, r));
  FATHOM_ASSIGN_OR_RETURN(Tensor out, Tensor::Zeros(DType::kF32, {nh * (nope + vd), r}));
  float* dst = out.data_as<float>();
  std::vector<float> k_rows(r * nope);  // (kv_lora_rank, nope): W_UK_h transposed
  for (int64_t h = 0; h < nh; ++h) {
    float* head = dst + h * (nope + vd) * r;
    cpu::WeightRowsToF32(k_b, h * r, r, k_rows.data());
    for (int64_t i = 0; i < r; ++i) {
      for (int64_t d = 0; d < nope; ++d) head[d * r + i] = k_rows[i * nope + d];
    }
    cpu::WeightRowsToF32(v_b, h * vd, vd, head + nope * r);
  }
  return out;
}

}  // namespace

Result<MlaWeights> MlaWeights::Load(WeightStore& store, Backend& b, const std::string& p) {
  const ModelConfig& c = store.config();
  const int64_t h = c.hidden_size, nh = c.num_attention_heads;
  if (b.kind() == DeviceKind::kCpu && c.kv_lora_rank > kMaxMlaLatent) {
    return Unsupported(store.path() + ": kv_lora_rank " + std::to_string(c.kv_lora_rank) + " is above " +
                       std::to_string(kMaxMlaLatent) + ", the most the CPU attention supports");
  }
  MlaWeights w;
  if (c.q_lora_rank.has_value()) {
    FATHOM_ASSIGN_OR_RETURN(w.q_a_proj, Linear::Load(store, b, p + ".q_a_proj", *c.q_lora_rank, h, c.attention_bias));
    FATHOM_ASSIGN_OR_RETURN(w.q_a_layernorm, LoadVector(store, b, p + ".q_a_layernorm.weight", *c.q_lora_rank));
    FATHOM_ASSIGN_OR_RETURN(w.q_b_proj,
                            Linear::Load(store, b, p + ".q_b_proj", nh * c.qk_head_dim(), *c.q_lora_rank, false));
  } else {
    FATHOM_ASSIGN_OR_RETURN(w.q_b_proj, Linear::Load(store, b, p + ".q_proj", nh * c.qk_head_dim(), h, false));
  }
  FATHOM_ASSIGN_OR_RETURN(w.kv_a_proj_with_mqa, Linear::Load(store, b, p + ".kv_a_proj_with_mqa",
                                                             c.kv_lora_rank + c.qk_rope_head_dim, h, c.attention_bias));
  FATHOM_ASSIGN_OR_RETURN(w.kv_a_layernorm, LoadVector(store, b, p + ".kv_a_layernorm.weight", c.kv_lora_rank));
  FATHOM_ASSIGN_OR_RETURN(Tensor kv_b, LoadKvB(store, p));
  FATHOM_ASSIGN_OR_RETURN(w.kv_b_proj, b.UploadMatrix(kv_b, nullptr));
  FATHOM_ASSIGN_OR_RETURN(w.o_proj, Linear::Load(store, b, p + ".o_proj", h, nh * c.v_head_dim, c.attention_bias));
  return w;
}

float MlaSoftmaxScale(const ModelConfig& c) {
  double scale = 1.0 / std::sqrt(static_cast<double>(c.qk_head_dim()));
  if (c.rope_scaling.type == RopeType::kYarn && c.rope_scaling.mscale_all_dim != 0.0) {
    const double m = YarnMscale(c.rope_scaling.factor, c.rope_scaling.mscale_all_dim);
    scale *= m * m;
  }
  return static_cast<float>(scale);
}

MlaShape MlaShapeOf(const ModelConfig& c) {
  // transformers (and DeepSeek's remote code) build q_a_layernorm and
  // kv_a_layernorm with the default eps, whatever config.rms_norm_eps says.
  return {.num_heads = c.num_attention_heads,
          .nope_dim = c.qk_nope_head_dim,
          .rope_dim = c.qk_rope_head_dim,
          .v_head_dim = c.v_head_dim,
          .kv_lora_rank = c.kv_lora_rank,
          .scale = MlaSoftmaxScale(c),
          .latent_eps = 1e-6f};
}

void MlaAttention(const ForwardContext& ctx, const MlaShape& s, int64_t layer, const MlaWeights& w, const float* x,
                  float* out) {
  Backend& b = *ctx.backend;
  const int64_t rows = ctx.num_rows, nh = s.num_heads, qk = s.nope_dim + s.rope_dim;
  const int64_t kv_a_dim = s.kv_lora_rank + s.rope_dim;

  using Buf = Workspace::Buf;
  float* q = ctx.ws->Floats(Buf::kQ, rows * nh * qk);  // (rows, heads, qk_nope + qk_rope)
  if (w.q_a_proj.has_value()) {
    const int64_t q_lora = w.q_a_proj->out_features();
    float* q_a = ctx.ws->Floats(Buf::kQA, rows * q_lora);  // (rows, q_lora_rank)
    w.q_a_proj->Apply(b, x, rows, q_a);
    b.RmsNorm(q_a, w.q_a_layernorm, rows, q_lora, s.latent_eps, q_a);
    w.q_b_proj.Apply(b, q_a, rows, q);
  } else {
    w.q_b_proj.Apply(b, x, rows, q);
  }
  float* kv_a = ctx.ws->Floats(Buf::kKvA, rows * kv_a_dim);  // (rows, kv_lora_rank + qk_rope): compressed_kv | k_pe
  w.kv_a_proj_with_mqa.Apply(b, x, rows, kv_a);

  // Rope on q_pe (each head's last rope_dim values) and on the shared k_pe; the
  // checkpoints' rope dims are interleaved pairs (transformers de-interleaves
  // them before rotate_half, which is the same rotation).
  b.Rope(q + s.nope_dim, nh * qk, nh, qk, cpu::RopeStyle::kInterleaved);
  b.Rope(kv_a + s.kv_lora_rank, kv_a_dim, 1, kv_a_dim, cpu::RopeStyle::kInterleaved);

  float* attn = ctx.ws->Floats(Buf::kAttn, rows * nh * s.v_head_dim);  // (rows, heads, v_head_dim)
  b.MlaAttention(layer, s, q, kv_a, w.kv_a_layernorm, *w.kv_b_proj, attn);
  w.o_proj.Apply(b, attn, rows, out);
}

}  // namespace fathom

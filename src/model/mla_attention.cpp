#include "model/mla_attention.h"

#include <algorithm>
#include <cmath>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/rope.h"
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

Result<MlaWeights> MlaWeights::Load(WeightStore& store, const std::string& p) {
  const ModelConfig& c = store.config();
  const int64_t h = c.hidden_size, nh = c.num_attention_heads;
  if (c.kv_lora_rank > kMaxLatent) {
    return Unsupported(store.path() + ": kv_lora_rank " + std::to_string(c.kv_lora_rank) + " is above " +
                       std::to_string(kMaxLatent) + ", the most the CPU attention supports");
  }
  MlaWeights w;
  if (c.q_lora_rank.has_value()) {
    FATHOM_ASSIGN_OR_RETURN(w.q_a_proj, Linear::Load(store, p + ".q_a_proj", *c.q_lora_rank, h, c.attention_bias));
    FATHOM_ASSIGN_OR_RETURN(w.q_a_layernorm, store.Vector(p + ".q_a_layernorm.weight", *c.q_lora_rank));
    FATHOM_ASSIGN_OR_RETURN(w.q_b_proj, Linear::Load(store, p + ".q_b_proj", nh * c.qk_head_dim(), *c.q_lora_rank, false));
  } else {
    FATHOM_ASSIGN_OR_RETURN(w.q_b_proj, Linear::Load(store, p + ".q_proj", nh * c.qk_head_dim(), h, false));
  }
  FATHOM_ASSIGN_OR_RETURN(w.kv_a_proj_with_mqa, Linear::Load(store, p + ".kv_a_proj_with_mqa",
                                                             c.kv_lora_rank + c.qk_rope_head_dim, h, c.attention_bias));
  FATHOM_ASSIGN_OR_RETURN(w.kv_a_layernorm, store.Vector(p + ".kv_a_layernorm.weight", c.kv_lora_rank));
  FATHOM_ASSIGN_OR_RETURN(w.kv_b_proj, LoadKvB(store, p));
  FATHOM_ASSIGN_OR_RETURN(w.o_proj, Linear::Load(store, p + ".o_proj", h, nh * c.v_head_dim, c.attention_bias));
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

void MlaAttention(const ForwardContext& ctx, const ModelConfig& c, const float* rope, float softmax_scale,
                  int64_t layer, const MlaWeights& w, const float* x, float* out) {
  ThreadPool& pool = *ctx.pool;
  const int64_t rows = ctx.num_rows, nh = c.num_attention_heads;
  const int64_t nope = c.qk_nope_head_dim, rope_dim = c.qk_rope_head_dim, vd = c.v_head_dim;
  const int64_t qk = c.qk_head_dim(), r = c.kv_lora_rank, kv_a_dim = r + rope_dim;
  // transformers (and DeepSeek's remote code) build q_a_layernorm and
  // kv_a_layernorm with the default eps, whatever config.rms_norm_eps says.
  constexpr float eps = 1e-6f;

  using Buf = Workspace::Buf;
  float* q = ctx.ws->Floats(Buf::kQ, rows * nh * qk);  // (rows, heads, qk_nope + qk_rope)
  if (w.q_a_proj.has_value()) {
    float* q_a = ctx.ws->Floats(Buf::kQA, rows * w.q_a_proj->out_features());  // (rows, q_lora_rank)
    w.q_a_proj->Apply(pool, x, rows, q_a);
    cpu::RmsNorm(q_a, w.q_a_layernorm.data(), rows, w.q_a_proj->out_features(), eps, q_a);
    w.q_b_proj.Apply(pool, q_a, rows, q);
  } else {
    w.q_b_proj.Apply(pool, x, rows, q);
  }
  float* kv_a = ctx.ws->Floats(Buf::kKvA, rows * kv_a_dim);  // (rows, kv_lora_rank + qk_rope): compressed_kv | k_pe
  w.kv_a_proj_with_mqa.Apply(pool, x, rows, kv_a);

  // Rope on q_pe (each head's last rope_dim values) and on the shared k_pe; the
  // checkpoints' rope dims are interleaved pairs (transformers de-interleaves
  // them before rotate_half, which is the same rotation).
  for (int64_t t = 0; t < rows; ++t) {
    const float* cos = rope + t * rope_dim;
    const float* sin = cos + rope_dim / 2;
    cpu::ApplyRope(q + t * nh * qk + nope, nh, qk, rope_dim, cos, sin, cpu::RopeStyle::kInterleaved);
    cpu::ApplyRope(kv_a + t * kv_a_dim + r, 1, kv_a_dim, rope_dim, cos, sin, cpu::RopeStyle::kInterleaved);
  }

  float* attn = ctx.ws->Floats(Buf::kAttn, rows * nh * vd);  // (rows, heads, v_head_dim)
  const float* kv_b = w.kv_b_proj.data_as<const float>();
  for (size_t e = 0; e < ctx.batch.size(); ++e) {
    KvCache& cache = *ctx.batch[e].cache;
    const int64_t r0 = ctx.row_begin[e], n = ctx.num_new(e), p0 = ctx.first_pos(e);
    const KvRows latent = cache.first_rows(layer);  // (capacity, kv_lora_rank), paged
    const KvRows k_pe = cache.second_rows(layer);   // (capacity, qk_rope_head_dim), paged
    for (int64_t t = 0; t < n; ++t) {
      const float* row = kv_a + (r0 + t) * kv_a_dim;
      cpu::RmsNorm(row, w.kv_a_layernorm.data(), 1, r, eps, latent.row(p0 + t));
      std::copy_n(row + r, rope_dim, k_pe.row(p0 + t));
    }
    pool.ParallelFor(n * nh, 1, [&](int64_t begin, int64_t end) {
      float q_abs[kMaxLatent];  // (kv_lora_rank) = W_UK_h^T q_nope
      float o_lat[kMaxLatent];  // (kv_lora_rank): the attention output in latent space
      for (int64_t job = begin; job < end; ++job) {
        const int64_t t = job / nh, hh = job % nh, len = p0 + t + 1;
        const float* qh = q + (r0 + t) * nh * qk + hh * qk;
        const float* w_uk = kv_b + hh * (nope + vd) * r;  // (nope, r)
        const float* w_uv = w_uk + nope * r;               // (vd, r)
        std::fill(q_abs, q_abs + r, 0.0f);
        for (int64_t d = 0; d < nope; ++d) cpu::Axpy(qh[d], w_uk + d * r, r, q_abs);
        cpu::AttendOnline(
            len, r,
            [&](int64_t s0, int64_t count, float* scores) {
              ForEachBlockRun(latent.block_size, s0, count, [&](int64_t i, int64_t run) {
                const float* lat = latent.row(s0 + i);
                const float* pe = k_pe.row(s0 + i);
                for (int64_t j = 0; j < run; ++j) {
                  scores[i + j] = (cpu::Dot(q_abs, lat + j * r, r) + cpu::Dot(qh + nope, pe + j * rope_dim, rope_dim)) *
                                  softmax_scale;
                }
              });
            },
            [&](int64_t s) { return latent.row(s); }, o_lat);
        float* oh = attn + ((r0 + t) * nh + hh) * vd;
        for (int64_t d = 0; d < vd; ++d) oh[d] = cpu::Dot(w_uv + d * r, o_lat, r);
      }
    });
  }
  w.o_proj.Apply(pool, attn, rows, out);
}

}  // namespace fathom

#include "model/lm_head.h"

#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/matmul.h"
#include "model/linear.h"

namespace fathom {

void LmEnds::Embed(const ForwardContext& ctx, float* hidden) const {
  const int64_t h = embed_tokens.dim(1);
  for (int64_t r = 0; r < ctx.num_rows; ++r) cpu::WeightRowsToF32(embed_tokens, ctx.tokens[r], 1, hidden + r * h);
}

void LmEnds::Logits(const ForwardContext& ctx, const float* hidden, std::vector<float>* logits) const {
  const int64_t h = embed_tokens.dim(1);
  const int64_t rows = static_cast<int64_t>(ctx.logits_rows.size());
  float* normed = ctx.ws->Floats(Workspace::Buf::kFinalNormed, rows * h);  // (rows, hidden)
  for (int64_t i = 0; i < rows; ++i) {
    cpu::RmsNorm(hidden + ctx.logits_rows[i] * h, final_norm.data(), 1, h, rms_norm_eps, normed + i * h);
  }
  logits->resize(rows * lm_head.dim(0));
  cpu::MatMul(*ctx.pool, normed, rows, h, lm_head, lm_head_packed.get(), nullptr, logits->data());
}

Result<LmEnds> LmEnds::Load(WeightStore& store) {
  const ModelConfig& c = store.config();
  LmEnds ends;
  ends.rms_norm_eps = static_cast<float>(c.rms_norm_eps);
  FATHOM_ASSIGN_OR_RETURN(ends.embed_tokens, store.Matrix("model.embed_tokens.weight", c.vocab_size, c.hidden_size));
  FATHOM_ASSIGN_OR_RETURN(ends.final_norm, store.Vector("model.norm.weight", c.hidden_size));
  if (c.tie_word_embeddings) {
    ends.lm_head = ends.embed_tokens;
  } else {
    FATHOM_ASSIGN_OR_RETURN(ends.lm_head, store.Matrix("lm_head.weight", c.vocab_size, c.hidden_size));
  }
  // When tied, the packed head replaces the embedding's count: a token's lookup
  // reads only its own row of the view.
  ends.lm_head_packed = PackWeight(store, ends.lm_head);
  return ends;
}

}  // namespace fathom

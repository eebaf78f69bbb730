#include "model/lm_head.h"

#include "model/linear.h"

namespace fathom {

void LmEnds::Logits(const ForwardContext& ctx, const float* hidden) const {
  Backend& b = *ctx.backend;
  const int64_t h = embed_tokens->cols();
  const int64_t rows = static_cast<int64_t>(ctx.logits_rows.size());
  float* normed = ctx.ws->Floats(Workspace::Buf::kFinalNormed, rows * h);         // (rows, hidden)
  float* out = ctx.ws->Floats(Workspace::Buf::kLogits, rows * lm_head->rows());  // (rows, vocab)
  b.GatherLogitsRows(hidden, h, normed);
  b.RmsNorm(normed, final_norm, rows, h, rms_norm_eps, normed);
  b.MatMul(normed, rows, *lm_head, nullptr, out);
}

void LmEnds::CopyLogits(const ForwardContext& ctx, std::vector<float>* logits) const {
  const int64_t n = static_cast<int64_t>(ctx.logits_rows.size()) * lm_head->rows();
  logits->resize(n);
  const float* device_logits = ctx.ws->Floats(Workspace::Buf::kLogits, n);  // as Logits sized it: no growth
  ctx.backend->CopyToHost(logits->data(), device_logits, n * static_cast<int64_t>(sizeof(float)));
}

Result<LmEnds> LmEnds::Load(WeightStore& store, Backend& backend) {
  const ModelConfig& c = store.config();
  LmEnds ends;
  ends.rms_norm_eps = static_cast<float>(c.rms_norm_eps);
  FATHOM_ASSIGN_OR_RETURN(Tensor embed, store.Matrix("model.embed_tokens.weight", c.vocab_size, c.hidden_size));
  ends.embed_bytes = embed.num_bytes();
  FATHOM_ASSIGN_OR_RETURN(ends.final_norm, LoadVector(store, backend, "model.norm.weight", c.hidden_size));
  if (c.tie_word_embeddings) {
    // One matrix for both ends; packed for the head, which replaces the
    // embedding's count: a token's lookup reads only its own row of the view.
    FATHOM_ASSIGN_OR_RETURN(ends.lm_head, UploadWeight(store, backend, embed));
    ends.embed_tokens = ends.lm_head;
  } else {
    FATHOM_ASSIGN_OR_RETURN(ends.embed_tokens, backend.UploadMatrix(embed, nullptr));
    FATHOM_ASSIGN_OR_RETURN(Tensor head, store.Matrix("lm_head.weight", c.vocab_size, c.hidden_size));
    FATHOM_ASSIGN_OR_RETURN(ends.lm_head, UploadWeight(store, backend, head));
  }
  return ends;
}

}  // namespace fathom

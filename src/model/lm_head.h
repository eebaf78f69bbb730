// The two ends of every decoder: the token embedding lookup, and the final
// RMSNorm + LM head that turn the chosen rows' hidden states into logits. A tied
// head multiplies by the embedding matrix itself.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "backend/backend.h"
#include "model/forward_context.h"
#include "model/weight_store.h"

namespace fathom {

struct LmEnds {
  std::shared_ptr<const BackendMatrix> embed_tokens;  // (vocab, hidden)
  DeviceVector final_norm;                            // (hidden)
  std::shared_ptr<const BackendMatrix> lm_head;       // (vocab, hidden); embed_tokens when tied
  float rms_norm_eps = 1e-6f;
  int64_t embed_bytes = 0;  // the table's bytes as the file stores them

  // Bytes of the embedding table a decode step does not read: all of it, unless
  // the table is also the head.
  int64_t UnreadEmbeddingBytes() const { return embed_tokens == lm_head ? 0 : embed_bytes; }

  // hidden (num_rows, hidden) = the embedding rows of ctx.tokens.
  void Embed(const ForwardContext& ctx, float* hidden) const { ctx.backend->Embed(*embed_tokens, hidden); }
  // The logits (ctx.logits_rows.size(), vocab) of hidden (num_rows, hidden), left
  // in the backend's workspace (kLogits).
  void Logits(const ForwardContext& ctx, const float* hidden) const;
  // Copies what Logits left in the workspace to *logits (resized). Separate from
  // Logits because a replayed GPU graph runs Logits' ops but none of its host code.
  void CopyLogits(const ForwardContext& ctx, std::vector<float>* logits) const;

  static Result<LmEnds> Load(WeightStore& store, Backend& backend);
};

}  // namespace fathom

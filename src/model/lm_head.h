// The two ends of every decoder: the token embedding lookup, and the final
// RMSNorm + LM head that turn the chosen rows' hidden states into logits. A tied
// head multiplies by the embedding matrix itself.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/cpu/packed_weight.h"
#include "model/forward_context.h"
#include "model/weight_store.h"

namespace fathom {

struct LmEnds {
  Tensor embed_tokens;            // (vocab, hidden)
  std::vector<float> final_norm;  // (hidden)
  Tensor lm_head;                 // (vocab, hidden); embed_tokens when tied
  // lm_head packed at load (see PackWeight in linear.h), or null. The embedding
  // lookup always reads embed_tokens itself.
  std::shared_ptr<const cpu::PackedWeight> lm_head_packed;
  float rms_norm_eps = 1e-6f;

  // Bytes of the embedding table a decode step does not read: all of it, unless
  // the table is also the head.
  int64_t UnreadEmbeddingBytes() const {
    return embed_tokens.data() == lm_head.data() ? 0 : embed_tokens.num_bytes();
  }

  // hidden (num_rows, hidden) = the embedding rows of ctx.tokens.
  void Embed(const ForwardContext& ctx, float* hidden) const;
  // logits (ctx.logits_rows.size(), vocab) from hidden (num_rows, hidden).
  void Logits(const ForwardContext& ctx, const float* hidden, std::vector<float>* logits) const;

  static Result<LmEnds> Load(WeightStore& store);
};

}  // namespace fathom

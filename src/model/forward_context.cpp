#include "model/forward_context.h"

#include <string>

#include "backend/backend.h"

namespace fathom {

Status MakeForwardContext(const ModelConfig& config, std::span<const BatchEntry> batch, Backend& backend,
                          ForwardContext* out) {
  ForwardContext& ctx = *out;
  ctx.backend = &backend;
  ctx.ws = &backend.workspace();
  ctx.batch = batch;
  ctx.row_begin.clear();
  ctx.positions.clear();
  ctx.tokens.clear();
  ctx.logits_rows.clear();
  ctx.num_rows = 0;
  ctx.row_begin.push_back(0);
  for (size_t e = 0; e < batch.size(); ++e) {
    const BatchEntry& entry = batch[e];
    if (entry.tokens.empty()) return InvalidArgument("batch entry " + std::to_string(e) + " has no tokens");
    if (entry.cache == nullptr) return InvalidArgument("batch entry " + std::to_string(e) + " has no cache");
    for (size_t earlier = 0; earlier < e; ++earlier) {  // batches are small; no set to allocate
      if (batch[earlier].cache == entry.cache) {
        return InvalidArgument("batch entry " + std::to_string(e) + " shares its cache with an earlier entry");
      }
    }
    const int64_t first = entry.cache->num_tokens();
    const int64_t n = static_cast<int64_t>(entry.tokens.size());
    if (first + n > entry.cache->capacity()) {
      return InvalidArgument("sequence of " + std::to_string(first + n) + " tokens exceeds the context of " +
                             std::to_string(entry.cache->capacity()) + " tokens");
    }
    for (int64_t i = 0; i < n; ++i) {
      const int32_t t = entry.tokens[i];
      if (t < 0 || t >= config.vocab_size) {
        return InvalidArgument("token id " + std::to_string(t) + " is outside the vocabulary [0, " +
                               std::to_string(config.vocab_size) + ")");
      }
      ctx.tokens.push_back(t);
      ctx.positions.push_back(first + i);
      if (entry.all_logits || i == n - 1) ctx.logits_rows.push_back(ctx.row_begin.back() + i);
    }
    ctx.row_begin.push_back(ctx.row_begin.back() + n);
  }
  ctx.num_rows = ctx.row_begin.back();
  if (ctx.num_rows == 0) return InvalidArgument("empty batch");
  return Status::Ok();
}

void CommitCaches(const ForwardContext& ctx) {
  for (size_t e = 0; e < ctx.batch.size(); ++e) ctx.batch[e].cache->Advance(ctx.num_new(e));
}

}  // namespace fathom

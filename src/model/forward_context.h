// Everything one packed forward needs to know about its batch besides the
// weights: where each sequence's rows sit in the packed activations, each row's
// position, and the backend the blocks compute on. Built by the model's Forward,
// passed explicitly to every block (no hidden global state).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/status.h"
#include "formats/model_config.h"
#include "model/causal_lm.h"
#include "model/workspace.h"

namespace fathom {
class Backend;
}

namespace fathom {

struct ForwardContext {
  Backend* backend = nullptr;
  Workspace* ws = nullptr;             // the backend's activation buffers
  std::span<const BatchEntry> batch;
  int64_t num_rows = 0;                // new tokens over all entries
  std::vector<int64_t> row_begin;      // (batch.size() + 1): entry e owns rows [row_begin[e], row_begin[e + 1])
  std::vector<int64_t> positions;      // (num_rows): the position of each row in its sequence
  std::vector<int32_t> tokens;         // (num_rows)
  std::vector<int64_t> logits_rows;    // rows whose logits are returned, in output order

  int64_t first_pos(size_t entry) const { return batch[entry].cache->num_tokens(); }
  int64_t num_new(size_t entry) const { return row_begin[entry + 1] - row_begin[entry]; }
};

// Validates `batch` against the config (non-empty entries, token ids in the
// vocabulary, distinct caches with room for the new tokens) and lays it out in
// *ctx, reusing its vectors' capacity (a model keeps one context for all its
// forwards, so decode steps allocate nothing).
Status MakeForwardContext(const ModelConfig& config, std::span<const BatchEntry> batch, Backend& backend,
                          ForwardContext* ctx);

// Advances every entry's cache past its new tokens (after all layers wrote them).
void CommitCaches(const ForwardContext& ctx);

}  // namespace fathom

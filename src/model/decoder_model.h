// What every supported decoder shares around its layers: the weights' store and
// the backend they were uploaded to, the rope table, the two ends (embedding and
// LM head), and the one Forward that lays out the batch, hands it to the backend,
// runs the layers and returns the logits. A family supplies only its layers.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "backend/backend.h"
#include "model/causal_lm.h"
#include "model/forward_context.h"
#include "model/lm_head.h"
#include "model/rope_table.h"
#include "model/weight_store.h"

namespace fathom {

class DecoderModel : public CausalLm {
 public:
  const ModelConfig& config() const override { return config_; }
  Backend& backend() const override { return *backend_; }
  int64_t weight_bytes() const override { return store_.bytes_loaded(); }
  int64_t decode_bytes_per_token() const override { return weight_bytes() - ends_.UnreadEmbeddingBytes(); }

  Status Forward(std::span<const BatchEntry> batch, std::vector<float>* logits) final;

 protected:
  // rot_dim: the rotated dims per head (head_dim, or DeepSeek's qk_rope_head_dim).
  DecoderModel(WeightStore store, std::unique_ptr<Backend> backend, int64_t rot_dim);

  // Loads the ends; a family's Load calls it first.
  Status LoadEnds();

  // The decoder layers over hidden (num_rows, hidden), the residual stream,
  // updated in place; normed and delta are (num_rows, hidden) scratch.
  virtual void Layers(const ForwardContext& ctx, float* hidden, float* normed, float* delta) = 0;

  WeightStore store_;
  const ModelConfig& config_;
  std::unique_ptr<Backend> backend_;
  RopeTable rope_;
  LmEnds ends_;

 private:
  ForwardContext ctx_;            // reused by every Forward, with the workspace
  std::vector<float> rope_rows_;  // (num_rows, rot_dim), host; reused
};

}  // namespace fathom

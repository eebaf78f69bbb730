// The SwiGLU feed-forward block every supported family uses: the llama-family
// MLP, DeepSeek's dense layers, its shared experts and each routed expert.
// down(silu(gate(x)) * up(x)), as transformers' LlamaMLP / DeepseekV3MLP.
#pragma once

#include <cstdint>
#include <string>

#include "model/linear.h"

namespace fathom {

struct Mlp {
  Linear gate_proj;  // (intermediate, hidden)
  Linear up_proj;    // (intermediate, hidden)
  Linear down_proj;  // (hidden, intermediate)

  int64_t intermediate_size() const { return gate_proj.out_features(); }

  // out (rows, hidden) = the block applied to x (rows, hidden). out must not alias
  // x. Uses the workspace's kMlpGate and kMlpUp.
  void Apply(Backend& backend, const float* x, int64_t rows, float* out) const;

  // Loads `<prefix>.gate_proj`, `.up_proj`, `.down_proj`.
  static Result<Mlp> Load(WeightStore& store, Backend& backend, const std::string& prefix, int64_t hidden,
                          int64_t intermediate, bool has_bias);
};

}  // namespace fathom

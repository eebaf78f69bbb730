// A projection as nn.Linear holds it: a (out, in) weight and an optional bias,
// loaded by its Hugging Face prefix ("model.layers.0.self_attn.q_proj").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "model/weight_store.h"

namespace fathom {

struct Linear {
  Tensor weight;            // (out_features, in_features), F32/F16/BF16
  std::vector<float> bias;  // (out_features) or empty

  int64_t out_features() const { return weight.dim(0); }
  int64_t in_features() const { return weight.dim(1); }

  // y (rows, out) = x (rows, in) W^T + b.
  void Apply(ThreadPool& pool, const float* x, int64_t rows, float* y) const;

  // Loads `<prefix>.weight` (out, in) and, if has_bias, `<prefix>.bias` (out).
  static Result<Linear> Load(WeightStore& store, const std::string& prefix, int64_t out, int64_t in, bool has_bias);
};

}  // namespace fathom

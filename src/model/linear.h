// A projection as nn.Linear holds it: a (out, in) weight and an optional bias,
// loaded by its Hugging Face prefix ("model.layers.0.self_attn.q_proj").
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/cpu/packed_weight.h"
#include "model/weight_store.h"

namespace fathom {

struct Linear {
  Tensor weight;            // (out_features, in_features), F32/F16/BF16 or block-quantized
  std::vector<float> bias;  // (out_features) or empty
  // weight packed into panels at load for the ISA then active, or null (float
  // weights, the scalar ISA). Shared so Linear stays copyable; never mutated.
  std::shared_ptr<const cpu::PackedWeight> packed;

  int64_t out_features() const { return weight.dim(0); }
  int64_t in_features() const { return weight.dim(1); }

  // y (rows, out) = x (rows, in) W^T + b.
  void Apply(ThreadPool& pool, const float* x, int64_t rows, float* y) const;

  // Loads `<prefix>.weight` (out, in) and, if has_bias, `<prefix>.bias` (out);
  // packs a block-quantized weight (see PackWeight).
  static Result<Linear> Load(WeightStore& store, const std::string& prefix, int64_t out, int64_t in, bool has_bias);
};

// w packed for the active ISA on the store's pool (serially without one), with
// store.bytes_loaded() then counting the packed bytes instead of w's where
// decode reads them (PackedWeight::is_compact); null when
// w is not block-quantized or the ISA has no panel kernels for it.
std::shared_ptr<const cpu::PackedWeight> PackWeight(WeightStore& store, const Tensor& w);

}  // namespace fathom

// A projection as nn.Linear holds it: a (out, in) weight and an optional bias,
// loaded by its Hugging Face prefix ("model.layers.0.self_attn.q_proj") and
// uploaded once to the backend the model computes on.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/status.h"
#include "core/tensor.h"
#include "model/weight_store.h"

namespace fathom {

struct Linear {
  std::shared_ptr<const BackendMatrix> weight;  // (out_features, in_features)
  DeviceVector bias;                            // (out_features) or empty

  int64_t out_features() const { return weight->rows(); }
  int64_t in_features() const { return weight->cols(); }

  // y (rows, out) = x (rows, in) W^T + b, on `backend` (the one that loaded it).
  void Apply(Backend& backend, const float* x, int64_t rows, float* y) const {
    backend.MatMul(x, rows, *weight, bias.empty() ? nullptr : &bias, y);
  }

  // Loads `<prefix>.weight` (out, in) and, if has_bias, `<prefix>.bias` (out).
  static Result<Linear> Load(WeightStore& store, Backend& backend, const std::string& prefix, int64_t out, int64_t in,
                             bool has_bias);
};

// w uploaded to `backend`; for the CPU, block-quantized weights are first packed
// into panels for the active ISA (on the store's pool, serially without one),
// with store.bytes_loaded() then counting the packed bytes instead of w's where
// decode reads them (PackedWeight::is_compact).
Result<std::shared_ptr<const BackendMatrix>> UploadWeight(WeightStore& store, Backend& backend, const Tensor& w);

// The 1-D tensor `name` of n values, uploaded as float32 (norm weights, biases).
Result<DeviceVector> LoadVector(WeightStore& store, Backend& backend, const std::string& name, int64_t n);

}  // namespace fathom

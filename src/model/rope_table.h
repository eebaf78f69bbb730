// Rotary embedding frequencies for every scaling type the supported checkpoints
// use (default, linear, llama3, YaRN), computed the way transformers'
// modeling_rope_utils computes them, and the cos/sin rows a position needs.
//
// Non-obvious rule: angles are float(position) * inv_freq in float32, as
// transformers computes them, not in double; at long positions the two differ
// visibly and the reference is float32.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "formats/model_config.h"

namespace fathom {

// Immutable after construction; safe for concurrent readers.
class RopeTable {
 public:
  // Frequencies for `rot_dim` rotated dimensions (head_dim for the llama family,
  // qk_rope_head_dim for DeepSeek). `freq_factors` (rot_dim / 2 values) is
  // llama.cpp's rope_freqs tensor: when given (freqs_from_tensor), inv_freq is
  // divided by it instead of applying the llama3 formula.
  // REQUIRES: config.Validate() passed; rot_dim even.
  RopeTable(const ModelConfig& config, int64_t rot_dim, std::span<const float> freq_factors = {});

  int64_t rot_dim() const { return rot_dim_; }
  // YaRN's attention factor (1 for the other types); already folded into CosSin.
  float attention_factor() const { return attention_factor_; }
  const std::vector<float>& inv_freq() const { return inv_freq_; }

  // Writes rot_dim / 2 values each: cos(angle_i) * attention_factor and
  // sin(angle_i) * attention_factor at `position`.
  void CosSin(int64_t position, float* cos, float* sin) const;

  // CosSin for each position, row r = [cos (rot_dim / 2) | sin (rot_dim / 2)]:
  // computed once per forward and shared by every layer.
  void CosSinRows(std::span<const int64_t> positions, float* out /*(positions, rot_dim)*/) const;

 private:
  int64_t rot_dim_;
  float attention_factor_ = 1.0f;
  std::vector<float> inv_freq_;  // (rot_dim / 2)
};

// YaRN's magnitude correction: 0.1 * mscale * ln(scale) + 1 for scale > 1, else 1.
double YarnMscale(double scale, double mscale);

}  // namespace fathom

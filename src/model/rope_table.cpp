#include "model/rope_table.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace fathom {
namespace {

// base ** (2i / dim) for i < dim / 2, in float32 as torch evaluates it.
std::vector<float> PosFreqs(double base, int64_t dim) {
  std::vector<float> out(dim / 2);
  for (int64_t i = 0; i < dim / 2; ++i) {
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(dim);
    out[i] = std::pow(static_cast<float>(base), exponent);
  }
  return out;
}

// https://github.com/huggingface/transformers/blob/main/src/transformers/modeling_rope_utils.py
// (_compute_llama3_parameters): long wavelengths are divided by `factor`, short
// ones kept, the band between interpolated smoothly.
void ApplyLlama3(const RopeScaling& s, std::vector<float>& inv_freq) {
  const double old_len = static_cast<double>(s.original_max_position_embeddings);
  const double low_freq_wavelen = old_len / s.low_freq_factor;
  const double high_freq_wavelen = old_len / s.high_freq_factor;
  for (float& f : inv_freq) {
    const double wavelen = 2 * std::numbers::pi / f;
    double out = wavelen > low_freq_wavelen ? f / s.factor : f;
    const bool is_medium = !(wavelen < high_freq_wavelen) && !(wavelen > low_freq_wavelen);
    if (is_medium) {
      const double smooth = (old_len / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
      out = (1 - smooth) * out / s.factor + smooth * out;
    }
    f = static_cast<float>(out);
  }
}

// The YaRN frequencies of DeepSeek's reference code and transformers'
// _compute_yarn_parameters: interpolated (divided by factor) below the
// correction range, extrapolated (unchanged) above it, a linear ramp between.
void ApplyYarn(const RopeScaling& s, double base, int64_t dim, int64_t max_position_embeddings,
               const std::vector<float>& pos_freqs, std::vector<float>& inv_freq) {
  const double original = s.original_max_position_embeddings > 0 ? static_cast<double>(s.original_max_position_embeddings)
                                                                  : static_cast<double>(max_position_embeddings);
  auto correction_dim = [&](double num_rotations) {
    return (dim * std::log(original / (num_rotations * 2 * std::numbers::pi))) / (2 * std::log(base));
  };
  const double low = std::max(std::floor(correction_dim(s.beta_fast)), 0.0);
  double high = std::min(std::ceil(correction_dim(s.beta_slow)), static_cast<double>(dim - 1));
  if (low == high) high += 0.001;
  for (size_t i = 0; i < inv_freq.size(); ++i) {
    const float ramp = std::clamp(static_cast<float>((static_cast<float>(i) - low) / (high - low)), 0.0f, 1.0f);
    const float extrapolation_factor = 1.0f - ramp;
    const float extrapolation = 1.0f / pos_freqs[i];
    const float interpolation = 1.0f / (static_cast<float>(s.factor) * pos_freqs[i]);
    inv_freq[i] = interpolation * (1.0f - extrapolation_factor) + extrapolation * extrapolation_factor;
  }
}

}  // namespace

double YarnMscale(double scale, double mscale) {
  if (scale <= 1.0) return 1.0;
  return 0.1 * mscale * std::log(scale) + 1.0;
}

RopeTable::RopeTable(const ModelConfig& config, int64_t rot_dim, std::span<const float> freq_factors)
    : rot_dim_(rot_dim) {
  const RopeScaling& s = config.rope_scaling;
  const std::vector<float> pos_freqs = PosFreqs(config.rope_theta, rot_dim);
  inv_freq_.resize(pos_freqs.size());
  for (size_t i = 0; i < pos_freqs.size(); ++i) inv_freq_[i] = 1.0f / pos_freqs[i];
  switch (s.type) {
    case RopeType::kDefault:
      break;
    case RopeType::kLinear:
      for (float& f : inv_freq_) f = static_cast<float>(f / s.factor);
      break;
    case RopeType::kLlama3:
      if (s.freqs_from_tensor) {
        for (size_t i = 0; i < inv_freq_.size() && i < freq_factors.size(); ++i) inv_freq_[i] /= freq_factors[i];
      } else {
        ApplyLlama3(s, inv_freq_);
      }
      break;
    case RopeType::kYarn: {
      ApplyYarn(s, config.rope_theta, rot_dim, config.max_position_embeddings, pos_freqs, inv_freq_);
      if (s.attention_factor.has_value()) {
        attention_factor_ = static_cast<float>(*s.attention_factor);
      } else if (s.mscale != 0.0 && s.mscale_all_dim != 0.0) {
        attention_factor_ = static_cast<float>(YarnMscale(s.factor, s.mscale) / YarnMscale(s.factor, s.mscale_all_dim));
      } else {
        attention_factor_ = static_cast<float>(YarnMscale(s.factor, 1.0));
      }
      break;
    }
  }
}

void RopeTable::CosSin(int64_t position, float* cos, float* sin) const {
  const float p = static_cast<float>(position);
  for (size_t i = 0; i < inv_freq_.size(); ++i) {
    const float angle = p * inv_freq_[i];
    cos[i] = static_cast<float>(std::cos(static_cast<double>(angle))) * attention_factor_;
    sin[i] = static_cast<float>(std::sin(static_cast<double>(angle))) * attention_factor_;
  }
}

void RopeTable::CosSinRows(std::span<const int64_t> positions, float* out) const {
  const int64_t half = rot_dim_ / 2;
  for (size_t r = 0; r < positions.size(); ++r) CosSin(positions[r], out + r * rot_dim_, out + r * rot_dim_ + half);
}

}  // namespace fathom

// How far a quantized model's next-token distributions fall from a reference
// model's, position by position: the KL divergence KL(p_ref || p_quant), whether
// the argmax agrees, and the relative RMS error of the raw logits. This is the
// measure llama.cpp's `llama-perplexity --kl-divergence` reports, so the numbers
// compare with published quantization tables.
//
// Non-obvious rule: KL is computed from log-softmax in double, as
// sum_i p_i (log p_i - log q_i); float32 loses the tiny KL of a good Q8_0 in
// rounding noise.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace fathom {

// Thread-compatible. Not copyable (it may hold many positions); movable.
class LogitDivergence {
 public:
  struct Summary {
    int64_t num_positions = 0;
    double mean_kl = 0.0;         // nats
    double max_kl = 0.0;
    double p99_kl = 0.0;          // 99th percentile (nearest rank)
    double top1_agreement = 0.0;  // fraction of positions whose argmax agrees
    double logits_rel_rms = 0.0;  // sqrt(sum (q - r)^2 / sum r^2) over every logit
  };

  // REQUIRES: vocab_size > 0.
  explicit LogitDivergence(int64_t vocab_size);
  LogitDivergence(LogitDivergence&&) noexcept = default;
  LogitDivergence& operator=(LogitDivergence&&) noexcept = default;
  LogitDivergence(const LogitDivergence&) = delete;
  LogitDivergence& operator=(const LogitDivergence&) = delete;

  // Adds one position. REQUIRES: both rows hold vocab_size finite values.
  void Add(std::span<const float> ref_logits, std::span<const float> quant_logits);
  // Adds every row of two row-major blocks of equal size (a multiple of vocab_size).
  void AddRows(std::span<const float> ref_logits, std::span<const float> quant_logits);

  Summary Summarize() const;
  int64_t vocab_size() const { return vocab_size_; }

 private:
  int64_t vocab_size_;
  std::vector<double> kl_;         // (num_positions,) one KL per added position
  int64_t num_top1_agree_ = 0;
  double error_sq_sum_ = 0.0;      // sum (q - r)^2
  double ref_sq_sum_ = 0.0;        // sum r^2
  std::vector<double> ref_log_probs_;    // (vocab_size,) scratch
  std::vector<double> quant_log_probs_;  // (vocab_size,) scratch
};

}  // namespace fathom

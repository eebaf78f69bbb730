#include "quant/logit_divergence.h"

#include <algorithm>
#include <cmath>

#include "core/status.h"

namespace fathom {
namespace {

// log_softmax(logits) in double, with the max subtracted first so exp never overflows.
void LogSoftmax(std::span<const float> logits, std::vector<double>* out) {
  double max = -INFINITY;
  for (float x : logits) max = std::max(max, static_cast<double>(x));
  double sum = 0.0;
  for (float x : logits) sum += std::exp(static_cast<double>(x) - max);
  const double log_z = max + std::log(sum);
  out->resize(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) (*out)[i] = static_cast<double>(logits[i]) - log_z;
}

size_t ArgMax(std::span<const float> row) {
  return static_cast<size_t>(std::max_element(row.begin(), row.end()) - row.begin());
}

}  // namespace

LogitDivergence::LogitDivergence(int64_t vocab_size) : vocab_size_(vocab_size) { FATHOM_CHECK(vocab_size > 0); }

void LogitDivergence::Add(std::span<const float> ref_logits, std::span<const float> quant_logits) {
  FATHOM_CHECK(static_cast<int64_t>(ref_logits.size()) == vocab_size_);
  FATHOM_CHECK(static_cast<int64_t>(quant_logits.size()) == vocab_size_);
  LogSoftmax(ref_logits, &ref_log_probs_);
  LogSoftmax(quant_logits, &quant_log_probs_);
  double kl = 0.0;
  for (int64_t i = 0; i < vocab_size_; ++i) {
    kl += std::exp(ref_log_probs_[i]) * (ref_log_probs_[i] - quant_log_probs_[i]);
  }
  // KL is never negative; rounding can make an exact match come out at -1e-17.
  kl_.push_back(std::max(kl, 0.0));
  if (ArgMax(ref_logits) == ArgMax(quant_logits)) ++num_top1_agree_;
  for (int64_t i = 0; i < vocab_size_; ++i) {
    const double r = ref_logits[i];
    const double d = static_cast<double>(quant_logits[i]) - r;
    error_sq_sum_ += d * d;
    ref_sq_sum_ += r * r;
  }
}

void LogitDivergence::AddRows(std::span<const float> ref_logits, std::span<const float> quant_logits) {
  FATHOM_CHECK(ref_logits.size() == quant_logits.size());
  FATHOM_CHECK(ref_logits.size() % static_cast<size_t>(vocab_size_) == 0);
  const size_t v = static_cast<size_t>(vocab_size_);
  for (size_t off = 0; off < ref_logits.size(); off += v) Add(ref_logits.subspan(off, v), quant_logits.subspan(off, v));
}

LogitDivergence::Summary LogitDivergence::Summarize() const {
  Summary s;
  s.num_positions = static_cast<int64_t>(kl_.size());
  if (kl_.empty()) return s;
  double sum = 0.0;
  for (double k : kl_) sum += k;
  s.mean_kl = sum / static_cast<double>(kl_.size());
  std::vector<double> sorted = kl_;
  std::sort(sorted.begin(), sorted.end());
  s.max_kl = sorted.back();
  // Nearest rank: the smallest value at or above 99% of the positions.
  const size_t rank = static_cast<size_t>(std::ceil(0.99 * static_cast<double>(sorted.size())));
  s.p99_kl = sorted[std::max<size_t>(rank, 1) - 1];
  s.top1_agreement = static_cast<double>(num_top1_agree_) / static_cast<double>(kl_.size());
  s.logits_rel_rms = ref_sq_sum_ > 0.0 ? std::sqrt(error_sq_sum_ / ref_sq_sum_) : std::sqrt(error_sq_sum_);
  return s;
}

}  // namespace fathom

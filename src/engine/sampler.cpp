#include "engine/sampler.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

namespace fathom {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Steps 6-7 find their boundary without sorting the vocabulary: candidates are
// binned by logit into this many equal-width buckets, and only the bucket the
// boundary falls in is sorted.
constexpr int kNumBuckets = 2048;
// Up to this many candidates, sorting them all is cheaper than binning.
constexpr size_t kMaxSortedSelection = 512;

using Candidate = SamplerScratch::Candidate;

std::string FormatFloat(float value) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  return std::string(buf, end);
}

// Returns InvalidArgument unless lo <= value <= hi (NaN is never in range).
Status CheckInRange(const char* field, float value, float lo, float hi) {
  if (value >= lo && value <= hi) return Status::Ok();
  return InvalidArgument(std::string(field) + " must be in [" + FormatFloat(lo) + ", " + FormatFloat(hi) + "], got " +
                         FormatFloat(value));
}

Status ValidateLogitBias(const std::vector<std::pair<int32_t, float>>& logit_bias, int64_t vocab_size) {
  std::vector<int32_t> tokens;
  tokens.reserve(logit_bias.size());
  for (const auto& [token, bias] : logit_bias) {
    if (token < 0 || token >= vocab_size) {
      return InvalidArgument("logit_bias token " + std::to_string(token) + " is outside the vocabulary [0, " +
                             std::to_string(vocab_size) + ")");
    }
    FATHOM_RETURN_IF_ERROR(CheckInRange("logit_bias value", bias, -100.0f, 100.0f)
                               .WithContext("logit_bias for token " + std::to_string(token)));
    tokens.push_back(token);
  }
  std::sort(tokens.begin(), tokens.end());
  auto repeated = std::adjacent_find(tokens.begin(), tokens.end());
  if (repeated != tokens.end()) {
    return InvalidArgument("logit_bias lists token " + std::to_string(*repeated) + " more than once");
  }
  return Status::Ok();
}

uint64_t SeedFromRandomDevice() {
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) ^ device();
}

// The order of steps 6-7: more likely first, then lower id. A strict total order
// (ids are distinct), so a sort under it has one outcome on every platform. A
// lambda rather than a function so that std::sort inlines it.
constexpr auto IsMoreLikely = [](const Candidate& a, const Candidate& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.token < b.token);
};

// Returns the index of the largest logit, the lowest on ties; Internal if a logit is
// NaN or none is above -inf.
Result<int32_t> ArgMax(std::span<const float> logits) {
  int32_t best = -1;
  float best_logit = -kInf;
  for (size_t i = 0; i < logits.size(); ++i) {
    const float logit = logits[i];
    if (std::isnan(logit)) {
      return Internal("the logit of token " + std::to_string(i) + " is NaN; the forward pass produced a non-number");
    }
    if (logit > best_logit) {
      best_logit = logit;
      best = static_cast<int32_t>(i);
    }
  }
  if (best < 0) return Internal("every logit is -inf after bias and penalties; no token can be drawn");
  return best;
}

// Moves the candidates that satisfy `pred` to the front, in their order, and
// returns how many there are. Unlike std::partition the resulting order is fixed by
// the input alone, and unlike std::stable_partition it never allocates.
template <typename Pred>
size_t MoveToFront(std::span<Candidate> candidates, Pred pred) {
  size_t num_moved = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (pred(candidates[i])) std::swap(candidates[num_moved++], candidates[i]);
  }
  return num_moved;
}

// Returns how many of `sorted` to take, in order, for `total` (already `before`) to
// reach `target`; all of them if it never does.
template <typename Cost>
size_t CountReaching(std::span<const Candidate> sorted, Cost cost, double before, double target) {
  size_t num_taken = 0;
  double total = before;
  while (num_taken < sorted.size() && total < target) total += cost(sorted[num_taken++]);
  return num_taken;
}

// Steps 6 and 7: moves to the front of `candidates` their shortest most-likely-first
// prefix whose total cost reaches `target` (all of them if none does) and returns
// its length. cost(c) >= 0: 1 for top-k, the weight for top-p. The prefix comes out
// in an order that depends on the input order alone (no std::partition or
// nth_element), so a seed draws the same tokens everywhere. O(n) plus sorting the
// bucket the boundary falls in.
template <typename Cost>
size_t SelectMostLikely(std::span<Candidate> candidates, Cost cost, double target) {
  if (candidates.size() <= kMaxSortedSelection) {
    std::sort(candidates.begin(), candidates.end(), IsMoreLikely);
    return CountReaching(candidates, cost, 0.0, target);
  }
  float max_logit = -kInf;
  float min_logit = kInf;
  for (const Candidate& c : candidates) {
    max_logit = std::max(max_logit, c.logit);
    min_logit = std::min(min_logit, c.logit);
  }
  float scale = (kNumBuckets - 1) / (max_logit - min_logit);
  if (!(scale < kInf)) scale = 0.0f;  // all logits equal (or nearly): one bucket
  // Monotone in the logit, so a more likely candidate never lands in a later bucket.
  auto bucket_of = [&](const Candidate& c) {
    return static_cast<int>(std::min((max_logit - c.logit) * scale, static_cast<float>(kNumBuckets - 1)));
  };

  std::array<double, kNumBuckets> bucket_cost{};
  for (const Candidate& c : candidates) bucket_cost[bucket_of(c)] += cost(c);
  int boundary = 0;
  double before = 0.0;  // the cost of the buckets before `boundary`
  while (boundary < kNumBuckets - 1 && before + bucket_cost[boundary] < target) before += bucket_cost[boundary++];

  // [buckets before the boundary | the boundary bucket | the rest]
  const size_t num_up_to = MoveToFront(candidates, [&](const Candidate& c) { return bucket_of(c) <= boundary; });
  const size_t num_before =
      MoveToFront(candidates.first(num_up_to), [&](const Candidate& c) { return bucket_of(c) < boundary; });
  std::span<Candidate> boundary_bucket = candidates.subspan(num_before, num_up_to - num_before);
  std::sort(boundary_bucket.begin(), boundary_bucket.end(), IsMoreLikely);
  return num_before + CountReaching(boundary_bucket, cost, before, target);
}

// Step 5 and the -inf tokens: writes into `out` (in id order) the tokens whose
// tempered probability is at least min_p times the largest, and returns them.
std::span<Candidate> CollectAboveMinP(std::span<const float> logits, float max_logit, float temperature, float min_p,
                                      std::span<Candidate> out) {
  // p / max(p) = exp((logit - max_logit) / T) >= min_p, solved for the logit.
  const double floor =
      min_p > 0.0f ? max_logit + static_cast<double>(temperature) * std::log(static_cast<double>(min_p)) : -kInf;
  size_t num_kept = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    const float logit = logits[i];
    if (logit > -kInf && logit >= floor) out[num_kept++] = {static_cast<int32_t>(i), logit, 0.0f};
  }
  return out.first(num_kept);
}

// Returns the sum of the weights, kept in four running sums so that each add need
// not wait for the one before.
double SumWeights(std::span<const Candidate> candidates) {
  double sums[4] = {};
  size_t i = 0;
  for (; i + 4 <= candidates.size(); i += 4) {
    for (size_t j = 0; j < 4; ++j) sums[j] += candidates[i + j].weight;
  }
  for (; i < candidates.size(); ++i) sums[0] += candidates[i].weight;
  return (sums[0] + sums[1]) + (sums[2] + sums[3]);
}

// Step 4 on what is left: sets each weight.
void AssignWeights(std::span<Candidate> candidates, float max_logit, float temperature) {
  const float inverse_temperature = 1.0f / temperature;
  for (Candidate& c : candidates) c.weight = std::exp((c.logit - max_logit) * inverse_temperature);
}

// Step 8: the candidate where the running weight first passes u * mass, where mass
// is SumWeights(candidates). Summed in another order it can fall short by rounding;
// the last candidate with weight then takes the draw.
int32_t Draw(std::span<const Candidate> candidates, double mass, double u) {
  const double target = u * mass;
  double running = 0.0;
  for (const Candidate& c : candidates) {
    running += c.weight;
    if (target < running) return c.token;
  }
  size_t end = candidates.size();
  while (end > 0 && candidates[end - 1].weight == 0.0f) --end;
  FATHOM_CHECK_MSG(end > 0, "no candidate has weight, yet the most likely one always has weight 1");
  return candidates[end - 1].token;
}

// Returns the sum of exp(logit - max_logit). A block's exps are all taken before
// any is added, so that the calls to exp need not wait on the running sum.
double SumExp(std::span<const float> logits, float max_logit) {
  constexpr size_t kBlock = 64;
  std::array<float, kBlock> exps;
  double sum = 0.0;
  for (size_t begin = 0; begin < logits.size(); begin += kBlock) {
    const size_t size = std::min(kBlock, logits.size() - begin);
    for (size_t i = 0; i < size; ++i) exps[i] = std::exp(logits[begin + i] - max_logit);
    double block_sum = 0.0;
    for (size_t i = 0; i < size; ++i) block_sum += exps[i];
    sum += block_sum;
  }
  return sum;
}

}  // namespace

Status ValidateSamplingParams(const SamplingParams& params, int64_t vocab_size) {
  FATHOM_CHECK(vocab_size > 0 && vocab_size <= INT32_MAX);
  // Each test is written so that NaN fails it.
  if (!(params.temperature >= 0.0f && std::isfinite(params.temperature))) {
    return InvalidArgument("temperature must be a finite number >= 0, got " + FormatFloat(params.temperature));
  }
  if (!(params.top_p > 0.0f && params.top_p <= 1.0f)) {
    return InvalidArgument("top_p must be in (0, 1], got " + FormatFloat(params.top_p));
  }
  FATHOM_RETURN_IF_ERROR(CheckInRange("min_p", params.min_p, 0.0f, 1.0f));
  if (!(params.repetition_penalty > 0.0f && std::isfinite(params.repetition_penalty))) {
    return InvalidArgument("repetition_penalty must be a finite number > 0, got " +
                           FormatFloat(params.repetition_penalty));
  }
  FATHOM_RETURN_IF_ERROR(CheckInRange("presence_penalty", params.presence_penalty, -2.0f, 2.0f));
  FATHOM_RETURN_IF_ERROR(CheckInRange("frequency_penalty", params.frequency_penalty, -2.0f, 2.0f));
  return ValidateLogitBias(params.logit_bias, vocab_size);
}

Result<Sampler> Sampler::Create(SamplingParams params, int64_t vocab_size, std::span<const int32_t> prompt_tokens) {
  FATHOM_RETURN_IF_ERROR(ValidateSamplingParams(params, vocab_size));
  for (size_t i = 0; i < prompt_tokens.size(); ++i) {
    if (prompt_tokens[i] < 0 || prompt_tokens[i] >= vocab_size) {
      return InvalidArgument("prompt token " + std::to_string(i) + " is " + std::to_string(prompt_tokens[i]) +
                             ", outside the vocabulary [0, " + std::to_string(vocab_size) + ")");
    }
  }
  return Sampler(std::move(params), vocab_size, prompt_tokens);
}

Sampler::Sampler(SamplingParams params, int64_t vocab_size, std::span<const int32_t> prompt_tokens)
    : params_(std::move(params)),
      vocab_size_(vocab_size),
      seed_(params_.seed ? *params_.seed : SeedFromRandomDevice()),
      rng_(seed_),
      has_penalties_(params_.repetition_penalty != 1.0f || params_.presence_penalty != 0.0f ||
                     params_.frequency_penalty != 0.0f) {
  if (params_.repetition_penalty != 1.0f) {
    for (int32_t token : prompt_tokens) HistoryOf(token);
  }
}

Sampler::TokenHistory& Sampler::HistoryOf(int32_t token) {
  auto [it, inserted] = history_index_.try_emplace(token, static_cast<int32_t>(history_.size()));
  if (inserted) history_.push_back({.token = token, .num_output = 0});
  return history_[it->second];
}

void Sampler::Accept(int32_t token) {
  FATHOM_CHECK_MSG(token >= 0 && token < vocab_size_,
                   "accepted token " + std::to_string(token) + " outside [0, " + std::to_string(vocab_size_) + ")");
  if (has_penalties_) ++HistoryOf(token).num_output;
}

void Sampler::ApplyBiasAndPenalties(std::span<float> logits) const {
  FATHOM_CHECK(static_cast<int64_t>(logits.size()) == vocab_size_);
  for (const auto& [token, bias] : params_.logit_bias) logits[token] += bias;

  // vLLM's apply_penalties: repetition, then frequency, then presence. Every history
  // entry is a prompt or output token, so each takes the repetition penalty.
  const float repetition = params_.repetition_penalty;
  for (const TokenHistory& entry : history_) {
    float& logit = logits[entry.token];
    if (repetition != 1.0f) logit = logit > 0.0f ? logit / repetition : logit * repetition;
    if (entry.num_output > 0) {
      logit -= params_.frequency_penalty * static_cast<float>(entry.num_output);
      logit -= params_.presence_penalty;
    }
  }
}

double Sampler::NextUniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

Result<int32_t> Sampler::Sample(std::span<const float> logits, SamplerScratch* scratch) {
  FATHOM_CHECK(scratch != nullptr);
  FATHOM_CHECK_MSG(
      static_cast<int64_t>(logits.size()) == vocab_size_,
      "logits row has " + std::to_string(logits.size()) + " entries, vocabulary " + std::to_string(vocab_size_));
  std::vector<float>& adjusted = scratch->logits_;  // (vocab_size)
  adjusted.assign(logits.begin(), logits.end());
  ApplyBiasAndPenalties(adjusted);

  FATHOM_ASSIGN_OR_RETURN(const int32_t argmax, ArgMax(adjusted));
  if (is_greedy()) return argmax;

  float max_logit = adjusted[argmax];
  if (max_logit == kInf) {
    // The limit of softmax: the +inf tokens share everything equally.
    for (float& logit : adjusted) logit = logit == kInf ? 0.0f : -kInf;
    max_logit = 0.0f;
  }

  if (scratch->candidates_.size() < adjusted.size()) scratch->candidates_.resize(adjusted.size());
  const float temperature = params_.temperature;
  std::span<Candidate> kept =
      CollectAboveMinP(adjusted, max_logit, temperature, params_.min_p, scratch->candidates_);  // in id order

  if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < kept.size()) {
    auto count = [](const Candidate&) { return 1.0; };
    kept = kept.first(SelectMostLikely(kept, count, params_.top_k));
  }
  AssignWeights(kept, max_logit, temperature);
  double mass = SumWeights(kept);
  if (params_.top_p < 1.0f) {
    auto weight = [](const Candidate& c) { return static_cast<double>(c.weight); };
    kept = kept.first(SelectMostLikely(kept, weight, params_.top_p * mass));
    mass = SumWeights(kept);
  }
  return Draw(kept, mass, NextUniform());
}

PositionLogprobs ComputeLogprobs(std::span<const float> logits, int32_t sampled_token, int32_t num_top) {
  FATHOM_CHECK(sampled_token >= 0 && static_cast<size_t>(sampled_token) < logits.size());
  FATHOM_CHECK(num_top >= 0);
  const Result<int32_t> argmax = ArgMax(logits);
  FATHOM_CHECK_MSG(argmax.ok(), "ComputeLogprobs: " + argmax.status().message());
  const float max_logit = logits[*argmax];

  // log-sum-exp with the max subtracted, so no exp overflows; +inf logits share
  // everything instead.
  const double log_normalizer = max_logit < kInf ? max_logit + std::log(SumExp(logits, max_logit)) : 0.0;
  const float infinite_logprob =
      max_logit < kInf ? 0.0f : static_cast<float>(-std::log(std::count(logits.begin(), logits.end(), kInf)));
  auto logprob_of = [max_logit, log_normalizer, infinite_logprob](float logit) -> float {
    if (max_logit == kInf) return logit == kInf ? infinite_logprob : -kInf;
    return static_cast<float>(logit - log_normalizer);
  };

  // A heap of the best num_top by logit, worst on top.
  auto is_better = [](const TokenLogprob& a, const TokenLogprob& b) {
    return a.logprob > b.logprob || (a.logprob == b.logprob && a.token < b.token);
  };
  PositionLogprobs result;
  result.sampled = {sampled_token, logprob_of(logits[sampled_token])};
  const size_t num_wanted = std::min(static_cast<size_t>(num_top), logits.size());
  result.top.reserve(num_wanted);
  for (size_t i = 0; i < logits.size() && num_wanted > 0; ++i) {
    const TokenLogprob entry = {static_cast<int32_t>(i), logits[i]};
    if (result.top.size() < num_wanted) {
      result.top.push_back(entry);
      std::push_heap(result.top.begin(), result.top.end(), is_better);
    } else if (is_better(entry, result.top.front())) {
      std::pop_heap(result.top.begin(), result.top.end(), is_better);
      result.top.back() = entry;
      std::push_heap(result.top.begin(), result.top.end(), is_better);
    }
  }
  for (TokenLogprob& entry : result.top) entry.logprob = logprob_of(entry.logprob);
  // Sorted after the conversion: two close logits can round to one logprob, and then
  // the lower id must come first.
  std::sort(result.top.begin(), result.top.end(), is_better);
  return result;
}

}  // namespace fathom

#include "engine/model_bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>

namespace fathom {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<int32_t> RandomTokens(int64_t n, int64_t vocab_size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> dist(0, static_cast<int32_t>(vocab_size - 1));
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int32_t& id : ids) id = dist(rng);
  return ids;
}

// One pp run: all tokens in one forward on the emptied cache. Returns seconds.
Result<double> TimePrompt(CausalLm& lm, KvCache& cache, std::span<const int32_t> tokens, std::vector<float>* logits) {
  cache.Truncate(0);
  const BatchEntry entry = {.tokens = tokens, .cache = &cache};
  const Clock::time_point start = Clock::now();
  FATHOM_RETURN_IF_ERROR(lm.Forward({&entry, 1}, logits));
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// One tg run: one forward per token on the emptied cache. Returns seconds.
Result<double> TimeGeneration(CausalLm& lm, KvCache& cache, std::span<const int32_t> tokens,
                              std::vector<float>* logits) {
  cache.Truncate(0);
  const Clock::time_point start = Clock::now();
  for (size_t i = 0; i < tokens.size(); ++i) {
    const BatchEntry entry = {.tokens = tokens.subspan(i, 1), .cache = &cache};
    FATHOM_RETURN_IF_ERROR(lm.Forward({&entry, 1}, logits));
  }
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Runs `warm_up` once and `time_once` num_repetitions times; `label` names the test in progress lines.
template <typename WarmUp, typename TimeOnce>
Result<RateStats> Repeat(const ModelBenchOptions& o, const std::string& label, int64_t num_tokens, WarmUp warm_up,
                         TimeOnce time_once) {
  auto report = [&](const std::string& line) {
    if (o.progress) o.progress(label + " " + line);
  };
  report("warm-up");
  FATHOM_RETURN_IF_ERROR(warm_up().status());
  std::vector<double> samples;
  for (int r = 0; r < o.num_repetitions; ++r) {
    FATHOM_ASSIGN_OR_RETURN(double seconds, time_once());
    samples.push_back(static_cast<double>(num_tokens) / seconds);
    char buf[96];
    std::snprintf(buf, sizeof buf, "run %d/%d: %.2f t/s", r + 1, o.num_repetitions, samples.back());
    report(buf);
  }
  return RateStats::FromSamples(std::move(samples));
}

}  // namespace

RateStats RateStats::FromSamples(std::vector<double> samples) {
  RateStats s;
  s.samples = std::move(samples);
  const size_t n = s.samples.size();
  if (n == 0) return s;
  double sum = 0.0;
  for (double x : s.samples) sum += x;
  s.mean = sum / static_cast<double>(n);
  double sq = 0.0;
  for (double x : s.samples) sq += (x - s.mean) * (x - s.mean);
  s.stddev = n > 1 ? std::sqrt(sq / static_cast<double>(n - 1)) : 0.0;
  std::vector<double> sorted = s.samples;
  std::sort(sorted.begin(), sorted.end());
  s.median = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
  return s;
}

Result<ModelBenchResult> RunModelBench(CausalLm& lm, const ModelBenchOptions& o) {
  if (o.num_prompt_tokens < 0 || o.num_gen_tokens < 0) return InvalidArgument("token counts must not be negative");
  if (o.num_repetitions < 1) return InvalidArgument("at least one repetition is needed");
  const int64_t context = lm.config().max_position_embeddings;
  const int64_t longest = std::max(o.num_prompt_tokens, o.num_gen_tokens);
  if (context > 0 && longest > context) {
    return InvalidArgument(std::to_string(longest) + " tokens do not fit the model's context of " +
                           std::to_string(context));
  }
  const int64_t vocab = lm.config().vocab_size;
  std::vector<float> logits;
  ModelBenchResult result;
  if (o.num_prompt_tokens > 0) {
    FATHOM_ASSIGN_OR_RETURN(KvCache cache, lm.NewCache(o.num_prompt_tokens));
    const std::vector<int32_t> tokens = RandomTokens(o.num_prompt_tokens, vocab, o.seed);
    FATHOM_ASSIGN_OR_RETURN(result.prompt,
                            Repeat(o, "pp" + std::to_string(o.num_prompt_tokens), o.num_prompt_tokens,
                                   [&] { return TimePrompt(lm, cache, tokens, &logits); },
                                   [&] { return TimePrompt(lm, cache, tokens, &logits); }));
  }
  if (o.num_gen_tokens > 0) {
    FATHOM_ASSIGN_OR_RETURN(KvCache cache, lm.NewCache(o.num_gen_tokens));
    const std::vector<int32_t> tokens = RandomTokens(o.num_gen_tokens, vocab, o.seed + 1);
    // As llama-bench, the tg warm-up is a single decode step: it pages in every
    // weight, which is all a warm-up is for, at 1/n of the cost.
    FATHOM_ASSIGN_OR_RETURN(
        result.gen,
        Repeat(o, "tg" + std::to_string(o.num_gen_tokens), o.num_gen_tokens,
               [&] { return TimeGeneration(lm, cache, std::span<const int32_t>(tokens).first(1), &logits); },
               [&] { return TimeGeneration(lm, cache, tokens, &logits); }));
  }
  return result;
}

}  // namespace fathom

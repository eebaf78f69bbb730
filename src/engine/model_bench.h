// Prompt-processing and generation speed of one model, measured the way
// llama-bench measures them so the numbers compare directly: pp is one forward
// of `num_prompt_tokens` tokens in a single batch on an empty cache (pp512), tg
// is `num_gen_tokens` single-token decode steps starting from an empty cache
// (tg128). Each test warms up untimed (pp: one full run; tg: one decode step, as
// llama-bench does), then runs `num_repetitions` times timed.
//
// Non-obvious rule: the token ids are random but valid and fixed by the seed,
// since speed must not depend on what the text says, and the logits are never
// sampled: tg feeds the random ids, not the argmax, as llama-bench does.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "model/causal_lm.h"

namespace fathom {

// Tokens per second over the timed repetitions of one test.
struct RateStats {
  std::vector<double> samples;  // (num_repetitions,) tokens/s of each run, in run order
  double mean = 0.0;
  double stddev = 0.0;  // sample standard deviation (n - 1); 0 for one sample
  double median = 0.0;

  // Fills mean, stddev and median from samples (all 0 when empty).
  static RateStats FromSamples(std::vector<double> samples);
};

struct ModelBenchOptions {
  int64_t num_prompt_tokens = 512;  // 0 skips the pp test
  int64_t num_gen_tokens = 128;     // 0 skips the tg test
  int num_repetitions = 5;          // timed runs per test, after one warm-up
  uint32_t seed = 1;                // picks the random token ids
  // Called with one line of progress ("pp512 run 2/5: 41.3 t/s"); may be empty.
  std::function<void(const std::string&)> progress;
};

struct ModelBenchResult {
  RateStats prompt;  // pp: empty samples when skipped
  RateStats gen;     // tg: empty samples when skipped
};

// Runs the pp and tg tests on `lm`. Returns InvalidArgument for negative
// counts, no repetitions, or more tokens than the model's context; a Forward
// error as it came.
Result<ModelBenchResult> RunModelBench(CausalLm& lm, const ModelBenchOptions& options);

}  // namespace fathom

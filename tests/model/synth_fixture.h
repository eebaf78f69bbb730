// Helpers shared by the model tests: a tiny synthetic model written to a fresh
// temporary directory (removed with the object), the list of tiny presets, a
// forward over one sequence, greedy decoding through the KV cache, random token
// ids and the normalised error the consistency checks compare with.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <ostream>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "model/causal_lm.h"
#include "model/model_registry.h"
#include "model/presets.h"
#include "model/synthetic_model.h"
#include "tests/formats/safetensors_test_util.h"

namespace fathom::testing_util {

struct TinyModelSpec {
  Architecture arch;
  std::string preset;  // "tiny", "tiny-tied", ...
  DType dtype = DType::kF32;

  // "llama_tiny_tied_f32": usable as a GoogleTest parameter name.
  std::string Name() const {
    std::string s = std::string(ArchitectureName(arch)) + "_" + preset + "_" + (dtype == DType::kF32 ? "f32" : "bf16");
    std::replace(s.begin(), s.end(), '-', '_');
    return s;
  }
};

// The config of a built-in preset; a failed test and an empty config if there is none.
inline ModelConfig PresetConfig(Architecture arch, std::string_view name) {
  Result<ModelConfig> c = FindPreset(arch, name);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? *c : ModelConfig{};
}

// GoogleTest prints parameters with this instead of their bytes.
inline void PrintTo(const TinyModelSpec& spec, std::ostream* os) { *os << spec.Name(); }

// Every tiny preset with f32 weights, in ListPresets() order.
inline std::vector<TinyModelSpec> TinyPresets() {
  std::vector<TinyModelSpec> specs;
  for (const PresetInfo& p : ListPresets()) {
    if (p.name.starts_with("tiny")) specs.push_back({p.arch, std::string(p.name)});
  }
  return specs;
}

// A synthetic model directory of one tiny preset; the directory goes with the object.
// Not copyable.
class SynthModelDir {
 public:
  explicit SynthModelDir(const TinyModelSpec& spec, uint64_t seed = 7) {
    SynthOptions options;
    options.arch = spec.arch;
    options.preset = spec.preset;
    options.out_dir = dir_.path();
    options.seed = seed;
    options.dtype = spec.dtype;
    options.num_threads = 2;
    options.show_progress = false;
    status_ = WriteSyntheticModel(options);
  }
  SynthModelDir(const SynthModelDir&) = delete;
  SynthModelDir& operator=(const SynthModelDir&) = delete;

  // OK iff the model was written.
  const Status& status() const { return status_; }
  const std::string& path() const { return dir_.path(); }

  // The forward pass over this directory on `pool`, which must outlive it.
  Result<std::unique_ptr<CausalLm>> Load(ThreadPool& pool) const { return LoadCausalLm(path(), pool); }

 private:
  ScopedTempDir dir_;
  Status status_;
};

// A tiny model written and loaded on its own pool. Members are destroyed in
// reverse order, so the model goes before the pool it runs on.
struct TinyModel {
  explicit TinyModel(const TinyModelSpec& spec, int num_threads = 2) : dir(spec), pool(num_threads) {
    status = dir.status();
    if (!status.ok()) return;
    Result<std::unique_ptr<CausalLm>> loaded = dir.Load(pool);
    status = loaded.status();
    if (loaded.ok()) lm = std::move(loaded).value();
  }

  SynthModelDir dir;
  ThreadPool pool;
  Status status;  // OK iff lm is loaded
  std::unique_ptr<CausalLm> lm;
};

// `n` ids drawn uniformly from [0, vocab_size), the same for the same seed.
inline std::vector<int32_t> RandomTokens(int64_t n, int64_t vocab_size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> dist(0, static_cast<int32_t>(vocab_size - 1));
  std::vector<int32_t> ids(n);
  for (int32_t& id : ids) id = dist(rng);
  return ids;
}

// Runs `tokens` as one batch entry continuing `cache`; returns the logits rows
// (one per token with all_logits, else the last), or the Forward error.
inline Result<std::vector<float>> ForwardSequence(CausalLm& lm, KvCache& cache, std::span<const int32_t> tokens,
                                                  bool all_logits) {
  const BatchEntry entry = {.tokens = tokens, .cache = &cache, .all_logits = all_logits};
  std::vector<float> logits;
  FATHOM_RETURN_IF_ERROR(lm.Forward({&entry, 1}, &logits));
  return logits;
}

// Up to `n` argmax tokens after `prompt`, decoded one at a time through a fresh
// KV cache; stops before `stop_token` (>= 0) if it comes up.
inline Result<std::vector<int32_t>> GreedyTokens(CausalLm& lm, std::span<const int32_t> prompt, int64_t n,
                                                 int32_t stop_token = -1) {
  FATHOM_ASSIGN_OR_RETURN(KvCache cache, lm.NewCache(static_cast<int64_t>(prompt.size()) + n));
  std::vector<int32_t> out;
  std::span<const int32_t> next = prompt;
  while (static_cast<int64_t>(out.size()) < n) {
    FATHOM_ASSIGN_OR_RETURN(std::vector<float> logits, ForwardSequence(lm, cache, next, false));
    const int32_t token = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    if (token == stop_token) break;
    out.push_back(token);
    next = {&out.back(), 1};
  }
  return out;
}

// max |got - want| / max |want|: the error of a logits block relative to its scale.
// Infinite for a size mismatch or a value that is not finite.
inline double MaxRelError(std::span<const float> got, std::span<const float> want) {
  if (got.size() != want.size()) return INFINITY;
  double max_diff = 0.0, scale = 0.0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i]) || !std::isfinite(want[i])) return INFINITY;
    max_diff = std::max(max_diff, std::abs(static_cast<double>(got[i]) - want[i]));
    scale = std::max(scale, std::abs(static_cast<double>(want[i])));
  }
  return scale > 0.0 ? max_diff / scale : max_diff;
}

}  // namespace fathom::testing_util

// Compares quantized models with their reference on the same tokens: both run
// over consecutive chunks of `context` tokens, every chunk on a fresh cache with
// logits for every position, and each position's two distributions go into one
// LogitDivergence per quantized model (`fathom eval-quant`).
//
// Non-obvious rule: the reference runs each chunk once and its logits are
// compared with every quantized model in turn, so evaluating k types costs k + 1
// forwards per chunk, not 2k.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "model/causal_lm.h"
#include "quant/logit_divergence.h"

namespace fathom {

struct QuantEvalOptions {
  int64_t context = 512;  // tokens per chunk; the last chunk may be shorter
  // Called with one line per chunk and model; may be empty.
  std::function<void(const std::string&)> progress;
};

// Returns one summary per entry of `quants`, in order. InvalidArgument if a
// quantized model's vocabulary size differs from the reference's (naming both),
// `tokens` is empty, or context < 1; a Forward error as it came.
Result<std::vector<LogitDivergence::Summary>> EvaluateQuantization(CausalLm& ref, std::span<CausalLm* const> quants,
                                                                  std::span<const int32_t> tokens,
                                                                  const QuantEvalOptions& options);

}  // namespace fathom

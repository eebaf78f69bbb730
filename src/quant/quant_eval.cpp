#include "quant/quant_eval.h"

#include <algorithm>

namespace fathom {
namespace {

// Every position's logits of one chunk, on a fresh cache.
Status ChunkLogits(CausalLm& lm, std::span<const int32_t> chunk, std::vector<float>* logits) {
  FATHOM_ASSIGN_OR_RETURN(KvCache cache, lm.NewCache(static_cast<int64_t>(chunk.size())));
  const BatchEntry entry = {.tokens = chunk, .cache = &cache, .all_logits = true};
  return lm.Forward({&entry, 1}, logits);
}

}  // namespace

Result<std::vector<LogitDivergence::Summary>> EvaluateQuantization(CausalLm& ref, std::span<CausalLm* const> quants,
                                                                  std::span<const int32_t> tokens,
                                                                  const QuantEvalOptions& options) {
  if (options.context < 1) return InvalidArgument("the chunk context must be at least one token");
  if (tokens.empty()) return InvalidArgument("no tokens to evaluate");
  const int64_t vocab = ref.config().vocab_size;
  for (size_t m = 0; m < quants.size(); ++m) {
    if (quants[m]->config().vocab_size != vocab) {
      return InvalidArgument("model " + std::to_string(m + 1) + " has a vocabulary of " +
                             std::to_string(quants[m]->config().vocab_size) + " tokens, the reference " +
                             std::to_string(vocab) + "; only models sharing a vocabulary can be compared");
    }
  }
  std::vector<LogitDivergence> divergences;
  for (size_t m = 0; m < quants.size(); ++m) divergences.emplace_back(vocab);

  std::vector<float> ref_logits;    // (chunk, vocab)
  std::vector<float> quant_logits;  // (chunk, vocab)
  const int64_t num_tokens = static_cast<int64_t>(tokens.size());
  const int64_t num_chunks = (num_tokens + options.context - 1) / options.context;
  for (int64_t c = 0; c < num_chunks; ++c) {
    const int64_t begin = c * options.context;
    const std::span<const int32_t> chunk = tokens.subspan(begin, std::min(options.context, num_tokens - begin));
    const std::string where = "chunk " + std::to_string(c + 1) + "/" + std::to_string(num_chunks);
    if (options.progress) options.progress(where + ": reference");
    FATHOM_RETURN_IF_ERROR(ChunkLogits(ref, chunk, &ref_logits));
    for (size_t m = 0; m < quants.size(); ++m) {
      if (options.progress) options.progress(where + ": model " + std::to_string(m + 1));
      FATHOM_RETURN_IF_ERROR(ChunkLogits(*quants[m], chunk, &quant_logits));
      divergences[m].AddRows(ref_logits, quant_logits);
    }
  }
  std::vector<LogitDivergence::Summary> summaries;
  for (const LogitDivergence& d : divergences) summaries.push_back(d.Summarize());
  return summaries;
}

}  // namespace fathom

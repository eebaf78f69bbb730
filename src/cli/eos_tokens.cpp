#include "cli/eos_tokens.h"

#include <algorithm>

namespace fathom::cli {

std::vector<int32_t> EosTokenIds(const ModelConfig& config, const Tokenizer& tokenizer,
                                 const GenerationConfig& generation) {
  std::vector<int32_t> ids;
  auto add = [&](int64_t id) {
    if (id >= 0 && id < config.vocab_size && std::find(ids.begin(), ids.end(), id) == ids.end()) {
      ids.push_back(static_cast<int32_t>(id));
    }
  };
  for (int64_t id : config.eos_token_ids) add(id);
  if (tokenizer.eos_token_id()) add(*tokenizer.eos_token_id());
  for (int64_t id : generation.eos_token_ids) add(id);
  return ids;
}

}  // namespace fathom::cli

// `fathom logits --model M --tokens 1,2,3 [--all] [--threads K] [--quant TYPE]`: one forward
// over the given ids, printing {"logits": [[...], ...]} (float32, 9 significant
// digits so every value round-trips), one row for the last position or, with
// --all, for every position. Needs no tokenizer files.
#include <cstdio>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/commands.h"
#include "model/model_registry.h"
#include "quant/quant_policy.h"

namespace fathom::cli {
namespace {

Result<std::vector<int32_t>> ParseTokenList(const std::string& text) {
  std::vector<int32_t> ids;
  size_t i = 0;
  while (i <= text.size()) {
    const size_t comma = std::min(text.find(',', i), text.size());
    const std::string item = text.substr(i, comma - i);
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (item.empty() || used != item.size() || v < 0 || v > INT32_MAX) {
      return InvalidArgument("--tokens: '" + item + "' is not a token id (expected comma-separated integers)");
    }
    ids.push_back(static_cast<int32_t>(v));
    i = comma + 1;
  }
  return ids;
}

}  // namespace

int LogitsCommand(const Args& args) {
  Result<ParsedArgs> parsed = ParsedArgs::Parse(args, {{"model"}, {"tokens"}, {"all", false}, {"threads", true, "t"}, {"quant"}, {"device"}});
  if (!parsed.ok()) return Fail(parsed.status().message(), 2);
  const std::string model_path = parsed->GetOr("model", "");
  const std::optional<std::string> token_text = parsed->Get("tokens");
  if (model_path.empty() || !token_text || !parsed->positional().empty()) {
    return Fail("usage: fathom logits --model M --tokens 1,2,3 [--all] [--threads K] [--quant TYPE] [--device cpu|cuda]",
                2);
  }
  LoadOptions load;
  if (const std::optional<std::string> quant = parsed->Get("quant")) {
    Result<DType> target = ParseQuantTarget(*quant);
    if (!target.ok()) return Fail(target.status().message(), 2);
    load.quant = *target;
  }
  Result<std::vector<int32_t>> tokens = ParseTokenList(*token_text);
  if (!tokens.ok()) return Fail(tokens.status().message(), 2);
  Result<int> threads = parsed->GetThreads();
  if (!threads.ok()) return Fail(threads.status().message(), 2);
  Result<DeviceKind> device = parsed->GetDevice();
  if (!device.ok()) return Fail(device.status().message(), 2);
  load.device = *device;

  ThreadPool pool(*threads);
  Result<std::unique_ptr<CausalLm>> lm = LoadCausalLm(model_path, pool, load);
  if (!lm.ok()) return Fail(lm.status().message());
  Result<KvCache> cache = (*lm)->NewCache(static_cast<int64_t>(tokens->size()));
  if (!cache.ok()) return Fail(cache.status().message());
  const BatchEntry entry = {.tokens = *tokens, .cache = &*cache, .all_logits = parsed->Has("all")};
  std::vector<float> logits;
  if (Status s = (*lm)->Forward({&entry, 1}, &logits); !s.ok()) return Fail(model_path + ": " + s.message());

  const size_t vocab = static_cast<size_t>((*lm)->config().vocab_size);
  std::string out = "{\"logits\": [";
  char buf[32];
  for (size_t r = 0; r < logits.size() / vocab; ++r) {
    out += r ? ",\n[" : "\n[";
    for (size_t j = 0; j < vocab; ++j) {
      std::snprintf(buf, sizeof buf, j ? ", %.9g" : "%.9g", logits[r * vocab + j]);
      out += buf;
    }
    out += "]";
  }
  out += "]}\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace fathom::cli

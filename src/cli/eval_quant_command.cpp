// `fathom eval-quant --model REF --quant-model Q [--quant-model Q2 ...]
// [--text FILE] [--positions 2048] [--ctx 512] [--threads K] [--seed S] [--json]`:
// how much each quantized model's next-token distributions differ from the
// reference's on the same tokens (see quant/quant_eval.h): mean, max and 99th
// percentile KL(p_ref || p_quant), top-1 agreement and the logits' relative RMS
// error. The tokens are the first N of --text as REF's tokenizer encodes it or,
// without --text, N random valid ids fixed by --seed (a random-weight model
// behaves alike on either). Progress goes to stderr.
#include <cstdio>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/mapped_file.h"
#include "model/model_registry.h"
#include "quant/quant_eval.h"
#include "tokenizer/tokenizer.h"

namespace fathom::cli {
namespace {

constexpr const char* kUsage =
    "usage: fathom eval-quant --model REF --quant-model Q [--quant-model Q2 ...] [--text FILE] "
    "[--positions 2048] [--ctx 512] [--threads K] [--seed S] [--json]";

struct EvalQuantOptions {
  std::string ref_model;
  std::vector<std::string> quant_models;
  std::optional<std::string> text_file;
  int64_t num_positions = 2048;
  int64_t context = 512;
  int num_threads = 0;
  uint32_t seed = 1;
  bool json = false;
};

Result<EvalQuantOptions> ParseEvalQuantOptions(const Args& args) {
  FATHOM_ASSIGN_OR_RETURN(ParsedArgs p, ParsedArgs::Parse(args, {{"model", true, "m"},
                                                                  {"quant-model", true, "q"},
                                                                  {"text"},
                                                                  {"positions"},
                                                                  {"ctx", true, "c"},
                                                                  {"threads", true, "t"},
                                                                  {"seed"},
                                                                  {"json", false}}));
  EvalQuantOptions o;
  o.ref_model = p.GetOr("model", "");
  o.quant_models = p.GetAll("quant-model");
  if (o.ref_model.empty() || o.quant_models.empty() || !p.positional().empty()) return InvalidArgument(kUsage);
  o.text_file = p.Get("text");
  FATHOM_ASSIGN_OR_RETURN(std::optional<int64_t> positions, p.GetInt("positions"));
  FATHOM_ASSIGN_OR_RETURN(std::optional<int64_t> ctx, p.GetInt("ctx"));
  FATHOM_ASSIGN_OR_RETURN(std::optional<int64_t> seed, p.GetInt("seed"));
  o.num_positions = positions.value_or(2048);
  o.context = ctx.value_or(512);
  if (o.num_positions < 1) return InvalidArgument("--positions must be >= 1");
  if (o.context < 1) return InvalidArgument("--ctx must be >= 1");
  FATHOM_ASSIGN_OR_RETURN(o.num_threads, p.GetThreads());
  if (seed) o.seed = static_cast<uint32_t>(*seed);
  o.json = p.Has("json");
  return o;
}

// The first num_positions ids of the text (fewer if it is shorter), or random valid ids without a text.
Result<std::vector<int32_t>> EvalTokens(const EvalQuantOptions& o, int64_t vocab_size) {
  if (!o.text_file) {
    std::fprintf(stderr, "eval-quant: no --text; using %lld random token ids (seed %u)\n",
                 static_cast<long long>(o.num_positions), o.seed);
    std::mt19937 rng(o.seed);
    std::uniform_int_distribution<int32_t> dist(0, static_cast<int32_t>(vocab_size - 1));
    std::vector<int32_t> ids(static_cast<size_t>(o.num_positions));
    for (int32_t& id : ids) id = dist(rng);
    return ids;
  }
  FATHOM_ASSIGN_OR_RETURN(std::string text, ReadTextFile(*o.text_file));
  FATHOM_ASSIGN_OR_RETURN(Tokenizer tokenizer, Tokenizer::Load(o.ref_model));
  FATHOM_ASSIGN_OR_RETURN(std::vector<int32_t> ids, tokenizer.Encode(text, /*add_special_tokens=*/true));
  if (static_cast<int64_t>(ids.size()) < o.num_positions) {
    std::fprintf(stderr, "eval-quant: %s has only %zu tokens; evaluating all of them\n", o.text_file->c_str(),
                 ids.size());
  }
  ids.resize(std::min<size_t>(ids.size(), static_cast<size_t>(o.num_positions)));
  if (ids.empty()) return InvalidArgument(*o.text_file + ": the text encodes to no tokens");
  return ids;
}

int EvalQuant(const EvalQuantOptions& o) {
  auto progress = [](const std::string& line) { std::fprintf(stderr, "eval-quant: %s\n", line.c_str()); };
  ThreadPool pool(o.num_threads);
  Result<std::unique_ptr<CausalLm>> ref = LoadCausalLm(o.ref_model, pool);
  if (!ref.ok()) return Fail(ref.status().message());
  std::vector<std::unique_ptr<CausalLm>> quants;
  std::vector<CausalLm*> quant_ptrs;
  for (const std::string& path : o.quant_models) {
    Result<std::unique_ptr<CausalLm>> lm = LoadCausalLm(path, pool);
    if (!lm.ok()) return Fail(lm.status().message());
    if ((*lm)->config().vocab_size != (*ref)->config().vocab_size) {
      return Fail(path + " has a vocabulary of " + std::to_string((*lm)->config().vocab_size) + " tokens but " +
                  o.ref_model + " has " + std::to_string((*ref)->config().vocab_size) +
                  "; eval-quant compares models with the same vocabulary");
    }
    quants.push_back(std::move(lm).value());
    quant_ptrs.push_back(quants.back().get());
  }
  Result<std::vector<int32_t>> tokens = EvalTokens(o, (*ref)->config().vocab_size);
  if (!tokens.ok()) return Fail(tokens.status().message());
  progress(std::to_string(tokens->size()) + " positions in chunks of " + std::to_string(o.context) + " tokens, " +
           std::to_string(pool.num_threads()) + " threads");

  Result<std::vector<LogitDivergence::Summary>> summaries =
      EvaluateQuantization(**ref, quant_ptrs, *tokens, {.context = o.context, .progress = progress});
  if (!summaries.ok()) return Fail(summaries.status().message());

  if (o.json) {
    nlohmann::ordered_json j;
    j["reference"] = o.ref_model;
    j["positions"] = tokens->size();
    j["ctx"] = o.context;
    j["text"] = o.text_file ? nlohmann::ordered_json(*o.text_file) : nlohmann::ordered_json();
    j["models"] = nlohmann::ordered_json::array();
    for (size_t m = 0; m < summaries->size(); ++m) {
      const LogitDivergence::Summary& s = (*summaries)[m];
      j["models"].push_back({{"model", o.quant_models[m]},
                             {"positions", s.num_positions},
                             {"mean_kl", s.mean_kl},
                             {"max_kl", s.max_kl},
                             {"p99_kl", s.p99_kl},
                             {"top1_agreement", s.top1_agreement},
                             {"logits_rel_rms", s.logits_rel_rms}});
    }
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  std::printf("reference: %s; %zu positions in chunks of %lld\n", o.ref_model.c_str(), tokens->size(),
              static_cast<long long>(o.context));
  std::printf("| %-40s | %10s | %10s | %10s | %7s | %9s |\n", "model", "mean KL", "p99 KL", "max KL", "top-1",
              "rel RMS");
  for (size_t m = 0; m < summaries->size(); ++m) {
    const LogitDivergence::Summary& s = (*summaries)[m];
    std::printf("| %-40s | %10.6f | %10.6f | %10.6f | %6.2f%% | %9.5f |\n", o.quant_models[m].c_str(), s.mean_kl,
                s.p99_kl, s.max_kl, 100.0 * s.top1_agreement, s.logits_rel_rms);
  }
  return 0;
}

}  // namespace

int EvalQuantCommand(const Args& args) {
  Result<EvalQuantOptions> options = ParseEvalQuantOptions(args);
  if (!options.ok()) return Fail(options.status().message(), 2);
  return EvalQuant(*options);
}

}  // namespace fathom::cli

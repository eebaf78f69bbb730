// `fathom run --model M --prompt TEXT [--chat] [-n N] [--temp T] [--top-p P]
// [--top-k K] [--min-p P] [--repeat-penalty R] [--seed S] [--threads K]
// [--ctx-size C] [--system TEXT] [--quant TYPE]`: generates a continuation, streaming the text to
// stdout as it is produced, and prints load time, prompt and generation speed and
// peak memory to stderr. Unset sampling options take the checkpoint's
// generation_config.json defaults, as vLLM does; with none, sampling is greedy.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/eos_tokens.h"
#include "engine/sampler.h"
#include "formats/generation_config.h"
#include "kernels/cpu/isa.h"
#include "model/model_registry.h"
#include "quant/quant_policy.h"
#include "tokenizer/incremental_detokenizer.h"
#include "tokenizer/tokenizer.h"

namespace fathom::cli {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

double PeakRssMiB() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

struct RunOptions {
  std::string model;
  std::string prompt;
  std::optional<std::string> system;
  bool chat = false;
  int64_t max_new_tokens = 256;
  int64_t context = 0;  // 0: the model's max_position_embeddings
  int num_threads = 0;
  DeviceKind device = DeviceKind::kCpu;
  std::optional<DType> quant;  // --quant: quantize float weights as they load
  SamplingParams sampling;
  GenerationConfig generation;  // the checkpoint's generation_config.json, empty without one
};

Result<RunOptions> ParseRunOptions(const Args& args) {
  FATHOM_ASSIGN_OR_RETURN(ParsedArgs p, ParsedArgs::Parse(args, {{"model", true, "m"},
                                                                  {"prompt", true, "p"},
                                                                  {"system"},
                                                                  {"chat", false},
                                                                  {"n-predict", true, "n"},
                                                                  {"temp"},
                                                                  {"top-p"},
                                                                  {"top-k"},
                                                                  {"min-p"},
                                                                  {"repeat-penalty"},
                                                                  {"seed"},
                                                                  {"threads", true, "t"},
                                                                  {"ctx-size", true, "c"},
                                                                  {"quant"},
                                                                  {"device"}}));
  RunOptions o;
  o.model = p.GetOr("model", "");
  const std::optional<std::string> prompt = p.Get("prompt");
  if (o.model.empty() || !prompt || !p.positional().empty()) {
    return InvalidArgument("usage: fathom run --model M --prompt TEXT [--chat] [-n N] [--temp T] [--top-p P] "
                           "[--top-k K] [--min-p P] [--repeat-penalty R] [--seed S] [--threads K] [--ctx-size C] "
                           "[--quant TYPE] [--device cpu|cuda]");
  }
  o.prompt = *prompt;
  o.system = p.Get("system");
  o.chat = p.Has("chat");
  FATHOM_ASSIGN_OR_RETURN(std::optional<int64_t> n, p.GetInt("n-predict"));
  if (n) o.max_new_tokens = *n;
  if (o.max_new_tokens < 0) return InvalidArgument("-n must be >= 0");
  FATHOM_ASSIGN_OR_RETURN(std::optional<int64_t> ctx, p.GetInt("ctx-size"));
  if (ctx && *ctx <= 0) return InvalidArgument("--ctx-size must be positive");
  o.context = ctx.value_or(0);
  FATHOM_ASSIGN_OR_RETURN(o.num_threads, p.GetThreads());
  FATHOM_ASSIGN_OR_RETURN(o.device, p.GetDevice());
  if (const std::optional<std::string> quant = p.Get("quant")) {
    FATHOM_ASSIGN_OR_RETURN(o.quant, ParseQuantTarget(*quant));
  }

  // Unset options fall back to generation_config.json, then to greedy.
  if (std::filesystem::is_directory(o.model)) {
    FATHOM_ASSIGN_OR_RETURN(o.generation, LoadGenerationConfig(o.model));
  }
  const GenerationConfig& gen = o.generation;
  const bool sample_by_default = gen.do_sample.value_or(gen.temperature.has_value());
  SamplingParams& s = o.sampling;
  s.temperature = sample_by_default ? static_cast<float>(gen.temperature.value_or(1.0)) : 0.0f;
  s.top_p = static_cast<float>(gen.top_p.value_or(1.0));
  s.top_k = static_cast<int32_t>(gen.top_k.value_or(0));
  FATHOM_ASSIGN_OR_RETURN(std::optional<double> temp, p.GetDouble("temp"));
  if (temp) s.temperature = static_cast<float>(*temp);
  FATHOM_ASSIGN_OR_RETURN(std::optional<double> top_p, p.GetDouble("top-p"));
  if (top_p) s.top_p = static_cast<float>(*top_p);
  FATHOM_ASSIGN_OR_RETURN(std::optional<int64_t> top_k, p.GetInt("top-k"));
  if (top_k) s.top_k = static_cast<int32_t>(std::clamp<int64_t>(*top_k, -1, INT32_MAX));
  FATHOM_ASSIGN_OR_RETURN(std::optional<double> min_p, p.GetDouble("min-p"));
  if (min_p) s.min_p = static_cast<float>(*min_p);
  FATHOM_ASSIGN_OR_RETURN(std::optional<double> rep, p.GetDouble("repeat-penalty"));
  if (rep) s.repetition_penalty = static_cast<float>(*rep);
  FATHOM_ASSIGN_OR_RETURN(std::optional<int64_t> seed, p.GetInt("seed"));
  if (seed) s.seed = static_cast<uint64_t>(*seed);
  return o;
}

// The prompt's token ids: through the chat template with --chat (its text
// already holds the BOS, so none is added), else the text with the tokenizer's
// own special tokens, as transformers' tokenizer(text) does.
Result<std::vector<int32_t>> PromptTokens(const RunOptions& o, const Tokenizer& tokenizer) {
  if (!o.chat) return tokenizer.Encode(o.prompt, /*add_special_tokens=*/true);
  FATHOM_ASSIGN_OR_RETURN(ChatTemplate tmpl, ChatTemplate::Load(o.model));
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  if (o.system) messages.push_back({{"role", "system"}, {"content", *o.system}});
  messages.push_back({{"role", "user"}, {"content", o.prompt}});
  FATHOM_ASSIGN_OR_RETURN(std::string text, tmpl.Render(messages, /*add_generation_prompt=*/true));
  return tokenizer.Encode(text, /*add_special_tokens=*/false);
}

int Run(const RunOptions& o) {
  const Clock::time_point load_start = Clock::now();
  ThreadPool pool(o.num_threads);
  Result<std::unique_ptr<CausalLm>> lm = LoadCausalLm(o.model, pool, {.quant = o.quant, .pool = nullptr, .device = o.device});
  if (!lm.ok()) return Fail(lm.status().message());
  Result<Tokenizer> tokenizer = Tokenizer::Load(o.model);
  if (!tokenizer.ok()) return Fail(tokenizer.status().message());
  const ModelConfig& config = (*lm)->config();
  const double load_s = Seconds(load_start);

  Result<std::vector<int32_t>> prompt = PromptTokens(o, *tokenizer);
  if (!prompt.ok()) return Fail(prompt.status().message());
  if (prompt->empty()) return Fail("the prompt encodes to no tokens");
  const int64_t context = o.context > 0 ? std::min(o.context, config.max_position_embeddings)
                                        : config.max_position_embeddings;
  const int64_t num_prompt = static_cast<int64_t>(prompt->size());
  if (num_prompt >= context) {
    return Fail("the prompt is " + std::to_string(num_prompt) + " tokens, more than the context of " +
                std::to_string(context) + " tokens leaves room for");
  }
  const int64_t max_new = std::min(o.max_new_tokens, context - num_prompt);
  Result<KvCache> cache = (*lm)->NewCache(num_prompt + max_new);
  if (!cache.ok()) return Fail(cache.status().message());
  Result<Sampler> sampler = Sampler::Create(o.sampling, config.vocab_size, *prompt);
  if (!sampler.ok()) return Fail(sampler.status().message());
  SamplerScratch scratch;
  const std::vector<int32_t> stop = EosTokenIds(config, *tokenizer, o.generation);
  IncrementalDetokenizer detok(&*tokenizer, /*skip_special_tokens=*/false);

  std::vector<float> logits;
  const Clock::time_point prompt_start = Clock::now();
  BatchEntry entry = {.tokens = *prompt, .cache = &*cache};
  if (Status s = (*lm)->Forward({&entry, 1}, &logits); !s.ok()) return Fail(s.message());
  const double prompt_s = Seconds(prompt_start);

  const Clock::time_point gen_start = Clock::now();
  int64_t num_generated = 0;
  std::string finish = "length";
  for (int32_t token = 0; num_generated < max_new;) {
    Result<int32_t> next = sampler->Sample(logits, &scratch);
    if (!next.ok()) return Fail(next.status().message());
    token = *next;
    ++num_generated;
    if (std::find(stop.begin(), stop.end(), token) != stop.end()) {
      finish = "stop";
      break;
    }
    sampler->Accept(token);
    const std::string text = detok.Append(token);
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    if (num_generated == max_new) break;
    entry = {.tokens = {&token, 1}, .cache = &*cache};
    if (Status s = (*lm)->Forward({&entry, 1}, &logits); !s.ok()) return Fail(s.message());
  }
  const std::string tail = detok.Finish();
  std::fwrite(tail.data(), 1, tail.size(), stdout);
  std::fputs("\n", stdout);
  std::fflush(stdout);
  const double gen_s = Seconds(gen_start);

  std::fprintf(stderr,
               "fathom: load %.2f s (%.0f MiB of weights, %d threads); prompt %lld tokens, %.1f tokens/s; "
               "generation %lld tokens, %.1f tokens/s (%s); KV cache %.1f MiB; peak RSS %.0f MiB; seed %llu; cpu isa %s\n",
               load_s, static_cast<double>((*lm)->weight_bytes()) / (1 << 20), pool.num_threads(),
               static_cast<long long>(num_prompt), static_cast<double>(num_prompt) / prompt_s,
               static_cast<long long>(num_generated), num_generated > 0 ? num_generated / gen_s : 0.0, finish.c_str(),
               static_cast<double>(cache->num_bytes()) / (1 << 20), PeakRssMiB(),
               static_cast<unsigned long long>(sampler->seed()), std::string(cpu::IsaName(cpu::ActiveIsa())).c_str());
  return 0;
}

}  // namespace

int RunCommand(const Args& args) {
  Result<RunOptions> options = ParseRunOptions(args);
  if (!options.ok()) return Fail(options.status().message(), 2);
  return Run(*options);
}

}  // namespace fathom::cli

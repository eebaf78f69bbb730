// `fathom bench --model M [-p 512] [-n 128] [-r 5] [--threads K] [--seed S]
// [--bw-mib 1024] [--json]`: llama-bench's pp and tg tests (see
// engine/model_bench.h) plus the bandwidth view of decode: weight bytes read per
// token times tg tokens/s, against the machine's measured read bandwidth with the
// same threads. Progress goes to stderr; the result to stdout, as a table or, with
// --json, as one JSON object.
#include <chrono>
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "backend/backend.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "core/memory_bandwidth.h"
#include "engine/model_bench.h"
#include "model/model_registry.h"

namespace fathom::cli {
namespace {

constexpr const char* kUsage =
    "usage: fathom bench --model M [-p 512] [-n 128] [-r 5] [--threads K] [--seed S] [--bw-mib 1024] [--json] "
    "[--device cpu|cuda]";

struct BenchCommandOptions {
  std::string model;
  ModelBenchOptions bench;
  int num_threads = 0;
  DeviceKind device = DeviceKind::kCpu;
  int64_t bandwidth_bytes = int64_t{1} << 30;  // 0 skips the bandwidth measurement
  bool json = false;
};

Result<BenchCommandOptions> ParseBenchOptions(const Args& args) {
  FATHOM_ASSIGN_OR_RETURN(ParsedArgs p, ParsedArgs::Parse(args, {{"model", true, "m"},
                                                                  {"n-prompt", true, "p"},
                                                                  {"n-gen", true, "n"},
                                                                  {"repetitions", true, "r"},
                                                                  {"threads", true, "t"},
                                                                  {"seed"},
                                                                  {"bw-mib"},
                                                                  {"json", false},
                                                                  {"device"}}));
  BenchCommandOptions o;
  o.model = p.GetOr("model", "");
  if (o.model.empty() || !p.positional().empty()) return InvalidArgument(kUsage);
  FATHOM_ASSIGN_OR_RETURN(std::optional<int64_t> n_prompt, p.GetInt("n-prompt"));
  FATHOM_ASSIGN_OR_RETURN(std::optional<int64_t> n_gen, p.GetInt("n-gen"));
  FATHOM_ASSIGN_OR_RETURN(std::optional<int64_t> reps, p.GetInt("repetitions"));
  FATHOM_ASSIGN_OR_RETURN(std::optional<int64_t> seed, p.GetInt("seed"));
  FATHOM_ASSIGN_OR_RETURN(std::optional<int64_t> bw_mib, p.GetInt("bw-mib"));
  o.bench.num_prompt_tokens = n_prompt.value_or(512);
  o.bench.num_gen_tokens = n_gen.value_or(128);
  o.bench.num_repetitions = static_cast<int>(std::clamp<int64_t>(reps.value_or(5), 0, 1'000'000));
  if (o.bench.num_prompt_tokens < 0 || o.bench.num_gen_tokens < 0) return InvalidArgument("-p and -n must be >= 0");
  if (o.bench.num_repetitions < 1) return InvalidArgument("-r must be >= 1");
  FATHOM_ASSIGN_OR_RETURN(o.num_threads, p.GetThreads());
  FATHOM_ASSIGN_OR_RETURN(o.device, p.GetDevice());
  if (seed) o.bench.seed = static_cast<uint32_t>(*seed);
  if (bw_mib && (*bw_mib < 0 || *bw_mib > (int64_t{1} << 24))) return InvalidArgument("--bw-mib must be in [0, 2^24] (0 skips)");
  o.bandwidth_bytes = bw_mib.value_or(1024) << 20;
  o.json = p.Has("json");
  return o;
}

nlohmann::ordered_json RateJson(const RateStats& s) {
  return {{"mean", s.mean}, {"stddev", s.stddev}, {"median", s.median}, {"samples", s.samples}};
}

void PrintTable(const BenchCommandOptions& o, const nlohmann::ordered_json& j) {
  std::printf("model: %s (%.1f MiB of weights, on %s, %d repetitions)\n", o.model.c_str(),
              j["weight_bytes"].get<double>() / (1 << 20), j["device"].get<std::string>().c_str(),
              o.bench.num_repetitions);
  std::printf("| %-8s | %24s | %12s |\n", "test", "t/s (mean ± stddev)", "median t/s");
  for (const char* test : {"pp", "tg"}) {
    const nlohmann::ordered_json& t = j[test];
    if (t.is_null()) continue;
    std::printf("| %-8s | %15.2f ± %6.2f | %12.2f |\n", (test + std::to_string(t["tokens"].get<int64_t>())).c_str(),
                t["mean"].get<double>(), t["stddev"].get<double>(), t["median"].get<double>());
  }
  if (!j["decode_gb_per_s"].is_null()) {
    std::printf("decode: %.3f GB read per token x %.2f t/s = %.2f GB/s", j["decode_bytes_per_token"].get<double>() / 1e9,
                j["gen_tokens_per_s"].get<double>(), j["decode_gb_per_s"].get<double>());
    if (!j["machine_read_gb_per_s"].is_null()) {
      std::printf(" of %.2f GB/s measured read bandwidth (%.1f%%)", j["machine_read_gb_per_s"].get<double>(),
                  100.0 * j["decode_bandwidth_fraction"].get<double>());
    }
    std::printf("\n");
  }
}

int Bench(const BenchCommandOptions& o) {
  auto progress = [](const std::string& line) { std::fprintf(stderr, "bench: %s\n", line.c_str()); };
  ThreadPool pool(o.num_threads);
  const auto load_start = std::chrono::steady_clock::now();
  Result<std::unique_ptr<CausalLm>> lm = LoadCausalLm(o.model, pool, {.quant = std::nullopt, .pool = nullptr, .device = o.device});
  if (!lm.ok()) return Fail(lm.status().message());
  const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
  progress("loaded " + o.model + " in " + std::to_string(load_s) + " s");

  ModelBenchOptions bench = o.bench;
  bench.progress = progress;
  Result<ModelBenchResult> result = RunModelBench(**lm, bench);
  if (!result.ok()) return Fail(o.model + ": " + result.status().message());

  // Host memory bandwidth bounds a CPU decode only; a GPU's is measured by
  // bench/gpu_bench.cpp against its device-to-device copy.
  std::optional<double> read_bytes_per_s;
  if (o.bandwidth_bytes > 0 && o.device == DeviceKind::kCpu) {
    progress("measuring memory read bandwidth (" + std::to_string(o.bandwidth_bytes >> 20) + " MiB buffer)");
    Result<double> bw = MeasureReadBandwidth(pool, {.num_bytes = o.bandwidth_bytes});
    if (!bw.ok()) return Fail(bw.status().message());
    read_bytes_per_s = *bw;
  }

  // A decode step reads every weight once except the embedding table (one row);
  // MoE models still count every expert (see CausalLm::decode_bytes_per_token).
  const int64_t weight_bytes = (*lm)->weight_bytes();
  const int64_t decode_bytes = (*lm)->decode_bytes_per_token();
  nlohmann::ordered_json j;
  j["model"] = o.model;
  j["threads"] = pool.num_threads();
  j["device"] = (*lm)->backend().description();
  j["repetitions"] = o.bench.num_repetitions;
  j["n_prompt"] = o.bench.num_prompt_tokens;
  j["n_gen"] = o.bench.num_gen_tokens;
  j["load_s"] = load_s;
  j["prompt_tokens_per_s"] = result->prompt.samples.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(result->prompt.mean);
  j["gen_tokens_per_s"] = result->gen.samples.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(result->gen.mean);
  j["pp"] = nlohmann::ordered_json();
  j["tg"] = nlohmann::ordered_json();
  if (!result->prompt.samples.empty()) {
    j["pp"] = RateJson(result->prompt);
    j["pp"]["tokens"] = o.bench.num_prompt_tokens;
  }
  if (!result->gen.samples.empty()) {
    j["tg"] = RateJson(result->gen);
    j["tg"]["tokens"] = o.bench.num_gen_tokens;
  }
  j["weight_bytes"] = weight_bytes;
  j["decode_bytes_per_token"] = decode_bytes;
  j["decode_gb_per_s"] = nlohmann::ordered_json();
  j["machine_read_gb_per_s"] = read_bytes_per_s ? nlohmann::ordered_json(*read_bytes_per_s / 1e9) : nlohmann::ordered_json();
  j["decode_bandwidth_fraction"] = nlohmann::ordered_json();
  if (!result->gen.samples.empty()) {
    const double decode_bytes_per_s = static_cast<double>(decode_bytes) * result->gen.mean;
    j["decode_gb_per_s"] = decode_bytes_per_s / 1e9;
    if (read_bytes_per_s) j["decode_bandwidth_fraction"] = decode_bytes_per_s / *read_bytes_per_s;
  }
  if (o.json) {
    std::printf("%s\n", j.dump().c_str());
  } else {
    PrintTable(o, j);
  }
  return 0;
}

}  // namespace

int BenchCommand(const Args& args) {
  Result<BenchCommandOptions> options = ParseBenchOptions(args);
  if (!options.ok()) return Fail(options.status().message(), 2);
  return Bench(*options);
}

}  // namespace fathom::cli

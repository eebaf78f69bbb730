// `fathom synth`: writes a random-weight Hugging Face model directory.
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "model/presets.h"
#include "model/synthetic_model.h"

namespace fathom::cli {
namespace {

std::string PresetList() {
  std::string s;
  for (const PresetInfo& p : ListPresets()) {
    s += "  --arch " + std::string(ArchitectureName(p.arch)) + " --preset " + std::string(p.name) + "  (" +
         std::string(p.description) + ")\n";
  }
  return s;
}

}  // namespace

int SynthCommand(const Args& args) {
  Result<ParsedArgs> parsed = ParsedArgs::Parse(
      args, {{"arch"}, {"preset"}, {"out"}, {"seed"}, {"dtype"}, {"layers"}, {"vocab"}, {"tokenizer"},
             {"max-shard-size"}, {"threads"}, {"quiet", false}, {"list", false}});
  if (!parsed.ok()) return Fail(parsed.status().message(), 2);
  if (parsed->Has("list")) {
    std::printf("%s", PresetList().c_str());
    return 0;
  }
  const std::string arch_name = parsed->GetOr("arch", "");
  std::optional<Architecture> arch = ArchitectureFromName(arch_name);
  if (!arch) return Fail("synth: --arch must be llama, qwen2, deepseek_v2 or deepseek_v3 (got '" + arch_name + "')", 2);
  if (!parsed->Has("out")) return Fail("synth: --out DIR is required", 2);

  SynthOptions options;
  options.arch = *arch;
  options.preset = parsed->GetOr("preset", "tiny");
  options.out_dir = *parsed->Get("out");
  options.tokenizer_dir = parsed->GetOr("tokenizer", "");
  options.show_progress = !parsed->Has("quiet");
  const std::string dtype = parsed->GetOr("dtype", "bf16");
  if (dtype == "bf16") {
    options.dtype = DType::kBF16;
  } else if (dtype == "f32") {
    options.dtype = DType::kF32;
  } else {
    return Fail("synth: --dtype must be bf16 or f32", 2);
  }
  for (const char* name : {"seed", "layers", "vocab", "threads"}) {
    Result<std::optional<int64_t>> v = parsed->GetInt(name);
    if (!v.ok()) return Fail("synth: " + v.status().message(), 2);
    if (!v->has_value()) continue;
    const int64_t x = **v;
    if (x < 0) return Fail(std::string("synth: --") + name + " must not be negative", 2);
    if (std::string_view(name) == "seed") options.seed = static_cast<uint64_t>(x);
    if (std::string_view(name) == "layers") options.num_layers = x;
    if (std::string_view(name) == "vocab") options.vocab_size = x;
    if (std::string_view(name) == "threads") options.num_threads = static_cast<int>(x);
  }
  if (std::optional<std::string> size = parsed->Get("max-shard-size")) {
    Result<uint64_t> bytes = ParseByteSize(*size);
    if (!bytes.ok()) return Fail("synth: --max-shard-size: " + bytes.status().message(), 2);
    options.max_shard_bytes = *bytes;
  }
  Status s = WriteSyntheticModel(options);
  if (!s.ok()) return Fail("synth: " + s.message());
  return 0;
}

}  // namespace fathom::cli

// `fathom quantize IN OUT.gguf TYPE [--threads N] [--quiet]`: writes a GGUF file
// llama.cpp loads, from a Hugging Face directory or another GGUF file, and prints
// one summary line: tensors, input and output size, bits per weight, seconds.
#include <cstdio>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "quant/gguf_export.h"
#include "quant/quant_policy.h"

namespace fathom::cli {
namespace {

std::string Megabytes(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f MB", static_cast<double>(bytes) / 1e6);
  return buf;
}

}  // namespace

int QuantizeCommand(const Args& args) {
  Result<ParsedArgs> parsed = ParsedArgs::Parse(args, {{"threads", true, "t"}, {"quiet", false}});
  if (!parsed.ok()) return Fail("quantize: " + parsed.status().message(), 2);
  const std::vector<std::string>& pos = parsed->positional();
  if (pos.size() != 3) return Fail("usage: fathom quantize IN OUT.gguf TYPE [--threads N]", 2);
  const std::string& in = pos[0];
  const std::string& out = pos[1];
  Result<DType> target = ParseQuantTarget(pos[2]);
  if (!target.ok()) return Fail("quantize: " + target.status().message(), 2);
  Result<int> threads = parsed->GetThreads();
  if (!threads.ok()) return Fail("quantize: " + threads.status().message(), 2);
  if (!out.ends_with(".gguf")) return Fail("quantize: " + out + ": the output file name must end in .gguf", 2);

  GgufExportOptions options;
  options.target = *target;
  options.num_threads = *threads;
  options.show_progress = !parsed->Has("quiet");
  Result<GgufExportSummary> summary = ExportGguf(in, out, options);
  if (!summary.ok()) return Fail(summary.status().message());
  std::printf("%s: %lld tensors, %s -> %s, %.2f bits per weight, %.1f s\n", out.c_str(),
              static_cast<long long>(summary->num_tensors), Megabytes(summary->input_bytes).c_str(),
              Megabytes(summary->output_bytes).c_str(), summary->bits_per_weight(), summary->seconds);
  return 0;
}

}  // namespace fathom::cli

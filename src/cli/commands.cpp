#include "cli/commands.h"

#include <cstdio>
#include <string_view>

namespace fathom::cli {
namespace {

struct Command {
  std::string_view verb;
  int (*run)(const Args&);
  std::string_view summary;
};

constexpr Command kCommands[] = {
    {"inspect", InspectCommand, "inspect MODEL: architecture, exact parameters, tensors, config, files (JSON)"},
    {"synth", SynthCommand, "synth --arch A --preset P --out DIR: write a random-weight model directory"},
    {"template", TemplateCommand, "template --model M --messages FILE: print the chat-template prompt"},
    {"tokenize", TokenizeCommand, "tokenize --model M [--no-special] [--jsonl]: stdin text to a JSON array of ids"},
    {"detokenize", DetokenizeCommand, "detokenize --model M [--skip-special]: a JSON array of ids on stdin to text"},
    {"run", RunCommand, "run --model M --prompt TEXT [--chat] [-n N] [--temp T] [--seed S]: generate, streaming"},
    {"bench", BenchCommand, "bench --model M [-p 512] [-n 128] [-r 5] [--json]: llama-bench's pp/tg speed and decode GB/s"},
    {"eval-quant", EvalQuantCommand, "eval-quant --model REF --quant-model Q...: KL divergence and top-1 agreement vs REF"},
    {"logits", LogitsCommand, "logits --model M --tokens 1,2,3 [--all]: float32 logits of the last (every) position"},
    {"serve", ServeCommand, "serve --model M [--host H] [--port P] ...: the OpenAI-compatible HTTP server"},
    {"quantize", QuantizeCommand, "quantize IN OUT.gguf TYPE [--threads N]: write a llama.cpp GGUF (q8_0, q4_k, f16, ...)"},
};

void PrintUsage() {
  std::fputs("usage: fathom COMMAND [options]\n\ncommands:\n", stderr);
  for (const Command& c : kCommands) std::fprintf(stderr, "  %-10s %s\n", std::string(c.verb).c_str(), std::string(c.summary).c_str());
  std::fputs("  version    print the version\n", stderr);
}

}  // namespace

int Fail(const std::string& message, int code) {
  std::fprintf(stderr, "fathom: %s\n", message.c_str());
  return code;
}

int Main(int argc, char** argv) {
  if (argc < 2) {
    PrintUsage();
    return 2;
  }
  const std::string_view verb = argv[1];
  if (verb == "version" || verb == "--version") {
    std::printf("fathom %s\n", FATHOM_VERSION);
    return 0;
  }
  if (verb == "help" || verb == "--help" || verb == "-h") {
    PrintUsage();
    return 0;
  }
  for (const Command& c : kCommands) {
    if (c.verb == verb) return c.run(Args(argv + 2, argv + argc));
  }
  PrintUsage();
  return Fail("unknown command '" + std::string(verb) + "'", 2);
}

}  // namespace fathom::cli

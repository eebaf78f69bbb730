#include "cli/commands.h"

#include <cstdio>
#include <string_view>

namespace fathom::cli {
namespace {

void PrintUsage() {
  std::fputs(
      "usage: fathom COMMAND [options]\n"
      "commands:\n"
      "  inspect MODEL          describe a model directory or GGUF file as JSON\n"
      "  synth --arch A --preset P --out DIR   write a random-weight model\n"
      "  version                print the version\n",
      stderr);
}

}  // namespace

int Main(int argc, char** argv) {
  if (argc < 2) {
    PrintUsage();
    return 2;
  }
  std::string_view verb = argv[1];
  if (verb == "version" || verb == "--version") {
    std::printf("fathom %s\n", FATHOM_VERSION);
    return 0;
  }
  std::fprintf(stderr, "fathom: unknown command '%s'\n", argv[1]);
  PrintUsage();
  return 2;
}

}  // namespace fathom::cli

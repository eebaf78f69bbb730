// Single-threaded encode throughput of fathom's tokenizer: reads a JSONL file of
// strings, encodes each (add_special_tokens=true) in a loop, and prints one JSON
// line {"mb_per_s": best of `passes`, ...}. bench/tokenizer_bench.py runs it beside
// Hugging Face `tokenizers` on the same text and prints the ratio.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: tokenizer_bench MODEL TEXT.jsonl [passes]\n");
    return 2;
  }
  const int passes = argc > 3 ? std::atoi(argv[3]) : 3;
  fathom::Result<fathom::Tokenizer> tokenizer = fathom::Tokenizer::Load(argv[1]);
  if (!tokenizer.ok()) {
    std::fprintf(stderr, "tokenizer_bench: %s\n", tokenizer.status().message().c_str());
    return 1;
  }
  std::ifstream in(argv[2]);
  std::vector<std::string> texts;
  size_t num_bytes = 0;
  for (std::string line; std::getline(in, line);) {
    texts.push_back(nlohmann::json::parse(line).get<std::string>());
    num_bytes += texts.back().size();
  }
  double best = 1e30;
  size_t num_tokens = 0;
  for (int pass = 0; pass < passes; ++pass) {
    num_tokens = 0;
    const auto start = std::chrono::steady_clock::now();
    for (const std::string& t : texts) {
      fathom::Result<std::vector<int32_t>> ids = tokenizer->Encode(t, true);
      if (!ids.ok()) return 1;
      num_tokens += ids->size();
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::min(best, s);
  }
  std::printf("{\"mb_per_s\": %.3f, \"seconds\": %.4f, \"bytes\": %zu, \"tokens\": %zu}\n", num_bytes / best / 1e6,
              best, num_bytes, num_tokens);
  return 0;
}

// `fathom tokenize` and `fathom detokenize`: text to ids and back on stdin/stdout,
// so conformance scripts can drive the tokenizer over a whole corpus in one process.
#include <cstdio>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "tokenizer/tokenizer.h"

namespace fathom::cli {
namespace {

std::string IdsToJson(const std::vector<int32_t>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) s += ',';
    s += std::to_string(ids[i]);
  }
  s += ']';
  return s;
}

}  // namespace

int TokenizeCommand(const Args& args) {
  Result<ParsedArgs> parsed = ParsedArgs::Parse(args, {{"model"}, {"no-special", false}, {"jsonl", false}});
  if (!parsed.ok()) return Fail("tokenize: " + parsed.status().message(), 2);
  if (!parsed->Has("model")) return Fail("tokenize: --model M is required", 2);
  Result<Tokenizer> tokenizer = Tokenizer::Load(*parsed->Get("model"));
  if (!tokenizer.ok()) return Fail(tokenizer.status().message());
  const bool add_special = !parsed->Has("no-special");
  if (!parsed->Has("jsonl")) {
    const std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    Result<std::vector<int32_t>> ids = tokenizer->Encode(text, add_special);
    if (!ids.ok()) return Fail(ids.status().message());
    std::printf("%s\n", IdsToJson(*ids).c_str());
    return 0;
  }
  std::string line;
  int64_t line_number = 0;
  while (std::getline(std::cin, line)) {
    ++line_number;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_string()) {
      return Fail("tokenize: stdin line " + std::to_string(line_number) + " is not a JSON string", 2);
    }
    Result<std::vector<int32_t>> ids = tokenizer->Encode(j.get_ref<const std::string&>(), add_special);
    if (!ids.ok()) return Fail("tokenize: line " + std::to_string(line_number) + ": " + ids.status().message());
    std::fputs(IdsToJson(*ids).c_str(), stdout);
    std::fputc('\n', stdout);
  }
  return 0;
}

int DetokenizeCommand(const Args& args) {
  Result<ParsedArgs> parsed = ParsedArgs::Parse(args, {{"model"}, {"skip-special", false}});
  if (!parsed.ok()) return Fail("detokenize: " + parsed.status().message(), 2);
  if (!parsed->Has("model")) return Fail("detokenize: --model M is required", 2);
  Result<Tokenizer> tokenizer = Tokenizer::Load(*parsed->Get("model"));
  if (!tokenizer.ok()) return Fail(tokenizer.status().message());
  const std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  nlohmann::json j = nlohmann::json::parse(input, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_array()) return Fail("detokenize: stdin is not a JSON array of ids", 2);
  std::vector<int32_t> ids;
  for (const nlohmann::json& v : j) {
    if (!v.is_number_integer()) return Fail("detokenize: " + v.dump() + " is not an integer id", 2);
    ids.push_back(v.get<int32_t>());
  }
  std::fputs(tokenizer->Decode(ids, parsed->Has("skip-special")).c_str(), stdout);
  return 0;
}

}  // namespace fathom::cli

#include "tokenizer/builtin_vocab.h"

#include <algorithm>
#include <map>
#include <string_view>
#include <utility>

#include "chat/default_template.h"
#include "core/status.h"
#include "tokenizer/byte_level.h"

namespace fathom {
namespace {

using nlohmann::json;

// DeepSeek's special tokens; bos/eos/pad first, the rest at the end of the vocab.
constexpr std::string_view kBos = "<｜begin▁of▁sentence｜>";
constexpr std::string_view kEos = "<｜end▁of▁sentence｜>";
constexpr std::string_view kPad = "<｜▁pad▁｜>";
constexpr std::string_view kTrailingSpecials[] = {
    "<｜User｜>",
    "<｜Assistant｜>",
    "<think>",
    "</think>",
    "<｜tool▁calls▁begin｜>",
    "<｜tool▁calls▁end｜>",
    "<｜tool▁call▁begin｜>",
    "<｜tool▁call▁end｜>",
    "<｜tool▁sep｜>",
    "<｜tool▁outputs▁begin｜>",
    "<｜tool▁outputs▁end｜>",
    "<｜tool▁output▁begin｜>",
    "<｜tool▁output▁end｜>",
};

// Text the merges are learned from: ordinary English prose and a little code, so
// frequent words and indentation become single tokens.
constexpr std::string_view kTrainingText =
    "The quick brown fox jumps over the lazy dog. The model reads the text and writes the answer. "
    "A company runs the model on hardware it owns, and the people who use it ask questions in their own "
    "words. They want the answer to be right, to come back quickly, and to stay on their own machines. "
    "When the question is hard, the model thinks before it answers: it writes its reasoning first and "
    "then the final answer. The server streams each token as soon as it is ready, so the user sees the "
    "text appear while the rest is still being computed. This is the way the system is meant to work, "
    "and there is nothing in it that should surprise anyone who has used such a service before. "
    "What is the capital of France? The capital of France is Paris. How many days are there in a week? "
    "There are seven days in a week. Please explain why the sky is blue in simple terms for a child. "
    "def main():\n    for i in range(10):\n        print(i)\n    return 0\n\n"
    "int main(int argc, char** argv) {\n  if (argc > 1) {\n    return 1;\n  }\n  return 0;\n}\n"
    "import json\nwith open(\"config.json\") as f:\n    config = json.load(f)\n"
    "The numbers 2024, 1000 and 365 are written with digits; so are 3.14159 and 2.71828. "
    "User: hello there! Assistant: Hello! How can I help you today? I can help with that. "
    "Thank you very much for your question; here is what I found, in the order you asked for it. ";

// Splits like a simple GPT-2 pre-tokenizer: a word keeps its leading space.
std::vector<std::string> SplitWords(std::string_view text) {
  std::vector<std::string> words;
  std::string cur;
  auto kind = [](unsigned char c) {
    if (std::isalpha(c)) return 0;
    if (std::isdigit(c)) return 1;
    if (c == ' ') return 2;
    if (c == '\n') return 3;
    return 4;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = text[i];
    bool boundary = cur.empty() ? false
                                : !(kind(c) == kind(static_cast<unsigned char>(cur.back())) && kind(c) != 4) &&
                                      !(cur == " " && kind(c) != 2 && kind(c) != 3);
    if (boundary) {
      words.push_back(cur);
      cur.clear();
    }
    cur += static_cast<char>(c);
  }
  if (!cur.empty()) words.push_back(cur);
  return words;
}

// Plain BPE: repeatedly merge the most frequent adjacent pair (ties broken by the
// pair's text, so the result is the same everywhere).
std::vector<std::pair<std::string, std::string>> LearnMerges(int64_t num_merges) {
  std::map<std::vector<std::string>, int64_t> words;
  for (const std::string& w : SplitWords(kTrainingText)) {
    std::vector<std::string> symbols;
    for (char c : w) symbols.push_back(BytesToByteLevel(std::string_view(&c, 1)));
    words[symbols]++;
  }
  std::vector<std::pair<std::string, std::string>> merges;
  while (static_cast<int64_t>(merges.size()) < num_merges) {
    std::map<std::pair<std::string, std::string>, int64_t> pairs;
    for (const auto& [symbols, count] : words) {
      for (size_t i = 0; i + 1 < symbols.size(); ++i) pairs[{symbols[i], symbols[i + 1]}] += count;
    }
    if (pairs.empty()) break;
    auto best = pairs.begin();
    for (auto it = pairs.begin(); it != pairs.end(); ++it) {
      if (it->second > best->second) best = it;
    }
    if (best->second < 2) break;
    const auto [a, b] = best->first;
    merges.emplace_back(a, b);
    std::map<std::vector<std::string>, int64_t> next;
    for (const auto& [symbols, count] : words) {
      std::vector<std::string> merged;
      for (size_t i = 0; i < symbols.size(); ++i) {
        if (i + 1 < symbols.size() && symbols[i] == a && symbols[i + 1] == b) {
          merged.push_back(a + b);
          ++i;
        } else {
          merged.push_back(symbols[i]);
        }
      }
      next[merged] += count;
    }
    words = std::move(next);
  }
  return merges;
}

json AddedToken(int64_t id, std::string_view content, bool special) {
  return {{"id", id},
          {"content", std::string(content)},
          {"single_word", false},
          {"lstrip", false},
          {"rstrip", false},
          {"normalized", false},
          {"special", special}};
}

json ConfigToken(std::string_view content) {
  return {{"__type", "AddedToken"}, {"content", std::string(content)},
          {"lstrip", false},        {"normalized", true},
          {"rstrip", false},        {"single_word", false}};
}

}  // namespace

BuiltinVocab MakeBuiltinVocab(int64_t vocab_size, bool thinking_prompt) {
  const int64_t num_trailing = static_cast<int64_t>(std::size(kTrailingSpecials));
  const int64_t num_fixed = 3 + 256 + num_trailing;
  FATHOM_CHECK_MSG(vocab_size >= num_fixed, "builtin vocab needs at least " + std::to_string(num_fixed) + " ids");

  json vocab = json::object();
  json added = json::array();
  added.push_back(AddedToken(0, kBos, true));
  added.push_back(AddedToken(1, kEos, true));
  added.push_back(AddedToken(2, kPad, true));
  // Added tokens also appear in the model vocab, as in DeepSeek's files.
  vocab[std::string(kBos)] = 0;
  vocab[std::string(kEos)] = 1;
  vocab[std::string(kPad)] = 2;
  int64_t next_id = 3;
  for (int b = 0; b < 256; ++b) {
    const char byte = static_cast<char>(b);
    vocab[BytesToByteLevel(std::string_view(&byte, 1))] = next_id++;
  }

  json merges = json::array();
  for (const auto& [a, b] : LearnMerges(vocab_size - num_fixed)) {
    const std::string merged = a + b;
    if (vocab.contains(merged)) continue;
    vocab[merged] = next_id++;
    merges.push_back(a + " " + b);
  }
  // Ids left over when the text runs out of frequent pairs stay reserved.
  while (next_id < vocab_size - num_trailing) {
    std::string name = "<｜reserved▁" + std::to_string(next_id) + "｜>";
    vocab[name] = next_id;
    added.push_back(AddedToken(next_id, name, true));
    ++next_id;
  }
  for (std::string_view s : kTrailingSpecials) {
    const bool special = s != "<think>" && s != "</think>";
    vocab[std::string(s)] = next_id;
    added.push_back(AddedToken(next_id, s, special));
    ++next_id;
  }

  BuiltinVocab out;
  out.vocab_size = next_id;
  out.bos_token_id = 0;
  out.eos_token_id = 1;
  // Splitting as Llama 3 does keeps words, numbers of up to three digits,
  // punctuation runs and whitespace runs apart before BPE.
  const char* split_regex =
      "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
      "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  out.tokenizer_json = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         json::array(
             {{{"type", "Split"}, {"pattern", {{"Regex", split_regex}}}, {"behavior", "Isolated"}, {"invert", false}},
              {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}}})}}},
      {"post_processor",
       {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}}},
      {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", nullptr},
        {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr},
        {"fuse_unk", false},
        {"byte_fallback", false},
        {"ignore_merges", false},
        {"vocab", vocab},
        {"merges", merges}}},
  };

  json decoder = json::object();
  for (const json& t : added) {
    decoder[std::to_string(t["id"].get<int64_t>())] = {{"content", t["content"]}, {"lstrip", false},
                                                       {"normalized", false},     {"rstrip", false},
                                                       {"single_word", false},    {"special", t["special"]}};
  }
  out.tokenizer_config_json = {
      {"add_bos_token", true},
      {"add_eos_token", false},
      {"added_tokens_decoder", decoder},
      {"bos_token", ConfigToken(kBos)},
      {"eos_token", ConfigToken(kEos)},
      {"pad_token", ConfigToken(kEos)},
      {"unk_token", nullptr},
      {"clean_up_tokenization_spaces", false},
      {"legacy", true},
      {"model_max_length", 131072},
      {"tokenizer_class", "LlamaTokenizerFast"},
      {"chat_template", std::string(thinking_prompt ? kDeepseekThinkingTemplate : kDeepseekTemplate)},
  };
  return out;
}

}  // namespace fathom

#include "tokenizer/gguf_vocab.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "formats/gguf_file.h"
#include "formats/gguf_writer.h"
#include "tokenizer/tokenizer.h"

namespace fathom {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json ReadJson(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str());
}

std::vector<std::string> CorpusSample(size_t stride) {
  gzFile f = gzopen((fs::path(FATHOM_SOURCE_DIR) / "tests/fixtures/tokenizer/corpus.jsonl.gz").c_str(), "rb");
  std::string data;
  char buf[1 << 16];
  for (int n; (n = gzread(f, buf, sizeof(buf))) > 0;) data.append(buf, static_cast<size_t>(n));
  gzclose(f);
  std::vector<std::string> out;
  std::istringstream lines(data);
  size_t i = 0;
  for (std::string line; std::getline(lines, line); ++i) {
    if (i % stride == 0) out.push_back(json::parse(line).get<std::string>());
  }
  return out;
}

// Writes the vocabulary of a Hugging Face tokenizer.json the way llama.cpp's
// converter does (tokens by id, token types, "a b" merges, bos/eos ids).
std::string WriteGguf(const fs::path& dir, const std::string& pre, const std::string& out_name) {
  const json tok = ReadJson(dir / "tokenizer.json");
  const json config = ReadJson(dir / "tokenizer_config.json");
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  auto put = [&](int32_t id, const std::string& text, int32_t type) {
    if (static_cast<size_t>(id) >= tokens.size()) {
      for (int32_t i = static_cast<int32_t>(tokens.size()); i <= id; ++i)
        tokens.push_back("[PAD" + std::to_string(i) + "]");
      types.resize(tokens.size(), 5);
    }
    tokens[id] = text;
    types[id] = type;
  };
  for (auto it = tok["model"]["vocab"].begin(); it != tok["model"]["vocab"].end(); ++it) put(it.value(), it.key(), 1);
  for (const json& a : tok["added_tokens"]) put(a["id"], a["content"], a["special"].get<bool>() ? 3 : 4);
  std::vector<std::string> merges;
  for (const json& m : tok["model"]["merges"]) {
    merges.push_back(m.is_string() ? m.get<std::string>() : m[0].get<std::string>() + " " + m[1].get<std::string>());
  }
  auto id_of = [&](const char* key) -> int32_t {
    if (!config.contains(key) || config[key].is_null()) return -1;
    const std::string content =
        config[key].is_string() ? config[key].get<std::string>() : config[key]["content"].get<std::string>();
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (tokens[i] == content) return static_cast<int32_t>(i);
    }
    return -1;
  };
  GgufWriter w;
  w.Set("general.architecture", GgufValue::String("llama"));
  w.Set("tokenizer.ggml.model", GgufValue::String("gpt2"));
  w.Set("tokenizer.ggml.pre", GgufValue::String(pre));
  w.Set("tokenizer.ggml.tokens", GgufValue::StringArray(tokens));
  w.Set("tokenizer.ggml.token_type", GgufValue::I32Array(types));
  w.Set("tokenizer.ggml.merges", GgufValue::StringArray(merges));
  int32_t bos = id_of("bos_token");
  // Llama 3 names its BOS only in the template post-processor.
  if (bos < 0 && pre == "llama-bpe") bos = 128000;
  if (bos >= 0) w.Set("tokenizer.ggml.bos_token_id", GgufValue::U32(static_cast<uint32_t>(bos)));
  if (const int32_t eos = id_of("eos_token"); eos >= 0) {
    w.Set("tokenizer.ggml.eos_token_id", GgufValue::U32(static_cast<uint32_t>(eos)));
  }
  const bool add_bos = config.contains("add_bos_token") && config["add_bos_token"].is_boolean()
                           ? config["add_bos_token"].get<bool>()
                           : pre == "llama-bpe";
  w.Set("tokenizer.ggml.add_bos_token", GgufValue::Bool(add_bos));
  const std::string path = (fs::temp_directory_path() / out_name).string();
  const Status s = w.Write(path);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return path;
}

void CheckGgufMatchesJson(const std::string& name, const std::string& pre) {
  const fs::path dir = fs::path(FATHOM_SHARED_DIR) / "models" / "tokenizers" / name;
  if (!fs::exists(dir / "tokenizer.json")) GTEST_SKIP() << "no shared tokenizer at " << dir << "; skipping";
  const std::string path = WriteGguf(dir, pre, "gguf_vocab_" + name + ".gguf");
  Result<Tokenizer> from_gguf = Tokenizer::Load(path);
  ASSERT_TRUE(from_gguf.ok()) << from_gguf.status().ToString();
  Result<Tokenizer> from_json = Tokenizer::Load(dir.string());
  ASSERT_TRUE(from_json.ok()) << from_json.status().ToString();
  int mismatches = 0;
  for (const std::string& text : CorpusSample(7)) {
    for (bool special : {false, true}) {
      Result<std::vector<int32_t>> a = from_gguf->Encode(text, special);
      Result<std::vector<int32_t>> b = from_json->Encode(text, special);
      ASSERT_TRUE(a.ok() && b.ok());
      if (*a != *b && ++mismatches <= 3) ADD_FAILURE() << name << ": " << json(text).dump().substr(0, 200);
    }
  }
  EXPECT_EQ(mismatches, 0);
  EXPECT_EQ(from_gguf->Decode(*from_gguf->Encode("héllo <think> 世界", true), false),
            from_json->Decode(*from_json->Encode("héllo <think> 世界", true), false));
  fs::remove(path);
}

TEST(GgufVocabTest, DeepseekV3MatchesTokenizerJson) { CheckGgufMatchesJson("deepseek-v3", "deepseek-v3"); }
TEST(GgufVocabTest, Qwen2MatchesTokenizerJson) { CheckGgufMatchesJson("qwen3", "qwen2"); }
TEST(GgufVocabTest, LlamaBpeMatchesTokenizerJson) { CheckGgufMatchesJson("llama3.1", "llama-bpe"); }

TEST(GgufVocabTest, KnowsLlamaCppPreTokenizerNames) {
  for (const char* pre : {"deepseek-v3", "deepseek-llm", "qwen2", "llama-bpe"}) {
    EXPECT_TRUE(PreTokenizerRegexesForGguf(pre).has_value()) << pre;
  }
  EXPECT_FALSE(PreTokenizerRegexesForGguf("no-such-pre").has_value());
}

TEST(GgufVocabTest, DeepseekLlmRegexesCompile) {
  Result<PreTokenizer> p = PreTokenizer::FromRegexes(*PreTokenizerRegexesForGguf("deepseek-llm"));
  EXPECT_TRUE(p.ok()) << p.status().ToString();
}

TEST(GgufVocabTest, RefusesNonBpeModel) {
  GgufWriter w;
  w.Set("tokenizer.ggml.model", GgufValue::String("llama"));
  const std::string path = (fs::temp_directory_path() / "gguf_vocab_spm.gguf").string();
  ASSERT_TRUE(w.Write(path).ok());
  Result<Tokenizer> t = Tokenizer::Load(path);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(t.status().message().find("tokenizer.ggml.model"), std::string::npos);
  fs::remove(path);
}

}  // namespace
}  // namespace fathom

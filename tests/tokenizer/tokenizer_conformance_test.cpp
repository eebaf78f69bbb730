// Every string of the committed corpus (tests/fixtures/tokenizer, written by
// tools/gen_tokenizer_corpus.py from Hugging Face `tokenizers`) must encode to
// exactly the recorded ids, with and without special tokens on both the
// `tokenizers` and the `transformers` path, and decode to HF's text.
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tokenizer/builtin_vocab.h"
#include "tokenizer/tokenizer.h"

namespace fathom {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kFixtures = fs::path(FATHOM_SOURCE_DIR) / "tests" / "fixtures" / "tokenizer";

std::vector<std::string> ReadGzipLines(const fs::path& path) {
  std::vector<std::string> lines;
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) return lines;
  std::string data;
  char buf[1 << 16];
  int n = 0;
  while ((n = gzread(f, buf, sizeof(buf))) > 0) data.append(buf, static_cast<size_t>(n));
  gzclose(f);
  size_t start = 0;
  while (start < data.size()) {
    size_t end = data.find('\n', start);
    if (end == std::string::npos) end = data.size();
    lines.push_back(data.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

std::vector<int32_t> Concat(const json& prefix, const std::vector<int32_t>& ids, const json& suffix) {
  std::vector<int32_t> out = prefix.get<std::vector<int32_t>>();
  out.insert(out.end(), ids.begin(), ids.end());
  for (const json& id : suffix) out.push_back(id.get<int32_t>());
  return out;
}

std::string Show(const std::vector<int32_t>& ids) { return json(ids).dump(); }

void CheckTokenizer(const std::string& name, const Tokenizer& tf, const Tokenizer& raw) {
  const std::vector<std::string> corpus_lines = ReadGzipLines(kFixtures / "corpus.jsonl.gz");
  const std::vector<std::string> expected_lines = ReadGzipLines(kFixtures / (name + ".jsonl.gz"));
  ASSERT_FALSE(corpus_lines.empty());
  ASSERT_EQ(expected_lines.size(), corpus_lines.size() + 1);
  const json header = json::parse(expected_lines[0]);
  const json& decoded = header["decoded"];
  int64_t mismatches = 0;
  int64_t checked = 0;
  for (size_t i = 0; i < corpus_lines.size(); ++i) {
    const std::string text = json::parse(corpus_lines[i]).get<std::string>();
    const std::vector<int32_t> want = json::parse(expected_lines[i + 1]).get<std::vector<int32_t>>();
    Result<std::vector<int32_t>> plain = tf.Encode(text, false);
    Result<std::vector<int32_t>> with_tf = tf.Encode(text, true);
    Result<std::vector<int32_t>> with_raw = raw.Encode(text, true);
    ASSERT_TRUE(plain.ok() && with_tf.ok() && with_raw.ok()) << plain.status().ToString();
    const std::string want_text =
        decoded.contains(std::to_string(i)) ? decoded[std::to_string(i)].get<std::string>() : text;
    const bool ok = *plain == want &&
                    *with_tf == Concat(header["transformers"]["prefix"], want, header["transformers"]["suffix"]) &&
                    *with_raw == Concat(header["tokenizers"]["prefix"], want, header["tokenizers"]["suffix"]) &&
                    tf.Decode(want, false) == want_text;
    ++checked;
    if (!ok && ++mismatches <= 5) {
      ADD_FAILURE() << name << " line " << i << " " << json(text).dump().substr(0, 300) << "\n  want " << Show(want)
                    << "\n  got  " << Show(*plain) << "\n  decode ok: " << (tf.Decode(want, false) == want_text);
    }
  }
  std::printf("[conformance] %s: %lld strings, %lld mismatches\n", name.c_str(), static_cast<long long>(checked),
              static_cast<long long>(mismatches));
  EXPECT_EQ(mismatches, 0);
}

void CheckShared(const std::string& name) {
  const fs::path dir = fs::path(FATHOM_SHARED_DIR) / "models" / "tokenizers" / name;
  if (!fs::exists(dir / "tokenizer.json")) GTEST_SKIP() << "no shared tokenizer at " << dir << "; skipping";
  Result<Tokenizer> tf = Tokenizer::Load(dir.string(), SpecialTokenSource::kTransformers);
  Result<Tokenizer> raw = Tokenizer::Load(dir.string(), SpecialTokenSource::kTokenizerJson);
  ASSERT_TRUE(tf.ok()) << tf.status().ToString();
  ASSERT_TRUE(raw.ok()) << raw.status().ToString();
  CheckTokenizer(name, *tf, *raw);
}

TEST(TokenizerConformanceTest, Builtin) {
  const BuiltinVocab v = MakeBuiltinVocab(512, false);
  Result<Tokenizer> tf =
      Tokenizer::FromJson(v.tokenizer_json, v.tokenizer_config_json, SpecialTokenSource::kTransformers);
  Result<Tokenizer> raw =
      Tokenizer::FromJson(v.tokenizer_json, v.tokenizer_config_json, SpecialTokenSource::kTokenizerJson);
  ASSERT_TRUE(tf.ok()) << tf.status().ToString();
  ASSERT_TRUE(raw.ok()) << raw.status().ToString();
  CheckTokenizer("builtin", *tf, *raw);
}

TEST(TokenizerConformanceTest, DeepseekV3) { CheckShared("deepseek-v3"); }
TEST(TokenizerConformanceTest, Qwen3) { CheckShared("qwen3"); }
TEST(TokenizerConformanceTest, Llama31) { CheckShared("llama3.1"); }

}  // namespace
}  // namespace fathom

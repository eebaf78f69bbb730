// Drives `fathom tokenize` / `fathom detokenize` on the builtin tokenizer written
// to a temporary tokenizer.json: plain and --jsonl input, --no-special, and the
// round trip through detokenize.
#include <gtest/gtest.h>

#include "tests/integration/run_fathom.h"
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "tokenizer/builtin_vocab.h"
#include "tokenizer/tokenizer.h"

namespace fathom {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class TokenizeCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("fathom_tokenize_cli_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    const BuiltinVocab v = MakeBuiltinVocab(512, false);
    std::ofstream(dir_ / "tokenizer.json") << v.tokenizer_json.dump();
    std::ofstream(dir_ / "tokenizer_config.json") << v.tokenizer_config_json.dump();
    Result<Tokenizer> t = Tokenizer::Load(dir_.string());
    ASSERT_TRUE(t.ok());
    tokenizer_ = std::make_unique<Tokenizer>(std::move(t).value());
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs fathom with `stdin_text` on stdin; returns stdout, sets *exit_code.
  std::string Run(const std::string& args, const std::string& stdin_text, int* exit_code) {
    ::fathom::testing::RunResult r = ::fathom::testing::RunFathom(args, stdin_text);
    *exit_code = r.exit_code;
    return r.out;
  }

  fs::path dir_;
  std::unique_ptr<Tokenizer> tokenizer_;
};

TEST_F(TokenizeCliTest, TokenizeAndDetokenizeRoundTrip) {
  const std::string text = "Hello, 世界!\n<think>ok</think>";
  int rc = -1;
  const std::string out = Run("tokenize --model " + (dir_ / "tokenizer.json").string(), text, &rc);
  ASSERT_EQ(rc, 0);
  const std::vector<int32_t> ids = json::parse(out).get<std::vector<int32_t>>();
  EXPECT_EQ(ids, *tokenizer_->Encode(text, true));
  const std::string no_special = Run("tokenize --no-special --model " + dir_.string(), text, &rc);
  EXPECT_EQ(json::parse(no_special).get<std::vector<int32_t>>(), *tokenizer_->Encode(text, false));
  const std::string back = Run("detokenize --model " + dir_.string(), no_special, &rc);
  ASSERT_EQ(rc, 0);
  EXPECT_EQ(back, text);
}

TEST_F(TokenizeCliTest, JsonlEncodesEachLine) {
  const std::vector<std::string> lines = {"one", "two\nlines", "", "emoji 🙂"};
  std::string input;
  for (const std::string& l : lines) input += json(l).dump() + "\n";
  int rc = -1;
  const std::string out = Run("tokenize --jsonl --no-special --model " + dir_.string(), input, &rc);
  ASSERT_EQ(rc, 0);
  std::istringstream ss(out);
  std::string line;
  for (const std::string& l : lines) {
    ASSERT_TRUE(std::getline(ss, line));
    EXPECT_EQ(json::parse(line).get<std::vector<int32_t>>(), *tokenizer_->Encode(l, false)) << l;
  }
  EXPECT_FALSE(std::getline(ss, line));
}

TEST_F(TokenizeCliTest, BadInputsFailClearly) {
  int rc = -1;
  Run("tokenize --jsonl --model " + dir_.string(), "not json\n", &rc);
  EXPECT_EQ(rc, 2);
  Run("detokenize --model " + dir_.string(), "[1, \"x\"]", &rc);
  EXPECT_EQ(rc, 2);
  Run("tokenize --model " + (dir_ / "missing").string(), "x", &rc);
  EXPECT_EQ(rc, 1);
  Run("tokenize", "x", &rc);
  EXPECT_EQ(rc, 2);
}

}  // namespace
}  // namespace fathom

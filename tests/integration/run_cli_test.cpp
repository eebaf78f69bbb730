// Drives `fathom run` on a tiny synthetic model: the streamed greedy text equals
// what the library computes token by token, seeded sampling replays, --chat goes
// through the template, and bad input (overlong prompt, unsupported
// architecture, malformed options) fails with one clear line.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "model/model_registry.h"
#include "tests/integration/run_fathom.h"
#include "tests/model/synth_fixture.h"
#include "tokenizer/tokenizer.h"

namespace fathom {
namespace {

namespace fs = std::filesystem;
using ::fathom::testing::RunFathom;
using ::fathom::testing::RunResult;

class RunCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("fathom_run_cli_" + std::to_string(::getpid())));
    fs::remove_all(*dir_);
    const RunResult r = RunFathom("synth --arch qwen2 --preset tiny --seed 5 --dtype f32 --threads 2 --out " +
                                  dir_->string());
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }

  static fs::path* dir_;
};
fs::path* RunCliTest::dir_ = nullptr;

TEST_F(RunCliTest, GreedyTextEqualsTheLibraryTokenByToken) {
  const RunResult r = RunFathom("run --model " + dir_->string() + " --prompt 'The sea is' -n 12 --temp 0 -t 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("prompt"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("tokens/s"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("peak RSS"), std::string::npos) << r.err;

  ThreadPool pool(1);
  Result<std::unique_ptr<CausalLm>> lm = LoadCausalLm(dir_->string(), pool);
  ASSERT_TRUE(lm.ok());
  Result<Tokenizer> tok = Tokenizer::Load(dir_->string());
  ASSERT_TRUE(tok.ok());
  Result<std::vector<int32_t>> prompt = tok->Encode("The sea is", true);
  ASSERT_TRUE(prompt.ok());
  Result<std::vector<int32_t>> out = testing_util::GreedyTokens(**lm, *prompt, 12, *tok->eos_token_id());
  ASSERT_TRUE(out.ok());
  ASSERT_FALSE(out->empty()) << "the model stops at once; pick another prompt or seed";
  EXPECT_EQ(r.out, tok->Decode(*out, false) + "\n");
}

TEST_F(RunCliTest, SeededSamplingReplays) {
  const std::string cmd = "run --model " + dir_->string() + " --prompt 'Once' -n 16 --temp 1.0 --top-p 0.9 --seed 7";
  const RunResult a = RunFathom(cmd), b = RunFathom(cmd);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_GT(a.out.size(), 1u) << a.err;  // more than the final newline
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.err.find("seed 7"), std::string::npos) << a.err;
}

TEST_F(RunCliTest, ChatGoesThroughTheTemplate) {
  const RunResult plain = RunFathom("run --model " + dir_->string() + " --prompt 'hi' -n 2 --temp 0");
  const RunResult chat = RunFathom("run --model " + dir_->string() + " --prompt 'hi' --chat -n 2 --temp 0");
  ASSERT_EQ(chat.exit_code, 0) << chat.err;
  // The template adds role markers, so the chat prompt is longer.
  auto prompt_tokens = [](const std::string& err) {
    const size_t at = err.find("prompt ");
    return at == std::string::npos ? -1 : std::stoi(err.substr(at + 7));
  };
  EXPECT_GT(prompt_tokens(chat.err), prompt_tokens(plain.err)) << plain.err << chat.err;
}

TEST_F(RunCliTest, PromptLongerThanTheContextIsAClearError) {
  const RunResult r = RunFathom("run --model " + dir_->string() +
                                " --prompt 'a long prompt that cannot fit in four tokens' --ctx-size 4");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("context of 4 tokens"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST_F(RunCliTest, UnsupportedArchitectureListsTheSupportedOnes) {
  const fs::path dir = *dir_ / "gpt2";
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << R"({"architectures": ["GPT2LMHeadModel"], "vocab_size": 512})";
  const RunResult r = RunFathom("run --model " + dir.string() + " --prompt hi");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("GPT2LMHeadModel"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("DeepseekV3ForCausalLM"), std::string::npos) << r.err;
}

TEST_F(RunCliTest, MalformedOptionsAreUsageErrors) {
  EXPECT_EQ(RunFathom("run --model " + dir_->string() + " --prompt hi --temp warm").exit_code, 2);
  EXPECT_EQ(RunFathom("run --model " + dir_->string()).exit_code, 2);
  EXPECT_EQ(RunFathom("run --model " + dir_->string() + " --prompt hi -n -3").exit_code, 2);
  const RunResult bad_top_p = RunFathom("run --model " + dir_->string() + " --prompt hi --top-p 0");
  EXPECT_EQ(bad_top_p.exit_code, 1);
  EXPECT_NE(bad_top_p.err.find("top_p"), std::string::npos) << bad_top_p.err;
}

TEST_F(RunCliTest, DeviceIsCheckedAndCpuIsTheDefault) {
  const RunResult cpu = RunFathom("run --model " + dir_->string() + " --prompt 'The sea is' -n 4 --temp 0 -t 2");
  const RunResult explicit_cpu =
      RunFathom("run --model " + dir_->string() + " --prompt 'The sea is' -n 4 --temp 0 -t 2 --device cpu");
  ASSERT_EQ(cpu.exit_code, 0) << cpu.err;
  EXPECT_EQ(explicit_cpu.out, cpu.out);
  const RunResult bad = RunFathom("run --model " + dir_->string() + " --prompt hi --device tpu");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("cpu or cuda"), std::string::npos) << bad.err;
#ifndef FATHOM_HAS_CUDA
  // One line that says how to get a CUDA build.
  const RunResult cuda = RunFathom("run --model " + dir_->string() + " --prompt hi --device cuda");
  EXPECT_EQ(cuda.exit_code, 1);
  EXPECT_NE(cuda.err.find("cuda preset"), std::string::npos) << cuda.err;
  EXPECT_EQ(std::count(cuda.err.begin(), cuda.err.end(), '\n'), 1) << cuda.err;
#endif
}

}  // namespace
}  // namespace fathom

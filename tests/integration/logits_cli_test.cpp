// Drives `fathom logits` on a synthetic model: the JSON it prints has one row of
// vocab_size floats per requested position, the values are the library's logits
// exactly (9 significant digits round-trip float32), and bad input exits non-zero
// with one "fathom: ..." line.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/integration/run_fathom.h"
#include "tests/model/synth_fixture.h"

namespace fathom {
namespace {

using ::fathom::testing::RunFathom;
using ::fathom::testing::RunResult;
using nlohmann::json;
using testing_util::TinyModel;

class LogitsCliTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(model_.status.ok()) << model_.status.ToString(); }

  // The "logits" rows of a successful run.
  std::vector<std::vector<float>> Rows(const std::string& args) {
    const RunResult r = RunFathom("logits --model " + model_.dir.path() + " " + args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const json out = json::parse(r.out, nullptr, false);
    EXPECT_TRUE(out.is_object() && out.contains("logits") && out["logits"].is_array()) << r.out.substr(0, 200);
    if (!out.is_object() || !out.contains("logits")) return {};
    return out["logits"].get<std::vector<std::vector<float>>>();
  }

  std::string Failure(const std::string& args, int want_exit) {
    return ::fathom::testing::ExpectOneLineFailure(args, want_exit);
  }

  TinyModel model_{{Architecture::kQwen2, "tiny-tied"}};
};

TEST_F(LogitsCliTest, AllPrintsARowPerTokenEqualToTheLibrary) {
  const int64_t vocab = model_.lm->config().vocab_size;
  const std::vector<std::vector<float>> all = Rows("--tokens 1,2,3 --all --threads 2");
  ASSERT_EQ(all.size(), 3u);
  for (const std::vector<float>& row : all) EXPECT_EQ(static_cast<int64_t>(row.size()), vocab);

  const std::vector<std::vector<float>> last = Rows("--tokens 1,2,3");
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0], all[2]);

  const std::vector<int32_t> tokens = {1, 2, 3};
  Result<KvCache> cache = model_.lm->NewCache(3);
  ASSERT_TRUE(cache.ok());
  Result<std::vector<float>> want = testing_util::ForwardSequence(*model_.lm, *cache, tokens, true);
  ASSERT_TRUE(want.ok());
  for (size_t r = 0; r < 3; ++r) {
    EXPECT_EQ(all[r], std::vector<float>(want->begin() + r * vocab, want->begin() + (r + 1) * vocab)) << "row " << r;
  }
}

TEST_F(LogitsCliTest, BadInputExitsWithOneLine) {
  const std::string model = " --model " + model_.dir.path();
  EXPECT_NE(Failure("logits" + model + " --tokens 1,x,3", 2).find("'x' is not a token id"), std::string::npos);
  EXPECT_NE(Failure("logits" + model + " --tokens 1,,3", 2).find("is not a token id"), std::string::npos);
  EXPECT_NE(Failure("logits" + model + " --tokens -4", 2).find("'-4' is not a token id"), std::string::npos);
  EXPECT_NE(Failure("logits" + model + " --tokens 1 --threads 5000", 2).find("--threads must be in [0, 1024]"),
            std::string::npos);
  Failure("logits" + model, 2);  // no --tokens
  EXPECT_NE(Failure("logits --model /nonexistent/fathom-model --tokens 1", 1).find("/nonexistent/fathom-model"),
            std::string::npos);
  const std::string vocab = std::to_string(model_.lm->config().vocab_size);
  EXPECT_NE(
      Failure("logits" + model + " --tokens 1," + vocab, 1).find("token id " + vocab + " is outside the vocabulary"),
      std::string::npos);
}

}  // namespace
}  // namespace fathom

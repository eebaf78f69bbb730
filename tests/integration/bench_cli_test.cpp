// Drives `fathom bench` and `fathom eval-quant` on tiny synthetic models: the JSON
// they print has the documented keys and sane values, a model compared with itself
// diverges by nothing, and bad input exits non-zero with one "fathom: ..." line.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "tests/integration/run_fathom.h"
#include "tests/model/synth_fixture.h"

namespace fathom {
namespace {

using ::fathom::testing::RunFathom;
using ::fathom::testing::RunResult;
using nlohmann::json;
using testing_util::SynthModelDir;

TEST(BenchCliTest, JsonHasEveryDocumentedKey) {
  SynthModelDir model({Architecture::kQwen2, "tiny"});
  ASSERT_TRUE(model.status().ok()) << model.status().ToString();
  const RunResult r = RunFathom("bench --model " + model.path() + " -p 8 -n 3 -r 2 -t 1 --bw-mib 8 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out;
  for (const char* key : {"prompt_tokens_per_s", "gen_tokens_per_s", "weight_bytes", "decode_bytes_per_token",
                          "decode_gb_per_s", "machine_read_gb_per_s", "decode_bandwidth_fraction"}) {
    ASSERT_TRUE(j.contains(key) && j[key].is_number()) << key << " in " << r.out;
    EXPECT_GT(j[key].get<double>(), 0.0) << key;
  }
  EXPECT_EQ(j["threads"], 1);
  EXPECT_EQ(j["pp"]["tokens"], 8);
  EXPECT_EQ(j["tg"]["tokens"], 3);
  EXPECT_EQ(j["tg"]["samples"].size(), 2u);
  EXPECT_DOUBLE_EQ(j["decode_gb_per_s"].get<double>(),
                   j["decode_bytes_per_token"].get<double>() * j["gen_tokens_per_s"].get<double>() / 1e9);
  // The untied embedding table is not read by a decode step.
  EXPECT_LT(j["decode_bytes_per_token"].get<double>(), j["weight_bytes"].get<double>());
  EXPECT_NE(r.err.find("pp8 run 2/2"), std::string::npos) << "progress goes to stderr: " << r.err;
}

TEST(BenchCliTest, BadOptionsAreUsageErrors) {
  for (const char* args : {"bench", "bench --model x -r 0", "bench --model x -p -1", "eval-quant --model x"}) {
    const RunResult r = RunFathom(args);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.err;
    EXPECT_TRUE(r.err.starts_with("fathom: ")) << r.err;
  }
}

TEST(EvalQuantCliTest, AModelAgainstItselfAndAgainstItsBf16Copy) {
  SynthModelDir ref({Architecture::kLlama, "tiny", DType::kF32});
  SynthModelDir rounded({Architecture::kLlama, "tiny", DType::kBF16});
  ASSERT_TRUE(ref.status().ok() && rounded.status().ok());
  const RunResult r = RunFathom("eval-quant --model " + ref.path() + " --quant-model " + ref.path() +
                                " --quant-model " + rounded.path() + " --positions 20 --ctx 8 -t 1 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object() && j["models"].size() == 2) << r.out;
  EXPECT_EQ(j["positions"], 20);
  const json& same = j["models"][0];
  const json& near = j["models"][1];
  EXPECT_EQ(same["mean_kl"].get<double>(), 0.0);
  EXPECT_EQ(same["top1_agreement"].get<double>(), 1.0);
  EXPECT_GT(near["mean_kl"].get<double>(), 0.0);
  EXPECT_GT(near["logits_rel_rms"].get<double>(), 0.0);
  EXPECT_EQ(near["positions"], 20);
}

TEST(EvalQuantCliTest, DifferentVocabulariesFailWithAClearMessage) {
  SynthModelDir ref({Architecture::kQwen2, "tiny"});
  testing_util::ScopedTempDir wider;
  ASSERT_TRUE(ref.status().ok());
  const std::string wider_dir = wider.path() + "/m";
  ASSERT_EQ(RunFathom("synth --arch qwen2 --preset tiny --vocab 576 --quiet --out " + wider_dir).exit_code, 0);
  const RunResult r = RunFathom("eval-quant --model " + ref.path() + " --quant-model " + wider_dir + " --positions 4");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("same vocabulary"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace fathom

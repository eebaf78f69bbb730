// Drives `fathom quantize` end to end: a synthetic model becomes a GGUF file that
// fathom's own `logits` reads back, the summary line reports the run, and every
// user error exits non-zero with one "fathom: ..." line naming the file and the
// problem.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "formats/gguf_file.h"
#include "tests/integration/run_fathom.h"
#include "tests/model/synth_fixture.h"

namespace fathom {
namespace {

using ::fathom::testing::RunFathom;
using ::fathom::testing::RunResult;

class QuantizeCliTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(model_.status().ok()) << model_.status().ToString(); }

  std::string Failure(const std::string& args, int want_exit) {
    return ::fathom::testing::ExpectOneLineFailure(args, want_exit);
  }

  testing_util::SynthModelDir model_{{Architecture::kDeepseekV3, "tiny"}};
  testing_util::ScopedTempDir out_;
};

TEST_F(QuantizeCliTest, WritesAFileAndOneSummaryLine) {
  const std::string out = out_.File("m.gguf");
  const RunResult r = RunFathom("quantize " + model_.path() + " " + out + " q8_0 --threads 2 --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find('\n'), r.out.size() - 1) << r.out;
  EXPECT_NE(r.out.find("tensors"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("bits per weight"), std::string::npos) << r.out;
  Result<GgufFile> file = GgufFile::Open(out);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(*file->Find("general.architecture")->AsString(), "deepseek2");
  EXPECT_EQ(file->Find("general.file_type")->AsInt(), 7);
  // fathom reads what it wrote.
  const RunResult logits = RunFathom("logits --model " + out + " --tokens 1,2,3");
  EXPECT_EQ(logits.exit_code, 0) << logits.err;
  // Progress goes to stderr, never stdout.
  const RunResult loud = RunFathom("quantize " + model_.path() + " " + out_.File("n.gguf") + " Q4_0");
  ASSERT_EQ(loud.exit_code, 0) << loud.err;
  EXPECT_EQ(loud.out.find('\n'), loud.out.size() - 1) << loud.out;
}

TEST_F(QuantizeCliTest, ErrorsAreOneLine) {
  const std::string out = out_.File("m.gguf");
  EXPECT_NE(Failure("quantize " + model_.path() + " " + out + " q5_1", 2).find("Q8_0"), std::string::npos);
  EXPECT_NE(Failure("quantize " + model_.path() + " " + out, 2).find("usage"), std::string::npos);
  EXPECT_NE(Failure("quantize " + out_.File("absent") + " " + out + " q8_0", 1).find("absent"), std::string::npos);
  EXPECT_NE(Failure("quantize " + model_.path() + " " + out_.File("no/dir/m.gguf") + " q8_0", 1).find("no/dir"),
            std::string::npos);
  EXPECT_NE(Failure("quantize " + model_.path() + " " + out_.File("m.bin") + " q8_0", 2).find("m.bin"),
            std::string::npos);
  EXPECT_NE(Failure("quantize " + model_.path() + " " + out + " q8_0 --threads x", 2).find("threads"),
            std::string::npos);

  // A directory the user cannot write to (skipped as root, who can write anywhere).
  const std::string ro = out_.File("ro");
  std::filesystem::create_directory(ro);
  ::chmod(ro.c_str(), 0555);
  if (::access(ro.c_str(), W_OK) != 0) {
    EXPECT_NE(Failure("quantize " + model_.path() + " " + ro + "/m.gguf q8_0", 1).find("not writable"),
              std::string::npos);
  }
  ::chmod(ro.c_str(), 0755);

  // An architecture fathom does not know.
  const std::string bad = out_.File("bad");
  std::filesystem::create_directory(bad);
  std::filesystem::copy_file(model_.path() + "/tokenizer.json", bad + "/tokenizer.json");
  {
    std::ofstream(bad + "/config.json") << R"({"model_type": "mamba", "architectures": ["MambaForCausalLM"]})";
  }
  const std::string err = Failure("quantize " + bad + " " + out + " q8_0", 1);
  EXPECT_NE(err.find("config.json"), std::string::npos) << err;
}

}  // namespace
}  // namespace fathom

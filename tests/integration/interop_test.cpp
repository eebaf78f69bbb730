// GGUFs that `fathom quantize` writes run in llama.cpp and in fathom alike: for
// every fixture in tests/fixtures/interop (written by
// tools/reference/gen_interop.py from llama.cpp's output), re-synthesizes the
// tiny model and re-quantizes it with the fathom binary, checks the file is the
// one llama.cpp ran (sha256), and checks fathom's greedy ids equal llama.cpp's
// for the leading steps the fixture marks as checkable (`checked_steps`).
//
// Non-obvious rule: an empty fixture directory skips with a message saying how to
// generate it; every other problem (a changed file, a failed command) fails.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/integration/run_fathom.h"
#include "tests/model/synth_fixture.h"

namespace fathom {
namespace {

namespace fs = std::filesystem;
using ::fathom::testing::RunFathom;
using ::fathom::testing::RunResult;

constexpr const char* kRegenerate =
    "regenerate with: cmake --build --preset release --target fathom && bash bench/setup_peer.sh && "
    ".venv-ref/bin/python tools/reference/gen_interop.py";

fs::path FixtureDir() { return fs::path(FATHOM_SOURCE_DIR) / "tests" / "fixtures" / "interop"; }

std::vector<std::string> FixtureNames() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(FixtureDir(), ec)) {
    if (e.path().extension() == ".json") names.push_back(e.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// The first word `sha256sum` prints for `path`; empty if it fails.
std::string Sha256(const fs::path& path) {
  std::string out;
  if (FILE* p = ::popen(("sha256sum '" + path.string() + "'").c_str(), "r"); p != nullptr) {
    char buf[256];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    if (::pclose(p) != 0) return "";
  }
  return out.substr(0, out.find(' '));
}

std::string ShellWords(const std::vector<std::string>& words) {
  std::string s;
  for (const std::string& w : words) s += " '" + w + "'";
  return s;
}

TEST(InteropFixturesTest, FixturesExist) {
  if (FixtureNames().empty()) {
    GTEST_SKIP() << "no interop fixtures (*.json) in " << FixtureDir().string()
                 << " yet; they need `fathom quantize` and the llama.cpp peer; " << kRegenerate;
  }
}

class InteropTest : public ::testing::TestWithParam<std::string> {};

TEST_P(InteropTest, LlamaCppAndFathomDecodeTheSameTokens) {
  std::ifstream in(FixtureDir() / (GetParam() + ".json"));
  const nlohmann::json fx = nlohmann::json::parse(in, nullptr, false);
  ASSERT_TRUE(fx.is_object()) << GetParam() << ".json is not JSON";

  testing_util::ScopedTempDir tmp;
  const fs::path model_dir = fs::path(tmp.path()) / "model";
  const fs::path gguf = fs::path(tmp.path()) / "model.gguf";
  const std::vector<std::string> synth_args = fx["synth_args"].get<std::vector<std::string>>();
  const fs::path tokenizer = fs::path(FATHOM_SHARED_DIR) / "models" / "tokenizers" / fx["tokenizer"].get<std::string>();
  RunResult r = RunFathom(ShellWords(synth_args) + " --tokenizer '" + tokenizer.string() + "' --out '" +
                          model_dir.string() + "'");
  ASSERT_EQ(r.exit_code, 0) << "fathom synth failed: " << r.err;
  r = RunFathom("quantize '" + model_dir.string() + "' '" + gguf.string() + "' " + fx["type"].get<std::string>());
  ASSERT_EQ(r.exit_code, 0) << "fathom quantize failed: " << r.err;

  const std::string want_sha = fx["gguf_sha256"].get<std::string>();
  ASSERT_EQ(Sha256(gguf), want_sha) << "fathom quantize no longer writes the GGUF llama.cpp ran for " << GetParam()
                                    << " (a deliberate format change?); " << kRegenerate;

  ThreadPool pool(2);
  Result<std::unique_ptr<CausalLm>> lm = LoadCausalLm(gguf.string(), pool);
  ASSERT_TRUE(lm.ok()) << lm.status().ToString();
  const std::vector<int32_t> prompt = fx["prompt"].get<std::vector<int32_t>>();
  const std::vector<int32_t> want = fx["greedy"].get<std::vector<int32_t>>();
  const std::vector<double> margins = fx["margins"].get<std::vector<double>>();
  const size_t num_checked = fx["checked_steps"].get<size_t>();
  ASSERT_GE(num_checked, fx["min_robust_steps"].get<size_t>()) << "the fixture checks too few steps; " << kRegenerate;
  ASSERT_LE(num_checked, want.size());
  Result<std::vector<int32_t>> got = testing_util::GreedyTokens(**lm, prompt, static_cast<int64_t>(num_checked));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), num_checked);

  // The generator chose checked_steps: the steps before llama.cpp's first near
  // tie (where either engine's rounding may pick the other token), and for MoE
  // models no more than the first few (a router near tie is invisible in the
  // output margins). Past a difference the continuations part, so stop there.
  for (size_t i = 0; i < num_checked; ++i) {
    EXPECT_EQ((*got)[i], want[i]) << GetParam() << ": step " << i << " of " << num_checked
                                  << " (llama.cpp's top-1 margin " << margins[i] << ")";
    if ((*got)[i] != want[i]) break;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, InteropTest, ::testing::ValuesIn(FixtureNames()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(InteropTest);

}  // namespace
}  // namespace fathom

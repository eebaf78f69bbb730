// The forward pass against Hugging Face transformers: for every case in
// tests/fixtures/logits (written by tools/reference/gen_logits.py), regenerate
// the tiny model with `fathom synth`, check it is byte-identical to the one the
// reference ran (FNV-1a of each safetensors file), and require
//   max |ours - ref| / max |ref| <= 1e-4 over every position of every sequence,
// and the same 32 greedy tokens through the KV cache. Cases with a GGUF made by
// llama.cpp's converter run the same checks on that file.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "model/model_registry.h"
#include "tests/integration/run_fathom.h"
#include "tests/model/synth_fixture.h"

namespace fathom {
namespace {

namespace fs = std::filesystem;

const fs::path kFixtureDir = fs::path(FATHOM_SOURCE_DIR) / "tests" / "fixtures" / "logits";
constexpr double kMaxRelativeError = 1e-4;

std::vector<std::string> CaseNames() {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(kFixtureDir)) {
    if (entry.path().extension() == ".json") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string Fnv1a64Hex(const fs::path& path) {
  Result<MappedFile> f = MappedFile::Open(path.string());
  if (!f.ok()) return "unreadable";
  uint64_t h = 0xcbf29ce484222325ull;
  for (uint8_t b : f->bytes()) h = (h ^ b) * 0x100000001b3ull;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

class TransformersParity : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::ifstream in(kFixtureDir / (GetParam() + ".json"));
    spec_ = nlohmann::json::parse(in);
    const fs::path logits_path = kFixtureDir / spec_["logits_file"].get<std::string>();
    std::ifstream lf(logits_path, std::ios::binary);
    lf.seekg(0, std::ios::end);
    ref_.resize(static_cast<size_t>(lf.tellg()) / sizeof(float));
    lf.seekg(0);
    lf.read(reinterpret_cast<char*>(ref_.data()), static_cast<std::streamsize>(ref_.size() * sizeof(float)));
    vocab_ = spec_["vocab_size"].get<int64_t>();
  }

  // Writes the case's model with the fathom binary and checks its bytes.
  fs::path SynthModel() {
    const fs::path dir = fs::temp_directory_path() / ("fathom_parity_" + std::to_string(::getpid()) + "_" + GetParam());
    fs::remove_all(dir);
    std::string args = "synth";
    for (const auto& a : spec_["synth_args"]) args += " " + a.get<std::string>();
    const testing::RunResult r = testing::RunFathom(args + " --threads 2 --out " + dir.string());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    for (const auto& [file, hash] : spec_["checkpoint_fnv1a64"].items()) {
      EXPECT_EQ(Fnv1a64Hex(dir / file), hash.get<std::string>())
          << file << " differs from the checkpoint the reference ran; fathom synth changed: regenerate the fixtures";
    }
    return dir;
  }

  // Every position of every sequence, and the greedy continuation, for `path`.
  void CheckModel(const std::string& path) {
    ThreadPool pool(2);
    Result<std::unique_ptr<CausalLm>> lm = LoadCausalLm(path, pool);
    ASSERT_TRUE(lm.ok()) << lm.status().ToString();
    ASSERT_EQ((*lm)->config().vocab_size, vocab_);
    for (const auto& seq : spec_["sequences"]) {
      const std::vector<int32_t> tokens = seq["tokens"].get<std::vector<int32_t>>();
      const int64_t row0 = seq["row_offset"].get<int64_t>();
      Result<KvCache> cache = (*lm)->NewCache(static_cast<int64_t>(tokens.size()));
      ASSERT_TRUE(cache.ok());
      const BatchEntry entry = {.tokens = tokens, .cache = &*cache, .all_logits = true};
      std::vector<float> logits;
      ASSERT_TRUE((*lm)->Forward({&entry, 1}, &logits).ok());
      ASSERT_EQ(logits.size(), tokens.size() * vocab_);
      const double error = testing_util::MaxRelError(logits, std::span(ref_).subspan(row0 * vocab_, logits.size()));
      worst_ = std::max(worst_, error);
      EXPECT_LE(error, kMaxRelativeError) << path << ": sequence of " << tokens.size() << " tokens";
    }
    const std::vector<int32_t> prompt = spec_["greedy"]["prompt"].get<std::vector<int32_t>>();
    const std::vector<int32_t> want = spec_["greedy"]["tokens"].get<std::vector<int32_t>>();
    Result<std::vector<int32_t>> got = testing_util::GreedyTokens(**lm, prompt, static_cast<int64_t>(want.size()));
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, want) << path << ": greedy continuation differs from transformers";
    char worst[32];
    std::snprintf(worst, sizeof worst, "%.2e", worst_);
    RecordProperty("max_relative_error", worst);
  }

  nlohmann::json spec_;
  std::vector<float> ref_;
  int64_t vocab_ = 0;
  double worst_ = 0;  // the largest max|ours - ref| / max|ref| of any sequence so far
};

TEST_P(TransformersParity, SafetensorsModelMatches) {
  const fs::path dir = SynthModel();
  CheckModel(dir.string());
  fs::remove_all(dir);
}

TEST_P(TransformersParity, LlamaCppGgufMatches) {
  if (!spec_.contains("gguf")) GTEST_SKIP() << "no GGUF for this case";
  CheckModel((kFixtureDir / spec_["gguf"]["file"].get<std::string>()).string());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TransformersParity, ::testing::ValuesIn(CaseNames()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

}  // namespace
}  // namespace fathom

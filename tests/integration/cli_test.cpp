// Drives the real `fathom` binary: synth every tiny preset, inspect the result,
// and check that damaged model files give one clear line and a non-zero exit.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "formats/model_config.h"
#include "model/presets.h"
#include "model/weight_layout.h"
#include "tests/integration/run_fathom.h"

namespace fathom {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

using ::fathom::testing::RunFathom;
using ::fathom::testing::RunResult;

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("fathom_cli_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "_" +
            std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Synth(const std::string& arch, const std::string& preset, const std::string& extra = "") {
    const std::string out = (dir_ / (arch + "-" + preset)).string();
    RunResult r = RunFathom("synth --quiet --arch " + arch + " --preset " + preset + " --out " + out + " " + extra);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return out;
  }

  json Inspect(const std::string& path) {
    RunResult r = RunFathom("inspect " + path);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out, nullptr, false);
  }

  fs::path dir_;
};

TEST_F(CliTest, SynthThenInspectEveryTinyPreset) {
  for (const PresetInfo& p : ListPresets()) {
    if (std::string(p.name).rfind("tiny", 0) != 0) continue;
    const std::string arch(ArchitectureName(p.arch));
    const std::string model = Synth(arch, std::string(p.name), "--dtype f32");
    json info = Inspect(model);
    ASSERT_TRUE(info.is_object()) << model;
    EXPECT_EQ(info["format"], "safetensors");
    EXPECT_EQ(info["architecture"], std::string(HfArchitectureClass(p.arch)));
    EXPECT_EQ(info["weights_check"]["complete"], true) << info["weights_check"].dump();
    EXPECT_EQ(info["weights_check"]["num_unexpected"], 0) << info["weights_check"].dump();
    // The parameters counted from the written tensors equal the count from the config.
    Result<ModelConfig> config = ParseHfConfig(info["config"], "inspect");
    ASSERT_TRUE(config.ok()) << config.status().ToString();
    EXPECT_EQ(info["parameters"].get<int64_t>(), CountParameters(*config).total) << model;
    EXPECT_EQ(info["aux_files"]["tokenizer.json"], true);
    if (config->fp8.enabled) {
      EXPECT_GT(info["tensors"]["F8_E4M3"].get<int64_t>(), 0);
      EXPECT_GT(info["tensors"]["F32"].get<int64_t>(), 0);
    } else {
      EXPECT_EQ(info["tensors"].size(), 1u) << info["tensors"].dump();
    }
  }
}

TEST_F(CliTest, SynthIsDeterministicAcrossThreadCounts) {
  const std::string a = (dir_ / "a").string(), b = (dir_ / "b").string(), c = (dir_ / "c").string();
  ASSERT_EQ(RunFathom("synth --quiet --arch deepseek_v3 --preset tiny-fp8 --seed 7 --threads 1 --out " + a).exit_code, 0);
  ASSERT_EQ(RunFathom("synth --quiet --arch deepseek_v3 --preset tiny-fp8 --seed 7 --threads 4 --out " + b).exit_code, 0);
  ASSERT_EQ(RunFathom("synth --quiet --arch deepseek_v3 --preset tiny-fp8 --seed 8 --out " + c).exit_code, 0);
  auto read = [](const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
  };
  EXPECT_EQ(read(fs::path(a) / "model.safetensors"), read(fs::path(b) / "model.safetensors"));
  EXPECT_NE(read(fs::path(a) / "model.safetensors"), read(fs::path(c) / "model.safetensors"));
}

TEST_F(CliTest, RealPresetWithFewLayersIsSharded) {
  const std::string model = Synth("qwen2", "r1-distill-qwen-1.5b", "--layers 1 --vocab 4096 --max-shard-size 20MB");
  json info = Inspect(model);
  EXPECT_GT(info["files"].size(), 3u);  // config + shards + aux files
  EXPECT_EQ(info["weights_check"]["complete"], true);
  EXPECT_EQ(info["config"]["num_hidden_layers"], 1);
  EXPECT_EQ(info["config"]["vocab_size"], 4096);
  EXPECT_EQ(info["config"]["hidden_size"], 1536);
  EXPECT_TRUE(fs::exists(fs::path(model) / "model.safetensors.index.json"));
}

TEST_F(CliTest, InspectSharedConfigsGivesPublishedParameterCounts) {
  const std::pair<const char*, int64_t> expected[] = {
      {"deepseek-r1-distill-qwen-1.5b", 1'777'088'000}, {"deepseek-r1-distill-qwen-7b", 7'615'616'512},
      {"deepseek-r1-distill-llama-8b", 8'030'261'248}, {"deepseek-v2-lite", 15'706'484'224},
      {"deepseek-v3", 684'531'386'000}};
  for (auto [name, params] : expected) {
    json info = Inspect(std::string(FATHOM_SHARED_DIR) + "/models/configs/" + name + ".json");
    EXPECT_EQ(info["parameters"].get<int64_t>(), params) << name;
    EXPECT_EQ(info["parameters_source"], "config");
  }
}

TEST_F(CliTest, DamagedFilesGiveOneLineNamingTheFile) {
  const std::string model = Synth("llama", "tiny", "--max-shard-size 100KB");
  ASSERT_TRUE(fs::exists(fs::path(model) / "model.safetensors.index.json"));
  std::string shard;
  for (const auto& e : fs::directory_iterator(model)) {
    if (e.path().filename().string().rfind("model-00001", 0) == 0) shard = e.path().string();
  }
  ASSERT_FALSE(shard.empty());
  auto expect_one_line_error = [&](const std::string& what, const std::string& needle) {
    RunResult r = RunFathom("inspect " + model);
    EXPECT_EQ(r.exit_code, 1) << what;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << what << ": " << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << what << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << what;
  };
  const auto size = fs::file_size(shard);
  fs::copy_file(shard, shard + ".orig");
  fs::resize_file(shard, size / 2);
  expect_one_line_error("truncated shard", "model-00001");
  fs::rename(shard + ".orig", shard);
  {
    std::fstream f(shard, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(0);
    const char huge[8] = {'\xff', '\xff', '\xff', '\xff', '\xff', '\xff', '\xff', '\x7f'};
    f.write(huge, 8);
  }
  expect_one_line_error("absurd header length", "model-00001");
  fs::remove(shard);
  expect_one_line_error("missing shard", "model-00001");
  std::ofstream(fs::path(model) / "config.json") << "{\"model_type\": \"llama\", \"hidden_size\": \"big\"}";
  expect_one_line_error("bad config", "config.json");
}

TEST_F(CliTest, UsageErrors) {
  EXPECT_EQ(RunFathom("frobnicate").exit_code, 2);
  EXPECT_EQ(RunFathom("inspect").exit_code, 2);
  EXPECT_EQ(RunFathom("synth --arch gpt2 --out x").exit_code, 2);
  EXPECT_EQ(RunFathom("synth --arch llama --preset tiny --out " + (dir_ / "m").string() + " --bogus").exit_code, 2);
  RunResult r = RunFathom("inspect " + (dir_ / "nope").string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no such file"), std::string::npos);
}

}  // namespace
}  // namespace fathom

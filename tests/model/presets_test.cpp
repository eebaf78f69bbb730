#include "model/presets.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/mapped_file.h"

namespace fathom {
namespace {

// The built-in real presets must be the shared folder's configs, field for field.
TEST(PresetsTest, RealPresetsEqualTheSharedConfigs) {
  const std::pair<const char*, const char*> pairs[] = {
      {"r1-distill-qwen-1.5b", "deepseek-r1-distill-qwen-1.5b"},
      {"r1-distill-qwen-7b", "deepseek-r1-distill-qwen-7b"},
      {"r1-distill-llama-8b", "deepseek-r1-distill-llama-8b"},
      {"v2-lite", "deepseek-v2-lite"},
      {"v3", "deepseek-v3"},
  };
  for (auto [preset, file] : pairs) {
    Result<ModelConfig> shared = LoadHfConfig(std::string(FATHOM_SHARED_DIR) + "/models/configs/" + file + ".json");
    ASSERT_TRUE(shared.ok()) << shared.status().ToString();
    Result<ModelConfig> built_in = FindPreset(shared->arch, preset);
    ASSERT_TRUE(built_in.ok()) << built_in.status().ToString();
    EXPECT_EQ(built_in->ToHfJson(), shared->ToHfJson()) << preset;
  }
}

TEST(PresetsTest, EveryPresetValidates) {
  for (const PresetInfo& p : ListPresets()) {
    Result<ModelConfig> c = FindPreset(p.arch, p.name);
    ASSERT_TRUE(c.ok()) << p.name << ": " << c.status().ToString();
    EXPECT_TRUE(c->Validate().ok()) << p.name;
  }
}

TEST(PresetsTest, UnknownPresetListsTheKnownOnes) {
  Result<ModelConfig> c = FindPreset(Architecture::kQwen2, "huge");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("r1-distill-qwen-1.5b"), std::string::npos);
}

}  // namespace
}  // namespace fathom

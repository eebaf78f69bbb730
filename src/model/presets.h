// Named model shapes for `fathom synth`: the real checkpoints' configs (built in,
// so they work without the shared folder) and tiny ones per family for tests.
//
// Tiny presets exist to exercise every branch of the math the real models use:
// llama3 rope, Qwen2 biases, V2 greedy and group-limited routing without
// q_lora_rank, V3 sigmoid/noaux_tc routing with groups, YaRN, MTP and FP8 blocks.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "formats/model_config.h"

namespace fathom {

struct PresetInfo {
  std::string_view name;
  Architecture arch;
  std::string_view description;
};

const std::vector<PresetInfo>& ListPresets();

// Returns the config of preset `name` for `arch` (the hub spelling with a
// "deepseek-" prefix is accepted too); NotFound lists the valid names.
// vocab_size of tiny presets is a placeholder: synth sets it from the tokenizer.
Result<ModelConfig> FindPreset(Architecture arch, std::string_view name);

}  // namespace fathom

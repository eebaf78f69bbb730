// `fathom inspect`: what a model file or directory holds, as JSON: architecture,
// exact parameter count, tensors by dtype, the parsed config, files and sizes,
// and how the tensors compare with what the config says the checkpoint holds.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace fathom {

// `path`: a Hugging Face model directory (weights optional), its config.json, a
// .safetensors file, or a GGUF file. Any problem with the files is a Status whose
// message names the file.
Result<nlohmann::json> InspectModel(const std::string& path);

}  // namespace fathom

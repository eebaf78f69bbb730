#include "model/model_inspector.h"

#include <filesystem>
#include <map>
#include <set>

#include "core/dtype.h"
#include "formats/gguf_config.h"
#include "formats/gguf_file.h"
#include "formats/model_config.h"
#include "formats/safetensors_model.h"
#include "model/weight_layout.h"

namespace fathom {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr size_t kMaxListed = 20;  // names listed per mismatch category

json ParameterJson(const ParameterCount& p) {
  return {{"main_model", p.main_model}, {"mtp", p.mtp}, {"fp8_scales", p.fp8_scales},
          {"embedding", p.embedding}, {"active_per_token", p.active_per_token}};
}

// Compares the tensors present with the layout the config implies.
json CompareWithLayout(const ModelConfig& config, const std::map<std::string, std::vector<int64_t>>& present) {
  json missing = json::array(), unexpected = json::array(), mismatched = json::array();
  int64_t num_missing = 0, num_unexpected = 0, num_mismatched = 0;
  std::set<std::string> expected_names;
  for (const WeightSpec& w : HfWeightLayout(config)) {
    expected_names.insert(w.name);
    auto it = present.find(w.name);
    if (it == present.end()) {
      if (missing.size() < kMaxListed) missing.push_back(w.name);
      ++num_missing;
    } else if (it->second != w.shape) {
      if (mismatched.size() < kMaxListed) {
        mismatched.push_back({{"name", w.name}, {"expected", w.shape}, {"found", it->second}});
      }
      ++num_mismatched;
    }
  }
  for (const auto& [name, shape] : present) {
    if (expected_names.count(name) == 0) {
      if (unexpected.size() < kMaxListed) unexpected.push_back(name);
      ++num_unexpected;
    }
  }
  return {{"complete", num_missing == 0 && num_mismatched == 0},
          {"num_missing", num_missing}, {"missing", missing},
          {"num_unexpected", num_unexpected}, {"unexpected", unexpected},
          {"num_shape_mismatches", num_mismatched}, {"shape_mismatches", mismatched}};
}

Result<json> InspectGguf(const std::string& path) {
  FATHOM_ASSIGN_OR_RETURN(GgufFile file, GgufFile::Open(path));
  json out;
  out["path"] = path;
  out["format"] = "gguf";
  out["gguf_version"] = file.version();
  std::map<std::string, int64_t> by_dtype;
  int64_t params = 0;
  for (const GgufTensorInfo& t : file.tensors()) {
    by_dtype[std::string(DTypeName(t.dtype))]++;
    params += t.num_elements();
  }
  const GgufValue* arch = file.Find("general.architecture");
  out["gguf_architecture"] = arch != nullptr && arch->AsString() ? json(*arch->AsString()) : json(nullptr);
  Result<ModelConfig> config = ConfigFromGguf(file);
  if (config.ok()) {
    out["architecture"] = std::string(HfArchitectureClass(config->arch));
    out["config"] = config->ToHfJson();
  } else {
    out["architecture"] = nullptr;
    out["config"] = nullptr;
    out["config_error"] = config.status().message();
  }
  out["parameters"] = params;
  out["parameters_source"] = "tensors";
  out["num_tensors"] = file.tensors().size();
  out["tensors"] = by_dtype;
  json metadata = json::object();
  for (const auto& [key, value] : file.metadata()) metadata[key] = value.ToJson(8);
  out["metadata"] = metadata;
  out["files"] = json::array({{{"path", path}, {"size", file.file_size()},
                               {"tensors", file.tensors().size()}}});
  out["total_file_bytes"] = file.file_size();
  return out;
}

bool LooksLikeGguf(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  char magic[4] = {};
  const bool ok = std::fread(magic, 1, 4, f) == 4 && std::string(magic, 4) == "GGUF";
  std::fclose(f);
  return ok;
}

Result<json> InspectHf(const fs::path& dir, const std::string& config_path, bool config_only) {
  FATHOM_ASSIGN_OR_RETURN(ModelConfig config, LoadHfConfig(config_path));
  json out;
  out["path"] = dir.string();
  out["architecture"] = std::string(HfArchitectureClass(config.arch));
  out["config"] = config.ToHfJson();
  const ParameterCount expected = CountParameters(config);
  out["parameter_breakdown"] = ParameterJson(expected);

  json files = json::array();
  int64_t total_bytes = 0;
  auto add_file = [&](const fs::path& p, json extra) {
    std::error_code ec;
    const auto size = fs::file_size(p, ec);
    if (ec) return;
    extra["path"] = p.string();
    extra["size"] = size;
    files.push_back(extra);
    total_bytes += static_cast<int64_t>(size);
  };
  add_file(config_path, json::object());

  bool has_weights = false;
  std::error_code ec;
  if (!config_only) {
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      const std::string name = entry.path().filename().string();
      if (name.size() > 12 && name.substr(name.size() - 12) == ".safetensors") has_weights = true;
    }
  }
  if (has_weights) {
    FATHOM_ASSIGN_OR_RETURN(SafetensorsModel model, SafetensorsModel::Open(dir.string()));
    std::map<std::string, int64_t> by_dtype;
    std::map<std::string, std::vector<int64_t>> present;
    int64_t params = 0;
    for (const SafetensorsTensor& t : model.tensors()) {
      by_dtype[std::string(DTypeName(t.dtype))]++;
      params += t.num_elements();
      present[t.name] = t.shape;
    }
    out["format"] = "safetensors";
    out["parameters"] = params;
    out["parameters_source"] = "tensors";
    out["num_tensors"] = model.tensors().size();
    out["tensors"] = by_dtype;
    out["weights_check"] = CompareWithLayout(config, present);
    for (const SafetensorsModel::FileInfo& f : model.files()) {
      files.push_back({{"path", f.path}, {"size", f.size}, {"tensors", f.num_tensors}});
      total_bytes += static_cast<int64_t>(f.size);
    }
  } else {
    out["format"] = "config";
    out["parameters"] = expected.total;
    out["parameters_source"] = "config";
    out["num_tensors"] = expected.num_tensors;
    std::map<std::string, int64_t> by_dtype;
    const DType base = config.torch_dtype == "float32" ? DType::kF32 : DType::kBF16;
    for (const WeightSpec& w : HfWeightLayout(config)) by_dtype[std::string(DTypeName(StoredDType(config, w.role, base)))]++;
    out["tensors"] = by_dtype;
  }
  json tokenizer = json::object();
  for (const char* name : {"tokenizer.json", "tokenizer_config.json", "generation_config.json"}) {
    const fs::path p = dir / name;
    const bool exists = !config_only && fs::exists(p, ec);
    tokenizer[name] = exists;
    if (exists) add_file(p, json::object());
  }
  out["aux_files"] = tokenizer;
  out["files"] = files;
  out["total_file_bytes"] = total_bytes;
  return out;
}

}  // namespace

Result<json> InspectModel(const std::string& path) {
  std::error_code ec;
  const fs::path p(path);
  if (!fs::exists(p, ec)) return NotFound(path + ": no such file or directory");
  if (fs::is_directory(p, ec)) {
    const fs::path config = p / "config.json";
    if (!fs::exists(config, ec)) {
      return NotFound(path + ": no config.json (not a Hugging Face model directory)");
    }
    return InspectHf(p, config.string(), false);
  }
  if (LooksLikeGguf(path)) return InspectGguf(path);
  const std::string name = p.filename().string();
  if (name.size() >= 5 && name.substr(name.size() - 5) == ".json") {
    return InspectHf(p.parent_path().empty() ? fs::path(".") : p.parent_path(), path, true);
  }
  if (name.size() > 12 && name.substr(name.size() - 12) == ".safetensors") {
    const fs::path config = p.parent_path() / "config.json";
    if (fs::exists(config, ec)) return InspectHf(p.parent_path(), config.string(), false);
    return NotFound(path + ": no config.json beside the safetensors file");
  }
  return InvalidArgument(path + ": not a model directory, config.json, .safetensors or GGUF file");
}

}  // namespace fathom

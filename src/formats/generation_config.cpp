#include "formats/generation_config.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/mapped_file.h"

namespace fathom {

Result<GenerationConfig> LoadGenerationConfig(const std::string& model_dir) {
  namespace fs = std::filesystem;
  const std::string path = (fs::path(model_dir) / "generation_config.json").string();
  GenerationConfig g;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return g;
  FATHOM_ASSIGN_OR_RETURN(std::string text, ReadTextFile(path, 1 << 20));
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return Corrupt(path + ": not a JSON object");
  auto bad = [&](const char* key, const char* want) { return Corrupt(path + ": '" + key + "' must be " + want); };
  if (auto it = j.find("eos_token_id"); it != j.end() && !it->is_null()) {
    if (it->is_number_integer()) {
      g.eos_token_ids.push_back(it->get<int64_t>());
    } else if (it->is_array()) {
      for (const auto& v : *it) {
        if (!v.is_number_integer()) return bad("eos_token_id", "an integer or a list of integers");
        g.eos_token_ids.push_back(v.get<int64_t>());
      }
    } else {
      return bad("eos_token_id", "an integer or a list of integers");
    }
  }
  for (auto [key, field] : {std::pair{"temperature", &g.temperature}, std::pair{"top_p", &g.top_p}}) {
    if (auto it = j.find(key); it != j.end() && !it->is_null()) {
      if (!it->is_number()) return bad(key, "a number");
      *field = it->get<double>();
    }
  }
  if (auto it = j.find("top_k"); it != j.end() && !it->is_null()) {
    if (!it->is_number_integer()) return bad("top_k", "an integer");
    g.top_k = it->get<int64_t>();
  }
  if (auto it = j.find("do_sample"); it != j.end() && !it->is_null()) {
    if (!it->is_boolean()) return bad("do_sample", "a boolean");
    g.do_sample = it->get<bool>();
  }
  return g;
}

}  // namespace fathom

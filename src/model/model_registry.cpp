#include "model/model_registry.h"

#include <array>

#include "backend/backend.h"
#include "model/deepseek.h"
#include "model/llama_family.h"

namespace fathom {
namespace {

using Loader = Result<std::unique_ptr<CausalLm>> (*)(WeightStore, std::unique_ptr<Backend>);

struct Registration {
  Architecture arch;
  Loader load;
};

constexpr std::array<Registration, 4> kRegistry = {{
    {Architecture::kLlama, &LoadLlamaFamily},
    {Architecture::kQwen2, &LoadLlamaFamily},
    {Architecture::kDeepseekV2, &LoadDeepseek},
    {Architecture::kDeepseekV3, &LoadDeepseek},
}};

}  // namespace

std::vector<std::string> SupportedArchitectures() {
  std::vector<std::string> names;
  for (const Registration& r : kRegistry) names.emplace_back(HfArchitectureClass(r.arch));
  return names;
}

Result<std::unique_ptr<CausalLm>> LoadCausalLm(const std::string& path, ThreadPool& pool, LoadOptions options) {
  options.pool = &pool;
  FATHOM_ASSIGN_OR_RETURN(WeightStore store, WeightStore::Open(path, options));
  for (const Registration& r : kRegistry) {
    if (r.arch != store.config().arch) continue;
    FATHOM_ASSIGN_OR_RETURN(std::unique_ptr<Backend> backend, CreateBackend(options.device, pool));
    return r.load(std::move(store), std::move(backend));
  }
  std::string list;
  for (const std::string& n : SupportedArchitectures()) list += (list.empty() ? "" : ", ") + n;
  return Unsupported(store.path() + ": architecture not supported; supported: " + list);
}

}  // namespace fathom

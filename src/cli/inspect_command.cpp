// `fathom inspect MODEL`: prints InspectModel's JSON on stdout.
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "model/model_inspector.h"

namespace fathom::cli {

int InspectCommand(const Args& args) {
  Result<ParsedArgs> parsed = ParsedArgs::Parse(args, {{"model"}, {"compact", false}});
  if (!parsed.ok()) return Fail(parsed.status().message(), 2);
  std::string model = parsed->GetOr("model", "");
  if (model.empty() && parsed->positional().size() == 1) model = parsed->positional()[0];
  if (model.empty() || parsed->positional().size() > 1) {
    return Fail("usage: fathom inspect MODEL  (a model directory, config.json, .safetensors or .gguf file)", 2);
  }
  Result<nlohmann::json> info = InspectModel(model);
  if (!info.ok()) return Fail(info.status().message());
  const std::string text = info->dump(parsed->Has("compact") ? -1 : 2);
  std::printf("%s\n", text.c_str());
  return 0;
}

}  // namespace fathom::cli

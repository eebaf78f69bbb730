// Fuzzes the HF config.json parser: any bytes must give a config that validates
// or a Status, never a crash, and a parsed config must survive a round trip.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "formats/model_config.h"
#include "model/weight_layout.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  fathom::Result<fathom::ModelConfig> c = fathom::ParseHfConfigText(text, "fuzz");
  if (!c.ok()) return 0;
  fathom::Result<fathom::ModelConfig> again = fathom::ParseHfConfig(c->ToHfJson(), "again");
  if (!again.ok() || again->ToHfJson() != c->ToHfJson()) __builtin_trap();
  // Counting parameters walks the layout; keep it to shapes small enough to walk.
  if (c->num_hidden_layers * (c->n_routed_experts + 1) < 4096) (void)fathom::CountParameters(*c);
  return 0;
}

// Which x86-64 vector instruction set the CPU kernels use, chosen once at run time.
//
// Non-obvious rule: the choice is the only global state the kernels keep. It is the
// detected ISA unless FATHOM_ISA asks for a lower one (read once, on first use);
// tests force one in-process with ScopedIsaOverride, which wins over both.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace fathom::cpu {

// Ordered: a higher value implies every lower one is available.
enum class Isa {
  kScalar,  // portable C++ only
  kAvx2,    // AVX2 + FMA + F16C
  kAvx512,  // AVX-512 F + BW + VL + VNNI (plus everything kAvx2 needs)
};

// "scalar", "avx2", "avx512".
std::string_view IsaName(Isa isa);

// Returns the ISA spelled `name` (as IsaName spells it), or nullopt.
std::optional<Isa> IsaFromName(std::string_view name);

// Returns the best ISA this CPU supports (cpuid; cached after the first call).
Isa DetectedIsa();

// Returns the ISA a FATHOM_ISA value selects on a CPU whose best ISA is
// `detected`: `env_value` if it names an ISA <= detected, else `detected`. When
// env_value is non-null but not usable, *warning (if non-null) gets one line
// saying why; otherwise *warning is cleared. Pure: reads no environment.
Isa ResolveIsa(const char* env_value, Isa detected, std::string* warning);

// Returns the ISA kernels must use now: the innermost ScopedIsaOverride if one is
// alive, else ResolveIsa(getenv("FATHOM_ISA"), DetectedIsa()) (computed once; its
// warning, if any, goes to stderr once).
Isa ActiveIsa();

// Test hook: forces ActiveIsa() to `isa` while alive, for every thread.
// REQUIRES: isa <= DetectedIsa(); overrides nest (destroyed in reverse order) and
// are not created concurrently with kernels running on other threads.
// Not copyable.
class ScopedIsaOverride {
 public:
  explicit ScopedIsaOverride(Isa isa);
  ~ScopedIsaOverride();
  ScopedIsaOverride(const ScopedIsaOverride&) = delete;
  ScopedIsaOverride& operator=(const ScopedIsaOverride&) = delete;

 private:
  int previous_;  // the override in force before this one, -1 for none
};

}  // namespace fathom::cpu

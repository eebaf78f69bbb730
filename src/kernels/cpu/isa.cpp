#include "kernels/cpu/isa.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "core/status.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace fathom::cpu {
namespace {

// -1: no override; otherwise static_cast<int>(Isa).
std::atomic<int> g_override{-1};

#if defined(__x86_64__) || defined(__i386__)
// Clang 14's __builtin_cpu_supports knows neither "f16c" nor "avx512vnni", so
// those two come from CPUID ECX bits; OS support for the ymm / zmm state they
// need is covered by the avx2 / avx512f checks next to them.
bool CpuidEcxBit(unsigned leaf, int bit) {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid_count(leaf, 0, &a, &b, &c, &d) == 0) return false;
  return (c & (1u << bit)) != 0;
}
#endif

Isa Detect() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && CpuidEcxBit(1, 29);
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl") && CpuidEcxBit(7, 11);
  if (avx512) return Isa::kAvx512;
  if (avx2) return Isa::kAvx2;
#endif
  return Isa::kScalar;
}

}  // namespace

std::string_view IsaName(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
  }
  return "unknown";
}

std::optional<Isa> IsaFromName(std::string_view name) {
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (name == IsaName(isa)) return isa;
  }
  return std::nullopt;
}

Isa DetectedIsa() {
  static const Isa detected = Detect();
  return detected;
}

Isa ResolveIsa(const char* env_value, Isa detected, std::string* warning) {
  if (warning != nullptr) warning->clear();
  if (env_value == nullptr) return detected;
  const std::optional<Isa> asked = IsaFromName(env_value);
  if (asked.has_value() && *asked <= detected) return *asked;
  if (warning != nullptr) {
    *warning = "fathom: FATHOM_ISA=" + std::string(env_value) +
               (asked.has_value() ? " is not supported by this CPU" : " is not one of scalar, avx2, avx512") +
               "; using " + std::string(IsaName(detected));
  }
  return detected;
}

Isa ActiveIsa() {
  const int forced = g_override.load(std::memory_order_relaxed);
  if (forced >= 0) return static_cast<Isa>(forced);
  static const Isa from_env = [] {
    std::string warning;
    const Isa isa = ResolveIsa(std::getenv("FATHOM_ISA"), DetectedIsa(), &warning);
    if (!warning.empty()) std::fprintf(stderr, "%s\n", warning.c_str());
    return isa;
  }();
  return from_env;
}

ScopedIsaOverride::ScopedIsaOverride(Isa isa) : previous_(g_override.load()) {
  FATHOM_CHECK(isa <= DetectedIsa());
  g_override.store(static_cast<int>(isa));
}

ScopedIsaOverride::~ScopedIsaOverride() { g_override.store(previous_); }

}  // namespace fathom::cpu

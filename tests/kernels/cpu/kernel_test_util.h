// Inputs for the CPU kernel tests: reproducible uniform random floats.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace fathom::cpu::testing_util {

// `n` floats uniform in [lo, hi), continuing `rng`.
inline std::vector<float> RandomFloats(int64_t n, float lo, float hi, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// `n` floats uniform in [lo, hi), the same for the same seed.
inline std::vector<float> RandomFloats(int64_t n, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  return RandomFloats(n, lo, hi, rng);
}

}  // namespace fathom::cpu::testing_util

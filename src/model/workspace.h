// Activation buffers a forward pass borrows by name instead of allocating, so a
// decode step in steady state allocates nothing. The model owns one Workspace
// and hands it to every block through the ForwardContext.
//
// The one non-obvious rule: a buffer is only valid until the next Floats/Ints
// call for the same name, and its contents are unspecified (never zeroed), so a
// block takes a name of its own for every buffer it still needs while calling
// another block (Mlp's gate/up are not the MoE's gathered rows).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace fathom {

// Not thread-safe: one forward at a time. Not copyable (buffers are big).
class Workspace {
 public:
  enum class Buf : uint8_t {
    kHidden, kNormed, kDelta, kRope,     // the layer loop
    kQ, kK, kV, kAttn, kQA, kKvA,        // attention
    kMlpGate, kMlpUp,                    // Mlp::Apply
    kRouterLogits, kRouteWeights, kGathered, kExpertOut, kRoutedWeights,  // MoE
    kFinalNormed,                        // the LM head
    kCount,
  };
  enum class IntBuf : uint8_t { kRouteIds, kRoutedRows, kExpertBegin, kCount };

  Workspace() = default;
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;

  // At least n floats; reallocates only when n exceeds every earlier request.
  float* Floats(Buf b, int64_t n) { return Grow(floats_[static_cast<size_t>(b)], n); }
  int32_t* Ints(IntBuf b, int64_t n) { return Grow(ints_[static_cast<size_t>(b)], n); }

 private:
  template <typename T>
  static T* Grow(std::vector<T>& v, int64_t n) {
    if (v.size() < static_cast<size_t>(n)) v.resize(static_cast<size_t>(n));
    return v.data();
  }

  std::array<std::vector<float>, static_cast<size_t>(Buf::kCount)> floats_;
  std::array<std::vector<int32_t>, static_cast<size_t>(IntBuf::kCount)> ints_;
};

}  // namespace fathom

// Activation buffers a forward pass borrows by name instead of allocating, so a
// decode step in steady state allocates nothing. The backend owns one Workspace
// in its own memory (host or GPU) and every block borrows from it.
//
// Non-obvious rules: a buffer is only valid until the next Floats/Ints call for
// the same name, and its contents are unspecified (never zeroed), so a block
// takes a name of its own for every buffer it still needs while calling another
// block (Mlp's gate/up are not the MoE's gathered rows). generation() changes
// whenever any buffer moved, so a GPU backend knows when a captured graph's
// pointers went stale.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "backend/device_memory.h"

namespace fathom {

// Not thread-safe: one forward at a time. Not copyable (buffers are big).
class Workspace {
 public:
  enum class Buf : uint8_t {
    kHidden, kNormed, kDelta, kRope,     // the layer loop
    kQ, kK, kV, kAttn, kQA, kKvA,        // attention
    kMlpGate, kMlpUp,                    // Mlp::Apply
    kRouterLogits, kRouteWeights, kGathered, kExpertOut, kRoutedWeights,  // MoE
    kFinalNormed, kLogits,               // the LM head
    kCount,
  };
  enum class IntBuf : uint8_t { kRouteIds, kRoutedRows, kExpertBegin, kCount };

  // Buffers come from `memory`, which must outlive the workspace.
  explicit Workspace(DeviceMemory& memory) : memory_(memory) {}
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;

  // At least n floats; reallocates only when n exceeds every earlier request.
  // Aborts naming the buffer and size if the memory has no room (the engine
  // sizes its batches so that this does not happen).
  float* Floats(Buf b, int64_t n) { return static_cast<float*>(Grow(floats_[static_cast<size_t>(b)], n * 4, "float")); }
  int32_t* Ints(IntBuf b, int64_t n) { return static_cast<int32_t*>(Grow(ints_[static_cast<size_t>(b)], n * 4, "int")); }

  uint64_t generation() const { return generation_; }
  // Bytes held over all buffers.
  int64_t num_bytes() const;

 private:
  void* Grow(std::unique_ptr<DeviceBuffer>& buf, int64_t num_bytes, const char* what);

  DeviceMemory& memory_;
  std::array<std::unique_ptr<DeviceBuffer>, static_cast<size_t>(Buf::kCount)> floats_;
  std::array<std::unique_ptr<DeviceBuffer>, static_cast<size_t>(IntBuf::kCount)> ints_;
  uint64_t generation_ = 0;
};

}  // namespace fathom

// A block-quantized weight matrix packed once, at load time, into the
// interleaved 32-row panels the panel kernels read (quant_panel_pack.h), so
// QuantMatMul runs those kernels for every m, decode included, without packing
// per call.
//
// Non-obvious rule: the layout belongs to the ISA it was packed for; a matmul
// under any other ActiveIsa() ignores the packed copy and reads the GGUF blocks,
// so an ISA override in tests never runs kernels on a layout they do not expect.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>

#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/cpu/isa.h"

namespace fathom::cpu {

// Owns its bytes. Movable, not copyable; immutable after Pack, so any number of
// threads may read it at once.
// Invariants: panel p (weight rows [32p, 32p + 32), zero rows past n) occupies
// panel_bytes() bytes at panel(p), num_blocks() packed blocks over the full k;
// panels are contiguous and 64-byte aligned.
class PackedWeight {
 public:
  // Packs w on the pool (panels in parallel) for ActiveIsa(). Returns nullopt
  // when that ISA has no panel kernels for w's dtype (the scalar ISA, or a dtype
  // QuantMatMul does not take). REQUIRES: w is contiguous 2-D with w.dim(1) a
  // whole number of blocks.
  static std::optional<PackedWeight> Pack(ThreadPool& pool, const Tensor& w /*(n, k)*/);

  PackedWeight(PackedWeight&&) noexcept = default;
  PackedWeight& operator=(PackedWeight&&) noexcept = default;
  PackedWeight(const PackedWeight&) = delete;
  PackedWeight& operator=(const PackedWeight&) = delete;

  Isa isa() const { return isa_; }
  DType dtype() const { return dtype_; }
  int64_t n() const { return n_; }
  int64_t k() const { return k_; }
  int64_t num_blocks() const { return num_blocks_; }
  int64_t num_panels() const { return num_panels_; }
  int64_t panel_bytes() const { return panel_bytes_; }
  int64_t num_bytes() const { return num_panels_ * panel_bytes_; }
  const uint8_t* panel(int64_t p) const { return data_.get() + p * panel_bytes_; }
  // Returns true iff the packed bytes are at most 1/8 more than the GGUF
  // blocks': only then does decode, which streams every weight byte once per
  // token, gain more from the panel kernels' fewer instructions than it loses
  // to extra bytes, so only then do matmuls with m < 8 read the panels.
  bool is_compact() const { return is_compact_; }

 private:
  struct FreeDeleter {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  PackedWeight() = default;

  Isa isa_ = Isa::kScalar;
  bool is_compact_ = false;
  DType dtype_ = DType::kF32;
  int64_t n_ = 0, k_ = 0, num_blocks_ = 0, num_panels_ = 0, panel_bytes_ = 0;
  std::unique_ptr<uint8_t, FreeDeleter> data_;  // (num_panels, panel_bytes)
};

}  // namespace fathom::cpu

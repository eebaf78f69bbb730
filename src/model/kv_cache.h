// The attention cache, paged: a KvBlockPool holds fixed-size blocks of cache rows
// for every layer, and one sequence's KvCache is a block table into a pool. Per
// layer and token a row has two float32 streams of fixed width. For the llama
// family they are the keys and values of the KV heads; for DeepSeek's MLA they
// are the normalised compressed latent (kv_lora_rank) and the roped shared key
// (qk_rope_head_dim), nothing per head.
//
// Non-obvious rules: position p of a sequence lives in block block_table[p /
// block_size] at row p % block_size, so blocks need not be adjacent or in order
// and several sequences may share a leading block (the prefix cache) as long as
// none writes to it. The cache is filled by the model's Forward, which writes the
// new tokens' rows and then advances num_tokens(); a failed Forward leaves
// num_tokens() unchanged, so the rows past it are scratch.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "backend/device_memory.h"
#include "core/status.h"
#include "kernels/cpu/kv_rows.h"  // KvRows: the view the attention kernels read

namespace fathom {

struct KvCacheShape {
  int64_t num_layers = 0;
  int64_t first_width = 0;   // floats per token per layer: keys, or the MLA latent
  int64_t second_width = 0;  // floats per token per layer: values, or the MLA rope key

  int64_t bytes_per_token_per_layer() const { return (first_width + second_width) * static_cast<int64_t>(sizeof(float)); }
  int64_t bytes_per_token() const { return num_layers * bytes_per_token_per_layer(); }
};

// Owns one allocation of num_blocks blocks of block_size token rows for every
// layer, in host or GPU memory (the backend's). Laid out per layer: the first
// stream of every block, then the second stream of every block. Thread-compatible: the engine thread allocates block ids
// (see engine/block_pool.h); the pool itself only stores rows.
class KvBlockPool {
 public:
  // Allocates the pool from `memory` (which must outlive it). Returns
  // InvalidArgument for a non-positive block_size or num_blocks and
  // ResourceExhausted if the memory cannot be had.
  static Result<std::unique_ptr<KvBlockPool>> Create(const KvCacheShape& shape, int64_t block_size,
                                                     int64_t num_blocks, DeviceMemory& memory = HostMemory());
  // Bytes one block takes over all layers.
  static int64_t BytesPerBlock(const KvCacheShape& shape, int64_t block_size) {
    return block_size * shape.bytes_per_token();
  }

  KvBlockPool(const KvBlockPool&) = delete;
  KvBlockPool& operator=(const KvBlockPool&) = delete;

  const KvCacheShape& shape() const { return shape_; }
  int64_t block_size() const { return block_size_; }
  int64_t num_blocks() const { return num_blocks_; }
  int64_t num_bytes() const { return data_->num_bytes(); }
  DeviceMemory& memory() const { return memory_; }

  // Row 0 of block 0 of layer `layer`'s first / second stream (in the pool's
  // memory: a device pointer for a GPU pool).
  float* first(int64_t layer) const { return data_->as<float>() + layer * layer_stride_; }
  float* second(int64_t layer) const { return first(layer) + num_blocks_ * block_size_ * shape_.first_width; }

  // Copies every layer's rows of block `src` to block `dst` (for a sequence that
  // forks off a partly filled shared block). REQUIRES: both in [0, num_blocks).
  void CopyBlock(int32_t src, int32_t dst);

 private:
  KvBlockPool(const KvCacheShape& shape, int64_t block_size, int64_t num_blocks, DeviceMemory& memory);

  KvCacheShape shape_;
  int64_t block_size_ = 0;
  int64_t num_blocks_ = 0;
  int64_t layer_stride_ = 0;  // floats per layer: num_blocks * block_size * (first_width + second_width)
  DeviceMemory& memory_;
  std::unique_ptr<DeviceBuffer> data_;
};

// One sequence's cache: a block table into a pool, and how many of its positions
// hold rows. Movable, not copyable. Thread-compatible.
// Invariants: 0 <= num_tokens() <= capacity() == block_table().size() * block_size.
class KvCache {
 public:
  // A cache with its own pool of one block of `capacity` rows: contiguous, for
  // the commands that run one sequence, in `memory`. Returns ResourceExhausted if
  // that cannot be allocated and InvalidArgument for a non-positive capacity.
  static Result<KvCache> Create(const KvCacheShape& shape, int64_t capacity, DeviceMemory& memory = HostMemory());
  // An empty cache over `pool`, which must outlive it; the engine appends blocks.
  explicit KvCache(KvBlockPool* pool) : pool_(pool) {}

  KvCache(KvCache&&) noexcept = default;
  KvCache& operator=(KvCache&&) noexcept = default;
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  const KvCacheShape& shape() const { return pool_->shape(); }
  const KvBlockPool& pool() const { return *pool_; }
  int64_t block_size() const { return pool_->block_size(); }
  int64_t capacity() const { return static_cast<int64_t>(block_table_.size()) * pool_->block_size(); }
  int64_t num_tokens() const { return num_tokens_; }
  // Bytes of the blocks this cache holds (shared ones included).
  int64_t num_bytes() const {
    return static_cast<int64_t>(block_table_.size()) * KvBlockPool::BytesPerBlock(shape(), block_size());
  }

  std::span<const int32_t> block_table() const { return block_table_; }
  // Adds block `block_id` of the pool at the end (capacity grows by block_size).
  void AppendBlock(int32_t block_id) { block_table_.push_back(block_id); }
  // Drops every block and token (the ids go back to whoever allocated them).
  void Clear() {
    block_table_.clear();
    num_tokens_ = 0;
  }

  // Layer `layer`'s first (keys / latent) and second (values / rope key) rows.
  KvRows first_rows(int64_t layer) const { return Rows(pool_->first(layer), shape().first_width); }
  KvRows second_rows(int64_t layer) const { return Rows(pool_->second(layer), shape().second_width); }

  // REQUIRES: num_tokens() + n <= capacity().
  void Advance(int64_t n);
  // Forgets every token at or past `n`. REQUIRES: 0 <= n <= num_tokens().
  void Truncate(int64_t n);

 private:
  KvRows Rows(float* base, int64_t width) const {
    return {.base = base, .block_table = block_table_.data(), .block_size = pool_->block_size(),
            .block_stride = pool_->block_size() * width, .width = width};
  }

  std::unique_ptr<KvBlockPool> owned_pool_;  // set only by Create
  KvBlockPool* pool_ = nullptr;
  std::vector<int32_t> block_table_;
  int64_t num_tokens_ = 0;
};

}  // namespace fathom

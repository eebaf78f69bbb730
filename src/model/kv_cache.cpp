#include "model/kv_cache.h"

#include <algorithm>
#include <limits>
#include <new>
#include <string>

namespace fathom {

KvBlockPool::KvBlockPool(const KvCacheShape& shape, int64_t block_size, int64_t num_blocks, DeviceMemory& memory)
    : shape_(shape),
      block_size_(block_size),
      num_blocks_(num_blocks),
      layer_stride_(num_blocks * block_size * (shape.first_width + shape.second_width)),
      memory_(memory) {}

Result<std::unique_ptr<KvBlockPool>> KvBlockPool::Create(const KvCacheShape& shape, int64_t block_size,
                                                         int64_t num_blocks, DeviceMemory& memory) {
  if (block_size <= 0 || num_blocks <= 0) {
    return InvalidArgument("a KV block pool needs a positive block size and block count, got " +
                           std::to_string(num_blocks) + " blocks of " + std::to_string(block_size) + " tokens");
  }
  // Checked in steps so that a huge request is refused rather than wrapped
  // round to a small allocation that later writes would overrun.
  const int64_t row_floats = shape.first_width + shape.second_width;
  constexpr int64_t kMaxFloats = std::numeric_limits<int64_t>::max() / static_cast<int64_t>(sizeof(float));
  const auto too_many = [&](int64_t a, int64_t b) { return a > 0 && b > kMaxFloats / a; };
  if (too_many(block_size, num_blocks) || too_many(block_size * num_blocks, row_floats) ||
      too_many(block_size * num_blocks * row_floats, shape.num_layers)) {
    return ResourceExhausted("a KV block pool of " + std::to_string(num_blocks) + " blocks of " +
                             std::to_string(block_size) + " tokens overflows the address space");
  }
  const int64_t num_floats = block_size * num_blocks * row_floats * shape.num_layers;
  std::unique_ptr<KvBlockPool> pool(new KvBlockPool(shape, block_size, num_blocks, memory));
  Result<std::unique_ptr<DeviceBuffer>> data = memory.Allocate(num_floats * static_cast<int64_t>(sizeof(float)));
  if (!data.ok()) {
    return ResourceExhausted("cannot allocate a KV block pool of " + std::to_string(num_blocks) + " blocks of " +
                             std::to_string(block_size) + " tokens (" +
                             std::to_string((num_floats * static_cast<int64_t>(sizeof(float))) >> 20) +
                             " MiB) in " + DeviceKindName(memory.kind()) + " memory: " + data.status().message());
  }
  pool->data_ = std::move(*data);
  return pool;
}

void KvBlockPool::CopyBlock(int32_t src, int32_t dst) {
  FATHOM_CHECK(src >= 0 && src < num_blocks_ && dst >= 0 && dst < num_blocks_);
  const int64_t first_floats = block_size_ * shape_.first_width;    // one block of the first stream
  const int64_t second_floats = block_size_ * shape_.second_width;  // one block of the second stream
  for (int64_t layer = 0; layer < shape_.num_layers; ++layer) {
    memory_.CopyWithin(first(layer) + dst * first_floats, first(layer) + src * first_floats, first_floats * 4);
    memory_.CopyWithin(second(layer) + dst * second_floats, second(layer) + src * second_floats, second_floats * 4);
  }
}

Result<KvCache> KvCache::Create(const KvCacheShape& shape, int64_t capacity, DeviceMemory& memory) {
  if (capacity <= 0) return InvalidArgument("KV cache capacity must be positive, got " + std::to_string(capacity));
  FATHOM_ASSIGN_OR_RETURN(std::unique_ptr<KvBlockPool> pool, KvBlockPool::Create(shape, capacity, 1, memory));
  KvCache cache(pool.get());
  cache.owned_pool_ = std::move(pool);
  cache.AppendBlock(0);
  return cache;
}

void KvCache::Advance(int64_t n) {
  FATHOM_CHECK(n >= 0 && num_tokens_ + n <= capacity());
  num_tokens_ += n;
}

void KvCache::Truncate(int64_t n) {
  FATHOM_CHECK(n >= 0 && n <= num_tokens_);
  num_tokens_ = n;
}

}  // namespace fathom

#include "model/kv_cache.h"

#include <new>

namespace fathom {

KvCache::KvCache(const KvCacheShape& shape, int64_t capacity)
    : shape_(shape), capacity_(capacity), layer_stride_(capacity * (shape.first_width + shape.second_width)) {}

Result<KvCache> KvCache::Create(const KvCacheShape& shape, int64_t capacity) {
  if (capacity <= 0) return InvalidArgument("KV cache capacity must be positive, got " + std::to_string(capacity));
  KvCache cache(shape, capacity);
  try {
    cache.data_.resize(static_cast<size_t>(shape.num_layers * cache.layer_stride_));
  } catch (const std::bad_alloc&) {
    return ResourceExhausted("cannot allocate a KV cache of " + std::to_string(capacity) + " tokens (" +
                             std::to_string(shape.num_layers * cache.layer_stride_ * 4 >> 20) + " MiB)");
  }
  return cache;
}

void KvCache::Advance(int64_t n) {
  FATHOM_CHECK(n >= 0 && num_tokens_ + n <= capacity_);
  num_tokens_ += n;
}

void KvCache::Truncate(int64_t n) {
  FATHOM_CHECK(n >= 0 && n <= num_tokens_);
  num_tokens_ = n;
}

}  // namespace fathom

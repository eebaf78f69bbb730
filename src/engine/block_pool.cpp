// BlockPool: block ids, reference counts and the hashed prefix cache.
//
// The non-obvious rule: the hash index only narrows the search; a hit is a block
// whose seed, parent (id and publication serial) and tokens all equal the
// query's, so two chains that collide in 64 bits still never share a block.
#include "engine/block_pool.h"

#include <algorithm>

#include "core/status.h"

namespace fathom {
namespace {

constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ULL;
constexpr uint64_t kFnvPrime = 0x100000001b3ULL;

uint64_t FnvByte(uint64_t h, uint8_t byte) { return (h ^ byte) * kFnvPrime; }

// Little-endian, so the hash is the same on every host.
uint64_t FnvU64(uint64_t h, uint64_t v) {
  for (int i = 0; i < 8; ++i) h = FnvByte(h, static_cast<uint8_t>(v >> (8 * i)));
  return h;
}

uint64_t FnvU32(uint64_t h, uint32_t v) {
  for (int i = 0; i < 4; ++i) h = FnvByte(h, static_cast<uint8_t>(v >> (8 * i)));
  return h;
}

// FNV-1a alone mixes the last bytes poorly into the high bits; splitmix64's
// finalizer spreads every input bit over the whole word.
uint64_t Finalize(uint64_t h) {
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

// Length first, so ("ab", "c") and ("a", "bc") hash differently.
uint64_t FnvString(uint64_t h, std::string_view s) {
  h = FnvU64(h, s.size());
  for (char c : s) h = FnvByte(h, static_cast<uint8_t>(c));
  return h;
}

}  // namespace

uint64_t BlockHashSeed(std::string_view model_id, std::string_view cache_salt) {
  return Finalize(FnvString(FnvString(kFnvOffset, model_id), cache_salt));
}

uint64_t HashBlock(uint64_t parent_hash, std::span<const int32_t> tokens) {
  uint64_t h = FnvU64(kFnvOffset, parent_hash);
  h = FnvU64(h, tokens.size());
  for (int32_t t : tokens) h = FnvU32(h, static_cast<uint32_t>(t));
  return Finalize(h);
}

BlockPool::BlockPool(int64_t num_blocks, int64_t block_size, bool enable_prefix_caching)
    : block_size_(block_size), enable_prefix_caching_(enable_prefix_caching) {
  FATHOM_CHECK(num_blocks >= 0 && num_blocks <= INT32_MAX);
  FATHOM_CHECK(block_size > 0);
  blocks_.resize(static_cast<size_t>(num_blocks));
  empty_free_.reserve(blocks_.size());
  // Reversed so the stack hands out 0, 1, 2, ... first, which keeps logs readable.
  for (int64_t i = num_blocks - 1; i >= 0; --i) empty_free_.push_back(static_cast<int32_t>(i));
}

int64_t BlockPool::num_blocks() const { return static_cast<int64_t>(blocks_.size()); }
int64_t BlockPool::block_size() const { return block_size_; }
int64_t BlockPool::num_free() const { return num_blocks() - num_used_; }
int64_t BlockPool::num_used() const { return num_used_; }
int64_t BlockPool::num_cached_free() const { return static_cast<int64_t>(lru_.size()); }
int64_t BlockPool::num_queries() const { return num_queries_; }
int64_t BlockPool::num_hits() const { return num_hits_; }

bool BlockPool::IsLink(int32_t block_id, uint64_t seed, int32_t parent, std::span<const int32_t> tokens) const {
  const Block& b = blocks_[block_id];
  if (!b.is_published || b.seed != seed || b.parent != parent) return false;
  if (parent >= 0) {
    const Block& p = blocks_[parent];
    if (!p.is_published || p.serial != b.parent_serial) return false;
  }
  return std::equal(b.tokens.begin(), b.tokens.end(), tokens.begin(), tokens.end());
}

void BlockPool::Unpublish(int32_t block_id) {
  Block& b = blocks_[block_id];
  FATHOM_CHECK(b.is_published);
  auto [first, last] = by_hash_.equal_range(b.hash);
  auto it = std::find_if(first, last, [&](const auto& entry) { return entry.second == block_id; });
  FATHOM_CHECK(it != last);
  by_hash_.erase(it);
  b.is_published = false;
  b.tokens.clear();
}

std::vector<int32_t> BlockPool::FindCachedPrefix(uint64_t seed, std::span<const int32_t> tokens, int64_t max_blocks) {
  std::vector<int32_t> found;
  if (!enable_prefix_caching_) return found;
  num_queries_ += static_cast<int64_t>(tokens.size());
  const int64_t num_full = static_cast<int64_t>(tokens.size()) / block_size_;
  const int64_t limit = std::min(num_full, max_blocks);
  uint64_t hash = seed;
  int32_t parent = -1;
  for (int64_t i = 0; i < limit; ++i) {
    std::span<const int32_t> block_tokens =
        tokens.subspan(static_cast<size_t>(i * block_size_), static_cast<size_t>(block_size_));
    hash = HashBlock(hash, block_tokens);
    auto [first, last] = by_hash_.equal_range(hash);
    auto it =
        std::find_if(first, last, [&](const auto& entry) { return IsLink(entry.second, seed, parent, block_tokens); });
    if (it == last) break;
    parent = it->second;
    found.push_back(parent);
  }
  for (int32_t id : found) {
    Block& b = blocks_[id];
    if (b.ref_count == 0) {
      lru_.erase(b.lru_position);
      ++num_used_;
    }
    ++b.ref_count;
  }
  num_hits_ += static_cast<int64_t>(found.size()) * block_size_;
  return found;
}

std::optional<std::vector<int32_t>> BlockPool::Allocate(int64_t n) {
  FATHOM_CHECK(n >= 0);
  if (n > num_free()) return std::nullopt;
  std::vector<int32_t> ids;
  ids.reserve(static_cast<size_t>(n));
  while (static_cast<int64_t>(ids.size()) < n) {
    int32_t id;
    if (!empty_free_.empty()) {
      id = empty_free_.back();
      empty_free_.pop_back();
    } else {
      FATHOM_CHECK(!lru_.empty());
      id = lru_.front();
      lru_.pop_front();
      Unpublish(id);
    }
    Block& b = blocks_[id];
    FATHOM_CHECK(b.ref_count == 0 && !b.is_published);
    b.ref_count = 1;
    ids.push_back(id);
  }
  num_used_ += n;
  return ids;
}

void BlockPool::Publish(int32_t block_id, int32_t parent_block_id, uint64_t seed, std::span<const int32_t> tokens) {
  FATHOM_CHECK(block_id >= 0 && block_id < num_blocks() && blocks_[block_id].ref_count > 0);
  FATHOM_CHECK(parent_block_id == -1 ||
               (parent_block_id >= 0 && parent_block_id < num_blocks() && blocks_[parent_block_id].ref_count > 0));
  FATHOM_CHECK(static_cast<int64_t>(tokens.size()) == block_size_);
  if (!enable_prefix_caching_) return;
  Block& b = blocks_[block_id];
  if (b.is_published) return;
  uint64_t parent_hash = seed;
  uint64_t parent_serial = 0;
  if (parent_block_id >= 0) {
    const Block& p = blocks_[parent_block_id];
    if (!p.is_published || p.seed != seed) return;
    parent_hash = p.hash;
    parent_serial = p.serial;
  }
  const uint64_t hash = HashBlock(parent_hash, tokens);
  auto [first, last] = by_hash_.equal_range(hash);
  if (std::any_of(first, last, [&](const auto& e) { return IsLink(e.second, seed, parent_block_id, tokens); })) return;
  b.is_published = true;
  b.hash = hash;
  b.seed = seed;
  b.serial = next_serial_++;
  b.parent = parent_block_id;
  b.parent_serial = parent_serial;
  b.tokens.assign(tokens.begin(), tokens.end());
  by_hash_.emplace(hash, block_id);
}

void BlockPool::AddRef(int32_t block_id) {
  FATHOM_CHECK(block_id >= 0 && block_id < num_blocks() && blocks_[block_id].ref_count > 0);
  ++blocks_[block_id].ref_count;
}

void BlockPool::Free(std::span<const int32_t> block_ids) {
  for (int32_t id : block_ids) {
    FATHOM_CHECK(id >= 0 && id < num_blocks() && blocks_[id].ref_count > 0);
    Block& b = blocks_[id];
    if (--b.ref_count > 0) continue;
    --num_used_;
    if (b.is_published) {
      b.lru_position = lru_.insert(lru_.end(), id);
    } else {
      empty_free_.push_back(id);
    }
  }
}

void BlockPool::ResetPrefixCache() {
  for (int32_t id : lru_) {
    Unpublish(id);
    empty_free_.push_back(id);
  }
  lru_.clear();
}

}  // namespace fathom

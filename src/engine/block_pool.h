// Hands out the ids of the KV pool's blocks, counts their references, and keeps
// the prefix cache: a full block is known by the hash of its token chain, so a
// new sequence whose prompt starts with the same tokens reuses those blocks.
//
// The non-obvious rules: a block's hash covers its parent's hash, its own tokens
// and the seed (model id and tenant salt), so tenants and models never share a
// block; a hit is confirmed by comparing the stored tokens and parent block, so a
// hash collision can never serve another prefix's rows. A free block that still
// holds a published prefix stays findable until it is evicted, least recently
// freed first.
#pragma once

#include <cstdint>
#include <list>
#include <optional>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace fathom {

// Returns the seed of a hash chain: a hash of the model id and the tenant salt.
uint64_t BlockHashSeed(std::string_view model_id, std::string_view cache_salt);
// Returns the hash of a full block: of its parent's hash (the seed for block 0) and its tokens.
uint64_t HashBlock(uint64_t parent_hash, std::span<const int32_t> tokens);

// Not thread-safe: the engine thread alone uses it.
// Invariants: every block is in exactly one of three states: used (ref_count >
// 0), cached-free (ref_count 0, published, on the LRU list) or empty-free
// (ref_count 0, unpublished); num_used + num_free == num_blocks.
class BlockPool {
 public:
  BlockPool(int64_t num_blocks, int64_t block_size, bool enable_prefix_caching);
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  int64_t num_blocks() const;
  int64_t block_size() const;
  int64_t num_free() const;         // empty-free + cached-free: what Allocate can hand out
  int64_t num_used() const;         // ref_count > 0
  int64_t num_cached_free() const;  // free but findable by FindCachedPrefix
  int64_t num_queries() const;      // prompt tokens passed to FindCachedPrefix, summed
  int64_t num_hits() const;         // of those, tokens in the blocks it returned

  // Returns the longest run of leading blocks of `tokens` that are cached (at most
  // max_blocks of them), with a reference taken on each (a cached-free block
  // leaves the LRU list). Each block's hash is chained from `seed`. Adds
  // tokens.size() to num_queries and the returned blocks' tokens to num_hits.
  // Empty when prefix caching is off.
  std::vector<int32_t> FindCachedPrefix(uint64_t seed, std::span<const int32_t> tokens, int64_t max_blocks);

  // Returns n block ids with ref_count 1, taken from the empty-free blocks first
  // and then by evicting the least recently freed cached blocks (which stop being
  // findable); nullopt, with nothing taken, if fewer than n are free.
  std::optional<std::vector<int32_t>> Allocate(int64_t n);

  // Records that used block `block_id` now holds the full block `tokens`
  // (block_size of them) whose parent is `parent_block_id` (-1 for a sequence's
  // first block) and whose chain starts at `seed`, so FindCachedPrefix can return
  // it. A block already published, or a chain position already published by an
  // equal block, is left as it is; so is a block whose parent is unpublished
  // (its chain has no hash). No-op when prefix caching is off.
  // REQUIRES: block_id used, parent_block_id -1 or used, tokens.size() == block_size.
  void Publish(int32_t block_id, int32_t parent_block_id, uint64_t seed, std::span<const int32_t> tokens);

  // Takes one more reference on used block `block_id` (a forked choice sharing it).
  void AddRef(int32_t block_id);

  // Drops one reference of each id, in order. A block reaching zero becomes
  // cached-free if published (most recently freed: evicted last) or empty-free.
  // Callers free a sequence's blocks last to first, so a prefix's head outlives its tail.
  void Free(std::span<const int32_t> block_ids);

  // Forgets every cached-free block (they become empty-free). Used blocks stay.
  void ResetPrefixCache();

 private:
  // A published block is identified exactly by (seed, parent, parent_serial,
  // tokens): parent_serial pins which publication of the parent id it follows,
  // so a parent evicted and republished with other tokens orphans its old
  // children instead of adopting them, even under a hash collision.
  struct Block {
    int32_t ref_count = 0;
    bool is_published = false;
    uint64_t hash = 0;
    uint64_t seed = 0;    // valid iff published
    uint64_t serial = 0;  // unique per publication; valid iff published
    int32_t parent = -1;
    uint64_t parent_serial = 0;                 // the parent's serial when this was published
    std::vector<int32_t> tokens;                // (block_size) iff published
    std::list<int32_t>::iterator lru_position;  // valid iff cached-free
  };

  // Returns true iff published block `block_id` holds exactly this chain link.
  bool IsLink(int32_t block_id, uint64_t seed, int32_t parent, std::span<const int32_t> tokens) const;
  // Drops `block_id` from by_hash_ and clears its published state.
  void Unpublish(int32_t block_id);

  int64_t block_size_;
  bool enable_prefix_caching_;
  std::vector<Block> blocks_;
  std::vector<int32_t> empty_free_;                     // stack of unpublished free ids
  std::list<int32_t> lru_;                              // cached-free ids, least recently freed first
  std::unordered_multimap<uint64_t, int32_t> by_hash_;  // published blocks (used or cached-free)
  int64_t num_used_ = 0;
  uint64_t next_serial_ = 1;
  int64_t num_queries_ = 0;
  int64_t num_hits_ = 0;
};

}  // namespace fathom

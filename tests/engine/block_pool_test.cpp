#include "engine/block_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <list>
#include <random>
#include <string>
#include <vector>

namespace fathom {
namespace {

constexpr int64_t kBlockSize = 4;

std::vector<int32_t> Range(int32_t first, int64_t n) {
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = first + static_cast<int32_t>(i);
  return v;
}

std::span<const int32_t> BlockOf(const std::vector<int32_t>& tokens, int64_t i) {
  return std::span<const int32_t>(tokens).subspan(static_cast<size_t>(i * kBlockSize), kBlockSize);
}

// Allocates and publishes every full block of `tokens`; returns the block ids.
std::vector<int32_t> Fill(BlockPool& pool, uint64_t seed, const std::vector<int32_t>& tokens) {
  const int64_t n = (static_cast<int64_t>(tokens.size()) + kBlockSize - 1) / kBlockSize;
  std::optional<std::vector<int32_t>> ids = pool.Allocate(n);
  EXPECT_TRUE(ids.has_value());
  if (!ids) return {};
  for (int64_t i = 0; i < static_cast<int64_t>(tokens.size()) / kBlockSize; ++i) {
    pool.Publish((*ids)[i], i == 0 ? -1 : (*ids)[i - 1], seed, BlockOf(tokens, i));
  }
  return *ids;
}

void FreeReversed(BlockPool& pool, std::vector<int32_t> ids) {
  std::reverse(ids.begin(), ids.end());
  pool.Free(ids);
}

TEST(BlockHashTest, SeedSeparatesItsTwoStrings) {
  EXPECT_NE(BlockHashSeed("ab", "c"), BlockHashSeed("a", "bc"));
  EXPECT_NE(BlockHashSeed("m", ""), BlockHashSeed("", "m"));
  EXPECT_NE(BlockHashSeed("m", "tenant-a"), BlockHashSeed("m", "tenant-b"));
  EXPECT_EQ(BlockHashSeed("m", "t"), BlockHashSeed("m", "t"));
}

TEST(BlockHashTest, BlockHashCoversParentAndEveryToken) {
  const std::vector<int32_t> t = {1, 2, 3, 4};
  const uint64_t h = HashBlock(7, t);
  EXPECT_EQ(h, HashBlock(7, t));
  EXPECT_NE(h, HashBlock(8, t));
  for (size_t i = 0; i < t.size(); ++i) {
    std::vector<int32_t> u = t;
    u[i] ^= 1 << 30;
    EXPECT_NE(h, HashBlock(7, u)) << i;
  }
  EXPECT_NE(HashBlock(7, std::vector<int32_t>{1, 2}), HashBlock(7, std::vector<int32_t>{1, 2, 0}));
}

TEST(BlockPoolTest, AllocateFreeAndRefCounts) {
  BlockPool pool(8, kBlockSize, true);
  EXPECT_EQ(pool.num_blocks(), 8);
  EXPECT_EQ(pool.block_size(), kBlockSize);
  EXPECT_EQ(pool.num_free(), 8);
  auto ids = pool.Allocate(3);
  ASSERT_TRUE(ids);
  ASSERT_EQ(ids->size(), 3u);
  std::vector<int32_t> sorted = *ids;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_TRUE(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());
  EXPECT_EQ(pool.num_used(), 3);
  EXPECT_EQ(pool.num_free(), 5);

  pool.AddRef((*ids)[0]);
  pool.Free(*ids);
  EXPECT_EQ(pool.num_used(), 1);  // the extra reference keeps block 0 used
  pool.Free(std::vector<int32_t>{(*ids)[0]});
  EXPECT_EQ(pool.num_used(), 0);
  EXPECT_EQ(pool.num_free(), 8);
  EXPECT_EQ(pool.num_cached_free(), 0);  // nothing was published
  auto none = pool.Allocate(0);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST(BlockPoolTest, ExhaustionReturnsNulloptAndTakesNothing) {
  BlockPool pool(4, kBlockSize, true);
  auto a = pool.Allocate(3);
  ASSERT_TRUE(a);
  EXPECT_FALSE(pool.Allocate(2).has_value());
  EXPECT_EQ(pool.num_used(), 3);
  EXPECT_EQ(pool.num_free(), 1);
  auto b = pool.Allocate(1);
  ASSERT_TRUE(b);
  EXPECT_EQ(pool.num_free(), 0);
  EXPECT_FALSE(pool.Allocate(1).has_value());
}

TEST(BlockPoolTest, FreedPublishedBlocksAreFoundAgain) {
  BlockPool pool(8, kBlockSize, true);
  const uint64_t seed = BlockHashSeed("model", "");
  const std::vector<int32_t> prompt = Range(100, 10);  // two full blocks and a partial one
  std::vector<int32_t> ids = Fill(pool, seed, prompt);
  ASSERT_EQ(ids.size(), 3u);
  FreeReversed(pool, ids);
  EXPECT_EQ(pool.num_cached_free(), 2);
  EXPECT_EQ(pool.num_free(), 8);

  std::vector<int32_t> hit = pool.FindCachedPrefix(seed, prompt, 100);
  EXPECT_EQ(hit, std::vector<int32_t>(ids.begin(), ids.begin() + 2));
  EXPECT_EQ(pool.num_used(), 2);
  EXPECT_EQ(pool.num_cached_free(), 0);
  EXPECT_EQ(pool.num_queries(), 10);
  EXPECT_EQ(pool.num_hits(), 8);

  // A used published block is found too, and shared.
  std::vector<int32_t> again = pool.FindCachedPrefix(seed, prompt, 100);
  EXPECT_EQ(again, hit);
  EXPECT_EQ(pool.num_used(), 2);
  FreeReversed(pool, again);
  FreeReversed(pool, hit);
  EXPECT_EQ(pool.num_cached_free(), 2);
}

TEST(BlockPoolTest, MaxBlocksAndPartialBlocksBoundTheHit) {
  BlockPool pool(8, kBlockSize, true);
  const uint64_t seed = BlockHashSeed("model", "");
  const std::vector<int32_t> prompt = Range(0, 12);
  FreeReversed(pool, Fill(pool, seed, prompt));
  EXPECT_EQ(pool.FindCachedPrefix(seed, prompt, 0).size(), 0u);
  std::vector<int32_t> two = pool.FindCachedPrefix(seed, prompt, 2);
  EXPECT_EQ(two.size(), 2u);
  FreeReversed(pool, two);
  // 11 tokens hold only two full blocks.
  std::vector<int32_t> short_hit = pool.FindCachedPrefix(seed, std::span(prompt).first(11), 100);
  EXPECT_EQ(short_hit.size(), 2u);
  FreeReversed(pool, short_hit);
}

TEST(BlockPoolTest, TokenMismatchEndsTheHit) {
  BlockPool pool(8, kBlockSize, true);
  const uint64_t seed = BlockHashSeed("model", "");
  const std::vector<int32_t> prompt = Range(0, 12);
  std::vector<int32_t> ids = Fill(pool, seed, prompt);
  FreeReversed(pool, ids);
  std::vector<int32_t> other = prompt;
  other[5] = 999;  // second block differs
  std::vector<int32_t> hit = pool.FindCachedPrefix(seed, other, 100);
  EXPECT_EQ(hit, std::vector<int32_t>{ids[0]});
  FreeReversed(pool, hit);
  other[0] = 999;  // first block differs: the third block alone is never a hit
  EXPECT_TRUE(pool.FindCachedPrefix(seed, other, 100).empty());
}

TEST(BlockPoolTest, DifferentSeedDoesNotHit) {
  BlockPool pool(8, kBlockSize, true);
  const std::vector<int32_t> prompt = Range(0, 8);
  FreeReversed(pool, Fill(pool, BlockHashSeed("model", "tenant-a"), prompt));
  EXPECT_TRUE(pool.FindCachedPrefix(BlockHashSeed("model", "tenant-b"), prompt, 100).empty());
  EXPECT_TRUE(pool.FindCachedPrefix(BlockHashSeed("other-model", "tenant-a"), prompt, 100).empty());
  std::vector<int32_t> hit = pool.FindCachedPrefix(BlockHashSeed("model", "tenant-a"), prompt, 100);
  EXPECT_EQ(hit.size(), 2u);
  FreeReversed(pool, hit);
}

TEST(BlockPoolTest, EvictsLeastRecentlyFreedFirst) {
  BlockPool pool(4, kBlockSize, true);
  const uint64_t seed = BlockHashSeed("model", "");
  const std::vector<int32_t> a = Range(0, 4), b = Range(10, 4), c = Range(20, 4);
  std::vector<int32_t> ia = Fill(pool, seed, a), ib = Fill(pool, seed, b), ic = Fill(pool, seed, c);
  pool.Free(ib);
  pool.Free(ia);
  pool.Free(ic);  // LRU order: b, a, c
  EXPECT_EQ(pool.num_cached_free(), 3);

  // The one empty block goes first, then b.
  auto first = pool.Allocate(2);
  ASSERT_TRUE(first);
  EXPECT_EQ((*first)[1], ib[0]);
  EXPECT_EQ(pool.num_cached_free(), 2);
  EXPECT_TRUE(pool.FindCachedPrefix(seed, b, 100).empty());
  std::vector<int32_t> hit_a = pool.FindCachedPrefix(seed, a, 100);  // a leaves the LRU list
  EXPECT_EQ(hit_a, ia);
  auto second = pool.Allocate(1);
  ASSERT_TRUE(second);
  EXPECT_EQ(*second, ic);
  EXPECT_TRUE(pool.FindCachedPrefix(seed, c, 100).empty());
  EXPECT_EQ(pool.num_cached_free(), 0);
  EXPECT_EQ(pool.num_free(), 0);
}

TEST(BlockPoolTest, ResetForgetsOnlyFreeBlocks) {
  BlockPool pool(8, kBlockSize, true);
  const uint64_t seed = BlockHashSeed("model", "");
  const std::vector<int32_t> a = Range(0, 4), b = Range(10, 4);
  std::vector<int32_t> ia = Fill(pool, seed, a);
  FreeReversed(pool, Fill(pool, seed, b));
  pool.ResetPrefixCache();
  EXPECT_EQ(pool.num_cached_free(), 0);
  EXPECT_EQ(pool.num_free(), 7);
  EXPECT_TRUE(pool.FindCachedPrefix(seed, b, 100).empty());
  std::vector<int32_t> hit = pool.FindCachedPrefix(seed, a, 100);
  EXPECT_EQ(hit, ia);
}

TEST(BlockPoolTest, EqualBlockPublishedTwiceKeepsTheFirst) {
  BlockPool pool(8, kBlockSize, true);
  const uint64_t seed = BlockHashSeed("model", "");
  const std::vector<int32_t> prompt = Range(0, 8);
  // Two sequences prefill the same prompt before either could hit.
  std::vector<int32_t> first = Fill(pool, seed, prompt);
  std::vector<int32_t> second = Fill(pool, seed, prompt);
  FreeReversed(pool, second);
  EXPECT_EQ(pool.num_cached_free(), 0);  // the duplicates were never published
  std::vector<int32_t> hit = pool.FindCachedPrefix(seed, prompt, 100);
  EXPECT_EQ(hit, first);
}

TEST(BlockPoolTest, ChildOfAnEvictedParentIsNotFound) {
  BlockPool pool(2, kBlockSize, true);
  const uint64_t seed = BlockHashSeed("model", "");
  const std::vector<int32_t> prompt = Range(0, 8);
  std::vector<int32_t> ids = Fill(pool, seed, prompt);
  pool.Free(ids);  // head first, against the rule: the head is evicted before its child
  auto parent = pool.Allocate(1);
  ASSERT_TRUE(parent);
  EXPECT_EQ(*parent, std::vector<int32_t>{ids[0]});
  // The same id republished at the same chain position: the hash chain matches
  // the old child, but the parent link belongs to an older publication.
  pool.Publish(ids[0], -1, seed, BlockOf(prompt, 0));
  std::vector<int32_t> hit = pool.FindCachedPrefix(seed, prompt, 100);
  EXPECT_EQ(hit, std::vector<int32_t>{ids[0]});
}

TEST(BlockPoolTest, DisabledPrefixCachingNeverHits) {
  BlockPool pool(4, kBlockSize, false);
  const uint64_t seed = BlockHashSeed("model", "");
  const std::vector<int32_t> prompt = Range(0, 8);
  std::vector<int32_t> ids = Fill(pool, seed, prompt);
  FreeReversed(pool, ids);
  EXPECT_EQ(pool.num_cached_free(), 0);
  EXPECT_EQ(pool.num_free(), 4);
  EXPECT_TRUE(pool.FindCachedPrefix(seed, prompt, 100).empty());
  EXPECT_EQ(pool.num_used(), 0);
}

// ---------------------------------------------------------------------------
// Model-based test: random sequences against a pool of linear scans.

// Trivially correct: a published block is known by its whole chain (seed and
// every token from the start), and every question is a scan of all blocks.
class ReferencePool {
 public:
  struct Block {
    int ref_count = 0;
    bool is_published = false;
    uint64_t seed = 0;
    std::vector<int32_t> chain;  // all tokens from the sequence start through this block
    int32_t parent = -1;
  };

  ReferencePool(int64_t num_blocks, bool enable) : blocks_(static_cast<size_t>(num_blocks)), enable_(enable) {}

  int64_t num_used() const {
    return std::count_if(blocks_.begin(), blocks_.end(), [](const Block& b) { return b.ref_count > 0; });
  }
  int64_t num_free() const { return static_cast<int64_t>(blocks_.size()) - num_used(); }
  int64_t num_cached_free() const { return static_cast<int64_t>(lru_.size()); }
  int64_t num_empty_free() const { return num_free() - num_cached_free(); }
  const Block& block(int32_t id) const { return blocks_[static_cast<size_t>(id)]; }
  const std::vector<int32_t>& lru() const { return lru_; }

  std::vector<int32_t> Find(uint64_t seed, const std::vector<int32_t>& tokens, int64_t max_blocks) {
    std::vector<int32_t> found;
    if (!enable_) return found;
    num_queries += static_cast<int64_t>(tokens.size());
    int32_t parent = -1;
    for (int64_t i = 0; i < max_blocks && (i + 1) * kBlockSize <= static_cast<int64_t>(tokens.size()); ++i) {
      std::vector<int32_t> chain(tokens.begin(), tokens.begin() + (i + 1) * kBlockSize);
      int32_t match = -1;
      for (size_t id = 0; id < blocks_.size(); ++id) {
        const Block& b = blocks_[id];
        if (b.is_published && b.seed == seed && b.chain == chain && b.parent == parent) {
          EXPECT_EQ(match, -1) << "two equal published blocks";
          match = static_cast<int32_t>(id);
        }
      }
      if (match < 0) break;
      found.push_back(match);
      parent = match;
    }
    for (int32_t id : found) Take(id);
    num_hits += static_cast<int64_t>(found.size()) * kBlockSize;
    return found;
  }

  // Checks that `ids` is what Allocate may return here, then applies it.
  void CheckAndApplyAllocate(const std::vector<int32_t>& ids) {
    const int64_t n = static_cast<int64_t>(ids.size());
    const int64_t num_evicted = std::max<int64_t>(0, n - num_empty_free());
    std::vector<int32_t> expected_evicted(lru_.begin(), lru_.begin() + num_evicted);
    std::vector<int32_t> evicted;
    for (int32_t id : ids) {
      Block& b = blocks_[static_cast<size_t>(id)];
      ASSERT_EQ(b.ref_count, 0) << "allocated a used block " << id;
      if (b.is_published) evicted.push_back(id);
    }
    std::sort(evicted.begin(), evicted.end());
    std::sort(expected_evicted.begin(), expected_evicted.end());
    ASSERT_EQ(evicted, expected_evicted) << "evicted other than the least recently freed";
    for (int32_t id : ids) {
      Block& b = blocks_[static_cast<size_t>(id)];
      if (b.is_published) {
        lru_.erase(std::find(lru_.begin(), lru_.end(), id));
        b = Block{};
      }
      b.ref_count = 1;
    }
  }

  void Publish(int32_t id, int32_t parent, uint64_t seed, const std::vector<int32_t>& tokens) {
    if (!enable_) return;
    Block& b = blocks_[static_cast<size_t>(id)];
    if (b.is_published) return;
    std::vector<int32_t> chain;
    if (parent >= 0) {
      const Block& p = blocks_[static_cast<size_t>(parent)];
      if (!p.is_published || p.seed != seed) return;
      chain = p.chain;
    }
    chain.insert(chain.end(), tokens.begin(), tokens.end());
    for (const Block& other : blocks_) {
      if (other.is_published && other.seed == seed && other.parent == parent && other.chain == chain) return;
    }
    b.is_published = true;
    b.seed = seed;
    b.chain = std::move(chain);
    b.parent = parent;
  }

  void AddRef(int32_t id) { ++blocks_[static_cast<size_t>(id)].ref_count; }

  void Free(const std::vector<int32_t>& ids) {
    for (int32_t id : ids) {
      Block& b = blocks_[static_cast<size_t>(id)];
      ASSERT_GT(b.ref_count, 0);
      if (--b.ref_count == 0 && b.is_published) lru_.push_back(id);
    }
  }

  void Reset() {
    for (int32_t id : lru_) blocks_[static_cast<size_t>(id)] = Block{};
    lru_.clear();
  }

  int64_t num_queries = 0;
  int64_t num_hits = 0;

 private:
  void Take(int32_t id) {
    Block& b = blocks_[static_cast<size_t>(id)];
    if (b.ref_count == 0) lru_.erase(std::find(lru_.begin(), lru_.end(), id));
    ++b.ref_count;
  }

  std::vector<Block> blocks_;
  std::vector<int32_t> lru_;  // cached-free, least recently freed first
  bool enable_;
};

struct Sequence {
  uint64_t seed;
  std::vector<int32_t> tokens;
  std::vector<int32_t> block_ids;
  bool is_forked = false;  // its last block is shared, so it never grows
};

class BlockPoolModelTest : public ::testing::TestWithParam<bool> {};

TEST_P(BlockPoolModelTest, RandomOperationsMatchTheReference) {
  const bool enable = GetParam();
  constexpr int64_t kNumBlocks = 24;
  constexpr int kNumSteps = 4000;
  std::mt19937 rng(20261123);
  auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };

  const std::vector<uint64_t> seeds = {BlockHashSeed("m", ""), BlockHashSeed("m", "tenant"),
                                       BlockHashSeed("other", "")};
  std::vector<std::vector<int32_t>> shared_prefixes;
  for (int p = 0; p < 3; ++p) {
    std::vector<int32_t> prefix;
    for (int i = 0; i < 16; ++i) prefix.push_back(uniform(0, 5));  // tiny alphabet: prefixes overlap
    shared_prefixes.push_back(prefix);
  }
  auto random_prompt = [&] {
    const auto& prefix = shared_prefixes[static_cast<size_t>(uniform(0, 2))];
    std::vector<int32_t> tokens(prefix.begin(), prefix.begin() + uniform(0, static_cast<int>(prefix.size())));
    const int tail = uniform(tokens.empty() ? 1 : 0, 9);
    for (int i = 0; i < tail; ++i) tokens.push_back(uniform(0, 5));
    return tokens;
  };

  BlockPool pool(kNumBlocks, kBlockSize, enable);
  ReferencePool ref(kNumBlocks, enable);
  std::vector<Sequence> running;

  // Publishes every full block of `seq` from block `first` on, in both pools.
  auto publish_full = [&](Sequence& seq, int64_t first) {
    for (int64_t i = first; i < static_cast<int64_t>(seq.tokens.size()) / kBlockSize; ++i) {
      const int32_t parent = i == 0 ? -1 : seq.block_ids[static_cast<size_t>(i - 1)];
      std::vector<int32_t> block(BlockOf(seq.tokens, i).begin(), BlockOf(seq.tokens, i).end());
      pool.Publish(seq.block_ids[static_cast<size_t>(i)], parent, seq.seed, block);
      ref.Publish(seq.block_ids[static_cast<size_t>(i)], parent, seq.seed, block);
    }
  };
  // Returns true iff both pools agreed on allocating n blocks onto seq.
  auto allocate = [&](Sequence& seq, int64_t n) {
    std::optional<std::vector<int32_t>> ids = pool.Allocate(n);
    EXPECT_EQ(ids.has_value(), n <= ref.num_free());
    if (!ids) return false;
    EXPECT_EQ(static_cast<int64_t>(ids->size()), n);
    ref.CheckAndApplyAllocate(*ids);
    seq.block_ids.insert(seq.block_ids.end(), ids->begin(), ids->end());
    return true;
  };
  auto free_seq = [&](const Sequence& seq) {
    std::vector<int32_t> reversed(seq.block_ids.rbegin(), seq.block_ids.rend());
    pool.Free(reversed);
    ref.Free(reversed);
  };
  auto find = [&](uint64_t seed, const std::vector<int32_t>& tokens, int64_t max_blocks) {
    std::vector<int32_t> got = pool.FindCachedPrefix(seed, tokens, max_blocks);
    EXPECT_EQ(got, ref.Find(seed, tokens, max_blocks));
    return got;
  };

  int64_t num_hit_blocks = 0;
  for (int step = 0; step < kNumSteps; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    const int op = uniform(0, 99);
    if (op < 35) {  // admit: hit what is cached (never the last token), allocate the rest
      Sequence seq{.seed = seeds[static_cast<size_t>(uniform(0, 2))], .tokens = random_prompt(), .block_ids = {}};
      const int64_t num_tokens = static_cast<int64_t>(seq.tokens.size());
      seq.block_ids = find(seq.seed, seq.tokens, (num_tokens - 1) / kBlockSize);
      num_hit_blocks += static_cast<int64_t>(seq.block_ids.size());
      const int64_t num_cached = static_cast<int64_t>(seq.block_ids.size());
      const int64_t need = (num_tokens + kBlockSize - 1) / kBlockSize - num_cached;
      if (!allocate(seq, need)) {
        free_seq(seq);
      } else {
        publish_full(seq, num_cached);
        running.push_back(std::move(seq));
      }
    } else if (op < 55 && !running.empty()) {  // decode a few tokens
      Sequence& seq = running[static_cast<size_t>(uniform(0, static_cast<int>(running.size()) - 1))];
      if (seq.is_forked) continue;
      const int64_t old_full = static_cast<int64_t>(seq.tokens.size()) / kBlockSize;
      const int n = uniform(1, 6);
      for (int i = 0; i < n; ++i) seq.tokens.push_back(uniform(0, 5));
      const int64_t need = (static_cast<int64_t>(seq.tokens.size()) + kBlockSize - 1) / kBlockSize -
                           static_cast<int64_t>(seq.block_ids.size());
      if (!allocate(seq, need)) {
        seq.tokens.resize(seq.tokens.size() - static_cast<size_t>(n));
        continue;
      }
      publish_full(seq, old_full);
    } else if (op < 65 && !running.empty()) {  // fork: a second choice shares every block
      Sequence fork = running[static_cast<size_t>(uniform(0, static_cast<int>(running.size()) - 1))];
      for (int32_t id : fork.block_ids) {
        pool.AddRef(id);
        ref.AddRef(id);
      }
      fork.is_forked = true;
      for (Sequence& s : running) {
        if (s.block_ids == fork.block_ids) s.is_forked = true;
      }
      running.push_back(std::move(fork));
    } else if (op < 90 && !running.empty()) {  // finish
      const size_t i = static_cast<size_t>(uniform(0, static_cast<int>(running.size()) - 1));
      free_seq(running[i]);
      running.erase(running.begin() + static_cast<std::ptrdiff_t>(i));
    } else if (op < 99) {  // probe what is findable, then give it back
      Sequence probe{.seed = seeds[static_cast<size_t>(uniform(0, 2))], .tokens = random_prompt(), .block_ids = {}};
      probe.block_ids = find(probe.seed, probe.tokens, uniform(0, 8));
      free_seq(probe);
    } else {
      pool.ResetPrefixCache();
      ref.Reset();
    }

    ASSERT_EQ(pool.num_used(), ref.num_used());
    ASSERT_EQ(pool.num_free(), ref.num_free());
    ASSERT_EQ(pool.num_cached_free(), ref.num_cached_free());
    ASSERT_EQ(pool.num_used() + pool.num_free(), pool.num_blocks());
    ASSERT_EQ(pool.num_queries(), ref.num_queries);
    ASSERT_EQ(pool.num_hits(), ref.num_hits);
    if (!enable) {
      ASSERT_EQ(pool.num_cached_free(), 0);
    }
    for (const Sequence& seq : running) {
      for (int32_t id : seq.block_ids) {
        ASSERT_GT(ref.block(id).ref_count, 0);
      }
    }
    if (::testing::Test::HasFailure()) break;
  }
  while (!running.empty()) {
    free_seq(running.back());
    running.pop_back();
  }
  EXPECT_EQ(pool.num_used(), 0);
  EXPECT_EQ(pool.num_free(), kNumBlocks);
  EXPECT_EQ(pool.num_cached_free(), ref.num_cached_free());
  // Every cached-free block is still findable by its own chain.
  if (enable) {
    EXPECT_GT(num_hit_blocks, 100);  // the workload really exercises the cache
    const std::vector<int32_t> lru = ref.lru();
    for (int32_t id : lru) {
      const ReferencePool::Block& b = ref.block(id);
      std::vector<int32_t> got = pool.FindCachedPrefix(b.seed, b.chain, 100);
      ASSERT_FALSE(got.empty());
      EXPECT_EQ(got.back(), id);
      pool.Free(got);
    }
  } else {
    EXPECT_EQ(num_hit_blocks, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(PrefixCaching, BlockPoolModelTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Enabled" : "Disabled"; });

}  // namespace
}  // namespace fathom

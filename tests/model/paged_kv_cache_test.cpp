// The forward passes read and write the attention cache through a block table,
// and where the blocks lie never changes a logit: a cache over a shared
// KvBlockPool, its blocks scrambled and far apart, fed in uneven chunks or packed
// with another sequence, gives bit-identical logits to a contiguous cache fed the
// same way. A sequence whose leading blocks are another's (the prefix cache)
// continues exactly as if it had computed the prefix itself.
//
// Bit-identical means against the same chunking: a chunk's row count can change
// the matmul's rounding (forward_consistency_test checks that within a
// tolerance), the cache layout must not.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <numeric>
#include <ostream>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "tests/model/synth_fixture.h"

namespace fathom {
namespace {

using testing_util::RandomTokens;
using testing_util::TinyModel;
using testing_util::TinyModelSpec;

constexpr int64_t kPromptLength = 40;
// Uneven chunks, some a single token: rows cross block boundaries mid-chunk.
const std::vector<int64_t> kChunks = {7, 1, 13, 1, 1, 17};

struct PagedCase {
  TinyModelSpec spec;
  int64_t block_size;
};

void PrintTo(const PagedCase& c, std::ostream* os) { *os << c.spec.Name() << "_block" << c.block_size; }

class PagedKvCacheTest : public ::testing::TestWithParam<PagedCase> {
 protected:
  void SetUp() override {
    model_ = std::make_unique<TinyModel>(GetParam().spec);
    ASSERT_TRUE(model_->status.ok()) << model_->status.ToString();
    block_size_ = GetParam().block_size;
    // Room for several sequences' worth of blocks, handed out in a scrambled
    // order so that no sequence's blocks are adjacent or ascending.
    const int64_t num_blocks = 4 * ((kPromptLength + block_size_ - 1) / block_size_) + 3;
    Result<std::unique_ptr<KvBlockPool>> pool = KvBlockPool::Create(lm().cache_shape(), block_size_, num_blocks);
    ASSERT_TRUE(pool.ok()) << pool.status().ToString();
    pool_ = std::move(pool).value();
    free_ids_.resize(num_blocks);
    std::iota(free_ids_.begin(), free_ids_.end(), 0);
    std::shuffle(free_ids_.begin(), free_ids_.end(), std::mt19937(17));
  }

  CausalLm& lm() { return *model_->lm; }
  int64_t vocab() { return lm().config().vocab_size; }

  // A cache over the shared pool with room for `num_tokens`, taking the next
  // scrambled block ids.
  KvCache PagedCache(int64_t num_tokens) {
    KvCache cache(pool_.get());
    while (cache.capacity() < num_tokens) {
      EXPECT_FALSE(free_ids_.empty());
      cache.AppendBlock(free_ids_.back());
      free_ids_.pop_back();
    }
    return cache;
  }

  KvCache ContiguousCache(int64_t num_tokens) {
    Result<KvCache> cache = lm().NewCache(num_tokens);
    EXPECT_TRUE(cache.ok());
    return std::move(cache).value();
  }

  // Runs each sequence's tokens through its cache, chunk by chunk, every step one
  // packed Forward over the sequences that still have tokens; every token's
  // logits row, per sequence in order.
  std::vector<std::vector<float>> RunChunked(std::span<const std::vector<int32_t>> tokens,
                                             std::span<KvCache* const> caches, std::span<const int64_t> chunks) {
    std::vector<std::vector<float>> logits(tokens.size());
    std::vector<size_t> done(tokens.size(), 0);
    for (size_t step = 0;; ++step) {
      std::vector<BatchEntry> batch;
      std::vector<size_t> who;
      for (size_t s = 0; s < tokens.size(); ++s) {
        if (done[s] == tokens[s].size()) continue;
        // Shift each sequence's chunk pattern so packed entries differ in length.
        const size_t n = std::min<size_t>(chunks[(step + s) % chunks.size()], tokens[s].size() - done[s]);
        batch.push_back({.tokens = std::span(tokens[s]).subspan(done[s], n), .cache = caches[s], .all_logits = true});
        who.push_back(s);
        done[s] += n;
      }
      if (batch.empty()) break;
      std::vector<float> out;
      const Status status = lm().Forward(batch, &out);
      EXPECT_TRUE(status.ok()) << status.ToString();
      if (!status.ok()) break;
      size_t row = 0;
      for (size_t i = 0; i < batch.size(); ++i) {
        const size_t floats = batch[i].tokens.size() * vocab();
        logits[who[i]].insert(logits[who[i]].end(), out.begin() + row, out.begin() + row + floats);
        row += floats;
      }
    }
    return logits;
  }

  // EXPECT_EQ on every float of every logits row: a layout must not move a bit.
  void ExpectBitIdentical(std::span<const float> got, std::span<const float> want, const char* what) {
    ASSERT_EQ(got.size(), want.size()) << what;
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i], want[i]) << what << ": token " << i / vocab() << " logit " << i % vocab();
    }
  }

  std::unique_ptr<TinyModel> model_;
  int64_t block_size_ = 0;
  std::unique_ptr<KvBlockPool> pool_;
  std::vector<int32_t> free_ids_;  // not yet given to a cache, taken from the back
};

TEST_P(PagedKvCacheTest, ScrambledBlocksInUnevenChunksMatchTheContiguousCache) {
  const std::vector<std::vector<int32_t>> prompt = {RandomTokens(kPromptLength, vocab(), 3)};
  KvCache contiguous = ContiguousCache(kPromptLength);
  KvCache paged = PagedCache(kPromptLength);
  KvCache* const contiguous_ptr = &contiguous;
  KvCache* const paged_ptr = &paged;
  const std::vector<std::vector<float>> want = RunChunked(prompt, {&contiguous_ptr, 1}, kChunks);
  const std::vector<std::vector<float>> got = RunChunked(prompt, {&paged_ptr, 1}, kChunks);
  ExpectBitIdentical(got[0], want[0], "chunked");
  EXPECT_EQ(paged.num_tokens(), kPromptLength);

  // And the whole prompt in one Forward: each layout against the other.
  KvCache contiguous_whole = ContiguousCache(kPromptLength);
  KvCache paged_whole = PagedCache(kPromptLength);
  const std::vector<int64_t> whole = {kPromptLength};
  KvCache* const contiguous_whole_ptr = &contiguous_whole;
  KvCache* const paged_whole_ptr = &paged_whole;
  ExpectBitIdentical(RunChunked(prompt, {&paged_whole_ptr, 1}, whole)[0],
                     RunChunked(prompt, {&contiguous_whole_ptr, 1}, whole)[0], "one forward");
}

TEST_P(PagedKvCacheTest, TwoSequencesPackedOverOnePoolMatchContiguousCaches) {
  const std::vector<std::vector<int32_t>> prompts = {RandomTokens(kPromptLength, vocab(), 5),
                                                     RandomTokens(kPromptLength - 11, vocab(), 6)};
  std::vector<KvCache> contiguous, paged;
  for (const std::vector<int32_t>& p : prompts) {
    contiguous.push_back(ContiguousCache(static_cast<int64_t>(p.size())));
  }
  // Take the two sequences' blocks alternately, so they interleave in the pool.
  paged.emplace_back(pool_.get());
  paged.emplace_back(pool_.get());
  while (paged[0].capacity() < kPromptLength || paged[1].capacity() < kPromptLength - 11) {
    for (KvCache& cache : paged) {
      cache.AppendBlock(free_ids_.back());
      free_ids_.pop_back();
    }
  }
  const std::vector<KvCache*> contiguous_ptrs = {&contiguous[0], &contiguous[1]};
  const std::vector<KvCache*> paged_ptrs = {&paged[0], &paged[1]};
  const std::vector<std::vector<float>> want = RunChunked(prompts, contiguous_ptrs, kChunks);
  const std::vector<std::vector<float>> got = RunChunked(prompts, paged_ptrs, kChunks);
  ExpectBitIdentical(got[0], want[0], "first sequence");
  ExpectBitIdentical(got[1], want[1], "second sequence");
}

// The prefix cache's use: a second sequence starts with the first's full prefix
// blocks at the head of its table, skips their tokens with Advance, and computes
// only its continuation, while the first sequence goes on writing its own blocks.
TEST_P(PagedKvCacheTest, SharedPrefixBlocksContinueLikeAFreshPrefill) {
  const int64_t prefix_blocks = std::max<int64_t>(1, 24 / block_size_);
  const int64_t prefix = prefix_blocks * block_size_;  // only full blocks are shared: nobody writes to them
  const std::vector<int32_t> prompt = RandomTokens(prefix + 16, vocab(), 7);
  const std::vector<int32_t> other_tail = RandomTokens(9, vocab(), 8);
  const std::span<const int32_t> head = std::span(prompt).first(prefix);
  const std::span<const int32_t> tail = std::span(prompt).subspan(prefix);

  // The reference computes the prefix and then the continuation in one cache.
  KvCache reference = ContiguousCache(static_cast<int64_t>(prompt.size()));
  std::vector<float> unused, want;
  const BatchEntry ref_head = {.tokens = head, .cache = &reference};
  ASSERT_TRUE(lm().Forward({&ref_head, 1}, &unused).ok());
  const BatchEntry ref_tail = {.tokens = tail, .cache = &reference, .all_logits = true};
  ASSERT_TRUE(lm().Forward({&ref_tail, 1}, &want).ok());

  KvCache owner = PagedCache(prefix + static_cast<int64_t>(other_tail.size()));
  const BatchEntry owner_head = {.tokens = head, .cache = &owner};
  ASSERT_TRUE(lm().Forward({&owner_head, 1}, &unused).ok());

  KvCache sharer(pool_.get());
  for (int64_t b = 0; b < prefix_blocks; ++b) sharer.AppendBlock(owner.block_table()[b]);
  sharer.Advance(prefix);
  while (sharer.capacity() < static_cast<int64_t>(prompt.size())) {
    sharer.AppendBlock(free_ids_.back());
    free_ids_.pop_back();
  }
  // Both continue in one packed Forward: the owner past the shared blocks in
  // its own, the sharer reading the shared prefix.
  std::vector<float> got;
  const std::vector<BatchEntry> batch = {{.tokens = other_tail, .cache = &owner},
                                         {.tokens = tail, .cache = &sharer, .all_logits = true}};
  ASSERT_TRUE(lm().Forward(batch, &got).ok());
  got.erase(got.begin(), got.begin() + vocab());  // the owner's last-token row
  // The sharer's rows were computed packed after the owner's: compare with
  // contiguous caches fed exactly that way (a batch's row count and a row's
  // place in it can change the matmul's rounding; the cache layout must not).
  KvCache reference_batched = ContiguousCache(static_cast<int64_t>(prompt.size()));
  KvCache other_batched = ContiguousCache(prefix + static_cast<int64_t>(other_tail.size()));
  for (KvCache* cache : {&other_batched, &reference_batched}) {
    const BatchEntry entry = {.tokens = head, .cache = cache};
    ASSERT_TRUE(lm().Forward({&entry, 1}, &unused).ok());
  }
  const std::vector<BatchEntry> tails = {{.tokens = other_tail, .cache = &other_batched},
                                         {.tokens = tail, .cache = &reference_batched, .all_logits = true}};
  std::vector<float> want_batched;
  ASSERT_TRUE(lm().Forward(tails, &want_batched).ok());
  want_batched.erase(want_batched.begin(), want_batched.begin() + vocab());
  ExpectBitIdentical(got, want_batched, "continuation over shared blocks");
  EXPECT_LE(testing_util::MaxRelError(got, want), 1e-4);
  EXPECT_EQ(sharer.num_tokens(), static_cast<int64_t>(prompt.size()));
  EXPECT_EQ(owner.num_tokens(), prefix + static_cast<int64_t>(other_tail.size()));
}

std::vector<PagedCase> Cases() {
  std::vector<PagedCase> cases;
  for (const TinyModelSpec& spec : {TinyModelSpec{Architecture::kQwen2, "tiny"}, TinyModelSpec{Architecture::kLlama, "tiny"},
                                    TinyModelSpec{Architecture::kDeepseekV2, "tiny"},
                                    TinyModelSpec{Architecture::kDeepseekV3, "tiny"}}) {
    for (int64_t block_size : {4, 16}) cases.push_back({spec, block_size});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Families, PagedKvCacheTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<PagedCase>& info) {
                           return info.param.spec.Name() + "_block" + std::to_string(info.param.block_size);
                         });

}  // namespace
}  // namespace fathom

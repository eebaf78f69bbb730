// What a cached token costs and how a cache behaves at its limits. DeepSeek's
// MLA caches only the normalised latent and the shared rope key per token and
// layer, (kv_lora_rank + qk_rope_head_dim) floats, never per-head keys and
// values; the llama family caches K and V of its KV heads. A Forward that does
// not fit is refused without touching the cache; Truncate rewinds it.
#include "model/kv_cache.h"

#include <gtest/gtest.h>

#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "tests/model/synth_fixture.h"

namespace fathom {
namespace {

using testing_util::ForwardSequence;
using testing_util::MaxRelError;
using testing_util::PresetConfig;
using testing_util::RandomTokens;
using testing_util::TinyModel;
using testing_util::TinyModelSpec;

constexpr int64_t kF32Bytes = 4;

// The shape each family's cache_shape() should have for `c`: MLA's latent and
// rope key, or the KV heads' keys and values.
KvCacheShape ExpectedShape(const ModelConfig& c) {
  if (c.is_deepseek()) {
    return {.num_layers = c.num_hidden_layers, .first_width = c.kv_lora_rank, .second_width = c.qk_rope_head_dim};
  }
  const int64_t kv_dim = c.num_key_value_heads * c.head_dim;
  return {.num_layers = c.num_hidden_layers, .first_width = kv_dim, .second_width = kv_dim};
}

// Bytes per token per layer if every head's key and value were cached in float32.
int64_t ExpandedBytesPerTokenPerLayer(const ModelConfig& c) {
  return c.num_attention_heads * (c.qk_head_dim() + c.v_head_dim) * kF32Bytes;
}

TEST(KvCacheTest, EveryTinyModelCachesWhatItsFamilyNeeds) {
  for (const TinyModelSpec& spec : testing_util::TinyPresets()) {
    TinyModel m(spec);
    ASSERT_TRUE(m.status.ok()) << spec.Name() << ": " << m.status.ToString();
    const ModelConfig& c = m.lm->config();
    const KvCacheShape shape = m.lm->cache_shape();
    const KvCacheShape want = ExpectedShape(c);
    EXPECT_EQ(shape.num_layers, want.num_layers) << spec.Name();
    EXPECT_EQ(shape.first_width, want.first_width) << spec.Name();
    EXPECT_EQ(shape.second_width, want.second_width) << spec.Name();
    const int64_t per_token_layer = c.is_deepseek() ? (c.kv_lora_rank + c.qk_rope_head_dim) * kF32Bytes
                                                    : 2 * c.num_key_value_heads * c.head_dim * kF32Bytes;
    EXPECT_EQ(shape.bytes_per_token_per_layer(), per_token_layer) << spec.Name();
    if (c.is_deepseek()) {
      EXPECT_LT(per_token_layer, ExpandedBytesPerTokenPerLayer(c)) << spec.Name();
    }
    // The allocation is exactly that, for every token and main-model layer (no MTP layer).
    Result<KvCache> cache = m.lm->NewCache(10);
    ASSERT_TRUE(cache.ok());
    EXPECT_EQ(cache->num_bytes(), 10 * c.num_hidden_layers * per_token_layer) << spec.Name();
    EXPECT_EQ(cache->capacity(), 10);
    EXPECT_EQ(cache->num_tokens(), 0);
  }
}

// The real checkpoints, with the shapes checked above on the tiny models.
TEST(KvCacheTest, RealDeepseekConfigsCacheTheLatentOnly) {
  const ModelConfig v3 = PresetConfig(Architecture::kDeepseekV3, "v3");
  EXPECT_EQ(ExpectedShape(v3).bytes_per_token_per_layer(), (512 + 64) * 4);
  EXPECT_EQ(ExpectedShape(v3).bytes_per_token_per_layer(), 2304);
  // A naive cache of 128 heads' keys (192) and values (128): 71x more.
  EXPECT_EQ(ExpandedBytesPerTokenPerLayer(v3), 128 * (192 + 128) * 4);
  EXPECT_EQ(ExpandedBytesPerTokenPerLayer(v3) / ExpectedShape(v3).bytes_per_token_per_layer(), 71);
  // 61 layers: 137 KiB a token, about 17 GiB for a 128K context.
  EXPECT_EQ(ExpectedShape(v3).num_layers * ExpectedShape(v3).bytes_per_token_per_layer(), 140544);

  const ModelConfig lite = PresetConfig(Architecture::kDeepseekV2, "v2-lite");
  EXPECT_EQ(ExpectedShape(lite).bytes_per_token_per_layer(), (512 + 64) * 4);
  EXPECT_EQ(ExpandedBytesPerTokenPerLayer(lite), 16 * (192 + 128) * 4);
}

TEST(KvCacheTest, RealLlamaFamilyConfigsCacheKeysAndValuesOfKvHeads) {
  EXPECT_EQ(ExpectedShape(PresetConfig(Architecture::kLlama, "r1-distill-llama-8b")).bytes_per_token_per_layer(),
            2 * 8 * 128 * 4);
  EXPECT_EQ(ExpectedShape(PresetConfig(Architecture::kQwen2, "r1-distill-qwen-7b")).bytes_per_token_per_layer(),
            2 * 4 * 128 * 4);
  EXPECT_EQ(ExpectedShape(PresetConfig(Architecture::kQwen2, "r1-distill-qwen-1.5b")).bytes_per_token_per_layer(),
            2 * 2 * 128 * 4);
}

TEST(KvCacheTest, CreateRejectsNonPositiveCapacity) {
  const KvCacheShape shape = {.num_layers = 2, .first_width = 4, .second_width = 4};
  for (int64_t capacity : {0, -3}) {
    Result<KvCache> cache = KvCache::Create(shape, capacity);
    ASSERT_FALSE(cache.ok());
    EXPECT_EQ(cache.status().code(), StatusCode::kInvalidArgument);
  }
}

TEST(KvCacheTest, AdvanceAndTruncateMoveTheFillLevel) {
  Result<KvCache> cache = KvCache::Create({.num_layers = 2, .first_width = 3, .second_width = 5}, 4);
  ASSERT_TRUE(cache.ok());
  EXPECT_EQ(cache->num_bytes(), 2 * 4 * (3 + 5) * 4);
  cache->Advance(3);
  EXPECT_EQ(cache->num_tokens(), 3);
  cache->Truncate(1);
  EXPECT_EQ(cache->num_tokens(), 1);
  cache->Advance(3);
  EXPECT_EQ(cache->num_tokens(), 4);
  cache->Truncate(0);
  EXPECT_EQ(cache->num_tokens(), 0);
  // One block of all 4 rows: the two streams of every layer are disjoint and
  // inside the allocation, laid out as the contiguous cache always was.
  EXPECT_EQ(cache->block_size(), 4);
  EXPECT_EQ(std::vector<int32_t>(cache->block_table().begin(), cache->block_table().end()), std::vector<int32_t>{0});
  EXPECT_EQ(cache->second_rows(0).row(0) - cache->first_rows(0).row(0), 4 * 3);
  EXPECT_EQ(cache->first_rows(1).row(0) - cache->first_rows(0).row(0), 4 * (3 + 5));
  EXPECT_EQ(cache->first_rows(0).row(3) - cache->first_rows(0).row(0), 3 * 3);
  EXPECT_EQ(cache->second_rows(1).row(3) - cache->second_rows(1).row(0), 3 * 5);
}

// Pool layout per layer: the first stream of every block, then the second.
TEST(KvBlockPoolTest, LaysOutEachLayerStreamByStream) {
  const KvCacheShape shape = {.num_layers = 3, .first_width = 2, .second_width = 5};
  Result<std::unique_ptr<KvBlockPool>> pool = KvBlockPool::Create(shape, 4, 6);
  ASSERT_TRUE(pool.ok()) << pool.status().ToString();
  KvBlockPool& p = **pool;
  EXPECT_EQ(p.block_size(), 4);
  EXPECT_EQ(p.num_blocks(), 6);
  EXPECT_EQ(p.num_bytes(), 3 * 6 * 4 * (2 + 5) * 4);
  EXPECT_EQ(p.num_bytes(), 6 * KvBlockPool::BytesPerBlock(shape, 4));
  EXPECT_EQ(p.second(0) - p.first(0), 6 * 4 * 2);
  EXPECT_EQ(p.first(1) - p.first(0), 6 * 4 * (2 + 5));
  EXPECT_EQ(p.second(2) + 6 * 4 * 5 - p.first(0), 3 * 6 * 4 * (2 + 5));  // the last float is the allocation's
}

TEST(KvBlockPoolTest, CreateRejectsNonPositiveSizesAndOverflow) {
  const KvCacheShape shape = {.num_layers = 2, .first_width = 4, .second_width = 4};
  for (const auto& [block_size, num_blocks] : {std::pair<int64_t, int64_t>{0, 4}, {4, 0}, {-1, 4}, {4, -2}}) {
    Result<std::unique_ptr<KvBlockPool>> pool = KvBlockPool::Create(shape, block_size, num_blocks);
    ASSERT_FALSE(pool.ok());
    EXPECT_EQ(pool.status().code(), StatusCode::kInvalidArgument);
  }
  // Sizes whose float count does not fit int64 are refused before any allocation.
  for (const auto& [block_size, num_blocks] :
       {std::pair<int64_t, int64_t>{int64_t{1} << 40, int64_t{1} << 30}, {int64_t{1} << 30, int64_t{1} << 28}}) {
    Result<std::unique_ptr<KvBlockPool>> pool = KvBlockPool::Create(shape, block_size, num_blocks);
    ASSERT_FALSE(pool.ok());
    EXPECT_EQ(pool.status().code(), StatusCode::kResourceExhausted) << pool.status().ToString();
  }
}

#ifndef __SANITIZE_ADDRESS__  // ASan aborts on an allocation this size instead of throwing
TEST(KvBlockPoolTest, CreateReportsAnAllocationThatFails) {
  // 2^48 floats (1 PiB) fits int64 but no machine.
  Result<std::unique_ptr<KvBlockPool>> pool =
      KvBlockPool::Create({.num_layers = 1, .first_width = 1, .second_width = 1}, int64_t{1} << 23, int64_t{1} << 24);
  ASSERT_FALSE(pool.ok());
  EXPECT_EQ(pool.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(pool.status().message().find("MiB"), std::string::npos) << pool.status().message();
}
#endif

TEST(KvBlockPoolTest, CopyBlockCopiesBothStreamsOfEveryLayerAndNothingElse) {
  const KvCacheShape shape = {.num_layers = 2, .first_width = 3, .second_width = 2};
  Result<std::unique_ptr<KvBlockPool>> created = KvBlockPool::Create(shape, 2, 4);
  ASSERT_TRUE(created.ok());
  KvBlockPool& pool = **created;
  float* all = pool.first(0);
  const int64_t num_floats = pool.num_bytes() / 4;
  for (int64_t i = 0; i < num_floats; ++i) all[i] = static_cast<float>(i);
  const std::vector<float> before(all, all + num_floats);
  pool.CopyBlock(3, 1);
  for (int64_t layer = 0; layer < 2; ++layer) {
    for (const auto& [stream, width] : {std::pair{pool.first(layer), int64_t{3}}, std::pair{pool.second(layer), int64_t{2}}}) {
      for (int64_t block = 0; block < 4; ++block) {
        const int64_t from = (block == 1 ? 3 : block) * 2 * width;  // block 1 now holds block 3's rows
        for (int64_t i = 0; i < 2 * width; ++i) {
          const int64_t at = (stream - all) + block * 2 * width + i;
          ASSERT_EQ(all[at], before[(stream - all) + from + i]) << "layer " << layer << " block " << block;
        }
      }
    }
  }
}

// A cache over a shared pool reads and writes its rows through its block table.
TEST(KvBlockPoolTest, CacheRowsFollowTheBlockTable) {
  const KvCacheShape shape = {.num_layers = 2, .first_width = 3, .second_width = 2};
  Result<std::unique_ptr<KvBlockPool>> pool = KvBlockPool::Create(shape, 4, 5);
  ASSERT_TRUE(pool.ok());
  KvCache cache(pool->get());
  EXPECT_EQ(cache.capacity(), 0);
  cache.AppendBlock(3);
  cache.AppendBlock(1);
  EXPECT_EQ(cache.capacity(), 8);
  EXPECT_EQ(cache.num_bytes(), 2 * KvBlockPool::BytesPerBlock(shape, 4));
  KvBlockPool& p = **pool;
  EXPECT_EQ(cache.first_rows(1).row(0), p.first(1) + 3 * 4 * 3);
  EXPECT_EQ(cache.first_rows(1).row(6), p.first(1) + (1 * 4 + 2) * 3);
  EXPECT_EQ(cache.second_rows(0).row(5), p.second(0) + (1 * 4 + 1) * 2);
  cache.Advance(8);
  EXPECT_EQ(cache.num_tokens(), 8);
  cache.Clear();
  EXPECT_EQ(cache.capacity(), 0);
  EXPECT_EQ(cache.num_tokens(), 0);
}

class KvCacheForwardTest : public ::testing::TestWithParam<TinyModelSpec> {
 protected:
  void SetUp() override {
    model_ = std::make_unique<TinyModel>(GetParam());
    ASSERT_TRUE(model_->status.ok()) << model_->status.ToString();
  }
  CausalLm& lm() { return *model_->lm; }
  int64_t vocab() { return lm().config().vocab_size; }

  std::unique_ptr<TinyModel> model_;
};

TEST_P(KvCacheForwardTest, ForwardPastCapacityIsRefusedAndLeavesTheCache) {
  Result<KvCache> cache = lm().NewCache(6);
  ASSERT_TRUE(cache.ok());
  const std::vector<int32_t> tokens = RandomTokens(8, vocab(), 3);
  Result<std::vector<float>> too_long = ForwardSequence(lm(), *cache, tokens, false);
  ASSERT_FALSE(too_long.ok());
  EXPECT_EQ(too_long.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(too_long.status().message().find("context of 6 tokens"), std::string::npos) << too_long.status().message();
  EXPECT_EQ(cache->num_tokens(), 0);

  ASSERT_TRUE(ForwardSequence(lm(), *cache, std::span(tokens).first(4), false).ok());
  Result<std::vector<float>> overflow = ForwardSequence(lm(), *cache, std::span(tokens).subspan(4, 3), false);
  ASSERT_FALSE(overflow.ok());
  EXPECT_NE(overflow.status().message().find("sequence of 7 tokens exceeds the context of 6"), std::string::npos)
      << overflow.status().message();
  EXPECT_EQ(cache->num_tokens(), 4);

  // In a batch, one entry that does not fit refuses the whole forward: no cache moves.
  Result<KvCache> roomy = lm().NewCache(16);
  ASSERT_TRUE(roomy.ok());
  const std::vector<BatchEntry> batch = {{.tokens = std::span(tokens).first(2), .cache = &*roomy},
                                         {.tokens = std::span(tokens).first(3), .cache = &*cache}};
  std::vector<float> logits;
  const Status s = lm().Forward(batch, &logits);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(roomy->num_tokens(), 0);
  EXPECT_EQ(cache->num_tokens(), 4);

  // Filling it exactly is fine.
  ASSERT_TRUE(ForwardSequence(lm(), *cache, std::span(tokens).subspan(4, 2), false).ok());
  EXPECT_EQ(cache->num_tokens(), 6);
}

TEST_P(KvCacheForwardTest, TruncateThenForwardEqualsAFreshCache) {
  const std::vector<int32_t> first = RandomTokens(12, vocab(), 21);
  const std::vector<int32_t> other = RandomTokens(6, vocab(), 22);
  const int64_t keep = 5;
  Result<KvCache> cache = lm().NewCache(16);
  ASSERT_TRUE(cache.ok());
  Result<std::vector<float>> original = ForwardSequence(lm(), *cache, first, true);
  ASSERT_TRUE(original.ok());

  // Rewind and replay the same tokens: the same logits as the first time.
  cache->Truncate(keep);
  Result<std::vector<float>> replay = ForwardSequence(lm(), *cache, std::span(first).subspan(keep), true);
  ASSERT_TRUE(replay.ok());
  EXPECT_LE(MaxRelError(*replay, std::span<const float>(*original).subspan(keep * vocab())), 1e-4);

  // Rewind and continue differently: as if the rows past `keep` had never been written.
  cache->Truncate(keep);
  Result<std::vector<float>> branched = ForwardSequence(lm(), *cache, other, true);
  ASSERT_TRUE(branched.ok());
  std::vector<int32_t> fresh_tokens(first.begin(), first.begin() + keep);
  fresh_tokens.insert(fresh_tokens.end(), other.begin(), other.end());
  Result<KvCache> fresh = lm().NewCache(16);
  ASSERT_TRUE(fresh.ok());
  Result<std::vector<float>> want = ForwardSequence(lm(), *fresh, fresh_tokens, true);
  ASSERT_TRUE(want.ok());
  EXPECT_LE(MaxRelError(*branched, std::span<const float>(*want).subspan(keep * vocab())), 1e-4);
  EXPECT_EQ(cache->num_tokens(), keep + 6);
}

INSTANTIATE_TEST_SUITE_P(Families, KvCacheForwardTest,
                         ::testing::Values(TinyModelSpec{Architecture::kQwen2, "tiny"},
                                           TinyModelSpec{Architecture::kDeepseekV2, "tiny-grouped"}),
                         [](const ::testing::TestParamInfo<TinyModelSpec>& info) { return info.param.Name(); });

}  // namespace
}  // namespace fathom

// The forward pass computes the same logits however a sequence reaches it: one
// forward over the whole sequence, token by token through the cache, a prefill
// in two chunks, packed in a batch with other sequences at other cache fill
// levels, or on a different number of threads. Run on every tiny preset (every
// routing method, rope type, tied head and bias the forward supports) with f32
// weights, and on bf16 weights for one llama-family and one DeepSeek preset.
#include <gtest/gtest.h>

#include <algorithm>
#include <span>
#include <vector>

#include "tests/model/synth_fixture.h"

namespace fathom {
namespace {

using testing_util::ForwardSequence;
using testing_util::MaxRelError;
using testing_util::RandomTokens;
using testing_util::TinyModel;
using testing_util::TinyModelSpec;

constexpr int64_t kLength = 20;
constexpr double kTolerance = 1e-4;  // relative to max |logit|

std::vector<TinyModelSpec> Specs() {
  std::vector<TinyModelSpec> specs = testing_util::TinyPresets();
  specs.push_back({Architecture::kLlama, "tiny", DType::kBF16});
  specs.push_back({Architecture::kDeepseekV3, "tiny", DType::kBF16});
  return specs;
}

class ForwardConsistencyTest : public ::testing::TestWithParam<TinyModelSpec> {
 protected:
  void SetUp() override {
    model_ = std::make_unique<TinyModel>(GetParam());
    ASSERT_TRUE(model_->status.ok()) << model_->status.ToString();
    vocab_ = model_->lm->config().vocab_size;
    tokens_ = RandomTokens(kLength, vocab_, 11);
    whole_ = AllLogits(*model_->lm, tokens_);
    ASSERT_EQ(whole_.size(), static_cast<size_t>(kLength * vocab_));
  }

  CausalLm& lm() { return *model_->lm; }

  // One forward over `tokens` in a fresh cache, a logits row per token.
  std::vector<float> AllLogits(CausalLm& lm, std::span<const int32_t> tokens) {
    Result<KvCache> cache = lm.NewCache(static_cast<int64_t>(tokens.size()));
    EXPECT_TRUE(cache.ok());
    Result<std::vector<float>> logits = ForwardSequence(lm, *cache, tokens, true);
    EXPECT_TRUE(logits.ok()) << logits.status().ToString();
    return logits.ok() ? *logits : std::vector<float>();
  }

  // Rows [begin, end) of the whole-sequence logits.
  std::span<const float> WholeRows(int64_t begin, int64_t end) const {
    return std::span<const float>(whole_).subspan(begin * vocab_, (end - begin) * vocab_);
  }

  std::unique_ptr<TinyModel> model_;
  int64_t vocab_ = 0;
  std::vector<int32_t> tokens_;  // (kLength)
  std::vector<float> whole_;     // (kLength, vocab)
};

TEST_P(ForwardConsistencyTest, DecodingTokenByTokenEqualsOneForward) {
  Result<KvCache> cache = lm().NewCache(kLength);
  ASSERT_TRUE(cache.ok());
  for (int64_t t = 0; t < kLength; ++t) {
    Result<std::vector<float>> row = ForwardSequence(lm(), *cache, std::span(tokens_).subspan(t, 1), false);
    ASSERT_TRUE(row.ok()) << row.status().ToString();
    EXPECT_LE(MaxRelError(*row, WholeRows(t, t + 1)), kTolerance) << "position " << t;
    EXPECT_EQ(cache->num_tokens(), t + 1);
  }
  // Without all_logits a whole-sequence forward returns just the last row.
  Result<KvCache> last_cache = lm().NewCache(kLength);
  ASSERT_TRUE(last_cache.ok());
  Result<std::vector<float>> last = ForwardSequence(lm(), *last_cache, tokens_, false);
  ASSERT_TRUE(last.ok());
  EXPECT_LE(MaxRelError(*last, WholeRows(kLength - 1, kLength)), kTolerance);
}

TEST_P(ForwardConsistencyTest, ChunkedPrefillEqualsOneForward) {
  for (int64_t split : {int64_t{1}, int64_t{7}, kLength - 1}) {
    Result<KvCache> cache = lm().NewCache(kLength);
    ASSERT_TRUE(cache.ok());
    const std::span<const int32_t> tokens(tokens_);
    Result<std::vector<float>> first = ForwardSequence(lm(), *cache, tokens.first(split), true);
    Result<std::vector<float>> rest = ForwardSequence(lm(), *cache, tokens.subspan(split), true);
    ASSERT_TRUE(first.ok() && rest.ok());
    EXPECT_LE(MaxRelError(*first, WholeRows(0, split)), kTolerance) << "split " << split;
    EXPECT_LE(MaxRelError(*rest, WholeRows(split, kLength)), kTolerance) << "split " << split;
  }
}

// Three sequences in one packed forward: a fresh prefill with every row's logits,
// a continuation of an 8-token cache with only its last row, and a one-token
// decode step after a 3-token prefix. Each must match running it alone.
TEST_P(ForwardConsistencyTest, PackedBatchEqualsSequencesOneAtATime) {
  struct Sequence {
    std::vector<int32_t> prefix;  // already in the cache
    std::vector<int32_t> fresh;   // this forward's tokens
    bool all_logits;
  };
  const std::vector<Sequence> seqs = {
      {{}, RandomTokens(5, vocab_, 1), true},
      {RandomTokens(8, vocab_, 2), RandomTokens(3, vocab_, 3), false},
      {RandomTokens(3, vocab_, 4), RandomTokens(1, vocab_, 5), true},
  };
  // Caches holding each prefix, twice: one set for the batch, one for the singles.
  auto prefilled = [&](const Sequence& s) {
    Result<KvCache> cache = lm().NewCache(16);
    EXPECT_TRUE(cache.ok());
    if (!s.prefix.empty()) {
      EXPECT_TRUE(ForwardSequence(lm(), *cache, s.prefix, false).ok());
    }
    return std::move(cache).value();
  };
  std::vector<KvCache> batch_caches, single_caches;
  for (const Sequence& s : seqs) {
    batch_caches.push_back(prefilled(s));
    single_caches.push_back(prefilled(s));
  }

  std::vector<float> want;
  for (size_t i = 0; i < seqs.size(); ++i) {
    Result<std::vector<float>> rows = ForwardSequence(lm(), single_caches[i], seqs[i].fresh, seqs[i].all_logits);
    ASSERT_TRUE(rows.ok()) << rows.status().ToString();
    want.insert(want.end(), rows->begin(), rows->end());
  }
  std::vector<BatchEntry> batch;
  for (size_t i = 0; i < seqs.size(); ++i) {
    batch.push_back({.tokens = seqs[i].fresh, .cache = &batch_caches[i], .all_logits = seqs[i].all_logits});
  }
  std::vector<float> got;
  ASSERT_TRUE(lm().Forward(batch, &got).ok());
  ASSERT_EQ(got.size(), static_cast<size_t>((5 + 1 + 1) * vocab_));
  for (int64_t row = 0; row < 7; ++row) {
    EXPECT_LE(MaxRelError(std::span(got).subspan(row * vocab_, vocab_), std::span(want).subspan(row * vocab_, vocab_)),
              kTolerance)
        << "output row " << row;
  }
  for (size_t i = 0; i < seqs.size(); ++i) {
    EXPECT_EQ(batch_caches[i].num_tokens(), static_cast<int64_t>(seqs[i].prefix.size() + seqs[i].fresh.size()));
  }
}

TEST_P(ForwardConsistencyTest, ThreadCountDoesNotChangeLogits) {
  ThreadPool one(1), four(4);
  Result<std::unique_ptr<CausalLm>> single = model_->dir.Load(one);
  Result<std::unique_ptr<CausalLm>> multi = model_->dir.Load(four);
  ASSERT_TRUE(single.ok() && multi.ok());
  const std::vector<float> with_one = AllLogits(**single, tokens_);
  const std::vector<float> with_four = AllLogits(**multi, tokens_);
  EXPECT_LE(MaxRelError(with_four, with_one), 1e-5);
  EXPECT_LE(MaxRelError(with_one, whole_), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(TinyPresets, ForwardConsistencyTest, ::testing::ValuesIn(Specs()),
                         [](const ::testing::TestParamInfo<TinyModelSpec>& info) { return info.param.Name(); });

}  // namespace
}  // namespace fathom

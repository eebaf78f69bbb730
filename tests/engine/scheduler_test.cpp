// The Scheduler driven by random traffic with a stand-in for the model (it only
// advances the caches and draws random tokens), checked after every step against
// what must hold: the step fits its budget, every scheduled sequence has room,
// the blocks in use are exactly those the live sequences hold, and every request
// finishes with all its blocks returned.
#include "engine/scheduler.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "tokenizer/tokenizer.h"

namespace fathom {
namespace {

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<Tokenizer> tok = Tokenizer::Load(std::string(FATHOM_SHARED_DIR) + "/models/tokenizers/qwen3");
    ASSERT_TRUE(tok.ok()) << tok.status().ToString();
    tokenizer_ = std::make_unique<Tokenizer>(std::move(tok).value());
  }

  std::unique_ptr<Request> MakeRequest(int64_t id, std::vector<int32_t> prompt, int32_t n, int64_t max_tokens,
                                       KvBlockPool* kv_pool, const std::string& salt) {
    auto r = std::make_unique<Request>();
    r->id = id;
    r->handle = std::make_shared<RequestHandle>();
    r->params.prompt_tokens = std::move(prompt);
    r->params.n = n;
    r->params.max_tokens = max_tokens;
    r->params.cache_salt = salt;
    r->hash_seed = BlockHashSeed("m", salt);
    for (int32_t c = 0; c < n; ++c) {
      SamplingParams greedy;
      greedy.temperature = 0.0f;
      Result<Sampler> s = Sampler::Create(greedy, kVocab, r->params.prompt_tokens);
      EXPECT_TRUE(s.ok());
      r->sequences.push_back(std::make_unique<Sequence>(r.get(), c, std::move(s).value(), kv_pool, tokenizer_.get()));
    }
    r->sequences[0]->SetPrompt(r->params.prompt_tokens);
    return r;
  }

  static constexpr int64_t kVocab = 1000;
  std::unique_ptr<Tokenizer> tokenizer_;
};

TEST_F(SchedulerTest, RandomTrafficKeepsEveryInvariantAndFinishes) {
  int64_t num_preemptions = 0, num_hits = 0;
  for (uint32_t seed = 0; seed < 12; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    const int64_t block_size = 1 + rng() % 8;
    const int64_t max_model_len = 48;
    const int64_t num_blocks = (max_model_len + block_size - 1) / block_size + rng() % 24;
    const EngineOptions options{.block_size = block_size, .num_kv_blocks = num_blocks, .max_model_len = max_model_len,
                                .max_num_batched_tokens = 1 + static_cast<int64_t>(rng() % 40),
                                .max_num_seqs = 1 + static_cast<int64_t>(rng() % 10), .max_waiting_requests = 1000,
                                .enable_prefix_caching = (seed % 3) != 0, .model_id = "m", .eos_token_ids = {7}};
    KvCacheShape shape{.num_layers = 1, .first_width = 1, .second_width = 1};
    std::unique_ptr<KvBlockPool> kv_pool = std::move(KvBlockPool::Create(shape, block_size, num_blocks)).value();
    Scheduler scheduler(options, kv_pool.get());

    // A few shared prefixes so the prefix cache gets hits.
    std::vector<std::vector<int32_t>> prefixes(3);
    for (auto& p : prefixes) {
      for (int i = 0; i < 20; ++i) p.push_back(10 + static_cast<int32_t>(rng() % 900));
    }
    std::map<int64_t, Request*> live;  // id -> request, until its finished output is seen
    std::map<int64_t, std::shared_ptr<RequestHandle>> handles;
    int64_t next_id = 0;
    int num_steps = 0;
    while ((next_id < 40 || !live.empty()) && num_steps < 5000) {
      ++num_steps;
      if (next_id < 40 && rng() % 3 == 0) {
        const std::vector<int32_t>& prefix = prefixes[rng() % 3];
        std::vector<int32_t> prompt(prefix.begin(), prefix.begin() + rng() % 20);
        const int64_t extra = 1 + rng() % 10;
        for (int64_t i = 0; i < extra; ++i) prompt.push_back(10 + static_cast<int32_t>(rng() % 900));
        const int64_t max_tokens = 1 + rng() % (max_model_len - static_cast<int64_t>(prompt.size()));
        std::unique_ptr<Request> r = MakeRequest(next_id, prompt, 1 + static_cast<int32_t>(rng() % 3), max_tokens,
                                                 kv_pool.get(), rng() % 4 == 0 ? "b" : "a");
        live[next_id] = r.get();
        handles[next_id] = r->handle;
        scheduler.AddRequest(std::move(r));
        ++next_id;
      }
      if (!live.empty() && rng() % 25 == 0) std::next(handles.begin(), rng() % handles.size())->second->Cancel();
      scheduler.AbortRequests(false, EngineClock::now());

      const SchedulerOutput out = scheduler.Schedule();
      EXPECT_LE(out.num_batched_tokens, options.max_num_batched_tokens);
      // A step writes only into blocks its sequence holds alone: never into a
      // prefix-cached or forked block another sequence reads.
      std::map<int32_t, int> holders;
      for (const auto& [id, r] : live) {
        for (const auto& seq : r->sequences) {
          for (int32_t b : seq->cache().block_table()) ++holders[b];
        }
      }
      for (const ScheduledSequence& s : out.scheduled) {
        const Sequence& seq = *s.sequence;
        for (int64_t p = seq.num_computed_tokens(); p < seq.num_computed_tokens() + s.num_new_tokens; ++p) {
          EXPECT_EQ(holders[seq.cache().block_table()[p / block_size]], 1) << "position " << p << " is in a shared block";
        }
      }
      std::set<const Sequence*> seen;
      for (const ScheduledSequence& s : out.scheduled) {
        EXPECT_TRUE(seen.insert(s.sequence).second) << "a sequence scheduled twice";
        EXPECT_GT(s.num_new_tokens, 0);
        EXPECT_LE(s.sequence->num_computed_tokens() + s.num_new_tokens, s.sequence->cache().capacity());
        EXPECT_EQ(s.is_sampled, s.sequence->num_computed_tokens() + s.num_new_tokens == s.sequence->num_tokens());
      }
      // The stand-in forward: rows written, random next tokens (7 is the EOS).
      ModelOutput mo;
      mo.sampled.resize(out.scheduled.size());
      mo.sample_errors.resize(out.scheduled.size());
      for (size_t i = 0; i < out.scheduled.size(); ++i) {
        const ScheduledSequence& s = out.scheduled[i];
        s.sequence->cache().Advance(s.num_new_tokens);
        if (!s.is_sampled) continue;
        const size_t k = s.is_fork_point ? s.sequence->request().sequences.size() : 1;
        for (size_t c = 0; c < k; ++c) {
          mo.sampled[i].push_back({.token = static_cast<int32_t>(rng() % 60 == 0 ? 7 : 10 + rng() % 900),
                                   .time = EngineClock::now(), .logprobs = std::nullopt});
        }
      }
      if (!out.empty()) scheduler.UpdateFromOutput(out, mo);
      scheduler.EmitOutputs();
      // Forget requests whose final output arrived (the scheduler destroyed them, so drop the pointers first).
      for (auto it = handles.begin(); it != handles.end();) {
        bool done = false;
        while (std::optional<RequestOutput> o = it->second->Next(std::chrono::milliseconds(0))) done |= o->is_finished;
        if (done) {
          live.erase(it->first);
          it = handles.erase(it);
        } else {
          ++it;
        }
      }

      // The blocks in use are exactly those live sequences hold.
      std::set<int32_t> held;
      for (const auto& [id, r] : live) {
        for (const auto& seq : r->sequences) {
          if (seq->is_finished()) {
            EXPECT_TRUE(seq->cache().block_table().empty());
          }
          held.insert(seq->cache().block_table().begin(), seq->cache().block_table().end());
          EXPECT_LE(seq->num_tokens(), max_model_len);
        }
      }
      EngineStats stats;
      scheduler.FillStats(&stats);
      EXPECT_EQ(stats.num_kv_blocks_used, static_cast<int64_t>(held.size()));
    }
    EXPECT_TRUE(live.empty()) << live.size() << " requests never finished";
    EngineStats stats;
    scheduler.FillStats(&stats);
    num_preemptions += stats.num_preemptions_total;
    num_hits += stats.prefix_cache_hits_total;
    EXPECT_EQ(stats.num_kv_blocks_used, 0);
    EXPECT_FALSE(scheduler.has_unfinished_requests());
  }
  // The traffic is short of blocks and repeats prefixes often enough to take both paths.
  EXPECT_GT(num_preemptions, 0);
  EXPECT_GT(num_hits, 0);
}

}  // namespace
}  // namespace fathom

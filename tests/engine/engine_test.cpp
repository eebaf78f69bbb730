// The engine end to end on tiny random-weight models: whatever the batching,
// chunking, prefix reuse, forking or preemption, every request's tokens equal
// what it gets alone through a plain contiguous cache, and every block comes back.
#include "engine/engine.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "tests/model/synth_fixture.h"
#include "tokenizer/tokenizer.h"

namespace fathom {
namespace {

using testing_util::GreedyTokens;
using testing_util::RandomTokens;
using testing_util::TinyModel;
using namespace std::chrono_literals;

struct Collected {
  std::vector<std::vector<int32_t>> tokens;  // per choice
  std::vector<std::string> text;
  std::vector<std::optional<FinishReason>> finish;
  std::vector<std::vector<PositionLogprobs>> logprobs;
  RequestOutput last;
  int num_outputs = 0;
};

// Reads every output of `handle` until it finishes (or 60 s pass).
Collected Drain(RequestHandle& handle, int32_t n) {
  Collected c;
  c.tokens.resize(n);
  c.text.resize(n);
  c.finish.resize(n);
  c.logprobs.resize(n);
  const auto give_up = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < give_up) {
    std::optional<RequestOutput> out = handle.Next(100ms);
    if (!out) continue;
    ++c.num_outputs;
    for (ChoiceDelta& d : out->deltas) {
      EXPECT_FALSE(c.finish[d.index].has_value()) << "a delta after the finish of choice " << d.index;
      c.tokens[d.index].insert(c.tokens[d.index].end(), d.token_ids.begin(), d.token_ids.end());
      c.text[d.index] += d.text;
      for (PositionLogprobs& lp : d.logprobs) c.logprobs[d.index].push_back(lp);
      if (d.finish_reason) c.finish[d.index] = d.finish_reason;
    }
    const bool done = out->is_finished;
    c.last = std::move(*out);
    if (done) return c;
  }
  ADD_FAILURE() << "the request did not finish within 60 s";
  return c;
}

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(model_.status.ok()) << model_.status.ToString();
    Result<Tokenizer> tok = Tokenizer::Load(model_.dir.path());
    ASSERT_TRUE(tok.ok()) << tok.status().ToString();
    tokenizer_ = std::make_unique<Tokenizer>(std::move(tok).value());
  }

  EngineOptions Options() const {
    return {.block_size = 4, .num_kv_blocks = 256, .max_model_len = 128, .max_num_batched_tokens = 32,
            .max_num_seqs = 16, .max_waiting_requests = 64, .enable_prefix_caching = true, .model_id = "tiny",
            .eos_token_ids = {}};
  }

  std::unique_ptr<Engine> Start(const EngineOptions& options) {
    Result<std::unique_ptr<Engine>> engine = Engine::Create(model_.lm.get(), tokenizer_.get(), options);
    EXPECT_TRUE(engine.ok()) << engine.status().ToString();
    return engine.ok() ? std::move(engine).value() : nullptr;
  }

  static GenerationRequest Greedy(std::vector<int32_t> prompt, int64_t max_tokens) {
    GenerationRequest r;
    r.prompt_tokens = std::move(prompt);
    r.sampling.temperature = 0.0f;
    r.max_tokens = max_tokens;
    return r;
  }

  // The model runs one Forward at a time: call this before starting an engine
  // or after it went idle.
  std::vector<int32_t> Reference(const std::vector<int32_t>& prompt, int64_t n) {
    Result<std::vector<int32_t>> ref = GreedyTokens(*model_.lm, prompt, n);
    EXPECT_TRUE(ref.ok()) << ref.status().ToString();
    return ref.ok() ? *ref : std::vector<int32_t>{};
  }

  // Waits until the engine thread has published stats with nothing in flight.
  static EngineStats Idle(const Engine& engine) {
    EngineStats s = engine.Stats();
    for (int i = 0; i < 200 && (s.num_running + s.num_waiting > 0 || s.num_kv_blocks_used > 0); ++i) {
      std::this_thread::sleep_for(5ms);
      s = engine.Stats();
    }
    return s;
  }

  int64_t vocab() const { return model_.lm->config().vocab_size; }

  // Each choice of `together` (from `r`, seeded) equals a request of one choice
  // seeded with seed + its index.
  static void ExpectChoicesReplayTheirSeeds(Engine& engine, const GenerationRequest& r, const Collected& together) {
    for (int32_t c = 0; c < r.n; ++c) {
      GenerationRequest solo = r;
      solo.n = 1;
      solo.sampling.seed = *r.sampling.seed + c;
      EXPECT_EQ(together.tokens[c], Drain(**engine.Submit(std::move(solo)), 1).tokens[0]) << "choice " << c;
    }
  }

  TinyModel model_{{Architecture::kQwen2, "tiny"}};
  std::unique_ptr<Tokenizer> tokenizer_;
};

TEST_F(EngineTest, OneRequestMatchesPlainGreedyDecoding) {
  const std::vector<int32_t> prompt = RandomTokens(21, vocab(), 1);
  const std::vector<int32_t> ref = Reference(prompt, 12);
  std::unique_ptr<Engine> engine = Start(Options());
  Result<std::shared_ptr<RequestHandle>> handle = engine->Submit(Greedy(prompt, 12));
  ASSERT_TRUE(handle.ok()) << handle.status().ToString();
  Collected c = Drain(**handle, 1);
  EXPECT_EQ(c.tokens[0], ref);
  EXPECT_EQ(c.finish[0], FinishReason::kLength);
  EXPECT_EQ(c.last.num_prompt_tokens, 21);
  EXPECT_EQ(c.last.num_generated_tokens, 12);
  EXPECT_EQ(c.text[0], tokenizer_->Decode(c.tokens[0], /*skip_special_tokens=*/true));
  EXPECT_EQ(Idle(*engine).num_kv_blocks_used, 0);
}

TEST_F(EngineTest, ConcurrentRequestsWithChunkedPrefillsMatchTheirSoloRuns) {
  EngineOptions options = Options();
  options.max_num_batched_tokens = 7;  // long prompts split across steps while others decode
  std::unique_ptr<Engine> engine = Start(options);
  std::vector<std::vector<int32_t>> prompts;
  std::vector<std::shared_ptr<RequestHandle>> handles;
  for (int i = 0; i < 8; ++i) {
    prompts.push_back(RandomTokens(3 + 5 * i, vocab(), 100 + i));
    Result<std::shared_ptr<RequestHandle>> h = engine->Submit(Greedy(prompts.back(), 6 + i));
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    handles.push_back(*h);
  }
  std::vector<Collected> got;
  for (int i = 0; i < 8; ++i) got.push_back(Drain(*handles[i], 1));
  const EngineStats s = Idle(*engine);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(got[i].tokens[0], Reference(prompts[i], 6 + i)) << "request " << i;
  EXPECT_EQ(s.num_kv_blocks_used, 0);
  EXPECT_EQ(s.generation_tokens_total, 8 * 6 + 28);
}

TEST_F(EngineTest, ARepeatedPromptIsServedFromThePrefixCache) {
  std::unique_ptr<Engine> engine = Start(Options());
  const std::vector<int32_t> prompt = RandomTokens(30, vocab(), 2);
  Collected first = Drain(**engine->Submit(Greedy(prompt, 5)), 1);
  EXPECT_EQ(first.last.num_cached_tokens, 0);
  Collected second = Drain(**engine->Submit(Greedy(prompt, 5)), 1);
  EXPECT_EQ(second.last.num_cached_tokens, 28);  // 7 full blocks; the last token is always run
  EXPECT_EQ(second.tokens[0], first.tokens[0]);
  // Another tenant shares nothing.
  GenerationRequest other = Greedy(prompt, 5);
  other.cache_salt = "tenant-b";
  Collected third = Drain(**engine->Submit(std::move(other)), 1);
  EXPECT_EQ(third.last.num_cached_tokens, 0);
  EXPECT_EQ(third.tokens[0], first.tokens[0]);
  const EngineStats s = Idle(*engine);
  EXPECT_EQ(s.prefix_cache_hits_total, 28);
  EXPECT_EQ(s.prefix_cache_queries_total, 90);
  EXPECT_EQ(s.num_kv_blocks_used, 0);
}

TEST_F(EngineTest, NChoicesShareThePromptAndEachReplaysItsSeed) {
  std::unique_ptr<Engine> engine = Start(Options());
  const std::vector<int32_t> prompt = RandomTokens(10, vocab(), 3);  // a partly filled last block
  GenerationRequest r;
  r.prompt_tokens = prompt;
  r.sampling.temperature = 1.0f;
  r.sampling.seed = 42;
  r.n = 3;
  r.max_tokens = 8;
  r.logprobs = 2;
  Collected together = Drain(**engine->Submit(r), 3);
  ExpectChoicesReplayTheirSeeds(*engine, r, together);
  for (int32_t c = 0; c < 3; ++c) {
    ASSERT_EQ(together.logprobs[c].size(), together.tokens[c].size());
    for (const PositionLogprobs& lp : together.logprobs[c]) EXPECT_EQ(lp.top.size(), 2u);
  }
  EXPECT_EQ(together.last.num_generated_tokens, 24);
  EXPECT_EQ(Idle(*engine).num_kv_blocks_used, 0);
}

TEST_F(EngineTest, ForksOfAWholeBlockPromptAndForksWithoutAFreeBlockReplayTheirSeeds) {
  struct Case {
    int64_t prompt_len, num_kv_blocks, max_model_len, max_tokens;
  };
  // 8 tokens fill two blocks exactly, so nothing is copied. 10 tokens in a pool
  // of three blocks that the first choice holds: the other choices find no block
  // to copy into, recompute their partial block, and take turns by preemption.
  for (const Case& k : {Case{8, 256, 128, 12}, Case{10, 3, 12, 2}}) {
    EngineOptions options = Options();
    options.num_kv_blocks = k.num_kv_blocks;
    options.max_model_len = k.max_model_len;
    options.enable_prefix_caching = false;
    std::unique_ptr<Engine> engine = Start(options);
    GenerationRequest r;
    r.prompt_tokens = RandomTokens(k.prompt_len, vocab(), 11);
    r.sampling.temperature = 1.0f;
    r.sampling.seed = 7;
    r.n = 4;
    r.max_tokens = k.max_tokens;
    SCOPED_TRACE("prompt of " + std::to_string(k.prompt_len));
    ExpectChoicesReplayTheirSeeds(*engine, r, Drain(**engine->Submit(r), 4));
    EXPECT_EQ(Idle(*engine).num_kv_blocks_used, 0);
  }
}

TEST_F(EngineTest, PreemptionUnderAShortPoolLosesNothing) {
  EngineOptions options = Options();
  options.max_model_len = 40;
  options.num_kv_blocks = 12;  // 48 rows: room for about two of the sequences below
  options.max_num_batched_tokens = 64;
  std::unique_ptr<Engine> engine = Start(options);
  std::vector<std::vector<int32_t>> prompts;
  std::vector<std::shared_ptr<RequestHandle>> handles;
  for (int i = 0; i < 6; ++i) {
    prompts.push_back(RandomTokens(9 + i, vocab(), 200 + i));
    handles.push_back(*engine->Submit(Greedy(prompts.back(), 16)));
  }
  std::vector<Collected> got;
  for (int i = 0; i < 6; ++i) got.push_back(Drain(*handles[i], 1));
  const EngineStats s = Idle(*engine);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(got[i].tokens[0], Reference(prompts[i], 16)) << i;
  EXPECT_GT(s.num_preemptions_total, 0);
  EXPECT_EQ(s.num_kv_blocks_used, 0);
}

TEST_F(EngineTest, StopStringsCutTheTextEvenAcrossTokens) {
  std::unique_ptr<Engine> engine = Start(Options());
  const std::vector<int32_t> prompt = RandomTokens(12, vocab(), 4);
  Collected free_run = Drain(**engine->Submit(Greedy(prompt, 24)), 1);
  const std::string& text = free_run.text[0];
  ASSERT_GE(text.size(), 8u);
  // A stop string that starts mid-way through the text and spans token edges.
  const size_t at = text.size() / 2;
  GenerationRequest r = Greedy(prompt, 24);
  r.stop = {"zzz-never", text.substr(at, 5)};
  Collected stopped = Drain(**engine->Submit(std::move(r)), 1);
  EXPECT_EQ(stopped.finish[0], FinishReason::kStop);
  EXPECT_EQ(stopped.text[0], text.substr(0, text.find(text.substr(at, 5))));
  EXPECT_EQ(stopped.last.deltas.back().stop_string, text.substr(at, 5));
}

TEST_F(EngineTest, StopTokensEndTheChoiceAndAreNotInTheText) {
  const std::vector<int32_t> prompt = RandomTokens(12, vocab(), 5);
  const std::vector<int32_t> ref = Reference(prompt, 10);
  std::unique_ptr<Engine> engine = Start(Options());
  GenerationRequest r = Greedy(prompt, 10);
  r.stop_token_ids = {ref[4]};
  Collected c = Drain(**engine->Submit(std::move(r)), 1);
  const auto first = std::find(ref.begin(), ref.end(), ref[4]);
  EXPECT_EQ(c.tokens[0], std::vector<int32_t>(ref.begin(), first));
  EXPECT_EQ(c.finish[0], FinishReason::kStop);
  EXPECT_EQ(c.last.num_generated_tokens, static_cast<int64_t>(first - ref.begin()) + 1);  // the stop token counts
}

TEST_F(EngineTest, CancelAndDeadlineAbortAndFreeTheBlocks) {
  EngineOptions options = Options();
  options.max_model_len = 4096;
  options.num_kv_blocks = 1024;
  std::unique_ptr<Engine> engine = Start(options);
  std::shared_ptr<RequestHandle> h = *engine->Submit(Greedy(RandomTokens(20, vocab(), 6), 4000));
  // Cancel once it is running and holds blocks.
  std::optional<RequestOutput> first;
  while (!first) first = h->Next(100ms);
  ASSERT_FALSE(first->is_finished);
  h->Cancel();
  Collected c = Drain(*h, 1);
  EXPECT_EQ(c.finish[0], FinishReason::kAbort);
  EXPECT_LT(c.last.num_generated_tokens, 4000);
  GenerationRequest late = Greedy(RandomTokens(20, vocab(), 7), 100);
  late.deadline = EngineClock::now();
  EXPECT_EQ(Drain(**engine->Submit(std::move(late)), 1).finish[0], FinishReason::kAbort);
  EXPECT_EQ(Idle(*engine).num_kv_blocks_used, 0);
}

TEST_F(EngineTest, SubmitRejectsBadRequestsAndAFullQueue) {
  EngineOptions options = Options();
  options.max_waiting_requests = 0;
  std::unique_ptr<Engine> engine = Start(options);
  EXPECT_EQ(engine->Submit(Greedy(RandomTokens(5, vocab(), 8), 4)).status().code(), StatusCode::kResourceExhausted);
  engine->Shutdown(0ms);
  EXPECT_EQ(engine->Submit(Greedy(RandomTokens(5, vocab(), 8), 4)).status().code(), StatusCode::kUnavailable);

  std::unique_ptr<Engine> open = Start(Options());
  EXPECT_EQ(open->Submit(Greedy({}, 4)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(open->Submit(Greedy(RandomTokens(128, vocab(), 9), 4)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(open->Submit(Greedy({static_cast<int32_t>(vocab())}, 4)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(open->Submit(Greedy({1, 2}, 0)).status().code(), StatusCode::kInvalidArgument);
  GenerationRequest many = Greedy({1, 2}, 4);
  many.n = kMaxChoices + 1;
  EXPECT_EQ(open->Submit(std::move(many)).status().code(), StatusCode::kInvalidArgument);
  GenerationRequest hot = Greedy({1, 2}, 4);
  hot.sampling.top_p = 0.0f;
  EXPECT_EQ(open->Submit(std::move(hot)).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(EngineTest, ShutdownAbortsWhatIsLeftAfterTheGrace) {
  std::unique_ptr<Engine> engine = Start(Options());
  std::vector<std::shared_ptr<RequestHandle>> handles;
  for (int i = 0; i < 4; ++i) handles.push_back(*engine->Submit(Greedy(RandomTokens(8, vocab(), 300 + i), 120)));
  engine->Shutdown(0ms);
  for (auto& h : handles) {
    Collected c = Drain(*h, 1);
    EXPECT_TRUE(c.finish[0] == FinishReason::kAbort || c.finish[0] == FinishReason::kLength);
  }
  EXPECT_FALSE(engine->Stats().is_accepting);
}

TEST_F(EngineTest, ShutdownWithGraceLetsRequestsFinish) {
  std::unique_ptr<Engine> engine = Start(Options());
  std::vector<std::shared_ptr<RequestHandle>> handles;
  for (int i = 0; i < 3; ++i) handles.push_back(*engine->Submit(Greedy(RandomTokens(8, vocab(), 400 + i), 10)));
  engine->Shutdown(60s);
  for (auto& h : handles) EXPECT_EQ(Drain(*h, 1).finish[0], FinishReason::kLength);
}

TEST_F(EngineTest, ALaterShutdownShortensTheGrace) {
  EngineOptions options = Options();
  options.max_model_len = 4096;
  options.num_kv_blocks = 1024;
  std::unique_ptr<Engine> engine = Start(options);
  std::shared_ptr<RequestHandle> h = *engine->Submit(Greedy(RandomTokens(8, vocab(), 500), 4000));
  engine->BeginShutdown(3600s);
  EXPECT_FALSE(engine->is_stopped());
  engine->BeginShutdown(0ms);  // e.g. a second SIGTERM
  EXPECT_EQ(Drain(*h, 1).finish[0], FinishReason::kAbort);
  engine->Shutdown(3600s);  // joins at once: the shorter grace stands
  EXPECT_TRUE(engine->is_stopped());
}

TEST(PlanKvBlocksTest, FitsTheBudgetAndRefusesLessThanOneSequence) {
  const KvCacheShape shape{.num_layers = 2, .first_width = 8, .second_width = 8};  // 128 bytes per token
  EXPECT_EQ(*PlanKvBlocks(shape, 16, 64, 1 << 20), (1 << 20) / (16 * 128));
  EXPECT_EQ(PlanKvBlocks(shape, 16, 4096, 1 << 16).status().code(), StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace fathom

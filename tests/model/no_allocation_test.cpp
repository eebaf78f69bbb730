// The forward pass allocates nothing in steady state: once a model has run a
// batch of a given shape, running it again (prefill and decode steps) performs
// no heap allocation on any thread. Counted by replacing the global operator
// new for this test binary; counting is on only inside Counting scopes.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <vector>

#include "tests/model/synth_fixture.h"

namespace {

std::atomic<bool> g_counting{false};
std::atomic<int64_t> g_allocations{0};

void* CountedAlloc(std::size_t n) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}

void* CountedAlignedAlloc(std::size_t n, std::align_val_t align) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1, std::memory_order_relaxed);
  const std::size_t a = static_cast<std::size_t>(align);
  if (void* p = std::aligned_alloc(a, (n + a - 1) / a * a)) return p;
  throw std::bad_alloc();
}

}  // namespace

void* operator new(std::size_t n) { return CountedAlloc(n); }
void* operator new[](std::size_t n) { return CountedAlloc(n); }
void* operator new(std::size_t n, std::align_val_t a) { return CountedAlignedAlloc(n, a); }
void* operator new[](std::size_t n, std::align_val_t a) { return CountedAlignedAlloc(n, a); }
// The nothrow forms too (std::stable_sort's temporary buffer uses them): every
// form must come from the same malloc family, or ASan reports a mismatch.
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return CountedAlloc(n);
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  try {
    return CountedAlignedAlloc(n, a);
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t& t) noexcept {
  return operator new(n, a, t);
}
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace fathom {
namespace {

using testing_util::TinyModel;
using testing_util::TinyModelSpec;

// Prefills `prompt` into a fresh cache, then decodes `steps` tokens one at a
// time, feeding back token 1 (the ids do not matter here). Returns the number
// of allocations the forwards made (the cache itself is made before counting).
int64_t CountForwardAllocations(CausalLm& lm, const std::vector<int32_t>& prompt, int steps,
                                std::vector<float>& logits) {
  Result<KvCache> cache = lm.NewCache(static_cast<int64_t>(prompt.size()) + steps);
  EXPECT_TRUE(cache.ok());
  const int32_t next = 1;
  g_allocations = 0;
  g_counting = true;
  BatchEntry entry = {.tokens = prompt, .cache = &*cache, .all_logits = false};
  bool ok = lm.Forward({&entry, 1}, &logits).ok();
  for (int s = 0; s < steps; ++s) {
    entry.tokens = {&next, 1};
    ok = ok && lm.Forward({&entry, 1}, &logits).ok();
  }
  g_counting = false;
  EXPECT_TRUE(ok);
  return g_allocations.load();
}

class NoAllocationTest : public ::testing::TestWithParam<TinyModelSpec> {};

TEST_P(NoAllocationTest, SecondIdenticalRunAllocatesNothing) {
  TinyModel m(GetParam());
  ASSERT_TRUE(m.status.ok()) << m.status.ToString();
  const std::vector<int32_t> prompt = testing_util::RandomTokens(24, m.lm->config().vocab_size, 3);
  std::vector<float> logits;
  // The first run grows every buffer (workspace, per-thread kernel scratch) to
  // this shape; the counter itself checks that counting works at all.
  EXPECT_GT(CountForwardAllocations(*m.lm, prompt, 8, logits), 0);
  EXPECT_EQ(CountForwardAllocations(*m.lm, prompt, 8, logits), 0);
}

// The quantized kernels too: activation blocks, packed panels (prefill) and
// decode tiles all reuse their buffers.
TEST_P(NoAllocationTest, QuantizedWeightsAllocateNothingEither) {
  testing_util::SynthModelDir dir(GetParam());
  ASSERT_TRUE(dir.status().ok()) << dir.status().ToString();
  ThreadPool pool(2);
  Result<std::unique_ptr<CausalLm>> lm = LoadCausalLm(dir.path(), pool, {.quant = DType::kQ4_0});
  ASSERT_TRUE(lm.ok()) << lm.status().ToString();
  const std::vector<int32_t> prompt = testing_util::RandomTokens(24, (*lm)->config().vocab_size, 3);
  std::vector<float> logits;
  EXPECT_GT(CountForwardAllocations(**lm, prompt, 8, logits), 0);
  EXPECT_EQ(CountForwardAllocations(**lm, prompt, 8, logits), 0);
}

INSTANTIATE_TEST_SUITE_P(AllFamilies, NoAllocationTest, ::testing::ValuesIn(testing_util::TinyPresets()),
                         [](const auto& info) { return info.param.Name(); });

}  // namespace
}  // namespace fathom

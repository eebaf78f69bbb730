// Batched decode steps without the server: one Forward over m sequences of one
// new token each (m = 1, 2, 4, 8, 12, 16, 24, 32), the work a continuous-batching
// step does once every stream is decoding. Prints the step time, the aggregate
// tokens/s and its ratio to one stream, which bounds what `fathom serve` can reach
// at m concurrent streams on this machine.
// Usage: fathom_decode_batch_bench MODEL [--threads K] [--context C] [--reps R]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "model/model_registry.h"

int main(int argc, char** argv) {
  using namespace fathom;
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL [--threads K] [--context C] [--reps R]\n", argv[0]);
    return 2;
  }
  int threads = 0, reps = 10;
  int64_t context = 128;  // tokens already in each cache when the steps are timed
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--threads") threads = std::atoi(argv[i + 1]);
    if (flag == "--context") context = std::atoll(argv[i + 1]);
    if (flag == "--reps") reps = std::atoi(argv[i + 1]);
  }
  ThreadPool pool(threads);
  Result<std::unique_ptr<CausalLm>> lm = LoadCausalLm(argv[1], pool, {});
  if (!lm.ok()) {
    std::fprintf(stderr, "%s\n", lm.status().ToString().c_str());
    return 1;
  }
  std::printf("| streams | step ms | tokens/s | x one stream |\n|---|---|---|---|\n");
  double single = 0.0;
  for (int m : {1, 2, 4, 8, 12, 16, 24, 32}) {
    std::vector<KvCache> caches;
    std::vector<int32_t> tokens(m, 100);
    std::vector<BatchEntry> batch;
    std::vector<float> logits;
    const std::vector<int32_t> prompt(context, 100);
    for (int i = 0; i < m; ++i) {
      Result<KvCache> cache = (*lm)->NewCache(context + reps + 4);
      if (!cache.ok()) return 1;
      caches.push_back(std::move(cache).value());
    }
    for (int i = 0; i < m; ++i) {
      const BatchEntry fill{.tokens = prompt, .cache = &caches[i]};
      if (!(*lm)->Forward({&fill, 1}, &logits).ok()) return 1;
      batch.push_back({.tokens = {&tokens[i], 1}, .cache = &caches[i]});
    }
    if (!(*lm)->Forward(batch, &logits).ok()) return 1;  // warm-up
    const auto t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < reps; ++r) {
      if (!(*lm)->Forward(batch, &logits).ok()) return 1;
    }
    const double step = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
    const double rate = m / step;
    if (m == 1) single = rate;
    std::printf("| %d | %.1f | %.1f | %.2f |\n", m, step * 1e3, rate, rate / single);
    std::fflush(stdout);
  }
  return 0;
}

// MatMul throughput for quantized weights on the shapes of DeepSeek-R1-Distill-
// Qwen-1.5B (hidden 1536, kv 256, MLP 8960), with 2 threads on the active ISA
// (FATHOM_ISA picks a lower one). Decode (m = 1) reports GB/s of weight bytes
// against MemoryRead, the bandwidth roof measured the same way; prefill
// (m = 512) and a small batch (m = 16) report GOPS (2 m n k per call).
//
// Non-obvious rule: decode cycles through enough copies of the weight to
// overflow the L3 cache, as a real model's ~1 GB of weights does; otherwise a
// 1.3 MB matrix would be timed from cache.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <tuple>
#include <vector>

#include "core/quant_blocks.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/cpu/isa.h"
#include "kernels/cpu/matmul.h"

namespace fathom::cpu {
namespace {

// FATHOM_BENCH_THREADS overrides, e.g. 1 to time one core by its CPU time on a busy machine.
const int kThreads = std::getenv("FATHOM_BENCH_THREADS") != nullptr ? std::atoi(std::getenv("FATHOM_BENCH_THREADS")) : 2;
constexpr int64_t kColdBytes = 128 << 20;  // > L3, so decode streams from DRAM

ThreadPool& Pool() {
  static ThreadPool pool(kThreads);
  return pool;
}

// Copies of one random (n, k) weight of `dtype`.
struct BenchWeight {
  std::vector<std::vector<uint8_t>> copies;
  std::vector<Tensor> tensors;
  int64_t bytes = 0;  // of one copy
};

const BenchWeight& GetWeight(DType dtype, int64_t n, int64_t k, bool cold) {
  static std::map<std::tuple<DType, int64_t, int64_t, bool>, std::unique_ptr<BenchWeight>> cache;
  auto& slot = cache[{dtype, n, k, cold}];
  if (slot != nullptr) return *slot;
  slot = std::make_unique<BenchWeight>();
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> row(k);
  const int64_t row_bytes = *DTypeByteSize(dtype, k);
  slot->bytes = n * row_bytes;
  std::vector<uint8_t> data(slot->bytes);
  for (int64_t r = 0; r < n; ++r) {
    for (float& v : row) v = dist(rng);
    void* dst = data.data() + r * row_bytes;
    switch (dtype) {
      case DType::kQ8_0: QuantizeRowQ8_0(row.data(), static_cast<BlockQ8_0*>(dst), k); break;
      case DType::kQ4_0: QuantizeRowQ4_0(row.data(), static_cast<BlockQ4_0*>(dst), k); break;
      case DType::kQ4_K: QuantizeRowQ4_K(row.data(), static_cast<BlockQ4_K*>(dst), k); break;
      default: QuantizeRowQ6_K(row.data(), static_cast<BlockQ6_K*>(dst), k); break;
    }
  }
  const int64_t num_copies = cold ? std::max<int64_t>(1, (kColdBytes + slot->bytes - 1) / slot->bytes) : 1;
  for (int64_t c = 0; c < num_copies; ++c) slot->copies.push_back(data);
  for (auto& copy : slot->copies) slot->tensors.push_back(*Tensor::View(dtype, {n, k}, copy.data()));
  return *slot;
}

void BM_MatMul(benchmark::State& state, DType dtype, int64_t m, int64_t k, int64_t n) {
  const bool decode = m <= 4;
  const BenchWeight& w = GetWeight(dtype, n, k, decode);
  std::vector<float> x(m * k), y(m * n);
  std::mt19937 rng(2);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (float& v : x) v = dist(rng);
  size_t next = 0;
  for (auto _ : state) {
    MatMul(Pool(), x.data(), m, k, w.tensors[next], nullptr, y.data());
    next = (next + 1) % w.tensors.size();
    benchmark::DoNotOptimize(y.data());
  }
  if (decode) {
    state.counters["GB/s"] = benchmark::Counter(static_cast<double>(w.bytes) * 1e-9,
                                                benchmark::Counter::kIsIterationInvariantRate);
  } else {
    state.counters["GOPS"] = benchmark::Counter(2e-9 * static_cast<double>(m * n * k),
                                                benchmark::Counter::kIsIterationInvariantRate);
  }
  state.SetLabel(std::string(IsaName(ActiveIsa())));
}

// The bandwidth roof: both threads summing their halves of a 1 GiB buffer.
void BM_MemoryRead(benchmark::State& state) {
  constexpr int64_t kWords = (int64_t{1} << 30) / 8;
  static std::vector<uint64_t> buffer(kWords, 1);
  std::vector<uint64_t> sums(kThreads * 8);
  for (auto _ : state) {
    Pool().ParallelFor(kThreads, 1, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) {
        const uint64_t* p = buffer.data() + t * (kWords / kThreads);
        uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (int64_t i = 0; i < kWords / kThreads; i += 4) {
          s0 += p[i];
          s1 += p[i + 1];
          s2 += p[i + 2];
          s3 += p[i + 3];
        }
        sums[t * 8] = s0 + s1 + s2 + s3;
      }
    });
    benchmark::DoNotOptimize(sums.data());
  }
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(kWords * 8) * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}

void RegisterAll() {
  benchmark::RegisterBenchmark("MemoryRead/1GiB", BM_MemoryRead)->UseRealTime()->Unit(benchmark::kMillisecond);
  struct Shape {
    const char* name;
    int64_t k, n;
  };
  const Shape shapes[] = {{"qkv_o", 1536, 1536}, {"kv", 1536, 256}, {"up_gate", 1536, 8960}, {"down", 8960, 1536}};
  for (DType dtype : {DType::kQ4_0, DType::kQ8_0, DType::kQ4_K, DType::kQ6_K}) {
    for (int64_t m : {1, 16, 512}) {
      for (const Shape& s : shapes) {
        const std::string name = std::string(DTypeName(dtype)) + "/m" + std::to_string(m) + "/" + s.name + "/k" +
                                 std::to_string(s.k) + "_n" + std::to_string(s.n);
        benchmark::RegisterBenchmark(name.c_str(), BM_MatMul, dtype, m, s.k, s.n)
            ->UseRealTime()
            ->Unit(benchmark::kMicrosecond);
      }
    }
  }
}

}  // namespace
}  // namespace fathom::cpu

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  fathom::cpu::RegisterAll();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

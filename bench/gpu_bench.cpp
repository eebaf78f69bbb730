// fathom_gpu_bench: the CUDA backend against the GPU's own limits, every limit
// measured in the same run on the same card:
//   copy     device-to-device cudaMemcpy of 2 GiB, bytes read + written per second
//   decode   batch-1 decode of the R1-Distill-Llama-8B shape in bf16: tokens/s, and
//            decode_bytes_per_token * tokens/s as a fraction of the copy bandwidth
//            (goal >= 0.85)
//   prefill  one forward of 4096 tokens on that model: achieved FLOP/s (2 * matmul
//            params * tokens + causal attention) against a plain cuBLAS bf16 GEMM
//            of 4096 x hidden x hidden (goal >= 0.6)
//   moe      batch-1 decode of the DeepSeek-V2-Lite shape in bf16 against the copy
//            bandwidth's limit for the bytes one token really reads: attention, the
//            dense MLPs, the shared and top-k routed experts of each MoE layer, the
//            router and the LM head
// Models are random-weight (`fathom synth`; they run at exactly the speed of real
// ones), written to a temporary directory unless --model / --moe-model name one.
//
// Usage: fathom_gpu_bench [--model DIR] [--moe-model DIR] [--layers N]
//          [--moe-layers N] [--prompt 4096] [--gen 128] [--reps 3]
//          [--skip-copy] [--skip-decode] [--skip-prefill] [--skip-moe] [--json FILE]
// --layers / --moe-layers shrink the synthesized models for a quick run (ignored
// with --model / --moe-model); per-layer ratios barely move.
//
// Non-obvious rule: the model's weights must not be on the GPU while the copy and
// GEMM baselines run, and the baselines use cuda_runtime / cuBLAS directly, never
// the backend, so a slow backend cannot drag its own yardstick down.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdlib.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/float_formats.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "engine/model_bench.h"
#include "formats/model_config.h"
#include "model/causal_lm.h"
#include "model/model_registry.h"
#include "model/synthetic_model.h"
#include "model/weight_store.h"

namespace fathom {
namespace {

using Clock = std::chrono::steady_clock;

#define BENCH_CUDA(call)                                                                            \
  do {                                                                                              \
    const cudaError_t _err = (call);                                                                \
    if (_err != cudaSuccess) return Internal(std::string(#call) + ": " + cudaGetErrorString(_err)); \
  } while (0)
#define BENCH_CUBLAS(call)                                                                           \
  do {                                                                                               \
    const cublasStatus_t _st = (call);                                                               \
    if (_st != CUBLAS_STATUS_SUCCESS) return Internal(std::string(#call) + ": cuBLAS status " + std::to_string(_st)); \
  } while (0)

struct Options {
  std::string model_dir;      // empty: synthesize r1-distill-llama-8b
  std::string moe_model_dir;  // empty: synthesize v2-lite
  std::optional<int64_t> layers;
  std::optional<int64_t> moe_layers;
  int64_t prompt_tokens = 4096;
  int64_t gen_tokens = 128;
  int reps = 3;
  bool skip_copy = false, skip_decode = false, skip_prefill = false, skip_moe = false;
  std::string json_path;
};

// A device allocation freed on scope exit.
struct DeviceAlloc {
  void* ptr = nullptr;
  ~DeviceAlloc() {
    if (ptr != nullptr) cudaFree(ptr);
  }
};

// Device-to-device copy bandwidth in GB/s, counting the bytes read and written.
Result<double> CopyBandwidth(int64_t num_bytes) {
  DeviceAlloc src, dst;
  BENCH_CUDA(cudaMalloc(&src.ptr, num_bytes));
  BENCH_CUDA(cudaMalloc(&dst.ptr, num_bytes));
  BENCH_CUDA(cudaMemset(src.ptr, 1, num_bytes));
  cudaEvent_t start, stop;
  BENCH_CUDA(cudaEventCreate(&start));
  BENCH_CUDA(cudaEventCreate(&stop));
  for (int i = 0; i < 2; ++i) BENCH_CUDA(cudaMemcpy(dst.ptr, src.ptr, num_bytes, cudaMemcpyDeviceToDevice));
  constexpr int kIters = 10;
  BENCH_CUDA(cudaEventRecord(start));
  for (int i = 0; i < kIters; ++i) BENCH_CUDA(cudaMemcpyAsync(dst.ptr, src.ptr, num_bytes, cudaMemcpyDeviceToDevice));
  BENCH_CUDA(cudaEventRecord(stop));
  BENCH_CUDA(cudaEventSynchronize(stop));
  float ms = 0;
  BENCH_CUDA(cudaEventElapsedTime(&ms, start, stop));
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return 2.0 * static_cast<double>(num_bytes) * kIters / (ms * 1e-3) / 1e9;
}

// TFLOP/s of y (m, n) = x (m, k) w^T with w (n, k), all bf16, float32
// accumulation: the GEMM a prefill's projections are made of. Random data (zeros
// run faster on Hopper).
Result<double> CublasBf16Tflops(int64_t m, int64_t n, int64_t k) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<uint16_t> host(static_cast<size_t>(std::max(m, n) * k));
  for (uint16_t& v : host) v = F32ToBF16(dist(rng));
  DeviceAlloc x, w, y;
  BENCH_CUDA(cudaMalloc(&x.ptr, m * k * 2));
  BENCH_CUDA(cudaMalloc(&w.ptr, n * k * 2));
  BENCH_CUDA(cudaMalloc(&y.ptr, m * n * 2));
  BENCH_CUDA(cudaMemcpy(x.ptr, host.data(), m * k * 2, cudaMemcpyHostToDevice));
  BENCH_CUDA(cudaMemcpy(w.ptr, host.data(), n * k * 2, cudaMemcpyHostToDevice));
  cublasHandle_t handle;
  BENCH_CUBLAS(cublasCreate(&handle));
  const float alpha = 1.0f, beta = 0.0f;
  // Column-major view: y^T (n, m) = w (n, k) . x^T (k, m), i.e. op(A) = A^T of the
  // (k, n) column-major w.
  auto gemm = [&] {
    return cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n), static_cast<int>(m),
                        static_cast<int>(k), &alpha, w.ptr, CUDA_R_16BF, static_cast<int>(k), x.ptr, CUDA_R_16BF,
                        static_cast<int>(k), &beta, y.ptr, CUDA_R_16BF, static_cast<int>(n), CUBLAS_COMPUTE_32F,
                        CUBLAS_GEMM_DEFAULT);
  };
  for (int i = 0; i < 3; ++i) BENCH_CUBLAS(gemm());
  cudaEvent_t start, stop;
  BENCH_CUDA(cudaEventCreate(&start));
  BENCH_CUDA(cudaEventCreate(&stop));
  constexpr int kIters = 20;
  BENCH_CUDA(cudaEventRecord(start));
  for (int i = 0; i < kIters; ++i) BENCH_CUBLAS(gemm());
  BENCH_CUDA(cudaEventRecord(stop));
  BENCH_CUDA(cudaEventSynchronize(stop));
  float ms = 0;
  BENCH_CUDA(cudaEventElapsedTime(&ms, start, stop));
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cublasDestroy(handle);
  return 2.0 * static_cast<double>(m) * n * k * kIters / (ms * 1e-3) / 1e12;
}

// A fresh directory under $TMPDIR (or /tmp), removed with the object.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/fathom_gpu_bench_XXXXXX";
    path_ = ::mkdtemp(tmpl.data()) != nullptr ? tmpl : std::string();
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// `dir` if given, else a bf16 synthetic model of `preset` written into `tmp`.
Result<std::string> ModelDir(const std::string& dir, Architecture arch, const std::string& preset,
                             std::optional<int64_t> layers, const TempDir& tmp) {
  if (!dir.empty()) return dir;
  if (tmp.path().empty()) return IoError("cannot create a temporary directory");
  SynthOptions options;
  options.arch = arch;
  options.preset = preset;
  options.out_dir = tmp.path() + "/" + preset;
  options.seed = 1;
  options.dtype = DType::kBF16;
  options.num_layers = layers;
  options.show_progress = false;
  std::fprintf(stderr, "gpu_bench: writing %s (bf16%s) to %s\n", preset.c_str(),
               layers ? (", " + std::to_string(*layers) + " layers").c_str() : "", options.out_dir.c_str());
  FATHOM_RETURN_IF_ERROR(WriteSyntheticModel(options));
  return options.out_dir;
}

Result<std::unique_ptr<CausalLm>> LoadOnGpu(const std::string& dir, ThreadPool& pool) {
  LoadOptions options;
  options.device = DeviceKind::kCuda;
  const Clock::time_point start = Clock::now();
  FATHOM_ASSIGN_OR_RETURN(std::unique_ptr<CausalLm> lm, LoadCausalLm(dir, pool, options));
  std::fprintf(stderr, "gpu_bench: loaded %s in %.1f s on %s\n", dir.c_str(),
               std::chrono::duration<double>(Clock::now() - start).count(), lm->backend().description().c_str());
  return lm;
}

// Weights of one llama-family layer's projections (q, k, v, o, gate, up, down).
int64_t LlamaLayerParams(const ModelConfig& c) {
  const int64_t q = c.num_attention_heads * c.head_dim, kv = c.num_key_value_heads * c.head_dim;
  return c.hidden_size * (q + 2 * kv) + q * c.hidden_size + 3 * c.hidden_size * c.intermediate_size;
}

// FLOPs of one forward of `tokens` tokens on an empty cache with one logits row:
// every projection, causal attention (q.k and p.v over tokens * (tokens + 1) / 2
// pairs per head) and one row of the LM head.
double LlamaPrefillFlops(const ModelConfig& c, int64_t tokens) {
  const double t = static_cast<double>(tokens);
  const double matmul = 2.0 * static_cast<double>(LlamaLayerParams(c)) * t;
  const double attention = 4.0 * c.num_attention_heads * c.head_dim * t * (t + 1) / 2;
  return c.num_hidden_layers * (matmul + attention) + 2.0 * c.vocab_size * c.hidden_size;
}

// Weights one DeepSeek decode step reads (in values): per layer MLA's
// projections and either the dense MLP or the router, the shared experts and
// num_experts_per_tok routed experts; then the LM head. Norms are left out.
int64_t DeepseekActiveParams(const ModelConfig& c) {
  const int64_t h = c.hidden_size, heads = c.num_attention_heads;
  int64_t attention = c.q_lora_rank ? h * *c.q_lora_rank + *c.q_lora_rank * heads * c.qk_head_dim()
                                    : h * heads * c.qk_head_dim();
  attention += h * (c.kv_lora_rank + c.qk_rope_head_dim);
  attention += c.kv_lora_rank * heads * (c.qk_nope_head_dim + c.v_head_dim);
  attention += heads * c.v_head_dim * h;
  int64_t total = 0;
  for (int64_t layer = 0; layer < c.num_hidden_layers; ++layer) {
    total += attention;
    if (c.IsMoeLayer(layer)) {
      total += c.n_routed_experts * h;
      total += 3 * h * c.moe_intermediate_size * (c.n_shared_experts + c.num_experts_per_tok);
    } else {
      total += 3 * h * c.intermediate_size;
    }
  }
  return total + c.vocab_size * h;
}

struct Report {
  std::string device;
  double copy_gb_s = 0;
  // decode / prefill of the dense model
  int64_t layers = 0, hidden = 0;
  double decode_tok_s = 0, decode_bytes_per_token = 0;
  double prefill_s = 0, prefill_tflops = 0, cublas_tflops = 0;
  // MoE decode
  int64_t moe_layers = 0;
  double moe_tok_s = 0, moe_active_bytes = 0;
};

std::string Fraction(double num, double den) {
  if (num <= 0 || den <= 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", num / den);
  return buf;
}

void PrintTable(const Options& o, const Report& r) {
  std::printf("\nGPU: %s\n\n", r.device.c_str());
  std::printf("| measurement | fathom | limit / baseline | ratio | goal |\n|---|---|---|---|---|\n");
  if (r.copy_gb_s > 0) std::printf("| D2D copy 2 GiB (read + write) | %.0f GB/s | - | - | - |\n", r.copy_gb_s);
  if (r.decode_tok_s > 0) {
    const double gb_s = r.decode_bytes_per_token * r.decode_tok_s / 1e9;
    std::printf("| decode r1-distill-llama-8b bf16 (%lld layers) | %.1f tok/s = %.0f GB/s | copy %.0f GB/s | %s | >= 0.85 |\n",
                static_cast<long long>(r.layers), r.decode_tok_s, gb_s, r.copy_gb_s, Fraction(gb_s, r.copy_gb_s).c_str());
  }
  if (r.prefill_tflops > 0) {
    std::printf("| prefill %lld tokens (%lld layers) | %.1f TFLOP/s (%.3f s) | cuBLAS bf16 %lldx%lldx%lld %.1f TFLOP/s | %s | >= 0.6 |\n",
                static_cast<long long>(o.prompt_tokens), static_cast<long long>(r.layers), r.prefill_tflops,
                r.prefill_s, static_cast<long long>(o.prompt_tokens), static_cast<long long>(r.hidden),
                static_cast<long long>(r.hidden), r.cublas_tflops,
                Fraction(r.prefill_tflops, r.cublas_tflops).c_str());
  }
  if (r.moe_tok_s > 0) {
    const double limit = r.copy_gb_s * 1e9 / r.moe_active_bytes;
    std::printf("| decode v2-lite bf16 (%lld layers) | %.1f tok/s | %.2f GB active/token: %.0f tok/s | %s | - |\n",
                static_cast<long long>(r.moe_layers), r.moe_tok_s, r.moe_active_bytes / 1e9, limit,
                Fraction(r.moe_tok_s, limit).c_str());
  }
}

Status WriteJson(const std::string& path, const Options& o, const Report& r) {
  std::ofstream out(path);
  if (!out) return IoError("cannot write " + path);
  char buf[1024];
  std::snprintf(buf, sizeof buf,
                "{\"device\": \"%s\", \"copy_gb_s\": %.3f, \"layers\": %lld, \"decode_tok_s\": %.4f, "
                "\"decode_bytes_per_token\": %.0f, \"decode_gb_s\": %.3f, \"prompt_tokens\": %lld, "
                "\"prefill_s\": %.5f, \"prefill_tflops\": %.3f, \"cublas_tflops\": %.3f, \"moe_layers\": %lld, "
                "\"moe_tok_s\": %.4f, \"moe_active_bytes\": %.0f, \"moe_limit_tok_s\": %.3f}\n",
                r.device.c_str(), r.copy_gb_s, static_cast<long long>(r.layers), r.decode_tok_s,
                r.decode_bytes_per_token, r.decode_bytes_per_token * r.decode_tok_s / 1e9,
                static_cast<long long>(o.prompt_tokens), r.prefill_s, r.prefill_tflops, r.cublas_tflops,
                static_cast<long long>(r.moe_layers), r.moe_tok_s, r.moe_active_bytes,
                r.moe_active_bytes > 0 ? r.copy_gb_s * 1e9 / r.moe_active_bytes : 0.0);
  out << buf;
  return Status::Ok();
}

Result<Options> ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> Result<std::string> {
      if (i + 1 >= argc) return InvalidArgument(a + " needs a value");
      return std::string(argv[++i]);
    };
    auto number = [&]() -> Result<int64_t> {
      FATHOM_ASSIGN_OR_RETURN(std::string v, value());
      char* end = nullptr;
      const long long n = std::strtoll(v.c_str(), &end, 10);
      if (end == v.c_str() || *end != '\0' || n < 0) return InvalidArgument(a + ": not a count: " + v);
      return static_cast<int64_t>(n);
    };
    if (a == "--model") {
      FATHOM_ASSIGN_OR_RETURN(o.model_dir, value());
    } else if (a == "--moe-model") {
      FATHOM_ASSIGN_OR_RETURN(o.moe_model_dir, value());
    } else if (a == "--layers") {
      FATHOM_ASSIGN_OR_RETURN(o.layers, number());
    } else if (a == "--moe-layers") {
      FATHOM_ASSIGN_OR_RETURN(o.moe_layers, number());
    } else if (a == "--prompt") {
      FATHOM_ASSIGN_OR_RETURN(o.prompt_tokens, number());
    } else if (a == "--gen") {
      FATHOM_ASSIGN_OR_RETURN(o.gen_tokens, number());
    } else if (a == "--reps") {
      FATHOM_ASSIGN_OR_RETURN(int64_t reps, number());
      o.reps = static_cast<int>(std::max<int64_t>(reps, 1));
    } else if (a == "--json") {
      FATHOM_ASSIGN_OR_RETURN(o.json_path, value());
    } else if (a == "--skip-copy") {
      o.skip_copy = true;
    } else if (a == "--skip-decode") {
      o.skip_decode = true;
    } else if (a == "--skip-prefill") {
      o.skip_prefill = true;
    } else if (a == "--skip-moe") {
      o.skip_moe = true;
    } else {
      return InvalidArgument("unknown option " + a + " (see the header of bench/gpu_bench.cpp)");
    }
  }
  return o;
}

void Progress(const std::string& line) { std::fprintf(stderr, "gpu_bench: %s\n", line.c_str()); }

Status Run(const Options& o) {
  Report r;
  cudaDeviceProp prop;
  BENCH_CUDA(cudaGetDeviceProperties(&prop, 0));
  r.device = prop.name;
  ThreadPool pool(0);
  TempDir tmp;

  // The copy bandwidth is every ratio's yardstick but the prefill's.
  if (!o.skip_copy || !o.skip_decode || !o.skip_moe) {
    FATHOM_ASSIGN_OR_RETURN(r.copy_gb_s, CopyBandwidth(int64_t{2} << 30));
    Progress("copy " + std::to_string(r.copy_gb_s) + " GB/s");
  }

  if (!o.skip_decode || !o.skip_prefill) {
    FATHOM_ASSIGN_OR_RETURN(std::string dir,
                            ModelDir(o.model_dir, Architecture::kLlama, "r1-distill-llama-8b", o.layers, tmp));
    FATHOM_ASSIGN_OR_RETURN(ModelConfig config, LoadHfConfig(dir + "/config.json"));
    r.layers = config.num_hidden_layers;
    r.hidden = config.hidden_size;
    if (!o.skip_prefill) {
      FATHOM_ASSIGN_OR_RETURN(r.cublas_tflops, CublasBf16Tflops(o.prompt_tokens, config.hidden_size, config.hidden_size));
      Progress("cuBLAS bf16 GEMM " + std::to_string(r.cublas_tflops) + " TFLOP/s");
    }
    FATHOM_ASSIGN_OR_RETURN(std::unique_ptr<CausalLm> lm, LoadOnGpu(dir, pool));
    r.decode_bytes_per_token = static_cast<double>(lm->decode_bytes_per_token());
    ModelBenchOptions bench;
    bench.num_prompt_tokens = o.skip_prefill ? 0 : o.prompt_tokens;
    bench.num_gen_tokens = o.skip_decode ? 0 : o.gen_tokens;
    bench.num_repetitions = o.reps;
    bench.progress = Progress;
    FATHOM_ASSIGN_OR_RETURN(ModelBenchResult result, RunModelBench(*lm, bench));
    if (!o.skip_decode) r.decode_tok_s = result.gen.median;
    if (!o.skip_prefill && result.prompt.median > 0) {
      r.prefill_s = static_cast<double>(o.prompt_tokens) / result.prompt.median;
      r.prefill_tflops = LlamaPrefillFlops(lm->config(), o.prompt_tokens) / r.prefill_s / 1e12;
    }
  }

  if (!o.skip_moe) {
    FATHOM_ASSIGN_OR_RETURN(std::string dir,
                            ModelDir(o.moe_model_dir, Architecture::kDeepseekV2, "v2-lite", o.moe_layers, tmp));
    FATHOM_ASSIGN_OR_RETURN(std::unique_ptr<CausalLm> lm, LoadOnGpu(dir, pool));
    r.moe_layers = lm->config().num_hidden_layers;
    r.moe_active_bytes = 2.0 * static_cast<double>(DeepseekActiveParams(lm->config()));  // bf16
    ModelBenchOptions bench;
    bench.num_prompt_tokens = 0;
    bench.num_gen_tokens = o.gen_tokens;
    bench.num_repetitions = o.reps;
    bench.progress = Progress;
    FATHOM_ASSIGN_OR_RETURN(ModelBenchResult result, RunModelBench(*lm, bench));
    r.moe_tok_s = result.gen.median;
  }

  PrintTable(o, r);
  if (!o.json_path.empty()) FATHOM_RETURN_IF_ERROR(WriteJson(o.json_path, o, r));
  return Status::Ok();
}

}  // namespace
}  // namespace fathom

int main(int argc, char** argv) {
  fathom::Result<fathom::Options> options = fathom::ParseOptions(argc, argv);
  if (!options.ok()) {
    std::fprintf(stderr, "fathom_gpu_bench: %s\n", options.status().message().c_str());
    return 2;
  }
  const fathom::Status s = fathom::Run(*options);
  if (!s.ok()) {
    std::fprintf(stderr, "fathom_gpu_bench: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}

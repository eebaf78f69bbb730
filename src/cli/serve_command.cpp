// `fathom serve --model M [--host H] [--port P] ...`: loads the model, plans the
// KV cache, starts the engine and serves the OpenAI-compatible API until SIGTERM
// or SIGINT. The non-obvious rule: the signals are blocked in every thread from
// the start and taken by one thread with sigtimedwait, so nothing runs in a signal
// handler. A signal before serving begins (during the model's load) exits 130 at
// once; while serving, that thread drains (/ready 503), lets the engine finish for
// --shutdown-grace seconds (a second signal cuts that short), then stops the
// listener, and the process exits 0.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "backend/backend.h"
#include "chat/chat_template.h"
#include "chat/tool_call_parser.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/eos_tokens.h"
#include "engine/engine.h"
#include "formats/generation_config.h"
#include "model/model_registry.h"
#include "ops/metrics.h"
#include "quant/quant_policy.h"
#include "server/http_server.h"
#include "server/prompt_builder.h"
#include "server/server_metrics.h"
#include "tokenizer/tokenizer.h"

namespace fathom::cli {
namespace {

constexpr const char* kUsage =
    "usage: fathom serve --model M [--host 127.0.0.1] [--port 8000] [--served-model-name NAME] [--threads K] "
    "[--http-threads N] [--max-model-len L] [--kv-cache-mem BYTES] [--kv-cache-fraction F] [--block-size 16] "
    "[--max-num-seqs 64] [--max-batched-tokens 128] [--max-waiting 256] [--no-prefix-caching] [--quant TYPE] "
    "[--reasoning auto|on|off] [--request-timeout S] [--shutdown-grace S] [--device cpu|cuda] "
    "[--gpu-memory-fraction 0.9]\n"
    "  --gpu-memory-fraction with --device cuda: the share of the GPU memory still free once the weights are\n"
    "                        loaded that the KV cache takes (default 0.9; the rest is for activations)\n"
    "  --max-batched-tokens  prompt tokens per engine step (default 128, the best aggregate throughput and\n"
    "                        inter-token p99 on 2 cores); machines with more cores may raise it\n"
    "  --request-timeout     seconds from a request's arrival to its deadline (default 600), streamed or not;\n"
    "                        a stream past it ends with finish_reason \"abort\"\n"
    "  --http-threads        HTTP workers (default 2 * max-num-seqs, at least 64, at most 4096)";

// --http-threads' cap, which its default (twice --max-num-seqs) also keeps.
constexpr int64_t kMaxHttpThreads = 4096;

enum class ReasoningMode { kAuto, kOn, kOff };

struct ServeOptions {
  std::string model;
  std::string served_model_name;
  HttpServerOptions http;
  int num_threads = 0;
  int64_t max_model_len = 0;  // 0: the model's max_position_embeddings
  std::optional<int64_t> kv_cache_bytes;
  double kv_cache_fraction = 0.5;
  int64_t block_size = 16;
  int64_t max_num_seqs = 64;
  int64_t max_batched_tokens = 128;
  int64_t max_waiting = 256;
  bool enable_prefix_caching = true;
  std::optional<DType> quant;
  DeviceKind device = DeviceKind::kCpu;
  double gpu_memory_fraction = 0.9;
  ReasoningMode reasoning = ReasoningMode::kAuto;
  std::chrono::seconds shutdown_grace{30};
};

// "512M", "4G" (binary units), or ParseByteSize's forms ("4GB", "512MiB", "1000").
Result<int64_t> ParseMemSize(const std::string& text) {
  if (!text.empty() && std::isalpha(static_cast<unsigned char>(text.back())) && text.size() >= 2 &&
      std::isdigit(static_cast<unsigned char>(text[text.size() - 2]))) {
    const char unit = static_cast<char>(std::toupper(static_cast<unsigned char>(text.back())));
    const int shift = unit == 'K' ? 10 : unit == 'M' ? 20 : unit == 'G' ? 30 : unit == 'T' ? 40 : -1;
    if (shift > 0) {
      FATHOM_ASSIGN_OR_RETURN(uint64_t n, ParseByteSize(text.substr(0, text.size() - 1)));
      if (n > (static_cast<uint64_t>(INT64_MAX) >> shift)) return InvalidArgument("'" + text + "' is out of range");
      return static_cast<int64_t>(n << shift);
    }
  }
  FATHOM_ASSIGN_OR_RETURN(uint64_t n, ParseByteSize(text));
  if (n > static_cast<uint64_t>(INT64_MAX)) return InvalidArgument("'" + text + "' is out of range");
  return static_cast<int64_t>(n);
}

Result<int64_t> PositiveInt(const ParsedArgs& p, const std::string& name, int64_t fallback, int64_t max = INT32_MAX) {
  FATHOM_ASSIGN_OR_RETURN(std::optional<int64_t> v, p.GetInt(name));
  if (!v) return fallback;
  if (*v < 1 || *v > max) return InvalidArgument("--" + name + " must be in [1, " + std::to_string(max) + "]");
  return *v;
}

Result<ServeOptions> ParseServeOptions(const Args& args) {
  FATHOM_ASSIGN_OR_RETURN(ParsedArgs p, ParsedArgs::Parse(args, {{"model", true, "m"},
                                                                 {"host"},
                                                                 {"port"},
                                                                 {"served-model-name"},
                                                                 {"threads", true, "t"},
                                                                 {"http-threads"},
                                                                 {"max-model-len"},
                                                                 {"kv-cache-mem"},
                                                                 {"kv-cache-fraction"},
                                                                 {"block-size"},
                                                                 {"max-num-seqs"},
                                                                 {"max-batched-tokens"},
                                                                 {"max-waiting"},
                                                                 {"no-prefix-caching", false},
                                                                 {"quant"},
                                                                 {"reasoning"},
                                                                 {"request-timeout"},
                                                                 {"shutdown-grace"},
                                                                 {"device"},
                                                                 {"gpu-memory-fraction"}}));
  ServeOptions o;
  o.model = p.GetOr("model", "");
  if (o.model.empty() || !p.positional().empty()) return InvalidArgument(kUsage);
  o.served_model_name = p.GetOr("served-model-name", o.model);
  o.http.host = p.GetOr("host", "127.0.0.1");
  FATHOM_ASSIGN_OR_RETURN(std::optional<int64_t> port, p.GetInt("port"));
  if (port && (*port < 0 || *port > 65535)) return InvalidArgument("--port must be in [0, 65535]");
  o.http.port = static_cast<int>(port.value_or(8000));
  FATHOM_ASSIGN_OR_RETURN(o.num_threads, p.GetThreads());
  FATHOM_ASSIGN_OR_RETURN(o.max_model_len, PositiveInt(p, "max-model-len", 0, INT64_MAX));
  if (std::optional<std::string> mem = p.Get("kv-cache-mem")) {
    Result<int64_t> bytes = ParseMemSize(*mem);
    if (!bytes.ok()) return InvalidArgument("--kv-cache-mem: " + bytes.status().message());
    o.kv_cache_bytes = *bytes;
  }
  FATHOM_ASSIGN_OR_RETURN(std::optional<double> fraction, p.GetDouble("kv-cache-fraction"));
  if (fraction) {
    if (!(*fraction > 0.0 && *fraction <= 1.0)) return InvalidArgument("--kv-cache-fraction must be in (0, 1]");
    o.kv_cache_fraction = *fraction;
  }
  FATHOM_ASSIGN_OR_RETURN(o.device, p.GetDevice());
  FATHOM_ASSIGN_OR_RETURN(std::optional<double> gpu_fraction, p.GetDouble("gpu-memory-fraction"));
  if (gpu_fraction) {
    if (!(*gpu_fraction > 0.0 && *gpu_fraction <= 1.0)) {
      return InvalidArgument("--gpu-memory-fraction must be in (0, 1]");
    }
    o.gpu_memory_fraction = *gpu_fraction;
  }
  FATHOM_ASSIGN_OR_RETURN(o.block_size, PositiveInt(p, "block-size", 16, 1024));
  FATHOM_ASSIGN_OR_RETURN(o.max_num_seqs, PositiveInt(p, "max-num-seqs", 64, 65536));
  FATHOM_ASSIGN_OR_RETURN(o.max_batched_tokens, PositiveInt(p, "max-batched-tokens", 128, 1 << 24));
  FATHOM_ASSIGN_OR_RETURN(o.max_waiting, PositiveInt(p, "max-waiting", 256, 1 << 24));
  // Every keep-alive connection holds a worker, so by default there are enough
  // for twice the running sequences (clients that wait in the queue included),
  // within the same cap as the flag.
  FATHOM_ASSIGN_OR_RETURN(
      int64_t http_threads,
      PositiveInt(p, "http-threads", std::clamp<int64_t>(2 * o.max_num_seqs, 64, kMaxHttpThreads), kMaxHttpThreads));
  o.http.num_http_threads = static_cast<int>(http_threads);
  o.enable_prefix_caching = !p.Has("no-prefix-caching");
  if (std::optional<std::string> quant = p.Get("quant")) {
    FATHOM_ASSIGN_OR_RETURN(o.quant, ParseQuantTarget(*quant));
  }
  const std::string reasoning = p.GetOr("reasoning", "auto");
  if (reasoning == "auto") {
    o.reasoning = ReasoningMode::kAuto;
  } else if (reasoning == "on") {
    o.reasoning = ReasoningMode::kOn;
  } else if (reasoning == "off") {
    o.reasoning = ReasoningMode::kOff;
  } else {
    return InvalidArgument("--reasoning must be auto, on or off");
  }
  FATHOM_ASSIGN_OR_RETURN(int64_t timeout, PositiveInt(p, "request-timeout", 600, 7 * 24 * 3600));
  o.http.request_timeout = std::chrono::seconds(timeout);
  FATHOM_ASSIGN_OR_RETURN(std::optional<int64_t> grace, p.GetInt("shutdown-grace"));
  if (grace && (*grace < 0 || *grace > 24 * 3600)) return InvalidArgument("--shutdown-grace must be in [0, 86400]");
  o.shutdown_grace = std::chrono::seconds(grace.value_or(30));
  o.http.served_model_name = o.served_model_name;
  o.http.model_path = o.model;
  return o;
}

// MemAvailable from /proc/meminfo in bytes; 0 if it cannot be read.
int64_t MemAvailableBytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  int64_t kib = 0;
  std::string unit;
  while (in >> key >> kib >> unit) {
    if (key == "MemAvailable:") return kib * 1024;
  }
  return 0;
}

double MiB(int64_t bytes) { return static_cast<double>(bytes) / (1 << 20); }

// --kv-cache-mem, or else a fraction of the free memory (host memory, or the
// GPU's with --device cuda), but never more than every running sequence at full
// length needs: a small model on a big machine must not zero gigabytes of cache
// it can never fill.
int64_t KvBudgetBytes(const ServeOptions& o, const KvCacheShape& shape, int64_t max_model_len, const Backend& backend) {
  if (o.kv_cache_bytes) return *o.kv_cache_bytes;
  const double block_bytes = static_cast<double>(KvBlockPool::BytesPerBlock(shape, o.block_size));
  const double blocks_per_seq = static_cast<double>((max_model_len + o.block_size - 1) / o.block_size);
  const double cap = static_cast<double>(o.max_num_seqs) * blocks_per_seq * block_bytes;
  const int64_t device_free = backend.FreeBytes();
  const double budget = device_free >= 0 ? static_cast<double>(device_free) * o.gpu_memory_fraction
                                         : static_cast<double>(MemAvailableBytes()) * o.kv_cache_fraction;
  return static_cast<int64_t>(std::min(budget, cap));
}

// Takes SIGTERM and SIGINT (blocked in every thread) with sigtimedwait from the
// moment they are blocked. Before Serve is handed a server, a signal ends the
// process at once (model loading can take minutes). While serving, the first
// signal drains: /ready turns 503, running requests get `grace` to finish, then
// the engine aborts what is left and the listener stops; a second signal during
// the grace period aborts at once. Thread-safe.
class SignalWatcher {
 public:
  explicit SignalWatcher(const sigset_t& signals) : signals_(signals), thread_([this] { Run(); }) {}
  ~SignalWatcher() {
    is_done_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

  // Serves until a signal as described above. Returns what Serve returned.
  Status Serve(HttpServer& server, Engine& engine, std::chrono::seconds grace) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      server_ = &server;
      engine_ = &engine;
      grace_ = grace;
    }
    const Status served = server.Serve();
    is_served_.store(true);
    thread_.join();  // before the caller destroys the server and the engine it may still touch
    return served;
  }

 private:
  // The next signal, or -1 once `until` passed or the watcher is done.
  int WaitForSignal(std::optional<std::chrono::steady_clock::time_point> until = std::nullopt) {
    const timespec poll = {.tv_sec = 0, .tv_nsec = 100'000'000};
    while (!is_done_.load() && !is_served_.load() && (!until || std::chrono::steady_clock::now() < *until)) {
      if (const int sig = sigtimedwait(&signals_, nullptr, &poll); sig > 0) return sig;
    }
    return -1;
  }

  void Run() {
    const int sig = WaitForSignal();
    if (sig < 0) return;
    HttpServer* server = nullptr;
    Engine* engine = nullptr;
    std::chrono::seconds grace{0};
    {
      std::lock_guard<std::mutex> lock(mu_);
      server = server_;
      engine = engine_;
      grace = grace_;
    }
    if (server == nullptr) {
      std::fprintf(stderr, "fathom: signal %d before serving: exiting\n", sig);
      std::fflush(stderr);
      std::_Exit(128 + SIGINT);
    }
    std::fprintf(stderr, "fathom: signal %d: draining for up to %lld s (again to abort now)\n", sig,
                 static_cast<long long>(grace.count()));
    server->BeginDraining();  // no new completions reach the engine from now on
    engine->BeginShutdown(grace);
    // The engine ends once nothing is left or the grace is over; a second signal shortens it to now.
    while (!engine->is_stopped() && !is_served_.load()) {
      if (const int again = WaitForSignal(std::chrono::steady_clock::now() + std::chrono::milliseconds(100));
          again > 0) {
        std::fprintf(stderr, "fathom: signal %d: aborting now\n", again);
        engine->BeginShutdown(std::chrono::milliseconds(0));
      }
    }
    engine->Shutdown(std::chrono::milliseconds(0));  // joins; what is left got a final kAbort output
    // Let handlers write the final (aborted) outputs the shutdown produced.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    // Repeated: a Stop that lands before the listener runs would be lost.
    while (!is_served_.load()) {
      server->Stop();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  const sigset_t signals_;
  std::mutex mu_;
  HttpServer* server_ = nullptr;        // guarded by mu_: set once serving begins
  Engine* engine_ = nullptr;            // guarded by mu_
  std::chrono::seconds grace_{0};       // guarded by mu_
  std::atomic<bool> is_served_{false};  // Serve returned: stop waiting for a signal
  std::atomic<bool> is_done_{false};    // the watcher is being destroyed
  std::thread thread_;                  // last: starts after the members above exist
};

int Serve(const ServeOptions& o) {
  // Blocked before any thread starts, so every thread inherits the mask and only
  // the watcher takes these signals; it starts at once, so that a signal during
  // the model's load ends the process.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a client that hangs up must not kill the server
  SignalWatcher watcher(signals);

  ThreadPool pool(o.num_threads);
  Result<std::unique_ptr<CausalLm>> lm = LoadCausalLm(o.model, pool, {.quant = o.quant, .pool = nullptr, .device = o.device});
  if (!lm.ok()) return Fail(lm.status().message());
  Result<Tokenizer> tokenizer = Tokenizer::Load(o.model);
  if (!tokenizer.ok()) return Fail(tokenizer.status().message());
  const ModelConfig& config = (*lm)->config();
  std::optional<ChatTemplate> chat_template;
  if (Result<ChatTemplate> t = ChatTemplate::Load(o.model); t.ok()) {
    chat_template = std::move(*t);
  } else {
    std::fprintf(stderr, "fathom: no chat template (%s); /v1/chat/completions will answer 400\n",
                 t.status().message().c_str());
  }
  const std::string template_source = chat_template ? chat_template->source() : "";
  const bool reasoning = o.reasoning == ReasoningMode::kOn ||
                         (o.reasoning == ReasoningMode::kAuto && template_source.find("<think>") != std::string::npos);

  const int64_t max_model_len =
      o.max_model_len > 0 ? std::min(o.max_model_len, config.max_position_embeddings) : config.max_position_embeddings;
  const KvCacheShape shape = (*lm)->cache_shape();
  const int64_t kv_bytes = KvBudgetBytes(o, shape, max_model_len, (*lm)->backend());
  Result<int64_t> num_blocks = PlanKvBlocks(shape, o.block_size, max_model_len, kv_bytes);
  if (!num_blocks.ok()) return Fail(num_blocks.status().message());

  EngineOptions eo;
  eo.block_size = o.block_size;
  eo.num_kv_blocks = *num_blocks;
  eo.max_model_len = max_model_len;
  eo.max_num_batched_tokens = o.max_batched_tokens;
  eo.max_num_seqs = o.max_num_seqs;
  eo.max_waiting_requests = o.max_waiting;
  eo.enable_prefix_caching = o.enable_prefix_caching;
  eo.model_id = o.served_model_name + "@" + o.model;
  GenerationConfig generation;  // only its eos_token_id matters here
  if (std::filesystem::is_directory(o.model)) {
    Result<GenerationConfig> g = LoadGenerationConfig(o.model);
    if (!g.ok()) return Fail(g.status().message());
    generation = std::move(*g);
  }
  eo.eos_token_ids = EosTokenIds(config, *tokenizer, generation);
  Result<std::unique_ptr<Engine>> engine = Engine::Create(lm->get(), &*tokenizer, eo);
  if (!engine.ok()) return Fail(engine.status().message());

  PromptBuilder prompts(&*tokenizer, chat_template, max_model_len);
  ServerMetrics metrics(&MetricsRegistry::Global());
  HttpServerOptions http = o.http;
  http.default_include_reasoning = reasoning;
  http.tool_format = DetectToolCallFormat(template_source);
  HttpServer server(engine->get(), &prompts, &metrics, http);
  if (Status s = server.Bind(); !s.ok()) return Fail(s.message());

  const int64_t block_bytes = KvBlockPool::BytesPerBlock(shape, o.block_size);
  std::fprintf(stderr,
               "fathom: serving %s as '%s' (%s) on %s at http://%s:%d\n"
               "fathom: memory plan: weights %.1f MiB; KV %lld bytes/token, block size %lld, %lld blocks, "
               "%.1f MiB, %lld tokens fit; max_model_len %lld; reasoning %s\n",
               o.model.c_str(), o.served_model_name.c_str(), std::string(ArchitectureName(config.arch)).c_str(),
               (*lm)->backend().description().c_str(), http.host.c_str(), server.port(), MiB((*lm)->weight_bytes()),
               static_cast<long long>(shape.bytes_per_token()), static_cast<long long>(o.block_size),
               static_cast<long long>(*num_blocks), MiB(block_bytes * *num_blocks),
               static_cast<long long>(*num_blocks * o.block_size), static_cast<long long>(max_model_len),
               reasoning ? "on" : "off");
  std::fprintf(stderr, "fathom: ready\n");
  std::fflush(stderr);

  const Status served = watcher.Serve(server, **engine, o.shutdown_grace);
  if (!served.ok()) return Fail(served.message());
  std::fprintf(stderr, "fathom: stopped\n");
  return 0;
}

}  // namespace

int ServeCommand(const Args& args) {
  Result<ServeOptions> options = ParseServeOptions(args);
  if (!options.ok()) return Fail(options.status().message(), 2);
  return Serve(*options);
}

}  // namespace fathom::cli

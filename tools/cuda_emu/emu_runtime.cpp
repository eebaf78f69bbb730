// The host side of the CUDA emulator (tools/cuda_emu): the runtime API of
// include/cuda_runtime_api.h, the cuBLAS subset of include/cublas_v2.h and the
// fiber engine of emu_kernel.h. Single device ("Emulated GPU", sm_90); device
// memory is malloc'd host memory; every stream is synchronous (work runs when
// queued), except that between cudaStreamBeginCapture and cudaStreamEndCapture
// kernel launches, async copies / memsets and cuBLAS calls are recorded and run
// only at cudaGraphLaunch, as on a GPU. What a real capture refuses is refused
// here too (synchronisation, non-relaxed allocation, copies from pageable host
// memory), invalidating the capture.
#include <ucontext.h>
#include <sys/mman.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "cublas_v2.h"
#include "cuda_bf16.h"
#include "cuda_fp16.h"
#include "emu_kernel.h"

namespace emu {

dim3 threadIdx_, blockIdx_, blockDim_, gridDim_;

namespace {

thread_local cudaError_t t_last_error = cudaSuccess;
std::recursive_mutex g_mutex;

// ---- capture
struct Graph {
  std::vector<std::function<void()>> ops;
};
bool g_capturing = false;
bool g_capture_invalid = false;
cudaStreamCaptureMode g_capture_mode = cudaStreamCaptureModeGlobal;
thread_local cudaStreamCaptureMode t_thread_mode = cudaStreamCaptureModeGlobal;
std::unique_ptr<Graph> g_capture;
std::map<uintptr_t, size_t> g_device;      // cudaMalloc blocks: begin -> size
size_t g_device_bytes = 0;
constexpr size_t kTotalMem = size_t(80) << 30;

// Whether a capture allows this "unsafe" call (allocation, sync).
bool UnsafeCallAllowed() {
  if (!g_capturing) return true;
  return t_thread_mode == cudaStreamCaptureModeRelaxed;
}
void InvalidateCapture(const char* why) {
  if (!g_capture_invalid) fprintf(stderr, "[cuda_emu] capture invalidated: %s\n", why);
  g_capture_invalid = true;
}
// Queues op: now, or into the capture.
void Enqueue(std::function<void()> op) {
  if (g_capturing) {
    if (!g_capture_invalid) g_capture->ops.push_back(std::move(op));
    return;
  }
  op();
}

std::map<uintptr_t, size_t> g_pinned_ranges;
bool InRanges(const std::map<uintptr_t, size_t>& r, const void* p, size_t n) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  auto it = r.upper_bound(a);
  if (it == r.begin()) return false;
  --it;
  return a >= it->first && a + n <= it->first + it->second;
}

// ---- fibers
constexpr size_t kStack = 256 * 1024;
constexpr int kMaxThreads = 1024;
struct Fiber {
  ucontext_t ctx;
  bool done;
  bool started;
};
Fiber g_fibers[kMaxThreads];
char* g_stacks = nullptr;
ucontext_t g_sched;
int g_cur = 0, g_nt = 0, g_live = 0;
const std::function<void()>* g_body = nullptr;
struct Barrier {
  int arrived = 0;
  long gen = 0;
};
Barrier g_block_bar;
std::vector<Barrier> g_warp_bar;
std::vector<int> g_warp_live;
std::vector<uint64_t> g_warp_buf;
long g_progress = 0;
alignas(64) char g_smem[1 << 20];
size_t g_smem_size = 0;
const char* g_kernel_name = "";
bool g_divergent_warned = false;

void Yield() { swapcontext(&g_fibers[g_cur].ctx, &g_sched); }

void SetThread(int t) {
  threadIdx_.x = t % blockDim_.x;
  threadIdx_.y = (t / blockDim_.x) % blockDim_.y;
  threadIdx_.z = t / (blockDim_.x * blockDim_.y);
}

void Trampoline() {
  (*g_body)();
  g_fibers[g_cur].done = true;
  // returns to g_sched through uc_link
}

void WaitBarrier(Barrier& b, int expected) {
  const long my_gen = b.gen;
  if (++b.arrived >= expected) {
    b.arrived = 0;
    ++b.gen;
    ++g_progress;
    return;
  }
  ++g_progress;
  while (b.gen == my_gen) Yield();
}

// A fiber finished: barriers waiting only on it release.
void OnExit(int t) {
  --g_live;
  const int w = t / 32;
  --g_warp_live[w];
  if (g_block_bar.arrived > 0 && g_block_bar.arrived >= g_live) {
    if (!g_divergent_warned) {
      fprintf(stderr, "[cuda_emu] %s: __syncthreads released by exiting threads (divergent barrier)\n",
              g_kernel_name);
      g_divergent_warned = true;
    }
    g_block_bar.arrived = 0;
    ++g_block_bar.gen;
  }
  if (g_warp_bar[w].arrived > 0 && g_warp_bar[w].arrived >= g_warp_live[w]) {
    fprintf(stderr, "[cuda_emu] %s: warp shuffle with exited lanes\n", g_kernel_name);
    g_warp_bar[w].arrived = 0;
    ++g_warp_bar[w].gen;
  }
}

void RunBlock(const std::function<void()>& body, int nt) {
  g_body = &body;
  g_nt = nt;
  g_live = nt;
  g_block_bar = Barrier{};
  const int nw = (nt + 31) / 32;
  g_warp_bar.assign(nw, Barrier{});
  g_warp_live.assign(nw, 0);
  for (int t = 0; t < nt; ++t) ++g_warp_live[t / 32];
  g_warp_buf.assign(static_cast<size_t>(nw) * 32, 0);
  for (int t = 0; t < nt; ++t) {
    Fiber& f = g_fibers[t];
    f.done = false;
    f.started = false;
  }
  // Between two barriers the fibers run one after another, in thread order unless
  // CUDA_EMU_ORDER is "reverse" or "random": a kernel whose result changes with
  // the order has a race (a read of another thread's write with no barrier between).
  static const char* order_env = getenv("CUDA_EMU_ORDER");
  static std::vector<int> order;
  static uint64_t rng = 0x9e3779b97f4a7c15ull;
  order.resize(nt);
  for (int t = 0; t < nt; ++t) order[t] = t;
  if (order_env != nullptr && std::strcmp(order_env, "reverse") == 0) {
    std::reverse(order.begin(), order.end());
  } else if (order_env != nullptr && std::strcmp(order_env, "random") == 0) {
    for (int t = nt - 1; t > 0; --t) {
      rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
      std::swap(order[t], order[rng % (t + 1)]);
    }
  }
  int remaining = nt;
  while (remaining > 0) {
    const long before = g_progress;
    for (int t : order) {
      Fiber& f = g_fibers[t];
      if (f.done) continue;
      if (!f.started) {
        getcontext(&f.ctx);
        f.ctx.uc_stack.ss_sp = g_stacks + static_cast<size_t>(t) * kStack;
        f.ctx.uc_stack.ss_size = kStack;
        f.ctx.uc_link = &g_sched;
        makecontext(&f.ctx, Trampoline, 0);
        f.started = true;
      }
      g_cur = t;
      SetThread(t);
      swapcontext(&g_sched, &f.ctx);
      if (f.done) {
        --remaining;
        ++g_progress;
        OnExit(t);
      }
    }
    if (g_progress == before) {
      fprintf(stderr, "[cuda_emu] %s: deadlock (threads wait on a barrier others never reach)\n", g_kernel_name);
      abort();
    }
  }
}

void RunGridNow(const Cfg& c, const std::function<void()>& body, const char* name) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  if (g_stacks == nullptr) {
    g_stacks = static_cast<char*>(mmap(nullptr, kStack * kMaxThreads, PROT_READ | PROT_WRITE,
                                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
  }
  g_kernel_name = name;
  gridDim_ = c.grid;
  blockDim_ = c.block;
  const int nt = static_cast<int>(c.block.x * c.block.y * c.block.z);
  g_smem_size = c.shared;
  for (unsigned bz = 0; bz < c.grid.z; ++bz) {
    for (unsigned by = 0; by < c.grid.y; ++by) {
      for (unsigned bx = 0; bx < c.grid.x; ++bx) {
        blockIdx_ = dim3(bx, by, bz);
        std::memset(g_smem, 0xff, c.shared);  // NaN garbage, as uninitialised shared memory
        RunBlock(body, nt);
      }
    }
  }
}

}  // namespace

void SetLaunchError(cudaError_t err) { t_last_error = err; }
bool Capturing() { return g_capturing; }

void RunGrid(const Cfg& c, std::function<void()> body, const char* name) {
  const uint64_t nt = uint64_t(c.block.x) * c.block.y * c.block.z;
  if (c.grid.x == 0 || c.grid.y == 0 || c.grid.z == 0 || nt == 0 || nt > 1024 || c.block.z > 64 ||
      c.grid.y > 65535 || c.grid.z > 65535 || c.grid.x > 2147483647u) {
    t_last_error = cudaErrorInvalidConfiguration;
    return;
  }
  if (c.shared > 48 * 1024) {  // over the default limit without cudaFuncSetAttribute
    fprintf(stderr, "[cuda_emu] %s: %zu bytes of dynamic shared memory (> 48 KiB default)\n", name, c.shared);
    t_last_error = cudaErrorInvalidValue;
    return;
  }
  if (getenv("CUDA_EMU_TRACE")) {
    fprintf(stderr, "[cuda_emu] launch %s grid (%u,%u,%u) block (%u,%u,%u) smem %zu%s\n", name, c.grid.x, c.grid.y,
            c.grid.z, c.block.x, c.block.y, c.block.z, c.shared, g_capturing ? " (captured)" : "");
  }
  Cfg cfg = c;
  Enqueue([cfg, body = std::move(body), name]() { RunGridNow(cfg, body, name); });
}

void* DynSmem() { return g_smem; }

void SyncThreads() { WaitBarrier(g_block_bar, g_live); }

void WarpExchange(uint64_t mine, int src_lane, uint64_t* out) {
  const int t = g_cur, w = t / 32;
  g_warp_buf[t] = mine;
  WaitBarrier(g_warp_bar[w], g_warp_live[w]);
  const int src = w * 32 + src_lane;
  *out = (src_lane >= 0 && src_lane < 32 && src < g_nt) ? g_warp_buf[src] : mine;
  WaitBarrier(g_warp_bar[w], g_warp_live[w]);
}

int AtomicAddInt(int* p, int v) {
  const int old = *p;
  *p = old + v;
  return old;
}

}  // namespace emu

using namespace emu;

// ---------------------------------------------------------------- runtime

struct CUstream_st { int id; };
struct CUevent_st { int id; };
struct CUgraph_st { emu::Graph g; };
struct CUgraphExec_st { emu::Graph g; };

namespace {
cudaError_t Ret(cudaError_t e) {
  if (e != cudaSuccess) emu::t_last_error = e;
  return e;
}
}  // namespace

cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (device != 0) return Ret(cudaErrorInvalidDevice);
  std::memset(prop, 0, sizeof(*prop));
  std::snprintf(prop->name, sizeof(prop->name), "Emulated GPU");
  prop->totalGlobalMem = emu::kTotalMem;
  prop->sharedMemPerBlock = 48 * 1024;
  prop->sharedMemPerBlockOptin = 227 * 1024;
  prop->warpSize = 32;
  prop->maxThreadsPerBlock = 1024;
  prop->maxThreadsDim[0] = prop->maxThreadsDim[1] = 1024;
  prop->maxThreadsDim[2] = 64;
  prop->maxGridSize[0] = 2147483647;
  prop->maxGridSize[1] = prop->maxGridSize[2] = 65535;
  prop->major = 9;
  prop->minor = 0;
  prop->multiProcessorCount = 132;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : Ret(cudaErrorInvalidDevice); }
cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize() {
  if (!UnsafeCallAllowed() || emu::g_capturing) {
    InvalidateCapture("cudaDeviceSynchronize");
    return Ret(cudaErrorStreamCaptureUnsupported);
  }
  return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  *total_bytes = emu::kTotalMem;
  *free_bytes = emu::kTotalMem - std::min(emu::kTotalMem, emu::g_device_bytes);
  return cudaSuccess;
}
cudaError_t cudaGetLastError() {
  const cudaError_t e = emu::t_last_error;
  emu::t_last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() { return emu::t_last_error; }
const char* cudaGetErrorName(cudaError_t err) {
  switch (err) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotSupported: return "cudaErrorNotSupported";
    case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureInvalidated: return "cudaErrorStreamCaptureInvalidated";
    case cudaErrorStreamCaptureWrongThread: return "cudaErrorStreamCaptureWrongThread";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
  }
  return "cudaErrorUnknown";
}
const char* cudaGetErrorString(cudaError_t err) { return cudaGetErrorName(err); }

cudaError_t cudaMalloc(void** ptr, size_t size) {
  if (!UnsafeCallAllowed()) {
    InvalidateCapture("cudaMalloc in a non-relaxed capture");
    return Ret(cudaErrorStreamCaptureUnsupported);
  }
  if (size > (size_t(1) << 36)) return Ret(cudaErrorMemoryAllocation);
  // Exactly `size` bytes (256-aligned), so an AddressSanitizer build sees a kernel's overrun.
  void* p = nullptr;
  if (posix_memalign(&p, 256, std::max<size_t>(size, 1)) != 0) p = nullptr;
  if (p == nullptr) return Ret(cudaErrorMemoryAllocation);
  std::memset(p, 0xff, size);  // garbage, as fresh device memory: NaN as floats, -1 as ints
  std::lock_guard<std::recursive_mutex> lock(emu::g_mutex);
  emu::g_device[reinterpret_cast<uintptr_t>(p)] = size;
  emu::g_device_bytes += size;
  *ptr = p;
  return cudaSuccess;
}
cudaError_t cudaFree(void* ptr) {
  if (ptr == nullptr) return cudaSuccess;
  if (!UnsafeCallAllowed()) {
    InvalidateCapture("cudaFree in a non-relaxed capture");
    return Ret(cudaErrorStreamCaptureUnsupported);
  }
  std::lock_guard<std::recursive_mutex> lock(emu::g_mutex);
  auto it = emu::g_device.find(reinterpret_cast<uintptr_t>(ptr));
  if (it == emu::g_device.end()) {
    fprintf(stderr, "[cuda_emu] cudaFree of %p: not a device allocation\n", ptr);
    return Ret(cudaErrorInvalidValue);
  }
  emu::g_device_bytes -= it->second;
  emu::g_device.erase(it);
  std::free(ptr);
  return cudaSuccess;
}
cudaError_t cudaMallocHost(void** ptr, size_t size) {
  void* p = std::malloc(std::max<size_t>(size, 1));
  if (p == nullptr) return Ret(cudaErrorMemoryAllocation);
  std::lock_guard<std::recursive_mutex> lock(emu::g_mutex);
  emu::g_pinned_ranges[reinterpret_cast<uintptr_t>(p)] = size;
  *ptr = p;
  return cudaSuccess;
}
cudaError_t cudaHostAlloc(void** ptr, size_t size, unsigned) { return cudaMallocHost(ptr, size); }
cudaError_t cudaFreeHost(void* ptr) {
  if (ptr == nullptr) return cudaSuccess;
  std::lock_guard<std::recursive_mutex> lock(emu::g_mutex);
  if (emu::g_pinned_ranges.erase(reinterpret_cast<uintptr_t>(ptr)) == 0) return Ret(cudaErrorInvalidValue);
  std::free(ptr);
  return cudaSuccess;
}

namespace {
// Checks a copy's device side(s) lie inside one cudaMalloc block.
cudaError_t CheckCopy(void* dst, const void* src, size_t n, cudaMemcpyKind kind, const char* what) {
  std::lock_guard<std::recursive_mutex> lock(emu::g_mutex);
  const bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if (dst_dev && !InRanges(emu::g_device, dst, n)) {
    fprintf(stderr, "[cuda_emu] %s: destination %p + %zu is not inside a device allocation\n", what, dst, n);
    return cudaErrorInvalidValue;
  }
  if (src_dev && !InRanges(emu::g_device, src, n)) {
    fprintf(stderr, "[cuda_emu] %s: source %p + %zu is not inside a device allocation\n", what, src, n);
    return cudaErrorInvalidValue;
  }
  if (emu::g_capturing && kind != cudaMemcpyDeviceToDevice) {
    const void* host = kind == cudaMemcpyHostToDevice ? src : dst;
    if (!InRanges(emu::g_pinned_ranges, host, n)) {
      InvalidateCapture("a captured copy with pageable host memory");
      return cudaErrorStreamCaptureUnsupported;
    }
  }
  return cudaSuccess;
}
}  // namespace

cudaError_t cudaMemcpy(void* dst, const void* src, size_t n, cudaMemcpyKind kind) {
  if (emu::g_capturing) {
    InvalidateCapture("cudaMemcpy (synchronous) during a capture");
    return Ret(cudaErrorStreamCaptureUnsupported);
  }
  if (n == 0) return cudaSuccess;
  if (cudaError_t e = CheckCopy(dst, src, n, kind, "cudaMemcpy"); e != cudaSuccess) return Ret(e);
  std::memcpy(dst, src, n);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t n, cudaMemcpyKind kind, cudaStream_t) {
  if (n == 0) return cudaSuccess;
  if (cudaError_t e = CheckCopy(dst, src, n, kind, "cudaMemcpyAsync"); e != cudaSuccess) return Ret(e);
  emu::Enqueue([=]() { std::memmove(dst, src, n); });
  return cudaSuccess;
}
cudaError_t cudaMemset(void* dst, int value, size_t n) {
  if (emu::g_capturing) {
    InvalidateCapture("cudaMemset (synchronous) during a capture");
    return Ret(cudaErrorStreamCaptureUnsupported);
  }
  if (n == 0) return cudaSuccess;
  if (!emu::InRanges(emu::g_device, dst, n)) return Ret(cudaErrorInvalidValue);
  std::memset(dst, value, n);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* dst, int value, size_t n, cudaStream_t) {
  if (n == 0) return cudaSuccess;
  if (!emu::InRanges(emu::g_device, dst, n)) return Ret(cudaErrorInvalidValue);
  emu::Enqueue([=]() { std::memset(dst, value, n); });
  return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) {
  *stream = new CUstream_st{1};
  return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned) { return cudaStreamCreate(stream); }
cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  delete stream;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) {
  if (emu::g_capturing) {
    InvalidateCapture("cudaStreamSynchronize during a capture");
    return Ret(cudaErrorStreamCaptureUnsupported);
  }
  return cudaSuccess;
}
cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t, unsigned) { return cudaSuccess; }
cudaError_t cudaStreamQuery(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaEventCreate(cudaEvent_t* event) {
  *event = new CUevent_st{1};
  return cudaSuccess;
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned) { return cudaEventCreate(event); }
cudaError_t cudaEventDestroy(cudaEvent_t event) {
  delete event;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t, cudaStream_t) { return cudaSuccess; }
cudaError_t cudaEventSynchronize(cudaEvent_t) {
  if (emu::g_capturing) {
    InvalidateCapture("cudaEventSynchronize during a capture");
    return Ret(cudaErrorStreamCaptureUnsupported);
  }
  return cudaSuccess;
}
cudaError_t cudaEventQuery(cudaEvent_t) { return cudaSuccess; }
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t, cudaEvent_t) {
  *ms = 0.0f;
  return cudaSuccess;
}

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode) {
  if (getenv("CUDA_EMU_NO_GRAPHS")) return Ret(cudaErrorNotSupported);
  if (stream == nullptr) return Ret(cudaErrorStreamCaptureUnsupported);  // the legacy stream cannot be captured
  if (emu::g_capturing) return Ret(cudaErrorIllegalAddress);
  emu::g_capturing = true;
  emu::g_capture_invalid = false;
  emu::g_capture_mode = mode;
  emu::t_thread_mode = mode == cudaStreamCaptureModeRelaxed ? cudaStreamCaptureModeRelaxed : mode;
  emu::g_capture = std::make_unique<emu::Graph>();
  return cudaSuccess;
}
cudaError_t cudaStreamEndCapture(cudaStream_t, cudaGraph_t* graph) {
  if (!emu::g_capturing) return Ret(cudaErrorIllegalAddress);
  emu::g_capturing = false;
  emu::t_thread_mode = cudaStreamCaptureModeGlobal;
  if (emu::g_capture_invalid) {
    *graph = nullptr;
    emu::g_capture.reset();
    return Ret(cudaErrorStreamCaptureInvalidated);
  }
  *graph = new CUgraph_st{std::move(*emu::g_capture)};
  emu::g_capture.reset();
  return cudaSuccess;
}
cudaError_t cudaStreamIsCapturing(cudaStream_t, cudaStreamCaptureStatus* status) {
  *status = emu::g_capturing ? (emu::g_capture_invalid ? cudaStreamCaptureStatusInvalidated
                                                       : cudaStreamCaptureStatusActive)
                             : cudaStreamCaptureStatusNone;
  return cudaSuccess;
}
cudaError_t cudaThreadExchangeStreamCaptureMode(cudaStreamCaptureMode* mode) {
  const cudaStreamCaptureMode old = emu::t_thread_mode;
  emu::t_thread_mode = *mode;
  *mode = old;
  return cudaSuccess;
}
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long) {
  if (graph == nullptr) return Ret(cudaErrorInvalidValue);
  *exec = new CUgraphExec_st{graph->g};
  return cudaSuccess;
}
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t) {
  if (exec == nullptr) return Ret(cudaErrorInvalidValue);
  if (emu::g_capturing) return Ret(cudaErrorStreamCaptureUnsupported);
  if (getenv("CUDA_EMU_TRACE")) fprintf(stderr, "[cuda_emu] graph launch: %zu ops\n", exec->g.ops.size());
  for (auto& op : exec->g.ops) op();
  return cudaSuccess;
}
cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  delete graph;
  return cudaSuccess;
}
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  delete exec;
  return cudaSuccess;
}

// ---------------------------------------------------------------- cuBLAS

struct cublasContext {
  cudaStream_t stream = nullptr;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
};

cublasStatus_t cublasCreate(cublasHandle_t* handle) {
  *handle = new cublasContext;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy(cublasHandle_t handle) {
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
  handle->stream = stream;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetMathMode(cublasHandle_t, cublasMath_t) { return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasSetWorkspace(cublasHandle_t handle, void* workspace, size_t bytes) {
  if (bytes > 0 && !emu::InRanges(emu::g_device, workspace, bytes)) return CUBLAS_STATUS_INVALID_VALUE;
  handle->workspace = workspace;
  handle->workspace_bytes = bytes;
  return CUBLAS_STATUS_SUCCESS;
}
const char* cublasGetStatusName(cublasStatus_t st) {
  switch (st) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
  }
  return "CUBLAS_STATUS_UNKNOWN";
}
const char* cublasGetStatusString(cublasStatus_t st) { return cublasGetStatusName(st); }

namespace {
float LoadAs(const void* p, cudaDataType t, int64_t i) {
  switch (t) {
    case CUDA_R_32F: return static_cast<const float*>(p)[i];
    case CUDA_R_16F: return __half2float(__ushort_as_half(static_cast<const unsigned short*>(p)[i]));
    case CUDA_R_16BF: return __bfloat162float(__ushort_as_bfloat16(static_cast<const unsigned short*>(p)[i]));
    default: abort();
  }
}
size_t TypeBytes(cudaDataType t) { return t == CUDA_R_32F ? 4 : 2; }

// Checks that every element a column-major (rows, cols, ld) operand touches is
// inside one device allocation.
bool OperandInDevice(const void* p, int64_t rows, int64_t cols, int64_t ld, size_t elem, const char* what) {
  if (rows == 0 || cols == 0) return true;
  const size_t bytes = static_cast<size_t>((cols - 1) * ld + rows) * elem;
  if (!emu::InRanges(emu::g_device, p, bytes)) {
    fprintf(stderr, "[cuda_emu] cuBLAS operand %s (%p, %lld x %lld, ld %lld) is not inside one device allocation\n",
            what, p, (long long)rows, (long long)cols, (long long)ld);
    return false;
  }
  return true;
}

cublasStatus_t Gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, float alpha, const void* A,
                    cudaDataType at, int lda, const void* B, cudaDataType bt, int ldb, float beta, void* C,
                    cudaDataType ct, int ldc, const char* name) {
  if ((ta != CUBLAS_OP_N && ta != CUBLAS_OP_T) || (tb != CUBLAS_OP_N && tb != CUBLAS_OP_T)) {
    return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  if (m < 0 || n < 0 || k < 0) return CUBLAS_STATUS_INVALID_VALUE;
  const int a_rows = ta == CUBLAS_OP_N ? m : k, a_cols = ta == CUBLAS_OP_N ? k : m;
  const int b_rows = tb == CUBLAS_OP_N ? k : n, b_cols = tb == CUBLAS_OP_N ? n : k;
  if (lda < std::max(1, a_rows) || ldb < std::max(1, b_rows) || ldc < std::max(1, m)) {
    fprintf(stderr, "[cuda_emu] %s: bad leading dimension (m %d n %d k %d lda %d ldb %d ldc %d)\n", name, m, n, k, lda,
            ldb, ldc);
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
  if (!OperandInDevice(A, a_rows, a_cols, lda, TypeBytes(at), "A") ||
      !OperandInDevice(B, b_rows, b_cols, ldb, TypeBytes(bt), "B") ||
      !OperandInDevice(C, m, n, ldc, TypeBytes(ct), "C")) {
    return CUBLAS_STATUS_INVALID_VALUE;  // a GPU would fault; make it loud
  }
  emu::Enqueue([=]() {
    for (int j = 0; j < n; ++j) {
      for (int i = 0; i < m; ++i) {
        double acc = 0.0;
        for (int l = 0; l < k; ++l) {
          const int64_t ai = ta == CUBLAS_OP_N ? i + int64_t(l) * lda : l + int64_t(i) * lda;
          const int64_t bi = tb == CUBLAS_OP_N ? l + int64_t(j) * ldb : j + int64_t(l) * ldb;
          acc += double(LoadAs(A, at, ai)) * double(LoadAs(B, bt, bi));
        }
        const int64_t ci = i + int64_t(j) * ldc;
        double c = alpha * acc;
        if (beta != 0.0f) c += double(beta) * LoadAs(C, ct, ci);
        if (ct == CUDA_R_32F) {
          static_cast<float*>(C)[ci] = static_cast<float>(c);
        } else if (ct == CUDA_R_16F) {
          static_cast<unsigned short*>(C)[ci] = __half_as_ushort(__float2half_rn(static_cast<float>(c)));
        } else {
          static_cast<unsigned short*>(C)[ci] = __bfloat16_as_ushort(__float2bfloat16_rn(static_cast<float>(c)));
        }
      }
    }
  });
  return CUBLAS_STATUS_SUCCESS;
}
bool Supported(cudaDataType t) { return t == CUDA_R_32F || t == CUDA_R_16F || t == CUDA_R_16BF; }
}  // namespace

cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                           int k, const float* alpha, const float* A, int lda, const float* B, int ldb,
                           const float* beta, float* C, int ldc) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  return Gemm(transa, transb, m, n, k, *alpha, A, CUDA_R_32F, lda, B, CUDA_R_32F, ldb, *beta, C, CUDA_R_32F, ldc,
              "cublasSgemm");
}

cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                            int k, const void* alpha, const void* A, cudaDataType Atype, int lda, const void* B,
                            cudaDataType Btype, int ldb, const void* beta, void* C, cudaDataType Ctype, int ldc,
                            cublasComputeType_t computeType, cublasGemmAlgo_t) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!Supported(Atype) || !Supported(Btype) || !Supported(Ctype)) return CUBLAS_STATUS_NOT_SUPPORTED;
  // cuBLAS supports 16-bit A/B only as a matching pair.
  if (Atype != Btype) return CUBLAS_STATUS_NOT_SUPPORTED;
  if (computeType != CUBLAS_COMPUTE_32F && computeType != CUBLAS_COMPUTE_32F_PEDANTIC &&
      computeType != CUBLAS_COMPUTE_32F_FAST_TF32 && computeType != CUBLAS_COMPUTE_32F_FAST_16BF) {
    return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  return Gemm(transa, transb, m, n, k, *static_cast<const float*>(alpha), A, Atype, lda, B, Btype, ldb,
              *static_cast<const float*>(beta), C, Ctype, ldc, "cublasGemmEx");
}

// Kernel side of the CUDA emulator (tools/cuda_emu): a converted .cu (conv.py)
// includes this first. Every CUDA thread of a block runs as a fiber (ucontext)
// on the calling OS thread; __syncthreads and the warp shuffles are barriers
// over the block's / warp's live fibers. Blocks run one after another, so
// __shared__ variables become function statics. A launch during a stream
// capture is recorded (arguments by value) and run at cudaGraphLaunch.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>

#include "cuda_runtime.h"

namespace emu {
extern dim3 threadIdx_, blockIdx_, blockDim_, gridDim_;
struct Cfg {
  dim3 grid, block;
  size_t shared;
  Cfg(dim3 g, dim3 b, size_t s = 0, cudaStream_t = nullptr) : grid(g), block(b), shared(s) {}
};
// Runs body for every thread of every block of cfg (or records it while capturing).
void RunGrid(const Cfg& cfg, std::function<void()> body, const char* name);
void* DynSmem();
void SyncThreads();
void WarpExchange(uint64_t mine, int src_lane, uint64_t* out);  // out = src_lane's value (own value if none)
int AtomicAddInt(int* p, int v);

template <typename K>
struct Launcher {
  K kernel;
  Cfg cfg;
  const char* name;
  template <typename... A>
  void operator()(A... args) {
    K k = kernel;
    RunGrid(cfg, [=]() { k(args...); }, name);
  }
};
template <typename K>
Launcher<K> MakeLauncher(K k, Cfg c, const char* name) { return Launcher<K>{k, c, name}; }
}  // namespace emu

#define threadIdx emu::threadIdx_
#define blockIdx emu::blockIdx_
#define blockDim emu::blockDim_
#define gridDim emu::gridDim_
inline void __syncthreads() { emu::SyncThreads(); }
template <typename T>
inline T EmuShfl(T v, int src_lane) {
  static_assert(sizeof(T) <= 8, "shuffle of a wide type");
  uint64_t bits = 0, out = 0;
  std::memcpy(&bits, &v, sizeof(T));
  emu::WarpExchange(bits, src_lane, &out);
  T r;
  std::memcpy(&r, &out, sizeof(T));
  return r;
}
template <typename T>
inline T __shfl_xor_sync(unsigned, T v, int off, int width = 32) {
  const int lane = static_cast<int>(threadIdx.x % 32);
  return EmuShfl(v, lane ^ off);
}
template <typename T>
inline T __shfl_down_sync(unsigned, T v, unsigned off, int width = 32) {
  const int lane = static_cast<int>(threadIdx.x % 32);
  const int src = lane + static_cast<int>(off);
  return EmuShfl(v, src < width ? src : lane);
}
inline int atomicAdd(int* p, int v) { return emu::AtomicAddInt(p, v); }
using std::max;
using std::min;

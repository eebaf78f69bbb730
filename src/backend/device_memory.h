// Memory a backend computes on: host memory for the CPU, device memory for a
// GPU. The KV-cache pool, the activation workspace and uploaded weights all come
// from one of these, so the model code never asks where its buffers live.
//
// Non-obvious rule: a DeviceBuffer's pointer is only dereferenced by the backend
// that allocated it (a CUDA pointer is not host memory); everything else passes
// it through. Host allocations are zero-filled; device ones are not.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"

namespace fathom {

enum class DeviceKind : uint8_t { kCpu, kCuda };

// "cpu" or "cuda".
const char* DeviceKindName(DeviceKind kind);
// Parses "cpu" / "cuda"; InvalidArgument names the accepted values.
Result<DeviceKind> ParseDeviceKind(const std::string& name);

// One allocation; frees itself. Not copyable.
class DeviceBuffer {
 public:
  virtual ~DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* data() const { return data_; }
  int64_t num_bytes() const { return num_bytes_; }
  template <typename T>
  T* as() const { return static_cast<T*>(data_); }

 protected:
  DeviceBuffer(void* data, int64_t num_bytes) : data_(data), num_bytes_(num_bytes) {}

 private:
  void* data_;
  int64_t num_bytes_;
};

// Thread-safe for allocation; the copies are ordered with the backend's own work
// (a CUDA backend runs them on its stream and waits where it says so).
class DeviceMemory {
 public:
  virtual ~DeviceMemory() = default;

  virtual DeviceKind kind() const = 0;
  // num_bytes of memory, aligned to at least 64 bytes. ResourceExhausted names
  // the size when the device has no room; InvalidArgument for a negative size.
  virtual Result<std::unique_ptr<DeviceBuffer>> Allocate(int64_t num_bytes) = 0;
  // Copies within this memory (dst and src both from Allocate).
  virtual void CopyWithin(void* dst, const void* src, int64_t num_bytes) = 0;
  // Host memory to this memory and back; both wait until the bytes arrived.
  virtual void CopyFromHost(void* dst, const void* host_src, int64_t num_bytes) = 0;
  virtual void CopyToHost(void* host_dst, const void* src, int64_t num_bytes) = 0;
  // Bytes this memory can still give, or -1 when unknown (host memory: the OS
  // decides).
  virtual int64_t FreeBytes() const { return -1; }
};

// The process's host memory (64-byte aligned, zero-filled), for caches and
// buffers of the CPU path. Never destroyed.
DeviceMemory& HostMemory();

}  // namespace fathom

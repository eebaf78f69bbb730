#include "backend/device_memory.h"

#include <cstdlib>
#include <cstring>

namespace fathom {
namespace {

class HostBuffer final : public DeviceBuffer {
 public:
  HostBuffer(void* data, int64_t num_bytes) : DeviceBuffer(data, num_bytes) {}
  ~HostBuffer() override { std::free(data()); }
};

class HostMemoryImpl final : public DeviceMemory {
 public:
  DeviceKind kind() const override { return DeviceKind::kCpu; }

  Result<std::unique_ptr<DeviceBuffer>> Allocate(int64_t num_bytes) override {
    if (num_bytes < 0) return InvalidArgument("cannot allocate " + std::to_string(num_bytes) + " bytes");
    // 64-byte aligned for AVX-512 rows; zeroed as the std::vector it replaced was.
    const size_t n = static_cast<size_t>(num_bytes == 0 ? 64 : (num_bytes + 63) / 64 * 64);
    void* p = std::aligned_alloc(64, n);
    if (p == nullptr) {
      return ResourceExhausted("cannot allocate " + std::to_string(num_bytes >> 20) + " MiB of host memory");
    }
    std::memset(p, 0, n);
    return std::unique_ptr<DeviceBuffer>(new HostBuffer(p, num_bytes));
  }
  void CopyWithin(void* dst, const void* src, int64_t num_bytes) override { std::memmove(dst, src, num_bytes); }
  void CopyFromHost(void* dst, const void* src, int64_t num_bytes) override { std::memmove(dst, src, num_bytes); }
  void CopyToHost(void* dst, const void* src, int64_t num_bytes) override { std::memmove(dst, src, num_bytes); }
};

}  // namespace

const char* DeviceKindName(DeviceKind kind) { return kind == DeviceKind::kCuda ? "cuda" : "cpu"; }

Result<DeviceKind> ParseDeviceKind(const std::string& name) {
  if (name == "cpu") return DeviceKind::kCpu;
  if (name == "cuda") return DeviceKind::kCuda;
  return InvalidArgument("unknown device '" + name + "'; expected cpu or cuda");
}

DeviceMemory& HostMemory() {
  static HostMemoryImpl* memory = new HostMemoryImpl();  // never destroyed: pools may outlive statics
  return *memory;
}

}  // namespace fathom

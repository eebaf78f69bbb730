#include "backend/backend.h"

#include "backend/cpu_backend.h"
#include "backend/cuda_backend.h"

namespace fathom {

Result<std::unique_ptr<Backend>> CreateBackend(DeviceKind kind, ThreadPool& pool) {
  if (kind == DeviceKind::kCpu) return CreateCpuBackend(pool);
  return CreateCudaBackend(0);  // a build without CUDA says so and how to get it
}

}  // namespace fathom

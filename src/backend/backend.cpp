#include "backend/backend.h"

#include "backend/cpu_backend.h"
#ifdef FATHOM_HAS_CUDA
#include "backend/cuda_backend.h"
#endif

namespace fathom {

Result<std::unique_ptr<Backend>> CreateBackend(DeviceKind kind, ThreadPool& pool) {
  if (kind == DeviceKind::kCpu) return CreateCpuBackend(pool);
#ifdef FATHOM_HAS_CUDA
  return CreateCudaBackend(0);
#else
  return Unsupported("this fathom was built without CUDA; build it with the cuda preset (scripts/build.sh cuda) "
                     "to use --device cuda");
#endif
}

}  // namespace fathom

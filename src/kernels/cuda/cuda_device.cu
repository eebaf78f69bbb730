#include "kernels/cuda/cuda_device.h"

#include <cuda_runtime.h>

namespace fathom::cuda {
namespace {

Status CudaStatus(cudaError_t err, const char* call) {
  if (err == cudaSuccess) return Status::Ok();
  return Internal(std::string(call) + ": " + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")");
}

}  // namespace

Result<std::vector<DeviceInfo>> ListDevices() {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err == cudaErrorNoDevice || err == cudaErrorInsufficientDriver) return std::vector<DeviceInfo>();
  FATHOM_RETURN_IF_ERROR(CudaStatus(err, "cudaGetDeviceCount"));
  std::vector<DeviceInfo> devices;
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    FATHOM_RETURN_IF_ERROR(CudaStatus(cudaGetDeviceProperties(&prop, i), "cudaGetDeviceProperties"));
    FATHOM_RETURN_IF_ERROR(CudaStatus(cudaSetDevice(i), "cudaSetDevice"));
    size_t free_bytes = 0, total_bytes = 0;
    FATHOM_RETURN_IF_ERROR(CudaStatus(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo"));
    devices.push_back({i, prop.name, prop.major, prop.minor, static_cast<int64_t>(total_bytes),
                       static_cast<int64_t>(free_bytes), prop.multiProcessorCount});
  }
  return devices;
}

}  // namespace fathom::cuda

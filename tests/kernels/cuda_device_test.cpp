#include <gtest/gtest.h>

#ifdef FATHOM_HAS_CUDA
#include "kernels/cuda/cuda_device.h"

namespace fathom {
namespace {

// Without a GPU the list is empty; with one, every device reports real numbers.
TEST(CudaDeviceTest, ListsDevicesOrNone) {
  Result<std::vector<cuda::DeviceInfo>> devices = cuda::ListDevices();
  ASSERT_TRUE(devices.ok()) << devices.status().ToString();
  for (const cuda::DeviceInfo& d : *devices) {
    EXPECT_FALSE(d.name.empty());
    EXPECT_GE(d.compute_capability_major, 7);
    EXPECT_GT(d.total_memory_bytes, 0);
    EXPECT_LE(d.free_memory_bytes, d.total_memory_bytes);
  }
}

}  // namespace
}  // namespace fathom
#endif

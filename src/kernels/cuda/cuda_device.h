// The NVIDIA GPUs this process can use, for `--device cuda` and the GPU memory
// budget. Compiled only with -DFATHOM_CUDA=ON; every CUDA call's error becomes a
// Status naming the call.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace fathom::cuda {

struct DeviceInfo {
  int index = 0;
  std::string name;
  int compute_capability_major = 0;
  int compute_capability_minor = 0;
  int64_t total_memory_bytes = 0;
  int64_t free_memory_bytes = 0;
  int num_multiprocessors = 0;
};

// Every visible device; an empty list (not an error) when the driver sees none.
Result<std::vector<DeviceInfo>> ListDevices();

}  // namespace fathom::cuda

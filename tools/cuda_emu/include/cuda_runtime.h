#pragma once
#include "cuda_runtime_api.h"
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline

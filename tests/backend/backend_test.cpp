// The backend interface's CPU side: host memory, device names, the workspace's
// growth rule, pools and caches allocated from a backend, and what --device cuda
// says in a build without CUDA. The ops themselves are checked through the models
// (tests/model: transformers parity, bit-identical paged caches) and, on a GPU,
// against this backend by tests/cuda.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu_backend.h"
#include "model/kv_cache.h"
#include "model/workspace.h"

namespace fathom {
namespace {

TEST(DeviceMemoryTest, ParsesDeviceNames) {
  EXPECT_EQ(*ParseDeviceKind("cpu"), DeviceKind::kCpu);
  EXPECT_EQ(*ParseDeviceKind("cuda"), DeviceKind::kCuda);
  Result<DeviceKind> bad = ParseDeviceKind("tpu");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("cpu or cuda"), std::string::npos);
  EXPECT_STREQ(DeviceKindName(DeviceKind::kCuda), "cuda");
}

TEST(DeviceMemoryTest, HostAllocationsAreZeroedAlignedAndCopy) {
  DeviceMemory& host = HostMemory();
  Result<std::unique_ptr<DeviceBuffer>> buf = host.Allocate(1000);
  ASSERT_TRUE(buf.ok());
  EXPECT_EQ((*buf)->num_bytes(), 1000);
  EXPECT_EQ(reinterpret_cast<uintptr_t>((*buf)->data()) % 64, 0u);
  const uint8_t* bytes = (*buf)->as<uint8_t>();
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(bytes[i], 0) << i;
  const std::vector<float> src = {1.5f, -2.0f, 3.25f};
  host.CopyFromHost((*buf)->data(), src.data(), 12);
  host.CopyWithin((*buf)->as<float>() + 3, (*buf)->data(), 12);
  std::vector<float> back(6);
  host.CopyToHost(back.data(), (*buf)->data(), 24);
  EXPECT_EQ(back, (std::vector<float>{1.5f, -2.0f, 3.25f, 1.5f, -2.0f, 3.25f}));
  EXPECT_FALSE(host.Allocate(-1).ok());
  EXPECT_EQ(host.FreeBytes(), -1);
}

TEST(WorkspaceTest, GrowsOnlyPastTheLargestRequestAndCountsMoves) {
  Workspace ws(HostMemory());
  float* a = ws.Floats(Workspace::Buf::kHidden, 100);
  const uint64_t g = ws.generation();
  EXPECT_EQ(ws.Floats(Workspace::Buf::kHidden, 50), a);
  EXPECT_EQ(ws.Floats(Workspace::Buf::kHidden, 100), a);
  EXPECT_EQ(ws.generation(), g);
  ws.Floats(Workspace::Buf::kHidden, 101);
  EXPECT_GT(ws.generation(), g);
  EXPECT_GE(ws.num_bytes(), 101 * 4);
  int32_t* ids = ws.Ints(Workspace::IntBuf::kRouteIds, 7);
  ids[6] = 42;  // writable, and a name of its own
  EXPECT_NE(static_cast<void*>(ids), static_cast<void*>(ws.Floats(Workspace::Buf::kHidden, 1)));
}

TEST(CpuBackendTest, DescribesItselfAndAllocatesCachesInHostMemory) {
  ThreadPool pool(2);
  Result<std::unique_ptr<Backend>> backend = CreateBackend(DeviceKind::kCpu, pool);
  ASSERT_TRUE(backend.ok());
  EXPECT_EQ((*backend)->kind(), DeviceKind::kCpu);
  EXPECT_NE((*backend)->description().find("2 threads"), std::string::npos);
  const KvCacheShape shape = {.num_layers = 2, .first_width = 3, .second_width = 5};
  Result<std::unique_ptr<KvBlockPool>> kv = KvBlockPool::Create(shape, 4, 3, **backend);
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ((*kv)->num_bytes(), 2 * 3 * 4 * (3 + 5) * 4);
  EXPECT_EQ(&(*kv)->memory(), backend->get());
  // CopyBlock goes through the pool's memory.
  (*kv)->first(1)[0] = 7.0f;                  // layer 1, block 0, row 0
  (*kv)->second(1)[4 * 5 - 1] = 9.0f;         // layer 1, block 0, last value
  (*kv)->CopyBlock(0, 2);
  EXPECT_EQ((*kv)->first(1)[2 * 4 * 3], 7.0f);
  EXPECT_EQ((*kv)->second(1)[2 * 4 * 5 + 4 * 5 - 1], 9.0f);
}

TEST(CpuBackendTest, UploadsVectorsAndRefusesMatricesItCannotMultiply) {
  ThreadPool pool(1);
  std::unique_ptr<Backend> backend = CreateCpuBackend(pool);
  const std::vector<float> values = {1.0f, 2.0f, 3.0f};
  Result<DeviceVector> v = backend->UploadVector(values);
  ASSERT_TRUE(v.ok());
  ASSERT_EQ(v->size, 3);
  EXPECT_EQ(v->data[2], 3.0f);
  EXPECT_NE(v->data, values.data());  // a copy: the caller's vector may go away
  Result<Tensor> f8 = Tensor::Zeros(DType::kF8E4M3, {4, 4});
  ASSERT_TRUE(f8.ok());
  Result<std::unique_ptr<BackendMatrix>> m = backend->UploadMatrix(*f8, nullptr);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kUnsupported);
  Result<Tensor> f32 = Tensor::Zeros(DType::kF32, {4, 6});
  Result<std::unique_ptr<BackendMatrix>> ok = backend->UploadMatrix(*f32, nullptr);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ((*ok)->rows(), 4);
  EXPECT_EQ((*ok)->cols(), 6);
  EXPECT_EQ((*ok)->num_bytes(), 4 * 6 * 4);
}

#ifndef FATHOM_HAS_CUDA
TEST(CpuBackendTest, CudaWithoutACudaBuildIsUnsupportedAndSaysHowToBuild) {
  ThreadPool pool(1);
  Result<std::unique_ptr<Backend>> backend = CreateBackend(DeviceKind::kCuda, pool);
  ASSERT_FALSE(backend.ok());
  EXPECT_EQ(backend.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(backend.status().message().find("cuda preset"), std::string::npos);
}
#endif

}  // namespace
}  // namespace fathom

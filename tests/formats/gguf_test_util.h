// Helpers shared by the GGUF tests: temporary paths, whole-file reads, and the
// "sample" file that exercises every metadata type and several tensor types. The
// sample is mirrored exactly by tests/python/test_gguf_interop.py, which reads it with
// the reference gguf Python package; change both together.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "formats/gguf_writer.h"

namespace fathom::gguf_test {

// A fresh path under the test temp dir, unique per process and call.
inline std::string TempPath(const std::string& name) {
  static int counter = 0;
  return ::testing::TempDir() + "fathom_gguf_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" +
         name;
}

inline std::vector<uint8_t> ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Byte i of sample tensor number k.
inline uint8_t PatternByte(size_t k, size_t i) { return static_cast<uint8_t>((i * 7 + k * 13 + 1) % 256); }

struct SampleTensor {
  const char* name;
  DType dtype;
  std::vector<int64_t> ne;
};

inline const std::vector<SampleTensor>& SampleTensors() {
  static const std::vector<SampleTensor> kTensors = {
      {"t.f32", DType::kF32, {4, 3}},   {"t.f16", DType::kF16, {8, 2}},  {"t.bf16", DType::kBF16, {4, 2}},
      {"t.q8_0", DType::kQ8_0, {64, 2}}, {"t.q4_k", DType::kQ4_K, {256, 1}}, {"t.i32", DType::kI32, {5}},
      {"t.i8_3d", DType::kI8, {3, 2, 2}},
  };
  return kTensors;
}

// The metadata of the sample, in write order.
inline std::vector<std::pair<std::string, GgufValue>> SampleMetadata() {
  using V = GgufValue;
  return {
      {"general.architecture", V::String("llama")},
      {"general.alignment", V::U32(64)},
      {"test.u8", V::U8(255)},
      {"test.i8", V::I8(-128)},
      {"test.u16", V::U16(65535)},
      {"test.i16", V::I16(-32768)},
      {"test.u32", V::U32(4294967295u)},
      {"test.i32", V::I32(std::numeric_limits<int32_t>::min())},
      {"test.f32", V::F32(0.15625f)},
      {"test.bool", V::Bool(true)},
      {"test.string", V::String("h\xc3\xa9llo, w\xc3\xb6rld \xe2\x9c\x93")},
      {"test.u64", V::U64(std::numeric_limits<uint64_t>::max())},
      {"test.i64", V::I64(std::numeric_limits<int64_t>::min())},
      {"test.f64", V::F64(-2.5e-300)},
      {"test.empty_string", V::String("")},
      {"test.array.u8", V::Array(GgufType::kUint8, {V::U8(0), V::U8(1), V::U8(254), V::U8(255)})},
      {"test.array.i8", V::Array(GgufType::kInt8, {V::I8(-128), V::I8(0), V::I8(127)})},
      {"test.array.u16", V::Array(GgufType::kUint16, {V::U16(0), V::U16(65535)})},
      {"test.array.i16", V::Array(GgufType::kInt16, {V::I16(-32768), V::I16(32767)})},
      {"test.array.u32", V::Array(GgufType::kUint32, {V::U32(7), V::U32(4294967295u)})},
      {"test.array.i32", V::I32Array({-1, 0, 1})},
      {"test.array.f32", V::F32Array({0.5f, -1.25f, 3.0f})},
      {"test.array.bool", V::Array(GgufType::kBool, {V::Bool(true), V::Bool(false), V::Bool(true)})},
      {"test.array.string", V::StringArray({"a", "", "\xc3\xbcn\xc3\xaf" "code", "<0x0A>"})},
      {"test.array.u64", V::Array(GgufType::kUint64, {V::U64(0), V::U64(std::numeric_limits<uint64_t>::max())})},
      {"test.array.i64", V::Array(GgufType::kInt64, {V::I64(-1), V::I64(std::numeric_limits<int64_t>::max())})},
      {"test.array.f64", V::Array(GgufType::kFloat64, {V::F64(1e300), V::F64(-0.125)})},
      {"test.array.empty_i32", V::Array(GgufType::kInt32, {})},
      {"test.array.empty_string", V::Array(GgufType::kString, {})},
      {"test.array.nested",
       V::Array(GgufType::kArray, {V::I32Array({1, 2}), V::Array(GgufType::kInt32, {}), V::I32Array({3})})},
      {"test.array.nested_strings", V::Array(GgufType::kArray, {V::StringArray({"x", "y"}), V::StringArray({"z"})})},
  };
}

// Bytes of sample tensor k.
inline std::vector<uint8_t> SampleTensorBytes(size_t k) {
  const SampleTensor& t = SampleTensors()[k];
  int64_t n = 1;
  for (int64_t d : t.ne) n *= d;
  std::vector<uint8_t> bytes(static_cast<size_t>(DTypeByteSize(t.dtype, n).value()));
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = PatternByte(k, i);
  return bytes;
}

// A writer holding the sample; tensors are produced by Fill callbacks.
inline GgufWriter SampleWriter() {
  GgufWriter w;
  for (auto& [key, value] : SampleMetadata()) w.Set(key, value);
  for (size_t k = 0; k < SampleTensors().size(); ++k) {
    const SampleTensor& t = SampleTensors()[k];
    Status s = w.AddTensor(t.name, t.dtype, t.ne, [k](std::span<uint8_t> out) {
      for (size_t i = 0; i < out.size(); ++i) out[i] = PatternByte(k, i);
      return Status::Ok();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  return w;
}

}  // namespace fathom::gguf_test

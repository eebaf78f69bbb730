// Helpers shared by the safetensors tests: scratch directories, hand-built files,
// and the deterministic tensor values that tests/python/test_safetensors_interop.py
// and tools/make_safetensors_fixture.py recompute on the Python side.
#pragma once

#include <stdlib.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/mapped_file.h"
#include "formats/safetensors_writer.h"

namespace fathom::testing_util {

// A fresh directory under /tmp, removed with everything in it on destruction.
class ScopedTempDir {
 public:
  ScopedTempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "fathom_st_XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data()) != nullptr ? tmpl : std::string();
  }
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;
  ~ScopedTempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A safetensors file from a literal header and data section; pads the header with
// spaces to a multiple of 8 when `pad` is set.
inline std::vector<uint8_t> BuildFile(std::string header, const std::vector<uint8_t>& data, bool pad = true) {
  if (pad) header.append((8 - header.size() % 8) % 8, ' ');
  std::vector<uint8_t> out(8 + header.size() + data.size());
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(static_cast<uint64_t>(header.size()) >> (8 * i));
  std::memcpy(out.data() + 8, header.data(), header.size());
  if (!data.empty()) std::memcpy(out.data() + 8 + header.size(), data.data(), data.size());
  return out;
}

inline void WriteBytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  Status s = WriteFileAtomic(path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  if (!s.ok()) std::abort();
}

// Element i of every interop tensor, as a double (booleans are 0 or 1). Every value
// is exact in its dtype.
inline double ExpectedValue(DType dtype, int64_t i) {
  switch (dtype) {
    case DType::kF64: case DType::kF32: case DType::kF16: case DType::kBF16:
      return static_cast<double>(i % 64) * 0.5 - 8.0;
    case DType::kF8E4M3: case DType::kF8E5M2:
      return static_cast<double>(i % 16) * 0.5 - 4.0;
    case DType::kI8: case DType::kI16: case DType::kI32: case DType::kI64:
      return static_cast<double>(i % 200 - 100);
    case DType::kU8:
      return static_cast<double>(i % 251);
    case DType::kBool:
      return i % 3 == 0 ? 1.0 : 0.0;
    default:
      std::abort();
  }
}

// Encodes a float that is exactly representable (zero or normal) in a small float
// format with `exp_bits` exponent and `mant_bits` mantissa bits.
inline uint32_t EncodeSmallFloat(float f, int exp_bits, int mant_bits) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  uint32_t sign = bits >> 31;
  if ((bits & 0x7fffffffu) == 0) return sign << (exp_bits + mant_bits);
  int bias = (1 << (exp_bits - 1)) - 1;
  uint32_t exponent = static_cast<uint32_t>(static_cast<int>((bits >> 23) & 0xff) - 127 + bias);
  uint32_t mantissa = (bits & 0x7fffff) >> (23 - mant_bits);
  return (sign << (exp_bits + mant_bits)) | (exponent << mant_bits) | mantissa;
}

// Writes element i = ExpectedValue(dtype, i) into `out` (little-endian).
inline void FillExpected(DType dtype, std::span<uint8_t> out) {
  int64_t size = GetDTypeInfo(dtype).block_bytes;
  int64_t n = static_cast<int64_t>(out.size()) / size;
  for (int64_t i = 0; i < n; ++i) {
    double v = ExpectedValue(dtype, i);
    uint8_t* p = out.data() + i * size;
    auto put = [&](auto x) { std::memcpy(p, &x, sizeof(x)); };
    switch (dtype) {
      case DType::kF64: put(v); break;
      case DType::kF32: put(static_cast<float>(v)); break;
      case DType::kF16: put(static_cast<uint16_t>(EncodeSmallFloat(static_cast<float>(v), 5, 10))); break;
      case DType::kBF16: {
        float f = static_cast<float>(v);
        uint32_t bits;
        std::memcpy(&bits, &f, 4);
        put(static_cast<uint16_t>(bits >> 16));
        break;
      }
      case DType::kF8E4M3: put(static_cast<uint8_t>(EncodeSmallFloat(static_cast<float>(v), 4, 3))); break;
      case DType::kF8E5M2: put(static_cast<uint8_t>(EncodeSmallFloat(static_cast<float>(v), 5, 2))); break;
      case DType::kI8: put(static_cast<int8_t>(v)); break;
      case DType::kI16: put(static_cast<int16_t>(v)); break;
      case DType::kI32: put(static_cast<int32_t>(v)); break;
      case DType::kI64: put(static_cast<int64_t>(v)); break;
      case DType::kU8: put(static_cast<uint8_t>(v)); break;
      case DType::kBool: put(static_cast<uint8_t>(v)); break;
      default: std::abort();
    }
  }
}

// A TensorSource whose elements are ExpectedValue(dtype, i).
inline TensorSource ExpectedSource(std::string name, DType dtype, std::vector<int64_t> shape) {
  return TensorSource{.name = std::move(name), .dtype = dtype, .shape = std::move(shape),
                      .fill = [dtype](std::span<uint8_t> out) {
                        FillExpected(dtype, out);
                        return Status::Ok();
                      }};
}

// A TensorSource whose byte k is (k * 31 + seed) & 0xff: checks byte-exact copies.
inline uint8_t PatternByte(uint64_t k, uint8_t seed) { return static_cast<uint8_t>(k * 31 + seed); }
inline TensorSource PatternSource(std::string name, DType dtype, std::vector<int64_t> shape, uint8_t seed) {
  return TensorSource{.name = std::move(name), .dtype = dtype, .shape = std::move(shape),
                      .fill = [seed](std::span<uint8_t> out) {
                        for (size_t k = 0; k < out.size(); ++k) out[k] = PatternByte(k, seed);
                        return Status::Ok();
                      }};
}

// The safetensors dtypes, in DType order.
inline std::vector<DType> SafetensorsDTypes() {
  std::vector<DType> out;
  for (int i = 0; i < static_cast<int>(DType::kCount); ++i) {
    auto d = static_cast<DType>(i);
    if (!GetDTypeInfo(d).safetensors_name.empty()) out.push_back(d);
  }
  return out;
}

}  // namespace fathom::testing_util

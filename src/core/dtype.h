// Element types of tensors fathom reads and writes. Block formats (Q8_0, Q4_K, ...)
// store `block_elems` values in `block_bytes` bytes with GGUF's exact layouts, so a
// row of n elements takes n / block_elems * block_bytes bytes and n must be a
// multiple of block_elems. Plain types have block_elems == 1.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "core/status.h"

namespace fathom {

enum class DType : uint8_t {
  kF32, kF16, kBF16, kF64,
  kF8E4M3,  // DeepSeek-V3 weights; scaled per 128x128 block by a separate F32 tensor
  kF8E5M2,
  kI8, kU8, kI16, kI32, kI64, kBool,
  // GGUF block formats, bit-compatible with ggml.
  kQ4_0, kQ4_1, kQ5_0, kQ5_1, kQ8_0, kQ8_1,
  kQ2_K, kQ3_K, kQ4_K, kQ5_K, kQ6_K, kQ8_K,
  kIQ2_XXS, kIQ2_XS, kIQ3_XXS, kIQ1_S, kIQ4_NL, kIQ3_S, kIQ2_S, kIQ4_XS, kIQ1_M,
  kTQ1_0, kTQ2_0, kMXFP4,
  kCount,
};

struct DTypeInfo {
  DType dtype;
  std::string_view name;              // "F32", "Q4_K": safetensors / gguf-py spelling
  int64_t block_elems;                // values per block (1 for plain types)
  int64_t block_bytes;                // bytes per block
  int ggml_type;                      // GGUF tensor type id, -1 if GGUF has none
  std::string_view safetensors_name;  // empty if safetensors has none
  bool can_convert;                   // ToFloat32 / FromFloat32 handle it
};

const DTypeInfo& GetDTypeInfo(DType dtype);
inline std::string_view DTypeName(DType d) { return GetDTypeInfo(d).name; }
inline bool IsBlockQuantized(DType d) { return GetDTypeInfo(d).block_elems > 1; }

std::optional<DType> DTypeFromGgmlType(uint32_t ggml_type);
std::optional<DType> DTypeFromSafetensorsName(std::string_view name);
// Case-insensitive: "q4_k", "Q4_K", "bf16".
std::optional<DType> DTypeFromName(std::string_view name);

// Bytes of `num_elements` values; fails if num_elements is not a multiple of the
// block size or the byte count would overflow int64.
Result<int64_t> DTypeByteSize(DType dtype, int64_t num_elements);

}  // namespace fathom

#include "core/dtype.h"

#include <array>
#include <cctype>
#include <string>

namespace fathom {
namespace {

// Block sizes of the ggml formats follow ggml's type traits (checked against the
// gguf Python package's GGML_QUANT_SIZES in tests/core/quant_blocks_test.cpp).
constexpr std::array<DTypeInfo, static_cast<size_t>(DType::kCount)> kInfos = {{
    {DType::kF32, "F32", 1, 4, 0, "F32", true},
    {DType::kF16, "F16", 1, 2, 1, "F16", true},
    {DType::kBF16, "BF16", 1, 2, 30, "BF16", true},
    {DType::kF64, "F64", 1, 8, 28, "F64", true},
    {DType::kF8E4M3, "F8_E4M3", 1, 1, -1, "F8_E4M3", true},
    {DType::kF8E5M2, "F8_E5M2", 1, 1, -1, "F8_E5M2", true},
    {DType::kI8, "I8", 1, 1, 24, "I8", true},
    {DType::kU8, "U8", 1, 1, -1, "U8", true},
    {DType::kI16, "I16", 1, 2, 25, "I16", true},
    {DType::kI32, "I32", 1, 4, 26, "I32", true},
    {DType::kI64, "I64", 1, 8, 27, "I64", true},
    {DType::kBool, "BOOL", 1, 1, -1, "BOOL", true},
    {DType::kQ4_0, "Q4_0", 32, 18, 2, "", true},
    {DType::kQ4_1, "Q4_1", 32, 20, 3, "", false},
    {DType::kQ5_0, "Q5_0", 32, 22, 6, "", false},
    {DType::kQ5_1, "Q5_1", 32, 24, 7, "", false},
    {DType::kQ8_0, "Q8_0", 32, 34, 8, "", true},
    {DType::kQ8_1, "Q8_1", 32, 36, 9, "", false},
    {DType::kQ2_K, "Q2_K", 256, 84, 10, "", false},
    {DType::kQ3_K, "Q3_K", 256, 110, 11, "", false},
    {DType::kQ4_K, "Q4_K", 256, 144, 12, "", true},
    {DType::kQ5_K, "Q5_K", 256, 176, 13, "", false},
    {DType::kQ6_K, "Q6_K", 256, 210, 14, "", true},
    {DType::kQ8_K, "Q8_K", 256, 292, 15, "", false},
    {DType::kIQ2_XXS, "IQ2_XXS", 256, 66, 16, "", false},
    {DType::kIQ2_XS, "IQ2_XS", 256, 74, 17, "", false},
    {DType::kIQ3_XXS, "IQ3_XXS", 256, 98, 18, "", false},
    {DType::kIQ1_S, "IQ1_S", 256, 50, 19, "", false},
    {DType::kIQ4_NL, "IQ4_NL", 32, 18, 20, "", false},
    {DType::kIQ3_S, "IQ3_S", 256, 110, 21, "", false},
    {DType::kIQ2_S, "IQ2_S", 256, 82, 22, "", false},
    {DType::kIQ4_XS, "IQ4_XS", 256, 136, 23, "", false},
    {DType::kIQ1_M, "IQ1_M", 256, 56, 29, "", false},
    {DType::kTQ1_0, "TQ1_0", 256, 54, 34, "", false},
    {DType::kTQ2_0, "TQ2_0", 256, 66, 35, "", false},
    {DType::kMXFP4, "MXFP4", 32, 17, 39, "", false},
}};

constexpr bool TableIsIndexed() {
  for (size_t i = 0; i < kInfos.size(); ++i) {
    if (static_cast<size_t>(kInfos[i].dtype) != i) return false;
  }
  return true;
}
static_assert(TableIsIndexed(), "kInfos must be in DType order");

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace

const DTypeInfo& GetDTypeInfo(DType dtype) {
  auto i = static_cast<size_t>(dtype);
  FATHOM_CHECK(i < kInfos.size());
  return kInfos[i];
}

std::optional<DType> DTypeFromGgmlType(uint32_t ggml_type) {
  for (const auto& info : kInfos) {
    if (info.ggml_type >= 0 && static_cast<uint32_t>(info.ggml_type) == ggml_type) return info.dtype;
  }
  return std::nullopt;
}

std::optional<DType> DTypeFromSafetensorsName(std::string_view name) {
  for (const auto& info : kInfos) {
    if (!info.safetensors_name.empty() && info.safetensors_name == name) return info.dtype;
  }
  return std::nullopt;
}

std::optional<DType> DTypeFromName(std::string_view name) {
  for (const auto& info : kInfos) {
    if (EqualsIgnoreCase(info.name, name)) return info.dtype;
  }
  return std::nullopt;
}

Result<int64_t> DTypeByteSize(DType dtype, int64_t num_elements) {
  const DTypeInfo& info = GetDTypeInfo(dtype);
  if (num_elements < 0) return InvalidArgument("negative element count");
  if (num_elements % info.block_elems != 0) {
    return InvalidArgument(std::to_string(num_elements) + " elements is not a multiple of the " +
                           std::string(info.name) + " block size " + std::to_string(info.block_elems));
  }
  int64_t blocks = num_elements / info.block_elems;
  int64_t bytes = 0;
  if (__builtin_mul_overflow(blocks, info.block_bytes, &bytes)) {
    return OutOfRange("byte size of " + std::to_string(num_elements) + " " + std::string(info.name) +
                      " elements overflows");
  }
  return bytes;
}

}  // namespace fathom

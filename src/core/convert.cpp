// Dispatch from DType to the element and block converters, plus DeepSeek-V3's
// block-scaled FP8. Element loads and stores go through memcpy so that tensor
// bytes at any offset of a mapped file can be read without alignment faults or UB.
#include "core/convert.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>

#include "core/float_formats.h"
#include "core/quant_blocks.h"

namespace fathom {
namespace {

template <typename T>
T Load(const void* src, int64_t i) {
  T v;
  std::memcpy(&v, static_cast<const unsigned char*>(src) + i * static_cast<int64_t>(sizeof(T)), sizeof(T));
  return v;
}

template <typename T>
void Store(void* dst, int64_t i, T v) {
  std::memcpy(static_cast<unsigned char*>(dst) + i * static_cast<int64_t>(sizeof(T)), &v, sizeof(T));
}

// Applies `decode` to each stored element of type T.
template <typename T, typename Decode>
void DecodeElements(const void* src, int64_t n, float* dst, Decode decode) {
  for (int64_t i = 0; i < n; ++i) dst[i] = decode(Load<T>(src, i));
}

template <typename T, typename Encode>
void EncodeElements(const float* src, int64_t n, void* dst, Encode encode) {
  for (int64_t i = 0; i < n; ++i) Store<T>(dst, i, encode(src[i]));
}

// Rounds to nearest (ties to even) and saturates to Int's range; NaN gives 0.
template <typename Int>
Int SaturatingRound(float x) {
  static_assert(std::is_integral_v<Int>);
  const double r = std::nearbyint(static_cast<double>(x));
  if (std::isnan(r)) return 0;
  constexpr double kMin = static_cast<double>(std::numeric_limits<Int>::min());
  // max + 1 is a power of two, exact in double even for int64 (where max is not).
  constexpr double kMaxPlusOne = static_cast<double>(std::numeric_limits<Int>::max() / 2 + 1) * 2.0;
  if (r <= kMin) return std::numeric_limits<Int>::min();
  if (r >= kMaxPlusOne) return std::numeric_limits<Int>::max();
  return static_cast<Int>(r);
}

// double -> float, round to nearest even, overflowing to ±inf as IEEE does. A plain
// cast of a finite double beyond float's range is undefined behaviour in C++.
float NarrowDouble(double v) {
  // FLT_MAX plus half its ulp: from here on (ties included, FLT_MAX being odd) the
  // nearest-even float is infinity.
  constexpr double kOverflow = 0x1.ffffffp127;
  if (v >= kOverflow) return std::numeric_limits<float>::infinity();
  if (v <= -kOverflow) return -std::numeric_limits<float>::infinity();
  return static_cast<float>(v);
}

// Runs a row function over whole blocks. Aligned buffers go straight through;
// misaligned ones are staged through a small aligned buffer, chunk by chunk.
template <typename Block, typename RowFn>
void DequantizeBlocks(const void* src, int64_t n, float* dst, int64_t block_elems, RowFn row_fn) {
  const int64_t num_blocks = n / block_elems;
  if (reinterpret_cast<uintptr_t>(src) % alignof(Block) == 0) {
    row_fn(static_cast<const Block*>(src), dst, n);
    return;
  }
  constexpr int64_t kChunk = 64;
  Block staged[kChunk];
  for (int64_t b = 0; b < num_blocks; b += kChunk) {
    const int64_t count = std::min(kChunk, num_blocks - b);
    std::memcpy(staged, static_cast<const unsigned char*>(src) + b * static_cast<int64_t>(sizeof(Block)),
                static_cast<size_t>(count) * sizeof(Block));
    row_fn(staged, dst + b * block_elems, count * block_elems);
  }
}

template <typename Block, typename RowFn>
void QuantizeBlocks(const float* src, int64_t n, void* dst, int64_t block_elems, RowFn row_fn) {
  const int64_t num_blocks = n / block_elems;
  if (reinterpret_cast<uintptr_t>(dst) % alignof(Block) == 0) {
    row_fn(src, static_cast<Block*>(dst), n);
    return;
  }
  constexpr int64_t kChunk = 64;
  Block staged[kChunk];
  for (int64_t b = 0; b < num_blocks; b += kChunk) {
    const int64_t count = std::min(kChunk, num_blocks - b);
    row_fn(src + b * block_elems, staged, count * block_elems);
    std::memcpy(static_cast<unsigned char*>(dst) + b * static_cast<int64_t>(sizeof(Block)), staged,
                static_cast<size_t>(count) * sizeof(Block));
  }
}

Status CheckCount(DType dtype, int64_t n) {
  const DTypeInfo& info = GetDTypeInfo(dtype);
  if (!info.can_convert) {
    return Unsupported("converting " + std::string(info.name) + " to or from F32 is not supported");
  }
  if (n < 0) return InvalidArgument("negative element count " + std::to_string(n));
  if (n % info.block_elems != 0) {
    return InvalidArgument(std::to_string(n) + " elements is not a multiple of the " + std::string(info.name) +
                           " block size " + std::to_string(info.block_elems));
  }
  return Status::Ok();
}

Status CheckFp8Shape(int64_t rows, int64_t cols, int64_t block, int64_t* num_elements) {
  if (rows < 0 || cols < 0) {
    return InvalidArgument("FP8 weight shape [" + std::to_string(rows) + ", " + std::to_string(cols) +
                           "] has a negative dimension");
  }
  if (block < 1) return InvalidArgument("FP8 scale block size " + std::to_string(block) + " is not positive");
  if (__builtin_mul_overflow(rows, cols, num_elements)) {
    return OutOfRange("FP8 weight shape [" + std::to_string(rows) + ", " + std::to_string(cols) + "] overflows");
  }
  return Status::Ok();
}

int64_t CeilDiv(int64_t a, int64_t b) { return a / b + (a % b != 0 ? 1 : 0); }

}  // namespace

Status ToFloat32(DType dtype, const void* src, int64_t n, float* dst) {
  FATHOM_RETURN_IF_ERROR(CheckCount(dtype, n));
  if (n == 0) return Status::Ok();
  if (src == nullptr || dst == nullptr) return InvalidArgument("null buffer for " + std::to_string(n) + " elements");
  switch (dtype) {
    case DType::kF32: std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float)); break;
    case DType::kF16: DecodeElements<uint16_t>(src, n, dst, F16ToF32); break;
    case DType::kBF16: DecodeElements<uint16_t>(src, n, dst, BF16ToF32); break;
    case DType::kF64: DecodeElements<double>(src, n, dst, NarrowDouble); break;
    case DType::kF8E4M3: DecodeElements<uint8_t>(src, n, dst, F8E4M3ToF32); break;
    case DType::kF8E5M2: DecodeElements<uint8_t>(src, n, dst, F8E5M2ToF32); break;
    case DType::kI8: DecodeElements<int8_t>(src, n, dst, [](int8_t v) { return static_cast<float>(v); }); break;
    case DType::kU8: DecodeElements<uint8_t>(src, n, dst, [](uint8_t v) { return static_cast<float>(v); }); break;
    case DType::kI16: DecodeElements<int16_t>(src, n, dst, [](int16_t v) { return static_cast<float>(v); }); break;
    case DType::kI32: DecodeElements<int32_t>(src, n, dst, [](int32_t v) { return static_cast<float>(v); }); break;
    case DType::kI64: DecodeElements<int64_t>(src, n, dst, [](int64_t v) { return static_cast<float>(v); }); break;
    case DType::kBool: DecodeElements<uint8_t>(src, n, dst, [](uint8_t v) { return v != 0 ? 1.0f : 0.0f; }); break;
    case DType::kQ8_0: DequantizeBlocks<BlockQ8_0>(src, n, dst, kQ8_0BlockElems, DequantizeRowQ8_0); break;
    case DType::kQ4_0: DequantizeBlocks<BlockQ4_0>(src, n, dst, kQ4_0BlockElems, DequantizeRowQ4_0); break;
    case DType::kQ4_K: DequantizeBlocks<BlockQ4_K>(src, n, dst, kQKBlockElems, DequantizeRowQ4_K); break;
    case DType::kQ6_K: DequantizeBlocks<BlockQ6_K>(src, n, dst, kQKBlockElems, DequantizeRowQ6_K); break;
    default:
      return Internal("DType " + std::string(DTypeName(dtype)) + " is marked convertible but has no converter");
  }
  return Status::Ok();
}

Status FromFloat32(DType dtype, const float* src, int64_t n, void* dst) {
  FATHOM_RETURN_IF_ERROR(CheckCount(dtype, n));
  if (n == 0) return Status::Ok();
  if (src == nullptr || dst == nullptr) return InvalidArgument("null buffer for " + std::to_string(n) + " elements");
  switch (dtype) {
    case DType::kF32: std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float)); break;
    case DType::kF16: EncodeElements<uint16_t>(src, n, dst, F32ToF16); break;
    case DType::kBF16: EncodeElements<uint16_t>(src, n, dst, F32ToBF16); break;
    case DType::kF64: EncodeElements<double>(src, n, dst, [](float v) { return static_cast<double>(v); }); break;
    case DType::kF8E4M3: EncodeElements<uint8_t>(src, n, dst, F32ToF8E4M3); break;
    case DType::kF8E5M2: EncodeElements<uint8_t>(src, n, dst, F32ToF8E5M2); break;
    case DType::kI8: EncodeElements<int8_t>(src, n, dst, SaturatingRound<int8_t>); break;
    case DType::kU8: EncodeElements<uint8_t>(src, n, dst, SaturatingRound<uint8_t>); break;
    case DType::kI16: EncodeElements<int16_t>(src, n, dst, SaturatingRound<int16_t>); break;
    case DType::kI32: EncodeElements<int32_t>(src, n, dst, SaturatingRound<int32_t>); break;
    case DType::kI64: EncodeElements<int64_t>(src, n, dst, SaturatingRound<int64_t>); break;
    case DType::kBool:
      EncodeElements<uint8_t>(src, n, dst, [](float v) { return static_cast<uint8_t>(v != 0.0f ? 1 : 0); });
      break;
    case DType::kQ8_0: QuantizeBlocks<BlockQ8_0>(src, n, dst, kQ8_0BlockElems, QuantizeRowQ8_0); break;
    case DType::kQ4_0: QuantizeBlocks<BlockQ4_0>(src, n, dst, kQ4_0BlockElems, QuantizeRowQ4_0); break;
    case DType::kQ4_K: QuantizeBlocks<BlockQ4_K>(src, n, dst, kQKBlockElems, QuantizeRowQ4_K); break;
    case DType::kQ6_K: QuantizeBlocks<BlockQ6_K>(src, n, dst, kQKBlockElems, QuantizeRowQ6_K); break;
    default:
      return Internal("DType " + std::string(DTypeName(dtype)) + " is marked convertible but has no converter");
  }
  return Status::Ok();
}

Status DequantizeFp8BlockScaled(const uint8_t* weight, const float* scale_inv, int64_t rows, int64_t cols,
                                float* out, int64_t block) {
  int64_t num_elements = 0;
  FATHOM_RETURN_IF_ERROR(CheckFp8Shape(rows, cols, block, &num_elements));
  if (num_elements == 0) return Status::Ok();
  if (weight == nullptr || scale_inv == nullptr || out == nullptr) {
    return InvalidArgument("null buffer for FP8 block-scaled dequantization");
  }
  const int64_t scale_cols = CeilDiv(cols, block);
  for (int64_t i = 0; i < rows; ++i) {
    const float* scale_row = scale_inv + (i / block) * scale_cols;  // (scale_cols)
    const uint8_t* w = weight + i * cols;                          // (cols)
    float* y = out + i * cols;                                     // (cols)
    for (int64_t j = 0; j < cols; ++j) y[j] = F8E4M3ToF32(w[j]) * scale_row[j / block];
  }
  return Status::Ok();
}

Status QuantizeFp8BlockScaled(const float* w, int64_t rows, int64_t cols, uint8_t* weight_out,
                              float* scale_inv_out, int64_t block) {
  constexpr float kE4M3Max = 448.0f;
  int64_t num_elements = 0;
  FATHOM_RETURN_IF_ERROR(CheckFp8Shape(rows, cols, block, &num_elements));
  if (num_elements == 0) return Status::Ok();
  if (w == nullptr || weight_out == nullptr || scale_inv_out == nullptr) {
    return InvalidArgument("null buffer for FP8 block-scaled quantization");
  }
  const int64_t scale_rows = CeilDiv(rows, block);
  const int64_t scale_cols = CeilDiv(cols, block);
  for (int64_t bi = 0; bi < scale_rows; ++bi) {
    const int64_t row_end = std::min(rows, (bi + 1) * block);
    for (int64_t bj = 0; bj < scale_cols; ++bj) {
      const int64_t col_end = std::min(cols, (bj + 1) * block);
      float amax = 0;
      for (int64_t i = bi * block; i < row_end; ++i) {
        for (int64_t j = bj * block; j < col_end; ++j) {
          const float v = w[i * cols + j];
          if (!std::isfinite(v)) {
            return InvalidArgument("FP8 quantization: weight [" + std::to_string(i) + ", " + std::to_string(j) +
                                   "] is not finite");
          }
          amax = std::max(amax, std::fabs(v));
        }
      }
      float scale = amax / kE4M3Max;
      if (scale == 0) scale = 1.0f;
      scale_inv_out[bi * scale_cols + bj] = scale;
      for (int64_t i = bi * block; i < row_end; ++i) {
        for (int64_t j = bj * block; j < col_end; ++j) weight_out[i * cols + j] = F32ToF8E4M3(w[i * cols + j] / scale);
      }
    }
  }
  return Status::Ok();
}

}  // namespace fathom

#include "core/convert.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/float_formats.h"
#include "core/quant_blocks.h"

namespace fathom {
namespace {

const std::string kFixtureDir = FATHOM_SOURCE_DIR "/tests/fixtures/quant/";
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<DType> AllDTypes() {
  std::vector<DType> all;
  for (int i = 0; i < static_cast<int>(DType::kCount); ++i) all.push_back(static_cast<DType>(i));
  return all;
}

template <typename T>
std::vector<T> Encode(DType dtype, const std::vector<float>& x) {
  std::vector<T> out(x.size());
  const Status s = FromFloat32(dtype, x.data(), static_cast<int64_t>(x.size()), out.data());
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

template <typename T>
std::vector<float> Decode(DType dtype, const std::vector<T>& v) {
  std::vector<float> out(v.size());
  const Status s = ToFloat32(dtype, v.data(), static_cast<int64_t>(v.size()), out.data());
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

// ---------------------------------------------------------------- dispatch and errors

TEST(ConvertTest, EveryConvertibleTypeRoundTripsSmallIntegers) {
  for (DType dtype : AllDTypes()) {
    const DTypeInfo& info = GetDTypeInfo(dtype);
    if (!info.can_convert) continue;
    SCOPED_TRACE(std::string(info.name));
    // Small integers in [0, 7]: exact in every plain format, within half a step in
    // the block formats.
    const int64_t n = 2 * info.block_elems;
    std::vector<float> x(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>(i % 8);
    if (dtype == DType::kBool) {
      for (auto& v : x) v = v != 0 ? 1.0f : 0.0f;
    }
    std::vector<uint8_t> bytes(static_cast<size_t>(*DTypeByteSize(dtype, n)));
    ASSERT_TRUE(FromFloat32(dtype, x.data(), n, bytes.data()).ok());
    std::vector<float> y(static_cast<size_t>(n));
    ASSERT_TRUE(ToFloat32(dtype, bytes.data(), n, y.data()).ok());
    if (info.block_elems > 1) {
      // Block formats: within half a quantization step of the block's range [0, 7].
      const double half_step = dtype == DType::kQ8_0   ? 7.0 / 127 / 2
                               : dtype == DType::kQ6_K ? 7.0 / 32 / 2
                               : dtype == DType::kQ4_K ? 7.0 / 15 / 2
                                                       : 7.0 / 8 / 2;  // Q4_0
      for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(y[i], x[i], half_step * 1.01) << i;
    } else {
      EXPECT_EQ(y, x);
    }
  }
}

TEST(ConvertTest, NonConvertibleTypesAreUnsupported) {
  int unsupported = 0;
  for (DType dtype : AllDTypes()) {
    const DTypeInfo& info = GetDTypeInfo(dtype);
    if (info.can_convert) continue;
    SCOPED_TRACE(std::string(info.name));
    std::vector<uint8_t> bytes(static_cast<size_t>(info.block_bytes));
    std::vector<float> values(static_cast<size_t>(info.block_elems));
    EXPECT_EQ(ToFloat32(dtype, bytes.data(), info.block_elems, values.data()).code(), StatusCode::kUnsupported);
    EXPECT_EQ(FromFloat32(dtype, values.data(), info.block_elems, bytes.data()).code(), StatusCode::kUnsupported);
    ++unsupported;
  }
  EXPECT_GT(unsupported, 0);
}

TEST(ConvertTest, CountMustBeAWholeNumberOfBlocks) {
  std::vector<float> values(512);
  std::vector<uint8_t> bytes(1024);
  const Status s = ToFloat32(DType::kQ4_K, bytes.data(), 100, values.data());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("256"), std::string::npos) << s.message();
  EXPECT_EQ(FromFloat32(DType::kQ8_0, values.data(), 33, bytes.data()).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ToFloat32(DType::kF16, bytes.data(), -1, values.data()).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(ToFloat32(DType::kQ6_K, nullptr, 0, nullptr).ok());
  EXPECT_EQ(ToFloat32(DType::kF32, nullptr, 4, values.data()).code(), StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------- plain types by hand

TEST(ConvertTest, FloatFormatsUseTheExactConversions) {
  const std::vector<float> x = {1.0f, -2.5f, 65504.0f, 1e-5f, 500.0f};
  EXPECT_EQ(Encode<uint16_t>(DType::kF16, x), (std::vector<uint16_t>{0x3C00, 0xC100, 0x7BFF, 0x00A8, 0x5FD0}));
  EXPECT_EQ(Encode<uint16_t>(DType::kBF16, {1.0f, -2.5f}), (std::vector<uint16_t>{0x3F80, 0xC020}));
  EXPECT_EQ(Encode<uint8_t>(DType::kF8E4M3, x), (std::vector<uint8_t>{0x38, 0xC2, 0x7E, 0x00, 0x7E}));
  EXPECT_EQ(Encode<uint8_t>(DType::kF8E5M2, {1.0f, -2.5f, 1e6f}), (std::vector<uint8_t>{0x3C, 0xC1, 0x7C}));
  EXPECT_EQ(Decode<uint16_t>(DType::kF16, {0x3C00, 0xC100}), (std::vector<float>{1.0f, -2.5f}));
  EXPECT_EQ(Decode<uint8_t>(DType::kF8E4M3, {0x7E, 0x01}), (std::vector<float>{448.0f, 0.001953125f}));
  EXPECT_EQ(Decode<double>(DType::kF64, {0.1, -1e300}), (std::vector<float>{0.1f, -kInf}));
  // Narrowing rounds to nearest even up to the edge: just below FLT_MAX + ulp/2 stays
  // FLT_MAX, the tie itself goes to infinity.
  EXPECT_EQ(Decode<double>(DType::kF64, {0x1.fffffefp127, 0x1.ffffffp127, -0x1.ffffffp127, 1e-50}),
            (std::vector<float>{std::numeric_limits<float>::max(), kInf, -kInf, 0.0f}));
  EXPECT_EQ(Encode<double>(DType::kF64, {0.1f}), (std::vector<double>{static_cast<double>(0.1f)}));
}

TEST(ConvertTest, IntegersRoundToNearestEvenAndSaturate) {
  EXPECT_EQ(Encode<int8_t>(DType::kI8, {1.4f, 1.5f, 2.5f, -2.5f, -1.6f, 200.0f, -200.0f, kNaN, kInf, -kInf}),
            (std::vector<int8_t>{1, 2, 2, -2, -2, 127, -128, 0, 127, -128}));
  EXPECT_EQ(Encode<uint8_t>(DType::kU8, {-3.0f, 255.4f, 256.0f, 0.5f, 1.5f, -0.4f}),
            (std::vector<uint8_t>{0, 255, 255, 0, 2, 0}));
  EXPECT_EQ(Encode<int16_t>(DType::kI16, {32767.4f, 32767.5f, -32768.6f, 1e9f}),
            (std::vector<int16_t>{32767, 32767, -32768, 32767}));
  // 2147483520 is the largest float below 2^31; 2^31 itself saturates.
  EXPECT_EQ(Encode<int32_t>(DType::kI32, {2147483520.0f, 2147483648.0f, -2147483648.0f, -3e9f, -7.5f}),
            (std::vector<int32_t>{2147483520, std::numeric_limits<int32_t>::max(),
                                  std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::min(), -8}));
  EXPECT_EQ(Encode<int64_t>(DType::kI64, {0x1p62f, 0x1p63f, -0x1p63f, -1e19f, 1e19f, kNaN}),
            (std::vector<int64_t>{int64_t{1} << 62, std::numeric_limits<int64_t>::max(),
                                  std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::min(),
                                  std::numeric_limits<int64_t>::max(), 0}));
  // Reading integers is the C++ value conversion; past 2^24 that rounds to even.
  EXPECT_EQ(Decode<int32_t>(DType::kI32, {-7, 16777217, 16777219}),
            (std::vector<float>{-7.0f, 16777216.0f, 16777220.0f}));
  EXPECT_EQ(Decode<int64_t>(DType::kI64, {std::numeric_limits<int64_t>::min()}), (std::vector<float>{-0x1p63f}));
  EXPECT_EQ(Decode<int8_t>(DType::kI8, {-128, 127}), (std::vector<float>{-128.0f, 127.0f}));
  EXPECT_EQ(Decode<uint8_t>(DType::kU8, {255}), (std::vector<float>{255.0f}));
  EXPECT_EQ(Decode<int16_t>(DType::kI16, {-32768}), (std::vector<float>{-32768.0f}));
}

TEST(ConvertTest, BoolIsNonZero) {
  EXPECT_EQ(Decode<uint8_t>(DType::kBool, {0, 1, 2, 255}), (std::vector<float>{0.0f, 1.0f, 1.0f, 1.0f}));
  EXPECT_EQ(Encode<uint8_t>(DType::kBool, {0.0f, -0.0f, 0.5f, kNaN, -3.0f}),
            (std::vector<uint8_t>{0, 0, 1, 1, 1}));
}

TEST(ConvertTest, UnalignedBuffersGiveTheSameResults) {
  std::vector<float> x(512);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(static_cast<float>(i)) * 3.0f;
  for (DType dtype : {DType::kF16, DType::kI32, DType::kF64, DType::kQ8_0, DType::kQ4_0, DType::kQ4_K,
                      DType::kQ6_K}) {
    SCOPED_TRACE(std::string(DTypeName(dtype)));
    const auto n = static_cast<int64_t>(x.size());
    const auto num_bytes = static_cast<size_t>(*DTypeByteSize(dtype, n));
    std::vector<uint8_t> aligned(num_bytes);
    std::vector<uint8_t> shifted(num_bytes + 1);
    ASSERT_TRUE(FromFloat32(dtype, x.data(), n, aligned.data()).ok());
    ASSERT_TRUE(FromFloat32(dtype, x.data(), n, shifted.data() + 1).ok());
    EXPECT_EQ(std::memcmp(aligned.data(), shifted.data() + 1, num_bytes), 0);
    std::vector<float> from_aligned(x.size());
    std::vector<float> from_shifted(x.size());
    ASSERT_TRUE(ToFloat32(dtype, aligned.data(), n, from_aligned.data()).ok());
    ASSERT_TRUE(ToFloat32(dtype, shifted.data() + 1, n, from_shifted.data()).ok());
    EXPECT_EQ(from_aligned, from_shifted);
  }
}

// The gguf fixtures through the DType dispatch, read from an odd offset.
TEST(ConvertTest, BlockFormatsMatchGgufFixtures) {
  const auto manifest = nlohmann::json::parse(ReadFileOrDie(kFixtureDir + "manifest.json"));
  for (const auto& entry : manifest["dequantize"]) {
    const std::string type = entry["type"];
    SCOPED_TRACE(type);
    const DType dtype = *DTypeFromName(type);
    const int64_t n = entry["num_elements"];
    const std::string blocks = ReadFileOrDie(kFixtureDir + std::string(entry["blocks"]));
    const std::string expected = ReadFileOrDie(kFixtureDir + std::string(entry["expected"]));
    const std::string odd = " " + blocks;
    std::vector<float> actual(static_cast<size_t>(n));
    ASSERT_TRUE(ToFloat32(dtype, odd.data() + 1, n, actual.data()).ok());
    ASSERT_EQ(expected.size(), actual.size() * sizeof(float));
    EXPECT_EQ(std::memcmp(actual.data(), expected.data(), expected.size()), 0);
  }
  for (const auto& entry : manifest["quantize"]) {
    const std::string type = entry["type"];
    SCOPED_TRACE(type);
    const DType dtype = *DTypeFromName(type);
    const int64_t n = entry["num_elements"];
    const std::string input = ReadFileOrDie(kFixtureDir + std::string(entry["input"]));
    const std::string expected = ReadFileOrDie(kFixtureDir + std::string(entry["expected"]));
    std::vector<float> x(static_cast<size_t>(n));
    std::memcpy(x.data(), input.data(), input.size());
    std::string actual(expected.size() + 1, '\0');
    ASSERT_TRUE(FromFloat32(dtype, x.data(), n, actual.data() + 1).ok());
    EXPECT_EQ(actual.substr(1), expected);
  }
}

// ---------------------------------------------------------------- FP8 block scaling

TEST(Fp8BlockScaledTest, DequantizeHandComputed) {
  // 3 x 5 weights in 2 x 2 tiles: a 2 x 3 grid of scales, with partial edge tiles.
  const std::vector<uint8_t> weight = {
      0x38, 0x38, 0x38, 0x38, 0x38,  // 1.0 everywhere...
      0x38, 0xC2, 0x38, 0x38, 0x7E,  // ...except -2.5 at (1, 1) and 448 at (1, 4)
      0x38, 0x38, 0x01, 0x38, 0x00,  // ...and 2^-9 at (2, 2), 0 at (2, 4)
  };
  const std::vector<float> scale_inv = {1.0f, 2.0f, 0.5f,  //
                                        4.0f, 0.25f, 8.0f};
  std::vector<float> out(15);
  ASSERT_TRUE(DequantizeFp8BlockScaled(weight.data(), scale_inv.data(), 3, 5, out.data(), 2).ok());
  const std::vector<float> expected = {
      1.0f, 1.0f, 2.0f, 2.0f, 0.5f,    //
      1.0f, -2.5f, 2.0f, 2.0f, 224.0f,  //
      4.0f, 4.0f, 0.00048828125f, 0.25f, 0.0f,
  };
  EXPECT_EQ(out, expected);
}

TEST(Fp8BlockScaledTest, DefaultBlockIs128) {
  const int64_t rows = 130;
  const int64_t cols = 260;
  std::vector<uint8_t> weight(rows * cols, 0x40);  // 0.0111.000 + 1 exponent = 2.0
  const std::vector<float> scale_inv = {1, 2, 3, 4, 5, 6};  // (2, 3)
  std::vector<float> out(rows * cols);
  ASSERT_TRUE(DequantizeFp8BlockScaled(weight.data(), scale_inv.data(), rows, cols, out.data()).ok());
  EXPECT_EQ(out[0], 2.0f);
  EXPECT_EQ(out[127 * cols + 127], 2.0f);
  EXPECT_EQ(out[127 * cols + 128], 4.0f);
  EXPECT_EQ(out[128 * cols + 0], 8.0f);
  EXPECT_EQ(out[129 * cols + 259], 12.0f);
}

TEST(Fp8BlockScaledTest, QuantizeHandComputed) {
  // One 2 x 2 tile per quadrant of a 2 x 4 matrix.
  const std::vector<float> w = {448.0f, 1.0f, 2.0f, 0.0f,  //
                                -224.0f, 0.0f, 0.0f, -1.0f};
  std::vector<uint8_t> q(8);
  std::vector<float> scale_inv(2);
  ASSERT_TRUE(QuantizeFp8BlockScaled(w.data(), 2, 4, q.data(), scale_inv.data(), 2).ok());
  // Tile 0: amax 448, scale 1: codes are the plain E4M3 encodings.
  EXPECT_EQ(scale_inv[0], 1.0f);
  EXPECT_EQ(q[0], 0x7E);
  EXPECT_EQ(q[1], 0x38);
  EXPECT_EQ(q[4], 0xF6);  // -224 = -1.75 * 2^7: 1.1110.110
  EXPECT_EQ(q[5], 0x00);
  // Tile 1: amax 2, scale 2 / 448; 2 lands on 448 and -1 on -224.
  EXPECT_EQ(scale_inv[1], 2.0f / 448.0f);
  EXPECT_EQ(q[2], 0x7E);
  EXPECT_EQ(q[3], 0x00);
  EXPECT_EQ(q[6], 0x00);
  EXPECT_EQ(q[7], 0xF6);
}

TEST(Fp8BlockScaledTest, ZeroTileGetsScaleOneAndDequantizesToZero) {
  const std::vector<float> w(6, 0.0f);
  std::vector<uint8_t> q(6, 0xAA);
  std::vector<float> scale_inv(1);
  ASSERT_TRUE(QuantizeFp8BlockScaled(w.data(), 2, 3, q.data(), scale_inv.data()).ok());
  EXPECT_EQ(scale_inv[0], 1.0f);
  EXPECT_EQ(q, std::vector<uint8_t>(6, 0));
  std::vector<float> out(6, 7.0f);
  ASSERT_TRUE(DequantizeFp8BlockScaled(q.data(), scale_inv.data(), 2, 3, out.data()).ok());
  EXPECT_EQ(out, w);
}

TEST(Fp8BlockScaledTest, RoundTripErrorBound) {
  const int64_t rows = 200;
  const int64_t cols = 300;  // partial tiles on both edges
  std::vector<float> w(rows * cols);
  for (int64_t i = 0; i < rows * cols; ++i) {
    w[i] = std::sin(0.37f * static_cast<float>(i)) * std::ldexp(1.0f, static_cast<int>(i % 17) - 8);
  }
  std::vector<uint8_t> q(rows * cols);
  std::vector<float> scale_inv(2 * 3);
  ASSERT_TRUE(QuantizeFp8BlockScaled(w.data(), rows, cols, q.data(), scale_inv.data()).ok());
  std::vector<float> out(rows * cols);
  ASSERT_TRUE(DequantizeFp8BlockScaled(q.data(), scale_inv.data(), rows, cols, out.data()).ok());
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      const float scale = scale_inv[(i / 128) * 3 + j / 128];
      const float x = w[i * cols + j];
      // Half an ulp of a 3-bit mantissa (2^-4 relative) for normals, half the
      // smallest subnormal (2^-10, scaled) below them; a little slack for the
      // division and the multiply.
      const float bound = std::max(std::fabs(x) * 0x1p-4f, scale * 0x1p-10f) * 1.0001f;
      ASSERT_LE(std::fabs(out[i * cols + j] - x), bound) << i << "," << j;
    }
  }
}

TEST(Fp8BlockScaledTest, RejectsBadArguments) {
  std::vector<float> w = {1.0f, kNaN, 2.0f, 3.0f};
  std::vector<uint8_t> q(4);
  std::vector<float> scale(1);
  std::vector<float> out(4);
  EXPECT_EQ(QuantizeFp8BlockScaled(w.data(), 2, 2, q.data(), scale.data()).code(), StatusCode::kInvalidArgument);
  w[1] = kInf;
  EXPECT_EQ(QuantizeFp8BlockScaled(w.data(), 2, 2, q.data(), scale.data()).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(DequantizeFp8BlockScaled(q.data(), scale.data(), -1, 2, out.data()).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(DequantizeFp8BlockScaled(q.data(), scale.data(), 2, 2, out.data(), 0).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(DequantizeFp8BlockScaled(nullptr, scale.data(), 2, 2, out.data()).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(DequantizeFp8BlockScaled(q.data(), scale.data(), int64_t{1} << 40, int64_t{1} << 40, out.data()).code(),
            StatusCode::kOutOfRange);
  EXPECT_TRUE(DequantizeFp8BlockScaled(nullptr, nullptr, 0, 5, nullptr).ok());
}

}  // namespace
}  // namespace fathom

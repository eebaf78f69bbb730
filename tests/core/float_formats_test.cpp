#include "core/float_formats.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace fathom {
namespace {

uint32_t Bits(float f) { return std::bit_cast<uint32_t>(f); }
float FromBits(uint32_t b) { return std::bit_cast<float>(b); }

// Checks that `encode` rounds every midpoint between two adjacent finite codes to
// the even one, and the floats just either side of it to the nearer code.
// `codes` lists the finite non-negative codes in increasing value order.
template <typename Code, typename Decode, typename Encode>
void ExpectTiesToEven(const std::vector<Code>& codes, Decode decode, Encode encode) {
  for (size_t i = 0; i + 1 < codes.size(); ++i) {
    const float lo = decode(codes[i]);
    const float hi = decode(codes[i + 1]);
    const float mid = lo + (hi - lo) / 2;  // exact: narrow formats have <= 11 bits
    ASSERT_GT(mid, lo);
    ASSERT_LT(mid, hi);
    const Code even = (codes[i] & 1) == 0 ? codes[i] : codes[i + 1];
    EXPECT_EQ(encode(mid), even) << "tie at " << mid;
    EXPECT_EQ(encode(std::nextafter(mid, lo)), codes[i]) << "below tie at " << mid;
    EXPECT_EQ(encode(std::nextafter(mid, hi)), codes[i + 1]) << "above tie at " << mid;
    EXPECT_EQ(encode(-mid), static_cast<Code>(even | (Code{1} << (sizeof(Code) * 8 - 1))));
  }
}

// ---------------------------------------------------------------- F16

TEST(F16Test, HandComputedValues) {
  EXPECT_EQ(F16ToF32(0x3C00), 1.0f);
  EXPECT_EQ(F16ToF32(0xC100), -2.5f);
  EXPECT_EQ(F16ToF32(0x7BFF), 65504.0f);
  EXPECT_EQ(F16ToF32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(F16ToF32(0x03FF), std::ldexp(1023.0f, -24));  // largest subnormal
  EXPECT_EQ(F16ToF32(0x0400), std::ldexp(1.0f, -14));  // smallest normal
  EXPECT_EQ(F16ToF32(0x3555), 0.333251953125f);
  EXPECT_EQ(Bits(F16ToF32(0x8000)), 0x80000000u);
  EXPECT_EQ(F16ToF32(0x7C00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(F16ToF32(0xFC00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(F16ToF32(0x7E00)));

  EXPECT_EQ(F32ToF16(1.0f), 0x3C00);
  EXPECT_EQ(F32ToF16(-2.5f), 0xC100);
  EXPECT_EQ(F32ToF16(65504.0f), 0x7BFF);
  EXPECT_EQ(F32ToF16(1.0f / 3.0f), 0x3555);
  EXPECT_EQ(F32ToF16(-0.0f), 0x8000);
  EXPECT_EQ(F32ToF16(std::ldexp(1.0f, -24)), 0x0001);
  // 2^-25 is exactly half the smallest subnormal: tie to even gives zero...
  EXPECT_EQ(F32ToF16(std::ldexp(1.0f, -25)), 0x0000);
  // ...and anything above it rounds up.
  EXPECT_EQ(F32ToF16(std::nextafter(std::ldexp(1.0f, -25), 1.0f)), 0x0001);
  // 3 * 2^-25 is halfway between subnormals 1 and 2: rounds to the even one.
  EXPECT_EQ(F32ToF16(std::ldexp(3.0f, -25)), 0x0002);
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: even is 1.
  EXPECT_EQ(F32ToF16(1.0f + std::ldexp(1.0f, -11)), 0x3C00);
  EXPECT_EQ(F32ToF16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);
  // Largest subnormal rounding up into the smallest normal.
  EXPECT_EQ(F32ToF16(std::ldexp(1023.5f, -24)), 0x0400);
  // 65520 is halfway between 65504 and 65536 (= inf): the even side is inf.
  EXPECT_EQ(F32ToF16(65519.996f), 0x7BFF);
  EXPECT_EQ(F32ToF16(65520.0f), 0x7C00);
  EXPECT_EQ(F32ToF16(1e10f), 0x7C00);
  EXPECT_EQ(F32ToF16(-1e10f), 0xFC00);
  EXPECT_EQ(F32ToF16(std::numeric_limits<float>::infinity()), 0x7C00);
  EXPECT_EQ(F32ToF16(std::numeric_limits<float>::denorm_min()), 0x0000);
  EXPECT_EQ(F32ToF16(-std::numeric_limits<float>::denorm_min()), 0x8000);
}

TEST(F16Test, AllCodesRoundTrip) {
  for (uint32_t code = 0; code < 0x10000; ++code) {
    const auto h = static_cast<uint16_t>(code);
    const float f = F16ToF32(h);
    if ((h & 0x7C00) == 0x7C00 && (h & 0x03FF) != 0) {
      ASSERT_TRUE(std::isnan(f)) << code;
      // A NaN comes back quiet, with its sign and payload.
      ASSERT_EQ(F32ToF16(f), h | 0x0200) << code;
    } else {
      ASSERT_EQ(F32ToF16(f), h) << code;
    }
  }
}

TEST(F16Test, TiesRoundToEvenEverywhere) {
  std::vector<uint16_t> codes;
  for (uint16_t c = 0; c <= 0x7BFF; ++c) codes.push_back(c);
  ExpectTiesToEven(codes, F16ToF32, F32ToF16);
}

#if defined(__FLT16_MAX__)
// The compiler's own _Float16 conversion is an independent round-to-nearest-even
// implementation; compare on a stride through every float32 bit pattern.
TEST(F16Test, MatchesCompilerFloat16OnSampledFloats) {
  for (uint64_t bits = 0; bits <= 0xFFFFFFFFu; bits += 997) {
    const float f = FromBits(static_cast<uint32_t>(bits));
    if (std::isnan(f)) continue;
    const auto expected = std::bit_cast<uint16_t>(static_cast<_Float16>(f));
    ASSERT_EQ(F32ToF16(f), expected) << std::hex << bits;
  }
}
#endif

// ---------------------------------------------------------------- BF16

TEST(BF16Test, HandComputedValues) {
  EXPECT_EQ(BF16ToF32(0x3F80), 1.0f);
  EXPECT_EQ(BF16ToF32(0xC020), -2.5f);
  EXPECT_EQ(BF16ToF32(0x0001), std::ldexp(1.0f, -133));  // smallest subnormal
  EXPECT_EQ(BF16ToF32(0x7F7F), 0x1.FEp127f);
  EXPECT_EQ(F32ToBF16(1.0f), 0x3F80);
  EXPECT_EQ(F32ToBF16(-2.5f), 0xC020);
  EXPECT_EQ(F32ToBF16(3.14159265f), 0x4049);  // 3.140625
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: even is 1.
  EXPECT_EQ(F32ToBF16(1.0f + std::ldexp(1.0f, -8)), 0x3F80);
  EXPECT_EQ(F32ToBF16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3F82);
  EXPECT_EQ(F32ToBF16(std::nextafter(1.0f + std::ldexp(1.0f, -8), 2.0f)), 0x3F81);
  // Rounding past the largest finite value reaches infinity.
  EXPECT_EQ(F32ToBF16(std::numeric_limits<float>::max()), 0x7F80);
  EXPECT_EQ(F32ToBF16(-std::numeric_limits<float>::infinity()), 0xFF80);
  // NaN stays a quiet NaN even when its payload lives only in the dropped bits.
  EXPECT_EQ(F32ToBF16(FromBits(0x7F800001u)), 0x7FC0);
  EXPECT_EQ(F32ToBF16(FromBits(0xFFC00000u)), 0xFFC0);
}

TEST(BF16Test, AllCodesRoundTrip) {
  for (uint32_t code = 0; code < 0x10000; ++code) {
    const auto b = static_cast<uint16_t>(code);
    const float f = BF16ToF32(b);
    ASSERT_EQ(Bits(f), code << 16);
    if (std::isnan(f)) {
      ASSERT_EQ(F32ToBF16(f), b | 0x0040) << code;
    } else {
      ASSERT_EQ(F32ToBF16(f), b) << code;
    }
  }
}

TEST(BF16Test, TiesRoundToEvenEverywhere) {
  std::vector<uint16_t> codes;
  for (uint16_t c = 0; c <= 0x7F7F; ++c) codes.push_back(c);
  ExpectTiesToEven(codes, BF16ToF32, F32ToBF16);
}

// ---------------------------------------------------------------- FP8 E4M3

TEST(F8E4M3Test, HandComputedValues) {
  EXPECT_EQ(F8E4M3ToF32(0x38), 1.0f);         // 0.0111.000
  EXPECT_EQ(F8E4M3ToF32(0xC2), -2.5f);        // 1.1000.010: -2 * 1.25
  EXPECT_EQ(F8E4M3ToF32(0x7E), 448.0f);       // 0.1111.110: 2^8 * 1.75
  EXPECT_EQ(F8E4M3ToF32(0x01), 0.001953125f);  // 2^-9
  EXPECT_EQ(F8E4M3ToF32(0x07), 7 * 0.001953125f);
  EXPECT_EQ(F8E4M3ToF32(0x08), 0.015625f);     // 2^-6
  EXPECT_EQ(F8E4M3ToF32(0x78), 256.0f);        // exponent 15 is finite here
  EXPECT_TRUE(std::isnan(F8E4M3ToF32(0x7F)));
  EXPECT_TRUE(std::isnan(F8E4M3ToF32(0xFF)));
  EXPECT_EQ(Bits(F8E4M3ToF32(0x80)), 0x80000000u);

  EXPECT_EQ(F32ToF8E4M3(1.0f), 0x38);
  EXPECT_EQ(F32ToF8E4M3(-2.5f), 0xC2);
  EXPECT_EQ(F32ToF8E4M3(448.0f), 0x7E);
  EXPECT_EQ(F32ToF8E4M3(0.001953125f), 0x01);
  EXPECT_EQ(F32ToF8E4M3(0.0009765625f), 0x00);  // 2^-10: tie, even is zero
  EXPECT_EQ(F32ToF8E4M3(0.0009765626f), 0x01);
  EXPECT_EQ(F32ToF8E4M3(3 * 0.0009765625f), 0x02);  // tie between 1 and 2 -> 2
  EXPECT_EQ(F32ToF8E4M3(1.0625f), 0x38);  // tie between 1 and 1.125 -> 1
  EXPECT_EQ(F32ToF8E4M3(1.1875f), 0x3A);  // tie between 1.125 and 1.25 -> 1.25
  // Saturation: everything past 448 (inf included) becomes ±448.
  EXPECT_EQ(F32ToF8E4M3(464.0f), 0x7E);
  EXPECT_EQ(F32ToF8E4M3(465.0f), 0x7E);
  EXPECT_EQ(F32ToF8E4M3(480.0f), 0x7E);
  EXPECT_EQ(F32ToF8E4M3(1e30f), 0x7E);
  EXPECT_EQ(F32ToF8E4M3(-1e30f), 0xFE);
  EXPECT_EQ(F32ToF8E4M3(std::numeric_limits<float>::infinity()), 0x7E);
  EXPECT_EQ(F32ToF8E4M3(-std::numeric_limits<float>::infinity()), 0xFE);
  EXPECT_EQ(F32ToF8E4M3(std::numeric_limits<float>::quiet_NaN()), 0x7F);
  EXPECT_EQ(F32ToF8E4M3(-std::numeric_limits<float>::quiet_NaN()), 0xFF);
}

TEST(F8E4M3Test, AllCodesRoundTrip) {
  for (uint32_t code = 0; code < 256; ++code) {
    const auto v = static_cast<uint8_t>(code);
    const float f = F8E4M3ToF32(v);
    ASSERT_EQ(F32ToF8E4M3(f), v) << code;
    if ((code & 0x7F) != 0x7F) {
      // Independent formula for finite codes.
      const int e = (code >> 3) & 0xF;
      const int m = code & 7;
      const float magnitude = e == 0 ? std::ldexp(static_cast<float>(m), -9)
                                     : std::ldexp(static_cast<float>(8 + m), e - 10);
      ASSERT_EQ(f, (code & 0x80) ? -magnitude : magnitude) << code;
    }
  }
}

TEST(F8E4M3Test, TiesRoundToEvenEverywhere) {
  std::vector<uint8_t> codes;
  for (uint8_t c = 0; c <= 0x7E; ++c) codes.push_back(c);
  ExpectTiesToEven(codes, F8E4M3ToF32, F32ToF8E4M3);
}

// ---------------------------------------------------------------- FP8 E5M2

TEST(F8E5M2Test, HandComputedValues) {
  EXPECT_EQ(F8E5M2ToF32(0x3C), 1.0f);
  EXPECT_EQ(F8E5M2ToF32(0xC1), -2.5f);  // 1.10000.01
  EXPECT_EQ(F8E5M2ToF32(0x7B), 57344.0f);
  EXPECT_EQ(F8E5M2ToF32(0x01), std::ldexp(1.0f, -16));
  EXPECT_EQ(F8E5M2ToF32(0x04), std::ldexp(1.0f, -14));
  EXPECT_EQ(F8E5M2ToF32(0x7C), std::numeric_limits<float>::infinity());
  EXPECT_EQ(F8E5M2ToF32(0xFC), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(F8E5M2ToF32(0x7D)));
  EXPECT_TRUE(std::isnan(F8E5M2ToF32(0x7F)));

  EXPECT_EQ(F32ToF8E5M2(1.0f), 0x3C);
  EXPECT_EQ(F32ToF8E5M2(-2.5f), 0xC1);
  EXPECT_EQ(F32ToF8E5M2(1.125f), 0x3C);  // tie between 1 and 1.25 -> 1
  EXPECT_EQ(F32ToF8E5M2(1.375f), 0x3E);  // tie between 1.25 and 1.5 -> 1.5
  EXPECT_EQ(F32ToF8E5M2(57344.0f), 0x7B);
  EXPECT_EQ(F32ToF8E5M2(61439.0f), 0x7B);
  EXPECT_EQ(F32ToF8E5M2(61440.0f), 0x7C);  // tie with 65536 (inf): even side is inf
  EXPECT_EQ(F32ToF8E5M2(-1e30f), 0xFC);
  EXPECT_EQ(F32ToF8E5M2(std::ldexp(1.0f, -17)), 0x00);  // tie -> zero
  EXPECT_EQ(F32ToF8E5M2(std::numeric_limits<float>::quiet_NaN()), 0x7F);
}

TEST(F8E5M2Test, AllCodesRoundTrip) {
  for (uint32_t code = 0; code < 256; ++code) {
    const auto v = static_cast<uint8_t>(code);
    const float f = F8E5M2ToF32(v);
    if ((code & 0x7C) == 0x7C && (code & 0x03) != 0) {
      ASSERT_TRUE(std::isnan(f));
      ASSERT_EQ(F32ToF8E5M2(f), static_cast<uint8_t>((code & 0x80) | 0x7F));
    } else {
      ASSERT_EQ(F32ToF8E5M2(f), v) << code;
    }
  }
}

TEST(F8E5M2Test, TiesRoundToEvenEverywhere) {
  std::vector<uint8_t> codes;
  for (uint8_t c = 0; c <= 0x7B; ++c) codes.push_back(c);
  ExpectTiesToEven(codes, F8E5M2ToF32, F32ToF8E5M2);
}

}  // namespace
}  // namespace fathom

#include "formats/gguf_value.h"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>

namespace fathom {
namespace {

TEST(GgufValueTest, TypeNamesFollowTheSpec) {
  EXPECT_EQ(GgufTypeName(GgufType::kUint8), "uint8");
  EXPECT_EQ(GgufTypeName(GgufType::kFloat32), "float32");
  EXPECT_EQ(GgufTypeName(GgufType::kString), "string");
  EXPECT_EQ(GgufTypeName(GgufType::kArray), "array");
  EXPECT_EQ(GgufTypeName(GgufType::kFloat64), "float64");
  EXPECT_EQ(GgufTypeName(static_cast<GgufType>(13)), "unknown");
  EXPECT_TRUE(IsValidGgufType(12));
  EXPECT_FALSE(IsValidGgufType(13));
}

TEST(GgufValueTest, IntegersConvertWhereTheyFit) {
  EXPECT_EQ(GgufValue::I8(-5).AsInt(), -5);
  EXPECT_EQ(GgufValue::I16(-30000).AsInt(), -30000);
  EXPECT_EQ(GgufValue::I32(std::numeric_limits<int32_t>::min()).AsInt(), std::numeric_limits<int32_t>::min());
  EXPECT_EQ(GgufValue::I64(std::numeric_limits<int64_t>::min()).AsInt(), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(GgufValue::U8(255).AsInt(), 255);
  EXPECT_EQ(GgufValue::U16(65535).AsInt(), 65535);
  EXPECT_EQ(GgufValue::U32(4000000000u).AsInt(), 4000000000);
  EXPECT_EQ(GgufValue::U64(uint64_t{1} << 63).AsInt(), std::nullopt);
  EXPECT_EQ(GgufValue::U64(uint64_t{1} << 63).AsUint(), uint64_t{1} << 63);
  EXPECT_EQ(GgufValue::I8(-1).AsUint(), std::nullopt);
  EXPECT_EQ(GgufValue::Bool(true).AsInt(), 1);
  EXPECT_EQ(GgufValue::F32(1.0f).AsInt(), std::nullopt);
  EXPECT_EQ(GgufValue::String("7").AsInt(), std::nullopt);
}

TEST(GgufValueTest, FloatsAndBools) {
  EXPECT_EQ(GgufValue::F32(0.15625f).AsFloat(), 0.15625);
  EXPECT_EQ(GgufValue::F64(-2.5e-300).AsFloat(), -2.5e-300);
  EXPECT_EQ(GgufValue::I32(-3).AsFloat(), -3.0);
  EXPECT_EQ(GgufValue::U64(10).AsFloat(), 10.0);
  EXPECT_EQ(GgufValue::Bool(true).AsFloat(), std::nullopt);
  EXPECT_EQ(GgufValue::Bool(false).AsBool(), false);
  EXPECT_EQ(GgufValue::U8(1).AsBool(), std::nullopt);
  EXPECT_EQ(GgufValue::F32(1.0f).scalar_bits(), 0x3F800000u);
}

TEST(GgufValueTest, StringsAndArrays) {
  GgufValue s = GgufValue::String("hi");
  ASSERT_NE(s.AsString(), nullptr);
  EXPECT_EQ(*s.AsString(), "hi");
  EXPECT_EQ(GgufValue::U8(1).AsString(), nullptr);
  EXPECT_TRUE(GgufValue::U8(1).elements().empty());

  GgufValue a = GgufValue::StringArray({"a", "b"});
  EXPECT_TRUE(a.is_array());
  EXPECT_EQ(a.type(), GgufType::kArray);
  EXPECT_EQ(a.element_type(), GgufType::kString);
  ASSERT_EQ(a.elements().size(), 2u);
  EXPECT_EQ(*a.elements()[1].AsString(), "b");
  EXPECT_EQ(a.AsString(), nullptr);
  EXPECT_EQ(GgufValue::F32Array({1.5f}).elements()[0].AsFloat(), 1.5);
  EXPECT_EQ(GgufValue::I32Array({-4}).elements()[0].AsInt(), -4);
}

TEST(GgufValueTest, EqualityComparesTypeAndBits) {
  EXPECT_EQ(GgufValue::I32(1), GgufValue::I32(1));
  EXPECT_NE(GgufValue::I32(1), GgufValue::U32(1));
  EXPECT_EQ(GgufValue::F32(std::nanf("")), GgufValue::F32(std::nanf("")));
  EXPECT_NE(GgufValue::Array(GgufType::kInt32, {}), GgufValue::Array(GgufType::kUint8, {}));
  EXPECT_EQ(GgufValue::I32Array({1, 2}), GgufValue::I32Array({1, 2}));
  EXPECT_NE(GgufValue::I32Array({1, 2}), GgufValue::I32Array({1, 3}));
}

TEST(GgufValueTest, ToJsonScalars) {
  EXPECT_EQ(GgufValue::U64(18446744073709551615ull).ToJson(8), nlohmann::json(18446744073709551615ull));
  EXPECT_EQ(GgufValue::I8(-7).ToJson(8), nlohmann::json(-7));
  EXPECT_EQ(GgufValue::F32(0.5f).ToJson(8), nlohmann::json(0.5));
  EXPECT_EQ(GgufValue::Bool(true).ToJson(8), nlohmann::json(true));
  EXPECT_EQ(GgufValue::String("x").ToJson(8), nlohmann::json("x"));
}

TEST(GgufValueTest, ToJsonSummarisesLongArraysAtEveryLevel) {
  EXPECT_EQ(GgufValue::I32Array({1, 2}).ToJson(2), nlohmann::json::parse("[1,2]"));
  EXPECT_EQ(GgufValue::I32Array({1, 2, 3}).ToJson(2),
            nlohmann::json::parse(R"({"type":"array","element_type":"int32","length":3})"));
  GgufValue nested = GgufValue::Array(
      GgufType::kArray, {GgufValue::StringArray({"a"}), GgufValue::StringArray({"a", "b", "c"})});
  EXPECT_EQ(nested.ToJson(2),
            nlohmann::json::parse(R"([["a"],{"type":"array","element_type":"string","length":3}])"));
  EXPECT_EQ(GgufValue::Array(GgufType::kFloat64, {}).ToJson(0), nlohmann::json::array());
}

TEST(GgufValueTest, ToJsonReplacesInvalidUtf8SoDumpNeverThrows) {
  std::string bad = "ok\xff\xc3(\xe2\x82";  // a stray byte, a broken 2-byte and a cut 3-byte sequence
  nlohmann::json j = GgufValue::String(bad).ToJson(1);
  std::string dumped;
  ASSERT_NO_THROW(dumped = j.dump());
  EXPECT_EQ(j.get<std::string>(), "ok\xEF\xBF\xBD\xEF\xBF\xBD(\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(GgufValue::String("w\xc3\xb6rld \xe2\x9c\x93").ToJson(1).get<std::string>(), "w\xc3\xb6rld \xe2\x9c\x93");
  EXPECT_NO_THROW(GgufValue::String("\xed\xa0\x80").ToJson(1).dump());  // an encoded surrogate is invalid
}

TEST(GgufValueDeathTest, ArrayOfMixedTypesIsABug) {
  EXPECT_DEATH(GgufValue::Array(GgufType::kInt32, {GgufValue::U8(1)}), "int32");
}

}  // namespace
}  // namespace fathom

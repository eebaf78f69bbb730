// Interoperability with the reference implementation, the `gguf` Python package.
// One direction needs no Python at test time: tests/fixtures/gguf/written_by_gguf_py.gguf
// was written by gguf.GGUFWriter (tools/check_gguf.py write-fixture) and is read
// here. The other direction is driven by tests/python/test_gguf_interop.py, which
// runs WriteSampleForPython with FATHOM_INTEROP_DIR set and reads the result with
// gguf.GGUFReader.
#include <cmath>
#include <cstdlib>
#include <cstring>

#include <gtest/gtest.h>

#include "formats/gguf_file.h"
#include "gguf_test_util.h"

namespace fathom {
namespace {

TEST(GgufInteropTest, WriteSampleForPython) {
  const char* dir = std::getenv("FATHOM_INTEROP_DIR");
  if (dir == nullptr || *dir == '\0') GTEST_SKIP() << "FATHOM_INTEROP_DIR is not set";
  std::string path = std::string(dir) + "/written_by_fathom.gguf";
  Status s = gguf_test::SampleWriter().Write(path);
  ASSERT_TRUE(s.ok()) << s.ToString();
}

// IEEE half to float, for normal numbers and zeros (all the fixture holds).
float HalfToFloat(uint16_t h) {
  int exponent = (h >> 10) & 0x1F;
  float mantissa = static_cast<float>(h & 0x3FF);
  float magnitude = exponent == 0 ? mantissa * std::ldexp(1.0f, -24)
                                  : (1.0f + mantissa / 1024.0f) * std::ldexp(1.0f, exponent - 15);
  return (h & 0x8000) ? -magnitude : magnitude;
}

uint16_t LoadU16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

TEST(GgufInteropTest, ReadsFileWrittenByGgufPy) {
  Result<GgufFile> file = GgufFile::Open(FATHOM_SOURCE_DIR "/tests/fixtures/gguf/written_by_gguf_py.gguf");
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(file->version(), 3u);
  EXPECT_EQ(file->alignment(), 32u);

  using V = GgufValue;
  std::vector<std::pair<std::string, GgufValue>> expected = {
      {"general.architecture", V::String("fathom-test")},
      {"py.u8", V::U8(200)},
      {"py.i8", V::I8(-100)},
      {"py.u16", V::U16(60000)},
      {"py.i16", V::I16(-30000)},
      {"py.u32", V::U32(4000000000u)},
      {"py.i32", V::I32(-2000000000)},
      {"py.f32", V::F32(0.5f)},
      {"py.bool", V::Bool(true)},
      {"py.string", V::String("fathom \xe2\x9c\x93")},
      {"py.u64", V::U64((uint64_t{1} << 40) + 3)},
      {"py.i64", V::I64(-(int64_t{1} << 40))},
      {"py.f64", V::F64(M_PI)},
      {"tokenizer.ggml.tokens", V::StringArray({"<unk>", "<s>", "</s>", "hello", "w\xc3\xb6rld", ""})},
      {"py.f32_array", V::F32Array({0.0f, -1.5f, 2.25f})},
      {"py.i32_array", V::I32Array({1, -2, 3})},
      {"py.nested", V::Array(GgufType::kArray, {V::I32Array({1, 2}), V::I32Array({3})})},
  };
  ASSERT_EQ(file->metadata().size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(file->metadata()[i].first, expected[i].first);
    EXPECT_EQ(file->metadata()[i].second, expected[i].second) << expected[i].first << ": "
                                                              << file->metadata()[i].second.ToJson(16).dump();
  }

  ASSERT_EQ(file->tensors().size(), 4u);
  const GgufTensorInfo* f32 = file->FindTensor("t.f32");
  ASSERT_NE(f32, nullptr);
  EXPECT_EQ(f32->dtype, DType::kF32);
  EXPECT_EQ(f32->ne, (std::vector<int64_t>{4, 3}));
  EXPECT_EQ(f32->RowMajorShape(), (std::vector<int64_t>{3, 4}));
  for (int i = 0; i < 12; ++i) {
    float v;
    std::memcpy(&v, f32->data + 4 * i, 4);
    EXPECT_EQ(v, 0.5f * static_cast<float>(i));
  }

  const GgufTensorInfo* f16 = file->FindTensor("t.f16");
  ASSERT_NE(f16, nullptr);
  EXPECT_EQ(f16->dtype, DType::kF16);
  EXPECT_EQ(f16->ne, (std::vector<int64_t>{4, 2}));
  for (int i = 0; i < 8; ++i) EXPECT_EQ(HalfToFloat(LoadU16(f16->data + 2 * i)), 0.25f * static_cast<float>(i) - 1.0f);

  // Q8_0 blocks: an f16 scale d, then 32 int8 quants q; x = d * q.
  const GgufTensorInfo* q8 = file->FindTensor("t.q8_0");
  ASSERT_NE(q8, nullptr);
  EXPECT_EQ(q8->dtype, DType::kQ8_0);
  EXPECT_EQ(q8->ne, (std::vector<int64_t>{64, 2}));
  ASSERT_EQ(q8->num_bytes, 4u * 34u);
  for (int r = 0; r < 2; ++r) {
    for (int c = 0; c < 64; ++c) {
      const uint8_t* block = q8->data + (r * 2 + c / 32) * 34;
      float d = HalfToFloat(LoadU16(block));
      float x = d * static_cast<float>(static_cast<int8_t>(block[2 + c % 32]));
      float want = static_cast<float>(c - 32) / 8.0f + static_cast<float>(r);
      EXPECT_NEAR(x, want, 0.5f * d + 1e-3f) << "row " << r << " col " << c;
    }
  }

  const GgufTensorInfo* i32 = file->FindTensor("t.i32");
  ASSERT_NE(i32, nullptr);
  EXPECT_EQ(i32->dtype, DType::kI32);
  EXPECT_EQ(i32->ne, (std::vector<int64_t>{5}));
  int32_t ints[5];
  std::memcpy(ints, i32->data, sizeof(ints));
  EXPECT_EQ(std::vector<int32_t>(ints, ints + 5), (std::vector<int32_t>{1, -2, 3, -4, 5}));
}

}  // namespace
}  // namespace fathom

// Round trips: what GgufWriter writes, GgufFile reads back unchanged, and the
// bytes on disk follow the spec's layout and padding.
#include "formats/gguf_writer.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstring>

#include <gtest/gtest.h>

#include "formats/gguf_file.h"
#include "gguf_test_util.h"

namespace fathom {
namespace {

using gguf_test::ReadBytes;
using gguf_test::SampleMetadata;
using gguf_test::SampleTensorBytes;
using gguf_test::SampleTensors;
using gguf_test::SampleWriter;
using gguf_test::TempPath;

bool Exists(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0;
}

TEST(GgufWriterTest, SampleRoundTripsEveryMetadataTypeAndTensor) {
  std::string path = TempPath("sample.gguf");
  ASSERT_TRUE(SampleWriter().Write(path).ok());
  EXPECT_FALSE(Exists(path + ".tmp"));

  Result<GgufFile> file = GgufFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(file->version(), 3u);
  EXPECT_EQ(file->alignment(), 64u);
  EXPECT_EQ(file->data_offset() % 64, 0u);
  EXPECT_EQ(file->metadata(), SampleMetadata());
  for (const auto& [key, value] : SampleMetadata()) {
    const GgufValue* found = file->Find(key);
    ASSERT_NE(found, nullptr) << key;
    EXPECT_EQ(*found, value) << key;
  }
  EXPECT_EQ(file->Find("test.missing"), nullptr);

  ASSERT_EQ(file->tensors().size(), SampleTensors().size());
  uint64_t expected_offset = 0;
  for (size_t k = 0; k < SampleTensors().size(); ++k) {
    const GgufTensorInfo& t = file->tensors()[k];
    EXPECT_EQ(t.name, SampleTensors()[k].name);
    EXPECT_EQ(t.dtype, SampleTensors()[k].dtype);
    EXPECT_EQ(t.ne, SampleTensors()[k].ne);
    EXPECT_EQ(t.offset, expected_offset) << t.name;
    std::vector<uint8_t> bytes = SampleTensorBytes(k);
    ASSERT_EQ(t.num_bytes, bytes.size());
    EXPECT_EQ(std::memcmp(t.data, bytes.data(), bytes.size()), 0) << t.name;
    EXPECT_EQ(file->FindTensor(t.name), &t);
    expected_offset += (t.num_bytes + 63) / 64 * 64;
  }
  EXPECT_EQ(file->FindTensor("t.missing"), nullptr);
  // The last tensor's data is padded too, so the file ends on the alignment.
  EXPECT_EQ(file->file_size(), file->data_offset() + expected_offset);
}

TEST(GgufWriterTest, TensorInfoShapes) {
  std::string path = TempPath("shapes.gguf");
  ASSERT_TRUE(SampleWriter().Write(path).ok());
  Result<GgufFile> file = GgufFile::Open(path);
  ASSERT_TRUE(file.ok());
  const GgufTensorInfo* t = file->FindTensor("t.i8_3d");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->RowMajorShape(), (std::vector<int64_t>{2, 2, 3}));
  EXPECT_EQ(t->num_elements(), 12);
  EXPECT_EQ(file->FindTensor("t.q8_0")->num_bytes, 4u * 34u);  // 2 rows of 2 blocks
}

class GgufWriterAlignmentTest : public ::testing::TestWithParam<uint32_t> {};

TEST_P(GgufWriterAlignmentTest, DataSectionAndEveryTensorAreAligned) {
  const uint32_t alignment = GetParam();
  GgufWriter w;
  w.Set("general.architecture", GgufValue::String("x"));
  if (alignment != 32) w.Set("general.alignment", GgufValue::U32(alignment));
  std::vector<uint8_t> a(3 * 4, 1), b(34, 2), c(2, 3);
  ASSERT_TRUE(w.AddTensor("a", DType::kF32, {3}, a).ok());
  ASSERT_TRUE(w.AddTensor("b", DType::kQ8_0, {32}, b).ok());
  ASSERT_TRUE(w.AddTensor("c", DType::kI8, {2}, c).ok());
  EXPECT_EQ(w.alignment(), alignment);
  std::string path = TempPath("aligned.gguf");
  ASSERT_TRUE(w.Write(path).ok());

  std::vector<uint8_t> bytes = ReadBytes(path);
  Result<GgufFile> file = GgufFile::Parse(bytes);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(file->alignment(), alignment);
  EXPECT_EQ(file->data_offset() % alignment, 0u);
  for (const GgufTensorInfo& t : file->tensors()) {
    EXPECT_EQ(t.offset % alignment, 0u) << t.name;
    EXPECT_EQ((t.data - bytes.data()) % alignment, 0) << t.name;
  }
  EXPECT_EQ(file->FindTensor("b")->data[33], 2);
  EXPECT_EQ(bytes.size() % alignment, 0u);
  // Padding is zeros.
  const GgufTensorInfo* last = file->FindTensor("c");
  for (size_t i = last->data - bytes.data() + last->num_bytes; i < bytes.size(); ++i) EXPECT_EQ(bytes[i], 0) << i;
}

INSTANTIATE_TEST_SUITE_P(Alignments, GgufWriterAlignmentTest, ::testing::Values(1u, 8u, 32u, 64u, 4096u));

TEST(GgufWriterTest, SetReplacesInPlaceKeepingOrder) {
  GgufWriter w;
  w.Set("a", GgufValue::U8(1));
  w.Set("b", GgufValue::U8(2));
  w.Set("a", GgufValue::String("again"));
  std::string path = TempPath("set.gguf");
  ASSERT_TRUE(w.Write(path).ok());
  Result<GgufFile> file = GgufFile::Open(path);
  ASSERT_TRUE(file.ok());
  ASSERT_EQ(file->metadata().size(), 2u);
  EXPECT_EQ(file->metadata()[0].first, "a");
  EXPECT_EQ(*file->metadata()[0].second.AsString(), "again");
  EXPECT_EQ(file->metadata()[1].first, "b");
  EXPECT_TRUE(file->tensors().empty());
}

TEST(GgufWriterTest, EmptyWriterWritesAValidFile) {
  std::string path = TempPath("empty.gguf");
  ASSERT_TRUE(GgufWriter().Write(path).ok());
  Result<GgufFile> file = GgufFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(file->data_offset(), 32u);
  EXPECT_EQ(file->file_size(), 32u);
}

TEST(GgufWriterTest, ZeroSizedTensorsAreAllowed) {
  GgufWriter w;
  ASSERT_TRUE(w.AddTensor("empty", DType::kF32, {0, 4}, std::span<const uint8_t>()).ok());
  std::string path = TempPath("zero.gguf");
  ASSERT_TRUE(w.Write(path).ok());
  Result<GgufFile> file = GgufFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(file->tensors()[0].num_bytes, 0u);
  EXPECT_EQ(file->tensors()[0].num_elements(), 0);
}

TEST(GgufWriterTest, AddTensorRejectsWhatGgufCannotHold) {
  GgufWriter w;
  std::vector<uint8_t> four(4);
  auto message = [](const Status& s) { return s.message(); };
  Status s = w.AddTensor("fp8", DType::kF8E4M3, {4}, four);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(message(s).find("F8_E4M3 has no GGUF type"), std::string::npos) << message(s);
  s = w.AddTensor("q", DType::kQ8_0, {16}, nullptr);
  EXPECT_FALSE(s.ok());
  s = w.AddTensor("q", DType::kQ8_0, {16}, [](std::span<uint8_t>) { return Status::Ok(); });
  EXPECT_NE(message(s).find("not a multiple of the Q8_0 block size 32"), std::string::npos) << message(s);
  EXPECT_FALSE(w.AddTensor("dims", DType::kF32, {1, 1, 1, 1, 1}, four).ok());
  EXPECT_FALSE(w.AddTensor("dims", DType::kF32, {}, four).ok());
  EXPECT_FALSE(w.AddTensor("neg", DType::kF32, {-1}, four).ok());
  EXPECT_FALSE(w.AddTensor("huge", DType::kF32, {int64_t{1} << 40, int64_t{1} << 40}, four).ok());
  EXPECT_FALSE(w.AddTensor("", DType::kF32, {1}, four).ok());
  EXPECT_FALSE(w.AddTensor(std::string(64, 'n'), DType::kF32, {1}, four).ok());
  EXPECT_TRUE(w.AddTensor(std::string(63, 'n'), DType::kF32, {1}, four).ok());
  s = w.AddTensor("size", DType::kF32, {2}, four);
  EXPECT_NE(message(s).find("given 4 bytes, its shape needs 8"), std::string::npos) << message(s);
  ASSERT_TRUE(w.AddTensor("dup", DType::kF32, {1}, four).ok());
  s = w.AddTensor("dup", DType::kF32, {1}, four);
  EXPECT_NE(message(s).find("already added"), std::string::npos) << message(s);
}

TEST(GgufWriterTest, InvalidAlignmentFailsWrite) {
  for (GgufValue bad : {GgufValue::U32(48), GgufValue::U32(0), GgufValue::I32(32), GgufValue::U64(32)}) {
    GgufWriter w;
    w.Set("general.alignment", bad);
    EXPECT_EQ(w.alignment(), 0u);
    std::string path = TempPath("bad_align.gguf");
    Status s = w.Write(path);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_FALSE(Exists(path));
  }
}

TEST(GgufWriterTest, InvalidKeysAndDeepArraysFailWrite) {
  GgufWriter empty_key;
  empty_key.Set("", GgufValue::U8(0));
  EXPECT_FALSE(empty_key.Write(TempPath("k.gguf")).ok());

  GgufValue deep = GgufValue::U8(0);
  for (int i = 0; i < GgufFile::kMaxArrayDepth; ++i) deep = GgufValue::Array(deep.type(), {deep});
  GgufWriter ok_depth;
  ok_depth.Set("deep", deep);
  std::string path = TempPath("deep.gguf");
  ASSERT_TRUE(ok_depth.Write(path).ok());
  Result<GgufFile> file = GgufFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(*file->Find("deep"), deep);

  GgufWriter too_deep;
  too_deep.Set("deep", GgufValue::Array(GgufType::kArray, {deep}));
  Status s = too_deep.Write(TempPath("deeper.gguf"));
  EXPECT_NE(s.message().find("nested more than 8 deep"), std::string::npos) << s.message();
}

TEST(GgufWriterTest, FillErrorAbortsWriteAndLeavesNoFile) {
  GgufWriter w;
  ASSERT_TRUE(w.AddTensor("w", DType::kF32, {4}, [](std::span<uint8_t>) { return IoError("source went away"); }).ok());
  std::string path = TempPath("fill_error.gguf");
  Status s = w.Write(path);
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  EXPECT_NE(s.message().find("tensor 'w': source went away"), std::string::npos) << s.message();
  EXPECT_FALSE(Exists(path));
  EXPECT_FALSE(Exists(path + ".tmp"));
}

TEST(GgufWriterTest, FillSeesExactlyTheTensorsBytes) {
  GgufWriter w;
  size_t seen = 0;
  ASSERT_TRUE(w.AddTensor("q", DType::kQ4_K, {512, 3}, [&](std::span<uint8_t> out) {
                 seen = out.size();
                 std::memset(out.data(), 0xAB, out.size());
                 return Status::Ok();
               }).ok());
  std::string path = TempPath("fill.gguf");
  ASSERT_TRUE(w.Write(path).ok());
  EXPECT_EQ(seen, 2u * 3u * 144u);
  Result<GgufFile> file = GgufFile::Open(path);
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file->tensors()[0].data[seen - 1], 0xAB);
}

TEST(GgufWriterTest, UnwritableDirectoryIsAnIoError) {
  Status s = GgufWriter().Write("/nonexistent-dir-for-fathom/x.gguf");
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  EXPECT_NE(s.message().find("/nonexistent-dir-for-fathom/x.gguf.tmp"), std::string::npos) << s.message();
}

TEST(GgufWriterTest, RewritingReplacesTheOldFile) {
  std::string path = TempPath("rewrite.gguf");
  GgufWriter w;
  w.Set("v", GgufValue::U8(1));
  ASSERT_TRUE(w.Write(path).ok());
  w.Set("v", GgufValue::U8(2));
  ASSERT_TRUE(w.Write(path).ok());
  Result<GgufFile> file = GgufFile::Open(path);
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file->Find("v")->AsInt(), 2);
}

}  // namespace
}  // namespace fathom

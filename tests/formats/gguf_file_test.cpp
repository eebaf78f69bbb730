// The reader against hand-built files: valid v2/v3 files assembled byte by byte, one
// file per class of corruption (each must fail with a message that names the
// problem), and brute force (every truncation, byte flips, random mutations), which
// must never crash or read outside the buffer; run it under the debug preset's
// ASan + UBSan.
#include "formats/gguf_file.h"

#include <bit>
#include <cstring>
#include <random>

#include <gtest/gtest.h>

#include "gguf_test_util.h"

namespace fathom {
namespace {

using gguf_test::ReadBytes;
using gguf_test::SampleWriter;
using gguf_test::TempPath;

constexpr uint32_t kF32 = 0, kF16 = 1, kQ8_0 = 8;

// Little-endian byte assembly.
class Bytes {
 public:
  Bytes& Raw(std::string_view s) {
    data_.insert(data_.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& Append(const Bytes& other) {
    data_.insert(data_.end(), other.data_.begin(), other.data_.end());
    return *this;
  }
  Bytes& Int(uint64_t v, size_t n) {
    for (size_t i = 0; i < n; ++i) data_.push_back(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
  Bytes& U8(uint8_t v) { return Int(v, 1); }
  Bytes& U32(uint32_t v) { return Int(v, 4); }
  Bytes& U64(uint64_t v) { return Int(v, 8); }
  Bytes& F32(float v) { return U32(std::bit_cast<uint32_t>(v)); }
  Bytes& Str(std::string_view s) { return U64(s.size()).Raw(s); }
  Bytes& Key(std::string_view key, GgufType type) { return Str(key).U32(static_cast<uint32_t>(type)); }
  Bytes& Header(uint32_t version, uint64_t num_tensors, uint64_t num_kvs) {
    return Raw("GGUF").U32(version).U64(num_tensors).U64(num_kvs);
  }
  Bytes& PadTo(size_t alignment) {
    while (data_.size() % alignment != 0) data_.push_back(0);
    return *this;
  }
  Bytes& Fill(size_t n, uint8_t v) {
    data_.insert(data_.end(), n, v);
    return *this;
  }
  size_t size() const { return data_.size(); }
  const std::vector<uint8_t>& data() const { return data_; }

 private:
  std::vector<uint8_t> data_;
};

Bytes Info(std::string_view name, std::vector<uint64_t> ne, uint32_t ggml_type, uint64_t offset) {
  Bytes b;
  b.Str(name).U32(static_cast<uint32_t>(ne.size()));
  for (uint64_t n : ne) b.U64(n);
  return b.U32(ggml_type).U64(offset);
}

// A v3 file: encoded metadata entries, encoded tensor infos, padding to `alignment`,
// then `data_bytes` bytes of data.
Bytes File(uint64_t num_kvs, const Bytes& kvs, uint64_t num_tensors, const Bytes& infos, size_t data_bytes,
           size_t alignment = 32) {
  Bytes b;
  b.Header(3, num_tensors, num_kvs).Append(kvs).Append(infos).PadTo(alignment).Fill(data_bytes, 0x11);
  return b;
}

// Parses a copy sized exactly to the input, so ASan catches any read past the end.
Status ParseStatus(const std::vector<uint8_t>& bytes) {
  std::vector<uint8_t> copy(bytes);
  Result<GgufFile> file = GgufFile::Parse(copy);
  return file.ok() ? Status::Ok() : file.status();
}

void ExpectError(const Bytes& b, StatusCode code, const std::string& needle) {
  Status s = ParseStatus(b.data());
  EXPECT_EQ(s.code(), code) << s.ToString();
  EXPECT_NE(s.message().find(needle), std::string::npos) << "message: " << s.message() << "\nwanted: " << needle;
}

Bytes HandBuilt(uint32_t version) {
  Bytes b;
  b.Header(version, 2, 3);
  b.Key("general.architecture", GgufType::kString).Str("llama");
  b.Key("llama.block_count", GgufType::kUint32).U32(2);
  b.Key("tokenizer.ggml.scores", GgufType::kArray).U32(6).U64(2).F32(0.5f).F32(-1.0f);
  b.Append(Info("token_embd.weight", {4, 3}, kF32, 0));
  b.Append(Info("output_norm.weight", {4}, kF16, 64));
  b.PadTo(32);
  for (int i = 0; i < 12; ++i) b.F32(static_cast<float>(i));
  b.PadTo(32).Int(0x3C00, 2).Int(0x4000, 2).Int(0xC000, 2).Int(0, 2);  // f16 1, 2, -2, 0
  return b;
}

void CheckHandBuilt(const Bytes& b, uint32_t version) {
  Result<GgufFile> file = GgufFile::Parse(b.data());
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(file->version(), version);
  EXPECT_EQ(file->alignment(), 32u);
  EXPECT_EQ(file->file_size(), b.size());
  ASSERT_EQ(file->metadata().size(), 3u);
  EXPECT_EQ(file->metadata()[0].first, "general.architecture");
  EXPECT_EQ(*file->Find("general.architecture")->AsString(), "llama");
  EXPECT_EQ(file->Find("llama.block_count")->type(), GgufType::kUint32);
  EXPECT_EQ(file->Find("llama.block_count")->AsInt(), 2);
  EXPECT_EQ(*file->Find("tokenizer.ggml.scores"), GgufValue::F32Array({0.5f, -1.0f}));

  ASSERT_EQ(file->tensors().size(), 2u);
  const GgufTensorInfo* embd = file->FindTensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(embd, &file->tensors()[0]);
  EXPECT_EQ(embd->dtype, DType::kF32);
  EXPECT_EQ(embd->ne, (std::vector<int64_t>{4, 3}));
  EXPECT_EQ(embd->RowMajorShape(), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(embd->num_bytes, 48u);
  EXPECT_EQ(embd->data, b.data().data() + file->data_offset());
  float f[12];
  std::memcpy(f, embd->data, sizeof(f));
  EXPECT_EQ(f[11], 11.0f);
  const GgufTensorInfo* norm = file->FindTensor("output_norm.weight");
  ASSERT_NE(norm, nullptr);
  EXPECT_EQ(norm->dtype, DType::kF16);
  EXPECT_EQ(norm->offset, 64u);
  EXPECT_EQ(norm->num_bytes, 8u);
  EXPECT_EQ(norm->data[1], 0x3C);
  EXPECT_EQ(norm->data + 8, b.data().data() + b.size());
}

TEST(GgufFileTest, HandBuiltVersion3) { CheckHandBuilt(HandBuilt(3), 3); }
TEST(GgufFileTest, HandBuiltVersion2) { CheckHandBuilt(HandBuilt(2), 2); }

TEST(GgufFileTest, MetadataOnlyFileNeedNotBePadded) {
  Bytes b;
  b.Header(3, 0, 1).Key("a", GgufType::kBool).U8(1);
  Result<GgufFile> file = GgufFile::Parse(b.data());
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(file->Find("a")->AsBool(), true);
  EXPECT_EQ(file->data_offset(), 64u);  // 38 header bytes, rounded up
}

TEST(GgufFileTest, BadMagicVersionAndEndianness) {
  ExpectError(Bytes(), StatusCode::kCorrupt, "not a GGUF file");
  ExpectError(Bytes().Raw("GGU"), StatusCode::kCorrupt, "not a GGUF file");
  ExpectError(Bytes().Raw("GGML").U32(3), StatusCode::kCorrupt, "magic");
  ExpectError(Bytes().Header(1, 0, 0), StatusCode::kUnsupported, "GGUF version 1 is not supported");
  ExpectError(Bytes().Header(4, 0, 0), StatusCode::kUnsupported, "GGUF version 4 is not supported");
  ExpectError(Bytes().Raw("GGUF").U32(0x03000000).U64(0).U64(0), StatusCode::kUnsupported, "big-endian");
  ExpectError(Bytes().Raw("GGUF").U32(3).U32(0), StatusCode::kCorrupt,
              "unexpected end of file reading the tensor count");
}

TEST(GgufFileTest, CountsBeyondTheFileAreRejectedBeforeAllocating) {
  ExpectError(Bytes().Header(3, 0, uint64_t{1} << 60), StatusCode::kCorrupt,
              "claims 1152921504606846976 metadata entries");
  ExpectError(Bytes().Header(3, ~uint64_t{0}, 0), StatusCode::kCorrupt, "tensors, more than");
  // Enough bytes for the tensor count in the header, but the metadata uses them up.
  Bytes kvs;
  kvs.Key("pad", GgufType::kString).Str(std::string(100, 'x'));
  ExpectError(File(1, kvs, 3, Bytes(), 0), StatusCode::kCorrupt, "bytes after the metadata can hold");
}

TEST(GgufFileTest, BadKeysAndStrings) {
  ExpectError(Bytes().Header(3, 0, 1).U64(70000).Fill(70100, 'k'), StatusCode::kCorrupt,
              "the key of metadata entry 0 at byte 24 claims 70000 bytes, more than the limit of 65535");
  ExpectError(Bytes().Header(3, 0, 1).Str("").U32(0).U8(0), StatusCode::kCorrupt, "metadata entry 0 has an empty key");
  ExpectError(Bytes().Header(3, 0, 1).Key("s", GgufType::kString).U64(1000).Raw("short"), StatusCode::kCorrupt,
              "unexpected end of file reading a string of metadata key 's'");
  ExpectError(Bytes().Header(3, 0, 1).Key("s", GgufType::kString).U64(~uint64_t{0}).Raw("short"),
              StatusCode::kCorrupt, "unexpected end of file");
  ExpectError(Bytes().Header(3, 0, 1).Str("t").U32(13).U64(0), StatusCode::kCorrupt,
              "metadata key 't': unknown value type 13");
}

TEST(GgufFileTest, BadValues) {
  ExpectError(Bytes().Header(3, 0, 1).Key("b", GgufType::kBool).U8(2), StatusCode::kCorrupt,
              "metadata key 'b': bool at byte");
  ExpectError(Bytes().Header(3, 0, 1).Key("a", GgufType::kArray).U32(77).U64(0), StatusCode::kCorrupt,
              "metadata key 'a': array of unknown element type 77");
  ExpectError(Bytes().Header(3, 0, 1).Key("a", GgufType::kArray).U32(4).U64(1000).U32(1), StatusCode::kCorrupt,
              "metadata key 'a': array of 1000 uint32");
  ExpectError(Bytes().Header(3, 0, 1).Key("a", GgufType::kArray).U32(8).U64(uint64_t{1} << 62).Fill(64, 0),
              StatusCode::kCorrupt, "array of 4611686018427387904 string");
  ExpectError(Bytes().Header(3, 0, 2).Key("k", GgufType::kUint8).U8(1).Key("k", GgufType::kUint8).U8(2),
              StatusCode::kCorrupt, "duplicate metadata key 'k'");
}

Bytes NestedArrays(int levels) {
  Bytes b;
  b.Header(3, 0, 1).Key("nest", GgufType::kArray);
  for (int i = 1; i < levels; ++i) b.U32(static_cast<uint32_t>(GgufType::kArray)).U64(1);
  return b.U32(static_cast<uint32_t>(GgufType::kUint8)).U64(1).U8(7);
}

TEST(GgufFileTest, ArrayNestingIsLimited) {
  Result<GgufFile> ok = GgufFile::Parse(NestedArrays(GgufFile::kMaxArrayDepth).data());
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  const GgufValue* v = ok->Find("nest");
  for (int i = 0; i < GgufFile::kMaxArrayDepth; ++i) v = &v->elements().at(0);
  EXPECT_EQ(v->AsInt(), 7);
  ExpectError(NestedArrays(GgufFile::kMaxArrayDepth + 1), StatusCode::kCorrupt,
              "metadata key 'nest': arrays nested more than 8 deep");
}

TEST(GgufFileTest, TotalMetadataValuesAreCapped) {
  uint64_t n = GgufFile::kMaxMetadataValues;  // plus the array itself: one too many
  Bytes b;
  b.Header(3, 0, 1).Key("big", GgufType::kArray).U32(0).U64(n).Fill(n, 0);
  ExpectError(b, StatusCode::kUnsupported, "more than 16777216 metadata values");
}

TEST(GgufFileTest, BadAlignment) {
  auto with_alignment = [](Bytes value) {
    Bytes kvs;
    kvs.Append(value);
    return File(1, kvs, 0, Bytes(), 0);
  };
  ExpectError(with_alignment(Bytes().Key("general.alignment", GgufType::kUint64).U64(32)), StatusCode::kCorrupt,
              "general.alignment must be a uint32, not a uint64");
  ExpectError(with_alignment(Bytes().Key("general.alignment", GgufType::kUint32).U32(0)), StatusCode::kCorrupt,
              "general.alignment is 0, not a power of two");
  ExpectError(with_alignment(Bytes().Key("general.alignment", GgufType::kUint32).U32(48)), StatusCode::kCorrupt,
              "general.alignment is 48, not a power of two");
  Bytes kvs;
  kvs.Key("general.alignment", GgufType::kUint32).U32(16);
  Result<GgufFile> ok = GgufFile::Parse(File(1, kvs, 1, Info("t", {4}, kF32, 0), 16, 16).data());
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->alignment(), 16u);
  EXPECT_EQ(ok->data_offset() % 16, 0u);
}

TEST(GgufFileTest, BadTensorShapesAndTypes) {
  ExpectError(File(0, Bytes(), 1, Info("t", {}, kF32, 0), 64), StatusCode::kCorrupt, "tensor 't': has 0 dimensions");
  ExpectError(File(0, Bytes(), 1, Info("t", {1, 1, 1, 1, 1}, kF32, 0), 64), StatusCode::kUnsupported,
              "tensor 't': has 5 dimensions, more than 4");
  ExpectError(File(0, Bytes(), 1, Info("t", {~uint64_t{0}}, kF32, 0), 64), StatusCode::kCorrupt,
              "tensor 't': dimension 0 is 18446744073709551615, negative as int64");
  ExpectError(File(0, Bytes(), 1, Info("t", {uint64_t{1} << 32, uint64_t{1} << 32}, kF32, 0), 64),
              StatusCode::kCorrupt, "tensor 't': its element count overflows int64");
  ExpectError(File(0, Bytes(), 1, Info("t", {uint64_t{1} << 62}, kF32, 0), 64), StatusCode::kCorrupt,
              "tensor 't': byte size of");
  ExpectError(File(0, Bytes(), 1, Info("blk.0.ffn_up.weight", {32}, 99, 0), 64), StatusCode::kUnsupported,
              "tensor 'blk.0.ffn_up.weight': unknown ggml type id 99");
  ExpectError(File(0, Bytes(), 1, Info("q", {16, 2}, kQ8_0, 0), 64), StatusCode::kCorrupt,
              "tensor 'q': ne[0] = 16 is not a multiple of the Q8_0 block size 32");
  ExpectError(Bytes().Header(3, 1, 0).Str("tensor_name_long").U32(1).U64(4).U32(0), StatusCode::kCorrupt,
              "unexpected end of file reading the data offset of tensor 'tensor_name_long'");
  ExpectError(File(0, Bytes(), 1, Info("bad\nname", {4}, 77, 0), 64), StatusCode::kUnsupported,
              "tensor 'bad\\x0aname'");
}

TEST(GgufFileTest, BadTensorPlacement) {
  Bytes two_infos = Info("a", {4}, kF32, 0);
  two_infos.Append(Info("a", {4}, kF32, 32));
  ExpectError(File(0, Bytes(), 2, two_infos, 64), StatusCode::kCorrupt, "duplicate tensor name 'a'");

  ExpectError(File(0, Bytes(), 1, Info("t", {4}, kF32, 8), 64), StatusCode::kCorrupt,
              "tensor 't': data offset 8 is not a multiple of the alignment 32");

  Bytes b = File(0, Bytes(), 1, Info("blk.0.attn_q.weight", {4}, kF32, 0), 8);
  size_t size = b.size();
  ExpectError(b, StatusCode::kCorrupt,
              "tensor 'blk.0.attn_q.weight': data ends at byte " + std::to_string(size - 8 + 16) +
                  ", past the end of the file (" + std::to_string(size) + " bytes)");
  ExpectError(File(0, Bytes(), 1, Info("t", {4}, kF32, ~uint64_t{31}), 64), StatusCode::kCorrupt,
              "tensor 't': data ends at byte 2^64 or beyond");

  Bytes overlapping = Info("a", {16}, kF32, 0);
  overlapping.Append(Info("b", {4}, kF32, 32));
  ExpectError(File(0, Bytes(), 2, overlapping, 128), StatusCode::kCorrupt,
              "tensors 'a' (data bytes 0..64) and 'b' (from byte 32) overlap");
  // Order in the directory does not matter; placement does.
  Bytes reversed = Info("late", {4}, kF32, 32);
  reversed.Append(Info("early", {4}, kF32, 0));
  EXPECT_TRUE(ParseStatus(File(0, Bytes(), 2, reversed, 64).data()).ok());
}

TEST(GgufFileTest, OpenPrefixesErrorsWithThePath) {
  Result<GgufFile> missing = GgufFile::Open("/nonexistent/fathom.gguf");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("/nonexistent/fathom.gguf"), std::string::npos);

  std::string path = TempPath("corrupt.gguf");
  ASSERT_TRUE(WriteFileAtomic(path, std::string("GGUF\x01\0\0\0", 8)).ok());
  Result<GgufFile> bad = GgufFile::Open(path);
  EXPECT_EQ(bad.status().code(), StatusCode::kUnsupported);
  EXPECT_EQ(bad.status().message().rfind(path + ": ", 0), 0u) << bad.status().message();
}

TEST(GgufFileTest, OpenedFileSurvivesMoves) {
  std::string path = TempPath("move.gguf");
  ASSERT_TRUE(SampleWriter().Write(path).ok());
  Result<GgufFile> opened = GgufFile::Open(path);
  ASSERT_TRUE(opened.ok());
  GgufFile file = std::move(opened).value();
  GgufFile moved = std::move(file);
  const GgufTensorInfo* t = moved.FindTensor("t.i32");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->data[0], gguf_test::PatternByte(5, 0));
}

// Everything a successful parse promises, checked by touching it all.
void CheckInvariants(const GgufFile& file, const std::vector<uint8_t>& bytes) {
  const uint8_t* begin = bytes.data();
  const uint8_t* end = bytes.data() + bytes.size();
  EXPECT_TRUE(std::has_single_bit(file.alignment()));
  unsigned sum = 0;
  for (const GgufTensorInfo& t : file.tensors()) {
    ASSERT_TRUE(t.data >= begin && t.data <= end && t.num_bytes <= static_cast<uint64_t>(end - t.data)) << t.name;
    EXPECT_EQ(t.offset % file.alignment(), 0u);
    for (uint64_t i = 0; i < t.num_bytes; ++i) sum += t.data[i];
    EXPECT_GE(t.num_elements(), 0);
    EXPECT_EQ(file.FindTensor(t.name), &t);
  }
  for (const auto& [key, value] : file.metadata()) {
    EXPECT_NO_THROW(value.ToJson(16).dump());
    EXPECT_EQ(file.Find(key), &value);
  }
  (void)sum;
}

std::vector<uint8_t> SampleBytes() {
  std::string path = TempPath("fuzz_base.gguf");
  EXPECT_TRUE(SampleWriter().Write(path).ok());
  return ReadBytes(path);
}

TEST(GgufFileTest, EveryTruncationBeforeTheLastTensorByteFails) {
  std::vector<uint8_t> bytes = SampleBytes();
  Result<GgufFile> full = GgufFile::Parse(bytes);
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  size_t data_end = 0;
  for (const GgufTensorInfo& t : full->tensors()) {
    data_end = std::max<size_t>(data_end, t.data - bytes.data() + t.num_bytes);
  }
  for (size_t cut = 0; cut <= bytes.size(); ++cut) {
    std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + cut);
    Result<GgufFile> file = GgufFile::Parse(prefix);
    if (cut < data_end) {
      ASSERT_FALSE(file.ok()) << "parsed a file cut at byte " << cut;
      EXPECT_EQ(file.status().code(), StatusCode::kCorrupt) << file.status().ToString();
    } else {
      ASSERT_TRUE(file.ok()) << "cut at " << cut << ": " << file.status().ToString();
      CheckInvariants(*file, prefix);
    }
  }
}

TEST(GgufFileTest, FlippedBytesNeverCrash) {
  const std::vector<uint8_t> bytes = SampleBytes();
  size_t num_ok = 0;
  for (size_t pos = 0; pos < bytes.size(); ++pos) {
    for (uint8_t mask : {0x01, 0x08, 0x80, 0xFF}) {
      std::vector<uint8_t> mutated(bytes);
      mutated[pos] ^= mask;
      Result<GgufFile> file = GgufFile::Parse(mutated);
      if (file.ok()) {
        ++num_ok;
        CheckInvariants(*file, mutated);
      }
    }
  }
  EXPECT_GT(num_ok, 0u);  // flips inside tensor data are harmless
}

TEST(GgufFileTest, RandomMutationsNeverCrash) {
  const std::vector<uint8_t> bytes = SampleBytes();
  std::mt19937 rng(1234);
  constexpr uint8_t kSpecial[] = {0x00, 0x01, 0x7F, 0x80, 0xFF, 0x09, 0x08};
  for (int iter = 0; iter < 3000; ++iter) {
    std::vector<uint8_t> mutated(bytes);
    int num_edits = 1 + static_cast<int>(rng() % 6);
    for (int e = 0; e < num_edits; ++e) {
      size_t pos = rng() % mutated.size();
      mutated[pos] = (rng() % 2) ? static_cast<uint8_t>(rng()) : kSpecial[rng() % sizeof(kSpecial)];
    }
    if (rng() % 4 == 0) mutated.resize(rng() % mutated.size());
    Result<GgufFile> file = GgufFile::Parse(mutated);
    if (file.ok()) CheckInvariants(*file, mutated);
  }
}

}  // namespace
}  // namespace fathom

#include "formats/safetensors_file.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "safetensors_test_util.h"
#include "formats/safetensors_writer.h"

namespace fathom {
namespace {

using testing_util::BuildFile;
using testing_util::ExpectedValue;
using testing_util::ScopedTempDir;

std::vector<uint8_t> Zeros(size_t n) { return std::vector<uint8_t>(n, 0); }

Result<SafetensorsFile> ParseBytes(const std::vector<uint8_t>& bytes) {
  return SafetensorsFile::Parse(std::span<const uint8_t>(bytes.data(), bytes.size()));
}

// Reads every tensor's first and last byte, so ASan sees any range that escaped.
int TouchAll(const SafetensorsFile& f) {
  int sum = 0;
  for (const SafetensorsTensor& t : f.tensors()) {
    if (t.end > t.begin) sum += t.data[0] + t.data[t.end - t.begin - 1];
  }
  return sum;
}

TEST(SafetensorsFileTest, ParsesHeaderAndData) {
  std::vector<uint8_t> data = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  auto bytes = BuildFile(
      R"({"__metadata__":{"format":"pt"},)"
      R"("b":{"dtype":"U8","shape":[2,2],"data_offsets":[8,12]},)"
      R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
      data);
  Result<SafetensorsFile> f = ParseBytes(bytes);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ASSERT_EQ(f->tensors().size(), 2u);
  EXPECT_EQ(f->tensors()[0].name, "b");  // header order, not offset order
  EXPECT_EQ(f->tensors()[1].name, "a");
  const SafetensorsTensor* b = f->Find("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->dtype, DType::kU8);
  EXPECT_EQ(b->shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(b->num_elements(), 4);
  EXPECT_EQ(b->begin, 8u);
  EXPECT_EQ(b->end, 12u);
  EXPECT_EQ(b->data[0], 9);
  EXPECT_EQ(*b->file, "");
  EXPECT_EQ(f->Find("missing"), nullptr);
  EXPECT_EQ(f->metadata().at("format"), "pt");
  EXPECT_EQ(f->file_size(), bytes.size());
  EXPECT_EQ(f->data_offset() + 12, bytes.size());
}

// Everything here is accepted by the Python safetensors 0.6.2 library too.
TEST(SafetensorsFileTest, AcceptsWhatTheReferenceAccepts) {
  const char* headers[] = {
      "{}",
      R"({"__metadata__":null})",
      R"({"__metadata__":{}, "a":{"dtype":"F32","shape":[],"data_offsets":[0,4]}})",  // scalar
      R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":{"x":[1,{"y":2}]}}})",
      "  \n{\"a\":{\"shape\":[1],\"data_offsets\":[0,4],\"dtype\":\"F32\"}}\n\n",
      R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"z":{"dtype":"F32","shape":[0,7],"data_offsets":[4,4]},)"
      R"("y":{"dtype":"I64","shape":[0],"data_offsets":[4,4]}})",
  };
  std::vector<size_t> data_sizes = {0, 0, 4, 4, 4, 4};
  for (size_t i = 0; i < std::size(headers); ++i) {
    for (bool pad : {true, false}) {
      Result<SafetensorsFile> f = ParseBytes(BuildFile(headers[i], Zeros(data_sizes[i]), pad));
      EXPECT_TRUE(f.ok()) << headers[i] << " -> " << f.status().ToString();
    }
  }
}

struct BadCase {
  const char* what;
  std::vector<uint8_t> bytes;
  StatusCode code;
  const char* message_part;
};

std::vector<BadCase> BadCases() {
  const std::string ok_a = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  auto one = [](const std::string& entry, size_t data) { return BuildFile("{" + entry + "}", Zeros(data)); };
  auto bad_length = [](uint64_t n, size_t total) {
    std::vector<uint8_t> b(total, ' ');
    for (int i = 0; i < 8; ++i) b[i] = static_cast<uint8_t>(n >> (8 * i));
    return b;
  };
  std::vector<uint8_t> with_nul = BuildFile("{" + ok_a + "}", Zeros(8), false);
  with_nul.insert(with_nul.begin() + 8 + 1 + ok_a.size() + 1, 0);  // "{...}\0" then fix the length
  with_nul[0] += 1;
  std::string deep = "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0],\"x\":" + std::string(200, '[') +
                     std::string(200, ']') + "}}";
  std::string many_dims = "[" + std::string(65 * 2 - 1, '1') + "]";
  for (size_t i = 2; i < many_dims.size() - 1; i += 2) many_dims[i] = ',';
  return {
      {"too short", Zeros(4), StatusCode::kCorrupt, "too short"},
      {"huge header length", bad_length(100'000'001, 64), StatusCode::kCorrupt, "exceeds the limit"},
      {"header past end", bad_length(1000, 64), StatusCode::kCorrupt, "runs past the end"},
      {"invalid JSON", BuildFile("{\"a\":", {}), StatusCode::kCorrupt, "not valid JSON"},
      {"trailing garbage", BuildFile("{} x", {}, false), StatusCode::kCorrupt, "not valid JSON"},
      {"NUL in header", with_nul, StatusCode::kCorrupt, "NUL byte"},
      {"invalid UTF-8", BuildFile("{\"\xff\":1}", {}), StatusCode::kCorrupt, "not valid JSON"},
      {"header array", BuildFile("[]", {}), StatusCode::kCorrupt, "not a JSON object"},
      {"header number", BuildFile("7", {}), StatusCode::kCorrupt, "not a JSON object"},
      {"metadata number", BuildFile(R"({"__metadata__":3})", {}), StatusCode::kCorrupt, "\"__metadata__\" is"},
      {"metadata array", BuildFile(R"({"__metadata__":[]})", {}), StatusCode::kCorrupt, "\"__metadata__\" is"},
      {"metadata value", BuildFile(R"({"__metadata__":{"k":1}})", {}), StatusCode::kCorrupt, "value of 'k'"},
      {"metadata nested", BuildFile(R"({"__metadata__":{"k":{}}})", {}), StatusCode::kCorrupt, "value of 'k'"},
      {"tensor not object", one(R"("a":[1])", 0), StatusCode::kCorrupt, "tensor 'a' is an array"},
      {"no dtype", one(R"("a":{"shape":[2],"data_offsets":[0,8]})", 8), StatusCode::kCorrupt, "no 'dtype'"},
      {"no shape", one(R"("a":{"dtype":"F32","data_offsets":[0,8]})", 8), StatusCode::kCorrupt, "no 'shape'"},
      {"no offsets", one(R"("a":{"dtype":"F32","shape":[2]})", 8), StatusCode::kCorrupt, "no 'data_offsets'"},
      {"dtype number", one(R"("a":{"dtype":5,"shape":[2],"data_offsets":[0,8]})", 8), StatusCode::kCorrupt,
       "tensor 'a' field 'dtype'"},
      {"unknown dtype", one(R"("a":{"dtype":"F4","shape":[2],"data_offsets":[0,8]})", 8), StatusCode::kUnsupported,
       "tensor 'a' has unsupported dtype 'F4'"},
      {"shape object", one(R"("a":{"dtype":"F32","shape":{},"data_offsets":[0,8]})", 8), StatusCode::kCorrupt,
       "tensor 'a' field 'shape'"},
      {"shape string", one(R"("a":{"dtype":"F32","shape":"2","data_offsets":[0,8]})", 8), StatusCode::kCorrupt,
       "tensor 'a' field 'shape'"},
      {"minus zero dim", one(R"("a":{"dtype":"F32","shape":[-0],"data_offsets":[0,0]})", 0), StatusCode::kCorrupt,
       "negative"},
      {"byte-order mark", BuildFile("\xef\xbb\xbf{}", {}), StatusCode::kCorrupt, "byte-order mark"},
      {"negative dim", one(R"("a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]})", 8), StatusCode::kCorrupt,
       "negative"},
      {"float dim", one(R"("a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]})", 8), StatusCode::kCorrupt,
       "non-integer"},
      {"nested dim", one(R"("a":{"dtype":"F32","shape":[[2]],"data_offsets":[0,8]})", 8), StatusCode::kCorrupt,
       "field 'shape' holds an array"},
      {"huge dim", one(R"("a":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]})", 8),
       StatusCode::kCorrupt, "non-integer"},
      {"too many dims", one(R"("a":{"dtype":"U8","shape":)" + many_dims + R"(,"data_offsets":[0,1]})", 1),
       StatusCode::kUnsupported, "more than 64 dimensions"},
      {"element overflow",
       one(R"("a":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,8]})", 8), StatusCode::kCorrupt,
       "overflows"},
      {"byte overflow", one(R"("a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,8]})", 8),
       StatusCode::kCorrupt, "overflows"},
      {"offsets string", one(R"("a":{"dtype":"F32","shape":[2],"data_offsets":"0"})", 8), StatusCode::kCorrupt,
       "field 'data_offsets' is a string"},
      {"three offsets", one(R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]})", 8), StatusCode::kCorrupt,
       "more than 2"},
      {"one offset", one(R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0]})", 8), StatusCode::kCorrupt,
       "holds 1 integers"},
      {"negative offset", one(R"("a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]})", 8), StatusCode::kCorrupt,
       "negative"},
      {"begin after end", one(R"("a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]})", 8), StatusCode::kCorrupt,
       "begin after end"},
      {"size mismatch", one(R"("a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]})", 8), StatusCode::kCorrupt,
       "needs 12"},
      {"past the end", one(R"("a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]})", 8), StatusCode::kCorrupt,
       "past the end of the 8-byte data section"},
      {"overlap",
       one(ok_a + R"(,"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]})", 12), StatusCode::kCorrupt,
       "tensors 'a' and 'b' overlap"},
      {"same range", one(ok_a + R"(,"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})", 8),
       StatusCode::kCorrupt, "overlap"},
      {"hole at start", one(R"("a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]})", 12), StatusCode::kCorrupt,
       "bytes [0, 4) belong to no tensor"},
      {"hole between",
       one(R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]})",
           12),
       StatusCode::kCorrupt, "bytes [4, 8) belong to no tensor"},
      {"trailing bytes", one(ok_a, 12), StatusCode::kCorrupt, "last 4 bytes"},
      {"data missing", one(ok_a, 4), StatusCode::kCorrupt, "past the end"},
      {"duplicate tensor", one(ok_a + "," + ok_a, 8), StatusCode::kCorrupt, "tensor 'a' appears twice"},
      {"duplicate metadata", BuildFile(R"({"__metadata__":{},"__metadata__":{}})", {}), StatusCode::kCorrupt,
       "appears twice"},
      {"duplicate metadata key", BuildFile(R"({"__metadata__":{"k":"1","k":"2"}})", {}), StatusCode::kCorrupt,
       "key 'k' twice"},
      {"duplicate field", one(R"("a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]})", 8),
       StatusCode::kCorrupt, "field 'dtype' twice"},
      {"deep nesting", BuildFile(deep, {}), StatusCode::kCorrupt, "nests deeper"},
      {"control chars in name", one(R"("a\nb":[])", 0), StatusCode::kCorrupt, "tensor 'a\\x0ab'"},
  };
}

TEST(SafetensorsFileTest, RejectsEveryClassOfCorruption) {
  for (const BadCase& c : BadCases()) {
    Result<SafetensorsFile> f = ParseBytes(c.bytes);
    ASSERT_FALSE(f.ok()) << c.what;
    EXPECT_EQ(f.status().code(), c.code) << c.what << ": " << f.status().ToString();
    EXPECT_NE(f.status().message().find(c.message_part), std::string::npos)
        << c.what << ": '" << f.status().message() << "' lacks '" << c.message_part << "'";
    EXPECT_EQ(f.status().message().find('\n'), std::string::npos) << c.what;
  }
}

TEST(SafetensorsFileTest, OpenPrefixesErrorsWithThePath) {
  ScopedTempDir dir;
  const std::string path = dir.File("bad.safetensors");
  testing_util::WriteBytes(path, BuildFile(R"({"a":{"dtype":"F4","shape":[],"data_offsets":[0,0]}})", {}));
  Result<SafetensorsFile> f = SafetensorsFile::Open(path);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().message().rfind(path + ": ", 0), 0u) << f.status().message();

  Result<SafetensorsFile> missing = SafetensorsFile::Open(dir.File("none.safetensors"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("none.safetensors"), std::string::npos);

  Result<SafetensorsFile> a_dir = SafetensorsFile::Open(dir.path());
  EXPECT_FALSE(a_dir.ok());
}

TEST(SafetensorsFileTest, OpenedFileKeepsViewsValidAcrossMoves) {
  ScopedTempDir dir;
  const std::string path = dir.File("m.safetensors");
  std::vector<TensorSource> sources = {testing_util::PatternSource("w", DType::kF32, {3, 2}, 5)};
  ASSERT_TRUE(WriteSafetensors(path, sources, {}).ok());
  Result<SafetensorsFile> opened = SafetensorsFile::Open(path);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  SafetensorsFile f = std::move(opened).value();
  SafetensorsFile g = std::move(f);
  ASSERT_EQ(g.tensors().size(), 1u);
  EXPECT_EQ(g.tensors()[0].file, &g.path());
  EXPECT_EQ(*g.tensors()[0].file, path);
  EXPECT_EQ(g.tensors()[0].data[23], testing_util::PatternByte(23, 5));
}

TEST(SafetensorsFileTest, RoundTripsEveryDtype) {
  ScopedTempDir dir;
  for (DType dtype : testing_util::SafetensorsDTypes()) {
    SCOPED_TRACE(std::string(DTypeName(dtype)));
    const std::string path = dir.File(std::string(DTypeName(dtype)) + ".safetensors");
    std::vector<TensorSource> sources = {
        testing_util::PatternSource("first", dtype, {3, 5}, 1),
        testing_util::PatternSource("scalar", dtype, {}, 2),
        testing_util::PatternSource("empty", dtype, {0, 3}, 3),
        testing_util::PatternSource("last", dtype, {2, 1, 7}, 4),
    };
    ASSERT_TRUE(WriteSafetensors(path, sources, {{"dtype", std::string(DTypeName(dtype))}}).ok());
    Result<SafetensorsFile> f = SafetensorsFile::Open(path);
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    EXPECT_EQ(f->metadata().at("dtype"), DTypeName(dtype));
    EXPECT_EQ(f->data_offset() % 8, 0u);
    ASSERT_EQ(f->tensors().size(), sources.size());
    for (size_t i = 0; i < sources.size(); ++i) {
      const SafetensorsTensor& t = f->tensors()[i];
      EXPECT_EQ(t.name, sources[i].name);
      EXPECT_EQ(t.dtype, dtype);
      EXPECT_EQ(t.shape, sources[i].shape);
      ASSERT_EQ(t.end - t.begin, static_cast<uint64_t>(t.num_elements() * GetDTypeInfo(dtype).block_bytes));
      for (uint64_t k = 0; k < t.end - t.begin; ++k) {
        ASSERT_EQ(t.data[k], testing_util::PatternByte(k, static_cast<uint8_t>(i + 1))) << t.name << " byte " << k;
      }
    }
  }
}

template <typename T>
T Load(const SafetensorsTensor& t, int64_t i) {
  T v;
  std::memcpy(&v, t.data + i * sizeof(T), sizeof(T));
  return v;
}

double Decode(const SafetensorsTensor& t, int64_t i) {
  switch (t.dtype) {
    case DType::kF64: return Load<double>(t, i);
    case DType::kF32: return Load<float>(t, i);
    case DType::kF16: {  // every fixture value is zero or a normal number
      uint16_t h = Load<uint16_t>(t, i);
      if ((h & 0x7fff) == 0) return 0.0;
      double m = 1.0 + (h & 0x3ff) / 1024.0;
      return ((h >> 15) ? -1 : 1) * std::ldexp(m, ((h >> 10) & 0x1f) - 15);
    }
    case DType::kI8: return Load<int8_t>(t, i);
    case DType::kI16: return Load<int16_t>(t, i);
    case DType::kI32: return Load<int32_t>(t, i);
    case DType::kI64: return static_cast<double>(Load<int64_t>(t, i));
    case DType::kU8: case DType::kBool: return Load<uint8_t>(t, i);
    default: ADD_FAILURE() << "unexpected dtype"; return 0;
  }
}

// tools/make_safetensors_fixture.py wrote this with the reference library.
TEST(SafetensorsFileTest, ReadsFileWrittenByPythonLibrary) {
  const std::string path = std::string(FATHOM_SOURCE_DIR) + "/tests/fixtures/safetensors/tiny.safetensors";
  Result<SafetensorsFile> f = SafetensorsFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->metadata().at("format"), "np");
  EXPECT_EQ(f->tensors().size(), 11u);
  struct Want {
    const char* name;
    DType dtype;
    std::vector<int64_t> shape;
  };
  const Want wants[] = {
      {"model.embed.weight", DType::kF32, {4, 3}}, {"half", DType::kF16, {5}},
      {"double", DType::kF64, {2, 2}},             {"bytes_signed", DType::kI8, {7}},
      {"shorts", DType::kI16, {3}},                {"ints", DType::kI32, {2, 1, 2}},
      {"longs", DType::kI64, {3}},                 {"bytes", DType::kU8, {6}},
      {"mask", DType::kBool, {2, 3}},              {"scalar", DType::kF32, {}},
      {"empty", DType::kF32, {0, 4}},
  };
  for (const Want& w : wants) {
    const SafetensorsTensor* t = f->Find(w.name);
    ASSERT_NE(t, nullptr) << w.name;
    EXPECT_EQ(t->dtype, w.dtype) << w.name;
    EXPECT_EQ(t->shape, w.shape) << w.name;
    for (int64_t i = 0; i < t->num_elements(); ++i) {
      EXPECT_EQ(Decode(*t, i), ExpectedValue(w.dtype, i)) << w.name << "[" << i << "]";
    }
  }
}

std::vector<uint8_t> SampleFile() {
  ScopedTempDir dir;
  const std::string path = dir.File("s.safetensors");
  std::vector<TensorSource> sources = {
      testing_util::PatternSource("layers.0.w", DType::kBF16, {2, 3}, 1),
      testing_util::PatternSource("e", DType::kU8, {0}, 2),
      testing_util::PatternSource("layers.0.b", DType::kF32, {3}, 3),
      testing_util::PatternSource("scale", DType::kF64, {}, 4),
  };
  if (!WriteSafetensors(path, sources, {{"format", "pt"}}).ok()) return {};
  auto mapped = MappedFile::Open(path);
  return std::vector<uint8_t>(mapped->data(), mapped->data() + mapped->size());
}

TEST(SafetensorsFileTest, EveryTruncationFailsCleanly) {
  const std::vector<uint8_t> full = SampleFile();
  ASSERT_FALSE(full.empty());
  ASSERT_TRUE(ParseBytes(full).ok());
  for (size_t n = 0; n < full.size(); ++n) {
    // An exact-size heap copy, so ASan flags any read past the end.
    std::vector<uint8_t> prefix(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
    Result<SafetensorsFile> f = ParseBytes(prefix);
    EXPECT_FALSE(f.ok()) << "prefix of " << n << " bytes parsed";
  }
}

TEST(SafetensorsFileTest, FlippingHeaderBytesNeverCrashes) {
  const std::vector<uint8_t> full = SampleFile();
  ASSERT_FALSE(full.empty());
  uint64_t header_end = 8 + (full[0] | (full[1] << 8));
  int accepted = 0;
  for (size_t pos = 0; pos < header_end; ++pos) {
    for (uint8_t mask : {0x01, 0x02, 0x10, 0x20, 0x80, 0xff}) {
      std::vector<uint8_t> bytes = full;
      bytes[pos] ^= mask;
      Result<SafetensorsFile> f = ParseBytes(bytes);
      if (f.ok()) {
        ++accepted;
        TouchAll(*f);
      } else {
        EXPECT_FALSE(f.status().message().empty());
      }
    }
  }
  // Some flips are harmless (a name's letter, the case of a metadata value).
  EXPECT_GT(accepted, 0);
}

}  // namespace
}  // namespace fathom

#include "formats/safetensors_model.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/mapped_file.h"
#include "formats/safetensors_writer.h"
#include "safetensors_test_util.h"

namespace fathom {
namespace {

using testing_util::PatternByte;
using testing_util::PatternSource;
using testing_util::ScopedTempDir;

// Ten tensors of 24..60 bytes; with a 100-byte limit they need several shards.
std::vector<TensorSource> TenTensors() {
  std::vector<TensorSource> out;
  for (int i = 0; i < 10; ++i) {
    DType d = i % 3 == 0 ? DType::kF32 : i % 3 == 1 ? DType::kBF16 : DType::kI64;
    out.push_back(PatternSource("model.layers." + std::to_string(i) + ".weight", d, {i % 4 + 1, 6},
                                static_cast<uint8_t>(i)));
  }
  return out;
}

void ExpectSameTensors(const SafetensorsModel& model, const std::vector<TensorSource>& sources) {
  ASSERT_EQ(model.tensors().size(), sources.size());
  for (size_t i = 0; i < sources.size(); ++i) {
    const SafetensorsTensor* t = model.Find(sources[i].name);
    ASSERT_NE(t, nullptr) << sources[i].name;
    EXPECT_EQ(t->dtype, sources[i].dtype);
    EXPECT_EQ(t->shape, sources[i].shape);
    for (uint64_t k = 0; k < t->end - t->begin; ++k) {
      ASSERT_EQ(t->data[k], PatternByte(k, static_cast<uint8_t>(i))) << t->name << " byte " << k;
    }
  }
}

void WriteIndex(const ScopedTempDir& dir, const std::string& json) {
  ASSERT_TRUE(WriteFileAtomic(dir.File(SafetensorsModel::kIndexName), json).ok());
}

TEST(SafetensorsModelTest, ShardedRoundTrip) {
  ScopedTempDir dir;
  std::vector<TensorSource> sources = TenTensors();
  Result<std::vector<std::string>> written = WriteShardedSafetensors(dir.path(), sources, 100, {{"format", "pt"}});
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  ASSERT_GE(written->size(), 4u);  // at least 3 shards + index

  Result<SafetensorsModel> opened = SafetensorsModel::Open(dir.path());
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  SafetensorsModel model = std::move(opened).value();  // views must survive the move
  ExpectSameTensors(model, sources);

  // Index order: weight_map keys are sorted, as transformers writes them.
  std::vector<std::string> names;
  for (const SafetensorsTensor& t : model.tensors()) names.push_back(t.name);
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));

  ASSERT_EQ(model.files().size(), written->size() - 1);
  int64_t total = 0;
  for (const SafetensorsModel::FileInfo& f : model.files()) {
    EXPECT_EQ(f.size, std::filesystem::file_size(f.path));
    total += f.num_tensors;
  }
  EXPECT_EQ(total, 10);
  Result<std::string> index_text = ReadTextFile(dir.File(SafetensorsModel::kIndexName));
  ASSERT_TRUE(index_text.ok());
  nlohmann::json weight_map = nlohmann::json::parse(*index_text)["weight_map"];
  for (const SafetensorsTensor& t : model.tensors()) {
    EXPECT_EQ(*t.file, dir.File(weight_map[t.name].get<std::string>())) << t.name;
  }
}

TEST(SafetensorsModelTest, OpensSingleFileDirectoryAndPath) {
  ScopedTempDir dir;
  std::vector<TensorSource> sources = TenTensors();
  ASSERT_TRUE(WriteSafetensors(dir.File("model.safetensors"), sources, {}).ok());
  for (const std::string& path : {dir.path(), dir.File("model.safetensors")}) {
    Result<SafetensorsModel> model = SafetensorsModel::Open(path);
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    ExpectSameTensors(*model, sources);
    EXPECT_EQ(model->tensors()[0].name, sources[0].name);  // file order
    ASSERT_EQ(model->files().size(), 1u);
    EXPECT_EQ(model->files()[0].num_tensors, 10);
  }
}

TEST(SafetensorsModelTest, OpensSeveralFilesWithoutIndexInNameOrder) {
  ScopedTempDir dir;
  std::vector<TensorSource> sources = TenTensors();
  std::vector<TensorSource> first(sources.begin(), sources.begin() + 4);
  std::vector<TensorSource> second(sources.begin() + 4, sources.end());
  ASSERT_TRUE(WriteSafetensors(dir.File("b.safetensors"), second, {}).ok());
  ASSERT_TRUE(WriteSafetensors(dir.File("a.safetensors"), first, {}).ok());
  testing_util::WriteBytes(dir.File("notes.txt"), {'h', 'i'});
  Result<SafetensorsModel> model = SafetensorsModel::Open(dir.path());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  ExpectSameTensors(*model, sources);
  EXPECT_EQ(model->tensors()[0].name, sources[0].name);
  ASSERT_EQ(model->files().size(), 2u);
  EXPECT_EQ(model->files()[0].path, dir.File("a.safetensors"));

  // The same tensor in two files is ambiguous.
  ASSERT_TRUE(WriteSafetensors(dir.File("c.safetensors"), {&sources[2], 1}, {}).ok());
  Result<SafetensorsModel> dup = SafetensorsModel::Open(dir.path());
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(dup.status().message().find("'model.layers.2.weight' is in both"), std::string::npos)
      << dup.status().message();
}

TEST(SafetensorsModelTest, MissingPathsAreNotFound) {
  ScopedTempDir dir;
  Result<SafetensorsModel> empty = SafetensorsModel::Open(dir.path());
  EXPECT_EQ(empty.status().code(), StatusCode::kNotFound) << empty.status().ToString();
  Result<SafetensorsModel> none = SafetensorsModel::Open(dir.File("nothing"));
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound) << none.status().ToString();
}

// A directory with two shards, "s1.safetensors" {a, b} and "s2.safetensors" {c}.
void WriteTwoShards(const ScopedTempDir& dir) {
  std::vector<TensorSource> s1 = {PatternSource("a", DType::kF32, {2}, 0), PatternSource("b", DType::kU8, {3}, 1)};
  std::vector<TensorSource> s2 = {PatternSource("c", DType::kI16, {4}, 2)};
  ASSERT_TRUE(WriteSafetensors(dir.File("s1.safetensors"), s1, {}).ok());
  ASSERT_TRUE(WriteSafetensors(dir.File("s2.safetensors"), s2, {}).ok());
}

TEST(SafetensorsModelTest, IndexOrderThenUnlistedTensors) {
  ScopedTempDir dir;
  WriteTwoShards(dir);
  WriteIndex(dir, R"({"metadata":{"total_size":21,"extra":[1,{"x":null}]},
                      "weight_map":{"c":"s2.safetensors","a":"s1.safetensors"}})");
  Result<SafetensorsModel> model = SafetensorsModel::Open(dir.path());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  std::vector<std::string> names;
  for (const SafetensorsTensor& t : model->tensors()) names.push_back(t.name);
  EXPECT_EQ(names, (std::vector<std::string>{"c", "a", "b"}));
  ASSERT_EQ(model->files().size(), 2u);
  EXPECT_EQ(model->files()[0].path, dir.File("s2.safetensors"));
  EXPECT_EQ(*model->Find("b")->file, dir.File("s1.safetensors"));
}

TEST(SafetensorsModelTest, RejectsBadIndexes) {
  struct Case {
    const char* what;
    std::string index;
    StatusCode code;
    const char* message_part;
  };
  const std::vector<Case> cases = {
      {"missing shard", R"({"weight_map":{"a":"s1.safetensors","z":"model-00009-of-00009.safetensors"}})",
       StatusCode::kNotFound, "shard 'model-00009-of-00009.safetensors' is missing"},
      {"wrong shard", R"({"weight_map":{"a":"s2.safetensors"}})", StatusCode::kCorrupt,
       "puts tensor 'a' in 's2.safetensors', which does not hold it"},
      {"unknown tensor", R"({"weight_map":{"q":"s1.safetensors"}})", StatusCode::kCorrupt, "tensor 'q'"},
      {"tensor in two shards", R"({"weight_map":{"a":"s1.safetensors","c":"s2.safetensors","d":"s3.safetensors"}})",
       StatusCode::kCorrupt, "is in both"},
      {"not JSON", R"({"weight_map":)", StatusCode::kCorrupt, "not valid JSON"},
      {"array", "[]", StatusCode::kCorrupt, "not a JSON object"},
      {"no weight_map", R"({"metadata":{}})", StatusCode::kCorrupt, "no \"weight_map\""},
      {"weight_map array", R"({"weight_map":["a"]})", StatusCode::kCorrupt, "\"weight_map\" is an array"},
      {"value not string", R"({"weight_map":{"a":1}})", StatusCode::kCorrupt, "entry 'a' is a number"},
      {"value object", R"({"weight_map":{"a":{}}})", StatusCode::kCorrupt, "entry 'a' is an object"},
      {"duplicate tensor", R"({"weight_map":{"a":"s1.safetensors","a":"s1.safetensors"}})", StatusCode::kCorrupt,
       "lists tensor 'a' twice"},
      {"duplicate weight_map", R"({"weight_map":{},"weight_map":{}})", StatusCode::kCorrupt, "appears twice"},
      {"escaping shard", R"({"weight_map":{"a":"../s1.safetensors"}})", StatusCode::kCorrupt,
       "outside the model directory"},
      {"absolute shard", R"({"weight_map":{"a":"/etc/passwd"}})", StatusCode::kCorrupt,
       "outside the model directory"},
      {"deep nesting", R"({"metadata":)" + std::string(100, '[') + std::string(100, ']') + "}", StatusCode::kCorrupt,
       "nests deeper"},
      {"corrupt shard", R"({"weight_map":{"x":"bad.safetensors"}})", StatusCode::kCorrupt, "bad.safetensors: "},
  };
  for (const Case& c : cases) {
    ScopedTempDir dir;
    WriteTwoShards(dir);
    std::vector<TensorSource> s3 = {PatternSource("a", DType::kF32, {2}, 7), PatternSource("d", DType::kU8, {1}, 8)};
    ASSERT_TRUE(WriteSafetensors(dir.File("s3.safetensors"), s3, {}).ok());
    testing_util::WriteBytes(dir.File("bad.safetensors"), {1, 2, 3});
    WriteIndex(dir, c.index);
    Result<SafetensorsModel> model = SafetensorsModel::Open(dir.path());
    ASSERT_FALSE(model.ok()) << c.what;
    EXPECT_EQ(model.status().code(), c.code) << c.what << ": " << model.status().ToString();
    EXPECT_NE(model.status().message().find(c.message_part), std::string::npos)
        << c.what << ": '" << model.status().message() << "' lacks '" << c.message_part << "'";
    EXPECT_EQ(model.status().message().find('\n'), std::string::npos) << c.what;
  }
}

}  // namespace
}  // namespace fathom

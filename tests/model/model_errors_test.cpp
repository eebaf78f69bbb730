// The errors a user sees when a model cannot be loaded or run, checked by what
// their messages say: a missing tensor is named, a mis-shaped one is named with
// both shapes, an unsupported architecture lists the supported ones, and bad
// token ids or batches are refused before any cache moves.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "formats/safetensors_model.h"
#include "formats/safetensors_writer.h"
#include "tests/model/synth_fixture.h"

namespace fathom {
namespace {

namespace fs = std::filesystem;
using testing_util::ForwardSequence;
using testing_util::ScopedTempDir;
using testing_util::SynthModelDir;
using testing_util::TinyModel;
using testing_util::TinyModelSpec;

// Writes `to` as the model at `from` (its config.json and every tensor) after
// `edit` changed the list of tensors to write.
Status CopyModelWithEdit(const std::string& from, const std::string& to,
                         const std::function<void(std::vector<TensorSource>&)>& edit) {
  FATHOM_ASSIGN_OR_RETURN(SafetensorsModel st, SafetensorsModel::Open(from));
  std::vector<TensorSource> sources;
  for (const SafetensorsTensor& t : st.tensors()) {
    sources.push_back({t.name, t.dtype, t.shape, [&t](std::span<uint8_t> out) {
                         std::memcpy(out.data(), t.data, out.size());
                         return Status::Ok();
                       }});
  }
  edit(sources);
  std::error_code ec;
  fs::copy_file(fs::path(from) / "config.json", fs::path(to) / "config.json", ec);
  if (ec) return IoError(ec.message());
  return WriteShardedSafetensors(to, sources, uint64_t{1} << 30, {{"format", "pt"}}).status();
}

// The status of loading the tiny `spec` model after `edit`.
Status LoadEdited(const TinyModelSpec& spec, const std::function<void(std::vector<TensorSource>&)>& edit) {
  SynthModelDir original(spec);
  FATHOM_RETURN_IF_ERROR(original.status());
  ScopedTempDir edited;
  FATHOM_RETURN_IF_ERROR(CopyModelWithEdit(original.path(), edited.path(), edit));
  ThreadPool pool(1);
  return LoadCausalLm(edited.path(), pool).status();
}

void Drop(std::vector<TensorSource>& sources, const std::string& name) {
  std::erase_if(sources, [&](const TensorSource& s) { return s.name == name; });
}

// Gives tensor `name` another shape (and zeros for data).
void Reshape(std::vector<TensorSource>& sources, const std::string& name, std::vector<int64_t> shape) {
  for (TensorSource& s : sources) {
    if (s.name != name) continue;
    s.shape = shape;
    s.fill = [](std::span<uint8_t>) { return Status::Ok(); };
  }
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(ModelErrorsTest, UnmodifiedCopyLoads) {
  EXPECT_TRUE(LoadEdited({Architecture::kLlama, "tiny"}, [](auto&) {}).ok());
}

// safetensors packs tensors back to back: an odd-sized tensor first leaves every
// later one off its element alignment. Loading copies those instead of reading
// floats through misaligned pointers (UBSan checks this in the debug build).
TEST(ModelErrorsTest, MisalignedTensorsLoadAndGiveTheSameLogits) {
  SynthModelDir original({Architecture::kLlama, "tiny"});
  ASSERT_TRUE(original.status().ok());
  ScopedTempDir edited;
  ASSERT_TRUE(CopyModelWithEdit(original.path(), edited.path(), [](std::vector<TensorSource>& t) {
                t.insert(t.begin(), {"aaa.odd", DType::kU8, {3}, [](std::span<uint8_t>) { return Status::Ok(); }});
              }).ok());
  {
    Result<SafetensorsModel> st = SafetensorsModel::Open(edited.path());
    ASSERT_TRUE(st.ok());
    const SafetensorsTensor* w = st->Find("model.layers.0.self_attn.q_proj.weight");
    ASSERT_NE(w, nullptr);
    ASSERT_NE(reinterpret_cast<uintptr_t>(w->data) % sizeof(float), 0u) << "the edit no longer misaligns the weights";
  }
  const std::vector<int32_t> tokens = {1, 2, 3, 4};
  std::vector<std::vector<float>> logits;
  for (const std::string& dir : {original.path(), edited.path()}) {
    ThreadPool pool(1);
    Result<std::unique_ptr<CausalLm>> lm = LoadCausalLm(dir, pool);
    ASSERT_TRUE(lm.ok()) << lm.status().ToString();
    Result<KvCache> cache = (*lm)->NewCache(8);
    ASSERT_TRUE(cache.ok());
    Result<std::vector<float>> out = ForwardSequence(**lm, *cache, tokens, true);
    ASSERT_TRUE(out.ok());
    logits.push_back(*out);
  }
  EXPECT_EQ(logits[0], logits[1]);
}

TEST(ModelErrorsTest, MissingTensorIsNotFoundAndNamed) {
  const std::vector<std::pair<TinyModelSpec, std::string>> cases = {
      {{Architecture::kLlama, "tiny"}, "model.layers.1.mlp.down_proj.weight"},
      {{Architecture::kLlama, "tiny"}, "lm_head.weight"},
      {{Architecture::kQwen2, "tiny"}, "model.layers.0.self_attn.k_proj.bias"},
      {{Architecture::kDeepseekV3, "tiny"}, "model.layers.2.mlp.experts.5.up_proj.weight"},
      {{Architecture::kDeepseekV3, "tiny"}, "model.layers.1.mlp.gate.e_score_correction_bias"},
      {{Architecture::kDeepseekV2, "tiny"}, "model.layers.0.self_attn.kv_b_proj.weight"},
  };
  for (const auto& [spec, name] : cases) {
    const Status s = LoadEdited(spec, [&](std::vector<TensorSource>& t) { Drop(t, name); });
    EXPECT_EQ(s.code(), StatusCode::kNotFound) << name << ": " << s.ToString();
    EXPECT_TRUE(Contains(s.message(), "missing tensor '" + name + "'")) << s.message();
  }
}

TEST(ModelErrorsTest, MisShapedTensorNamesBothShapes) {
  const std::string k_proj = "model.layers.0.self_attn.k_proj.weight";  // (2 kv heads * 16, 64)
  Status s = LoadEdited({Architecture::kLlama, "tiny"}, [&](std::vector<TensorSource>& t) {
    Reshape(t, k_proj, {64, 32});
  });
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_TRUE(Contains(s.message(), "tensor '" + k_proj + "' has shape [64, 32], expected [32, 64]")) << s.message();

  const std::string norm = "model.norm.weight";
  s = LoadEdited({Architecture::kQwen2, "tiny"}, [&](std::vector<TensorSource>& t) { Reshape(t, norm, {65}); });
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_TRUE(Contains(s.message(), "tensor '" + norm + "' has shape [65], expected [64]")) << s.message();

  const std::string kv_a = "model.layers.1.self_attn.kv_a_proj_with_mqa.weight";  // (32 + 8, 64)
  s = LoadEdited({Architecture::kDeepseekV2, "tiny-grouped"}, [&](std::vector<TensorSource>& t) {
    Reshape(t, kv_a, {32, 64});
  });
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_TRUE(Contains(s.message(), "tensor '" + kv_a + "' has shape [32, 64], expected [40, 64]")) << s.message();
}

// The status of loading a model directory whose config.json is the tiny llama's
// after `edit`.
Status LoadWithConfig(const std::function<void(nlohmann::json&)>& edit) {
  SynthModelDir dir({Architecture::kLlama, "tiny"});
  FATHOM_RETURN_IF_ERROR(dir.status());
  const std::string path = dir.path() + "/config.json";
  FATHOM_ASSIGN_OR_RETURN(std::string text, ReadTextFile(path));
  nlohmann::json config = nlohmann::json::parse(text);
  edit(config);
  FATHOM_RETURN_IF_ERROR(WriteFileAtomic(path, config.dump()));
  ThreadPool pool(1);
  return LoadCausalLm(dir.path(), pool).status();
}

TEST(ModelErrorsTest, UnsupportedModelTypeListsTheSupportedOnes) {
  const Status s = LoadWithConfig([](nlohmann::json& c) { c["model_type"] = "gpt2"; });
  EXPECT_EQ(s.code(), StatusCode::kUnsupported) << s.ToString();
  EXPECT_TRUE(Contains(s.message(), "model_type 'gpt2' is not supported")) << s.message();
  for (const char* type : {"llama", "qwen2", "deepseek_v2", "deepseek_v3"}) {
    EXPECT_TRUE(Contains(s.message(), type)) << s.message();
  }
  EXPECT_TRUE(Contains(s.message(), "config.json")) << s.message();
}

TEST(ModelErrorsTest, UnsupportedArchitectureClassListsTheSupportedOnes) {
  const Status s = LoadWithConfig([](nlohmann::json& c) {
    c.erase("model_type");
    c["architectures"] = {"MistralForCausalLM"};
  });
  EXPECT_EQ(s.code(), StatusCode::kUnsupported) << s.ToString();
  EXPECT_TRUE(Contains(s.message(), "architecture 'MistralForCausalLM' is not supported")) << s.message();
  // Every architecture the registry can build is offered.
  for (const std::string& cls : SupportedArchitectures()) EXPECT_TRUE(Contains(s.message(), cls)) << s.message();
  EXPECT_EQ(SupportedArchitectures().size(), 4u);
}

TEST(ModelErrorsTest, MissingPathIsNotFound) {
  ThreadPool pool(1);
  const Status s = LoadCausalLm("/nonexistent/fathom-model", pool).status();
  EXPECT_EQ(s.code(), StatusCode::kNotFound) << s.ToString();
  EXPECT_TRUE(Contains(s.message(), "/nonexistent/fathom-model")) << s.message();
}

class ForwardErrorsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(model_.status.ok()) << model_.status.ToString(); }
  CausalLm& lm() { return *model_.lm; }

  TinyModel model_{{Architecture::kLlama, "tiny-tied"}};
};

TEST_F(ForwardErrorsTest, TokenOutsideTheVocabularyIsInvalidArgument) {
  const int32_t vocab = static_cast<int32_t>(lm().config().vocab_size);
  Result<KvCache> cache = lm().NewCache(8);
  ASSERT_TRUE(cache.ok());
  for (int32_t bad : {vocab, vocab + 1000, -1}) {
    const std::vector<int32_t> tokens = {1, bad, 2};
    Result<std::vector<float>> r = ForwardSequence(lm(), *cache, tokens, false);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_TRUE(Contains(r.status().message(), "token id " + std::to_string(bad) + " is outside the vocabulary [0, " +
                                                   std::to_string(vocab) + ")"))
        << r.status().message();
    EXPECT_EQ(cache->num_tokens(), 0);
  }
  const std::vector<int32_t> edges = {0, vocab - 1};
  EXPECT_TRUE(ForwardSequence(lm(), *cache, edges, false).ok());
}

TEST_F(ForwardErrorsTest, MalformedBatchesAreInvalidArgument) {
  Result<KvCache> a = lm().NewCache(8), b = lm().NewCache(8);
  ASSERT_TRUE(a.ok() && b.ok());
  const std::vector<int32_t> tokens = {5, 6};
  std::vector<float> logits;
  auto expect_refused = [&](std::vector<BatchEntry> batch, const std::string& phrase) {
    const Status s = lm().Forward(batch, &logits);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << phrase;
    EXPECT_TRUE(Contains(s.message(), phrase)) << s.message();
    EXPECT_EQ(a->num_tokens(), 0);
    EXPECT_EQ(b->num_tokens(), 0);
  };
  expect_refused({}, "empty batch");
  expect_refused({{.tokens = tokens, .cache = &*a}, {.tokens = {}, .cache = &*b}}, "batch entry 1 has no tokens");
  expect_refused({{.tokens = tokens, .cache = nullptr}}, "batch entry 0 has no cache");
  expect_refused({{.tokens = tokens, .cache = &*a}, {.tokens = tokens, .cache = &*a}},
                 "batch entry 1 shares its cache");
}

}  // namespace
}  // namespace fathom

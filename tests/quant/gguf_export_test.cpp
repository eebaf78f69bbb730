// ExportGguf against the model it was written from: every tiny family exported at
// F32 gives the Hugging Face directory's logits (metadata, names, the llama q/k
// permutation, stacked experts and the split MLA kv_b all have to be right for
// that), quantized exports stay close and store each tensor in the type the
// policy names, the embedded vocabulary tokenizes like tokenizer.json, output is
// byte-for-byte deterministic, and GGUF inputs requantize.
#include "quant/gguf_export.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "formats/gguf_file.h"
#include "quant/quant_policy.h"
#include "tests/model/synth_fixture.h"
#include "tokenizer/tokenizer.h"

namespace fathom {
namespace {

using testing_util::ForwardSequence;
using testing_util::MaxRelError;
using testing_util::RandomTokens;
using testing_util::SynthModelDir;
using testing_util::TinyModelSpec;

constexpr int64_t kLength = 12;

// Logits of every position of `tokens` for the model at `path` (HF dir or GGUF).
Result<std::vector<float>> AllLogits(const std::string& path, const std::vector<int32_t>& tokens) {
  ThreadPool pool(2);
  FATHOM_ASSIGN_OR_RETURN(std::unique_ptr<CausalLm> lm, LoadCausalLm(path, pool));
  FATHOM_ASSIGN_OR_RETURN(KvCache cache, lm->NewCache(static_cast<int64_t>(tokens.size())));
  return ForwardSequence(*lm, cache, tokens, true);
}

Status Export(const std::string& in, const std::string& out, DType target, int threads = 2) {
  GgufExportOptions options{.target = target, .num_threads = threads, .show_progress = false};
  return ExportGguf(in, out, options).status();
}

std::string ReadBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// The type quant_policy.h gives a stored tensor, from its llama.cpp name and shape.
DType ExpectedType(const GgufTensorInfo& t, DType target, bool tied) {
  if (t.ne.size() < 2) return DType::kF32;
  std::string hf = t.name;
  if (t.name == "token_embd.weight") hf = "model.embed_tokens.weight";
  if (t.name == "output.weight") hf = "lm_head.weight";
  if (t.name.ends_with("ffn_gate_inp.weight")) hf = "mlp.gate.weight";
  const int64_t shape[] = {t.num_elements() / t.ne[0], t.ne[0]};
  return QuantTypeFor(hf, shape, target, tied);
}

class GgufExportTest : public ::testing::TestWithParam<TinyModelSpec> {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<SynthModelDir>(GetParam());
    ASSERT_TRUE(dir_->status().ok()) << dir_->status().ToString();
    Result<ModelConfig> c = LoadHfConfig(dir_->path() + "/config.json");
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    config_ = *c;
    tokens_ = RandomTokens(kLength, config_.vocab_size, 5);
    Result<std::vector<float>> want = AllLogits(dir_->path(), tokens_);
    ASSERT_TRUE(want.ok()) << want.status().ToString();
    want_ = *want;
  }

  std::string Out(const std::string& name) const { return out_dir_.File(name); }

  // Exports at `target`, checks every tensor's type, and returns the logits' error.
  double ExportError(DType target) {
    const std::string out = Out(std::string(DTypeName(target)) + ".gguf");
    Status s = Export(dir_->path(), out, target);
    EXPECT_TRUE(s.ok()) << s.ToString();
    if (!s.ok()) return INFINITY;
    Result<GgufFile> file = GgufFile::Open(out);
    EXPECT_TRUE(file.ok()) << file.status().ToString();
    const bool tied = file->FindTensor("output.weight") == nullptr;
    EXPECT_EQ(tied, config_.tie_word_embeddings);
    for (const GgufTensorInfo& t : file->tensors()) {
      EXPECT_EQ(t.dtype, ExpectedType(t, target, tied)) << t.name;
    }
    Result<std::vector<float>> got = AllLogits(out, tokens_);
    EXPECT_TRUE(got.ok()) << got.status().ToString();
    return got.ok() ? TypicalError(*got) : INFINITY;
  }

  // The error of the logits, position by position (MaxRelError per row). A dense
  // model's error grows smoothly with the weights' rounding, so the worst row
  // counts; in a tiny random MoE a rounding can flip which expert a token takes,
  // which changes that row entirely, so there the median row counts.
  double TypicalError(const std::vector<float>& got) const {
    const int64_t vocab = config_.vocab_size;
    std::vector<double> rows;
    for (int64_t i = 0; i < kLength; ++i) {
      rows.push_back(MaxRelError(std::span<const float>(got).subspan(i * vocab, vocab),
                                 std::span<const float>(want_).subspan(i * vocab, vocab)));
    }
    std::sort(rows.begin(), rows.end());
    if (std::getenv("FATHOM_PRINT_QUANT_ERRORS") != nullptr) {
      std::printf("%s: median %.4f max %.4f\n", GetParam().Name().c_str(), rows[rows.size() / 2], rows.back());
    }
    return config_.n_routed_experts > 0 ? rows[rows.size() / 2] : rows.back();
  }

  std::unique_ptr<SynthModelDir> dir_;
  testing_util::ScopedTempDir out_dir_;
  ModelConfig config_;
  std::vector<int32_t> tokens_;
  std::vector<float> want_;
};

TEST_P(GgufExportTest, F32FileGivesTheDirectorysLogits) { EXPECT_LT(ExportError(DType::kF32), 1e-5); }

// Bounds are about 1.5x the largest error measured over these presets (random
// weights, so 4-bit rounding is as harmful as it gets): F16 1e-3, BF16 0.028,
// Q8_0 0.033, Q4_0 0.36 (V3; dense models 0.2), Q4_K 0.14 and Q6_K 0.034 where
// rows hold whole 256-value blocks (small-k256; elsewhere they fall back to Q8_0).
TEST_P(GgufExportTest, F16AndBf16StayClose) {
  EXPECT_LT(ExportError(DType::kF16), 2e-3);
  EXPECT_LT(ExportError(DType::kBF16), 0.045);
}

TEST_P(GgufExportTest, Q8_0AndQ4_0StayClose) {
  EXPECT_LT(ExportError(DType::kQ8_0), 0.05);
  EXPECT_LT(ExportError(DType::kQ4_0), 0.55);
}

TEST_P(GgufExportTest, KQuantTargetsLoad) {
  EXPECT_LT(ExportError(DType::kQ4_K), 0.21);
  EXPECT_LT(ExportError(DType::kQ6_K), 0.05);
}

TEST_P(GgufExportTest, VocabularyTokenizesLikeTokenizerJson) {
  const std::string out = Out("vocab.gguf");
  ASSERT_TRUE(Export(dir_->path(), out, DType::kQ8_0).ok());
  Result<GgufFile> file = GgufFile::Open(out);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  Result<Tokenizer> from_gguf = Tokenizer::FromGguf(*file);
  ASSERT_TRUE(from_gguf.ok()) << from_gguf.status().ToString();
  Result<Tokenizer> from_hf = Tokenizer::Load(dir_->path());
  ASSERT_TRUE(from_hf.ok()) << from_hf.status().ToString();
  for (const char* text : {"Hello world", "The quick brown fox jumps over the lazy dog.",
                           "def main():\n    return 0\n", "numbers 2024 and 3.14159", "<｜User｜>hi<｜Assistant｜>",
                           "  spaces   and\ttabs\n\n", "naïve café 東京"}) {
    for (bool special : {false, true}) {
      Result<std::vector<int32_t>> a = from_gguf->Encode(text, special);
      Result<std::vector<int32_t>> b = from_hf->Encode(text, special);
      ASSERT_TRUE(a.ok() && b.ok());
      EXPECT_EQ(*a, *b) << text << " special=" << special;
    }
  }
  EXPECT_EQ(from_gguf->bos_token_id(), from_hf->bos_token_id());
  EXPECT_EQ(from_gguf->eos_token_id(), from_hf->eos_token_id());
  // The chat template is carried verbatim.
  std::ifstream f(dir_->path() + "/tokenizer_config.json");
  const nlohmann::json config = nlohmann::json::parse(f);
  const GgufValue* tmpl = file->Find("tokenizer.chat_template");
  ASSERT_NE(tmpl, nullptr);
  ASSERT_NE(tmpl->AsString(), nullptr);
  EXPECT_EQ(*tmpl->AsString(), config["chat_template"].get<std::string>());
  const GgufValue* tokens = file->Find("tokenizer.ggml.tokens");
  ASSERT_NE(tokens, nullptr);
  EXPECT_EQ(static_cast<int64_t>(tokens->elements().size()), config_.vocab_size);
}

TEST_P(GgufExportTest, SameInputGivesTheSameBytes) {
  ASSERT_TRUE(Export(dir_->path(), Out("a.gguf"), DType::kQ4_0, 1).ok());
  ASSERT_TRUE(Export(dir_->path(), Out("b.gguf"), DType::kQ4_0, 3).ok());
  const std::string a = ReadBytes(Out("a.gguf"));
  EXPECT_FALSE(a.empty());
  EXPECT_TRUE(a == ReadBytes(Out("b.gguf")));
}

TEST_P(GgufExportTest, GgufInputRequantizes) {
  ASSERT_TRUE(Export(dir_->path(), Out("f32.gguf"), DType::kF32).ok());
  ASSERT_TRUE(Export(Out("f32.gguf"), Out("q8_from_gguf.gguf"), DType::kQ8_0).ok());
  ASSERT_TRUE(Export(dir_->path(), Out("q8_from_hf.gguf"), DType::kQ8_0).ok());
  // An F32 file holds the source's values exactly, so both routes quantize the
  // same floats under the same metadata: the files are identical.
  EXPECT_TRUE(ReadBytes(Out("q8_from_gguf.gguf")) == ReadBytes(Out("q8_from_hf.gguf")));
  // And a quantized file requantizes (Q8_0 -> Q4_0 -> float) within Q4_0's error.
  ASSERT_TRUE(Export(Out("q8_from_gguf.gguf"), Out("q4_from_q8.gguf"), DType::kQ4_0).ok());
  Result<std::vector<float>> got = AllLogits(Out("q4_from_q8.gguf"), tokens_);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_LT(TypicalError(*got), 0.55);
}

std::vector<TinyModelSpec> Specs() {
  std::vector<TinyModelSpec> specs = testing_util::TinyPresets();
  specs.push_back({Architecture::kLlama, "small-k256"});
  specs.push_back({Architecture::kQwen2, "tiny", DType::kBF16});
  return specs;
}

INSTANTIATE_TEST_SUITE_P(Families, GgufExportTest, ::testing::ValuesIn(Specs()),
                         [](const ::testing::TestParamInfo<TinyModelSpec>& info) { return info.param.Name(); });

// llama.cpp's own convert_hf_to_gguf.py output for the same synthetic models
// (tests/fixtures/logits/*.gguf, seed 1): every tensor must come out with the same
// name, type, shape and bytes, and every key with the same type and value, but
// for the keys we knowingly write differently.
struct ConverterCase {
  std::string fixture;
  TinyModelSpec spec;
  DType target;  // the converter's --outtype
};

TEST(GgufExportConverterParityTest, SameTensorsAndKeysAsConvertHfToGguf) {
  const std::filesystem::path fixtures = std::filesystem::path(FATHOM_SOURCE_DIR) / "tests" / "fixtures" / "logits";
  const ConverterCase cases[] = {
      {"qwen2-tiny", {Architecture::kQwen2, "tiny", DType::kF32}, DType::kF32},
      {"llama-tiny", {Architecture::kLlama, "tiny", DType::kF32}, DType::kF32},
      {"llama-tiny-tied", {Architecture::kLlama, "tiny-tied", DType::kBF16}, DType::kBF16},
      {"v2-tiny", {Architecture::kDeepseekV2, "tiny", DType::kF32}, DType::kF32},
      {"v3-tiny", {Architecture::kDeepseekV3, "tiny", DType::kF32}, DType::kF32},
  };
  // general.name: the converter title-cases the directory name; size_label: not
  // written; add_bos_token: we follow tokenizer_config.json as transformers does;
  // q_lora_rank 0: llama.cpp needs it for a Lite model of other than 26/27 layers.
  const std::set<std::string> knowingly_different = {"general.name", "general.size_label",
                                                     "tokenizer.ggml.add_bos_token", "deepseek2.attention.q_lora_rank"};
  for (const ConverterCase& c : cases) {
    SCOPED_TRACE(c.fixture);
    SynthModelDir dir(c.spec, /*seed=*/1);
    ASSERT_TRUE(dir.status().ok()) << dir.status().ToString();
    testing_util::ScopedTempDir out;
    ASSERT_TRUE(Export(dir.path(), out.File("m.gguf"), c.target).ok());
    Result<GgufFile> ours = GgufFile::Open(out.File("m.gguf"));
    Result<GgufFile> theirs = GgufFile::Open((fixtures / (c.fixture + ".gguf")).string());
    ASSERT_TRUE(ours.ok() && theirs.ok());
    ASSERT_EQ(ours->tensors().size(), theirs->tensors().size());
    for (const GgufTensorInfo& t : theirs->tensors()) {
      const GgufTensorInfo* o = ours->FindTensor(t.name);
      ASSERT_NE(o, nullptr) << t.name;
      EXPECT_EQ(o->dtype, t.dtype) << t.name;
      EXPECT_EQ(o->ne, t.ne) << t.name;
      if (o->num_bytes == t.num_bytes) {
        EXPECT_EQ(std::memcmp(o->data, t.data, t.num_bytes), 0) << t.name;
      }
    }
    for (const auto& [key, value] : theirs->metadata()) {
      if (knowingly_different.contains(key)) continue;
      const GgufValue* o = ours->Find(key);
      ASSERT_NE(o, nullptr) << key;
      EXPECT_TRUE(*o == value) << key;
    }
    for (const auto& [key, value] : ours->metadata()) {
      if (!knowingly_different.contains(key)) {
        EXPECT_NE(theirs->Find(key), nullptr) << "extra key " << key;
      }
    }
  }
}

TEST(GgufExportK256Test, KQuantTensorsAreReallyKQuants) {
  SynthModelDir dir({Architecture::kLlama, "small-k256"});
  ASSERT_TRUE(dir.status().ok()) << dir.status().ToString();
  testing_util::ScopedTempDir out;
  for (DType target : {DType::kQ4_K, DType::kQ6_K}) {
    const std::string path = out.File(std::string(DTypeName(target)) + ".gguf");
    ASSERT_TRUE(Export(dir.path(), path, target).ok());
    Result<GgufFile> file = GgufFile::Open(path);
    ASSERT_TRUE(file.ok());
    std::map<DType, int> counts;
    for (const GgufTensorInfo& t : file->tensors()) ++counts[t.dtype];
    EXPECT_GE(counts[target], 14) << DTypeName(target);  // 7 matrices per layer
    EXPECT_EQ(file->FindTensor("output.weight")->dtype, DType::kQ6_K);
  }
}

TEST(GgufExportErrorsTest, NamesTheFileAndTheProblem) {
  testing_util::ScopedTempDir out;
  GgufExportOptions options{.target = DType::kQ8_0, .num_threads = 1, .show_progress = false};
  Result<GgufExportSummary> missing = ExportGguf(out.File("nope"), out.File("x.gguf"), options);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("nope"), std::string::npos);

  SynthModelDir dir({Architecture::kQwen2, "tiny-tied"});
  ASSERT_TRUE(dir.status().ok());
  Result<GgufExportSummary> no_dir = ExportGguf(dir.path(), out.File("missing/x.gguf"), options);
  ASSERT_FALSE(no_dir.ok());
  EXPECT_NE(no_dir.status().message().find("does not exist"), std::string::npos) << no_dir.status().ToString();

  Result<GgufExportSummary> ok = ExportGguf(dir.path(), out.File("x.gguf"), options);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_GT(ok->num_tensors, 0);
  EXPECT_EQ(ok->output_bytes, std::filesystem::file_size(out.File("x.gguf")));
  EXPECT_GT(ok->bits_per_weight(), 8.0);
}

}  // namespace
}  // namespace fathom

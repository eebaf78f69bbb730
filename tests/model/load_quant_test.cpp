// --quant at load time: float weights become the policy's block format as they
// load, byte for byte what FromFloat32 writes, and the model still computes
// nearly the float logits.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/convert.h"
#include "kernels/cpu/matmul.h"
#include "model/weight_store.h"
#include "quant/quant_policy.h"
#include "tests/model/synth_fixture.h"

namespace fathom {
namespace {

// The median over positions of ||got_row - want_row|| / ||want_row||. A median,
// because MoE routing is discontinuous: a perturbed weight may send one token to
// another expert (v2-tiny-grouped does so even at bf16), and that position's
// logits then differ by much more than the quantization error.
double MedianRowError(const std::vector<float>& got, const std::vector<float>& want, int64_t vocab) {
  std::vector<double> rows;
  for (size_t r = 0; r * vocab < want.size(); ++r) {
    double num = 0, den = 0;
    for (int64_t j = 0; j < vocab; ++j) {
      const double w = want[r * vocab + j], d = got[r * vocab + j] - w;
      num += d * d;
      den += w * w;
    }
    rows.push_back(std::sqrt(num / den));
  }
  std::sort(rows.begin(), rows.end());
  return rows[rows.size() / 2];
}
using testing_util::SynthModelDir;
using testing_util::TinyModelSpec;

TEST(LoadQuantTest, MatricesAreQuantizedAsThePolicySaysAndByteExact) {
  SynthModelDir dir({Architecture::kQwen2, "tiny"});
  ASSERT_TRUE(dir.status().ok()) << dir.status().ToString();
  Result<WeightStore> plain = WeightStore::Open(dir.path());
  ThreadPool pool(3);
  Result<WeightStore> quant = WeightStore::Open(dir.path(), {.quant = DType::kQ4_0, .pool = &pool});
  ASSERT_TRUE(plain.ok() && quant.ok());
  const ModelConfig& c = plain->config();
  const std::string name = "model.layers.1.mlp.up_proj.weight";
  Result<Tensor> f = plain->Matrix(name, c.intermediate_size, c.hidden_size);
  Result<Tensor> q = quant->Matrix(name, c.intermediate_size, c.hidden_size);
  ASSERT_TRUE(f.ok() && q.ok());
  ASSERT_EQ(q->dtype(), DType::kQ4_0);
  std::vector<float> rows(c.intermediate_size * c.hidden_size);
  cpu::WeightRowsToF32(*f, 0, c.intermediate_size, rows.data());
  std::vector<uint8_t> want(q->num_bytes());
  ASSERT_TRUE(FromFloat32(DType::kQ4_0, rows.data(), static_cast<int64_t>(rows.size()), want.data()).ok());
  EXPECT_EQ(std::memcmp(q->data(), want.data(), want.size()), 0);
  EXPECT_LT(quant->bytes_loaded(), plain->bytes_loaded());

  // The output head follows the policy too (Q6_K needs rows of 256, so Q8_0 here).
  Result<Tensor> head = quant->Matrix("lm_head.weight", c.vocab_size, c.hidden_size);
  ASSERT_TRUE(head.ok());
  const std::array<int64_t, 2> head_shape = {c.vocab_size, c.hidden_size};
  EXPECT_EQ(head->dtype(), QuantTypeFor("lm_head.weight", head_shape, DType::kQ4_0, false));
}

TEST(LoadQuantTest, RejectsTargetsThatAreNotQuantTargets) {
  SynthModelDir dir({Architecture::kQwen2, "tiny"});
  ASSERT_TRUE(dir.status().ok());
  EXPECT_FALSE(WeightStore::Open(dir.path(), {.quant = DType::kQ2_K}).ok());
}

TEST(LoadQuantTest, DecodeReadsAllWeightsButTheUntiedEmbeddingTable) {
  for (const TinyModelSpec spec : {TinyModelSpec{Architecture::kQwen2, "tiny"}, TinyModelSpec{Architecture::kQwen2, "tiny-tied"},
                                   TinyModelSpec{Architecture::kDeepseekV3, "tiny"}}) {
    SynthModelDir dir(spec);
    ASSERT_TRUE(dir.status().ok());
    ThreadPool pool(1);
    Result<std::unique_ptr<CausalLm>> lm = LoadCausalLm(dir.path(), pool);
    ASSERT_TRUE(lm.ok());
    const ModelConfig& c = (*lm)->config();
    const int64_t table = c.tie_word_embeddings ? 0 : c.vocab_size * c.hidden_size * int64_t{sizeof(float)};
    EXPECT_EQ((*lm)->decode_bytes_per_token(), (*lm)->weight_bytes() - table) << spec.Name();
  }
}

struct QuantCase {
  DType target;
  double max_error;  // MedianRowError bound: 3-10x what these models measure
};

class LoadQuantModelTest : public ::testing::TestWithParam<TinyModelSpec> {};

TEST_P(LoadQuantModelTest, QuantizedLogitsStayCloseToFloat) {
  SynthModelDir dir(GetParam());
  ASSERT_TRUE(dir.status().ok()) << dir.status().ToString();
  ThreadPool pool(2);
  Result<std::unique_ptr<CausalLm>> ref = LoadCausalLm(dir.path(), pool);
  ASSERT_TRUE(ref.ok()) << ref.status().ToString();
  const std::vector<int32_t> tokens = testing_util::RandomTokens(12, (*ref)->config().vocab_size, 5);
  Result<KvCache> ref_cache = (*ref)->NewCache(16);
  ASSERT_TRUE(ref_cache.ok());
  Result<std::vector<float>> want = testing_util::ForwardSequence(**ref, *ref_cache, tokens, true);
  ASSERT_TRUE(want.ok());
  for (const QuantCase& qc : {QuantCase{DType::kBF16, 0.04}, QuantCase{DType::kQ8_0, 0.06},
                              QuantCase{DType::kQ4_0, 0.6}, QuantCase{DType::kQ4_K, 0.06}}) {
    SCOPED_TRACE(std::string(DTypeName(qc.target)));
    Result<std::unique_ptr<CausalLm>> lm = LoadCausalLm(dir.path(), pool, {.quant = qc.target});
    ASSERT_TRUE(lm.ok()) << lm.status().ToString();
    EXPECT_LT((*lm)->weight_bytes(), (*ref)->weight_bytes());
    Result<KvCache> cache = (*lm)->NewCache(16);
    ASSERT_TRUE(cache.ok());
    Result<std::vector<float>> got = testing_util::ForwardSequence(**lm, *cache, tokens, true);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    const double err = MedianRowError(*got, *want, (*ref)->config().vocab_size);
    EXPECT_GT(err, 0.0);  // the weights did change
    EXPECT_LT(err, qc.max_error);
  }
}

INSTANTIATE_TEST_SUITE_P(AllFamilies, LoadQuantModelTest, ::testing::ValuesIn(testing_util::TinyPresets()),
                         [](const auto& info) { return info.param.Name(); });

}  // namespace
}  // namespace fathom

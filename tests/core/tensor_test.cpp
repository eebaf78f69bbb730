#include "core/tensor.h"

#include <gtest/gtest.h>

namespace fathom {
namespace {

TEST(TensorTest, ZerosIsContiguousAlignedAndOwning) {
  Result<Tensor> t = Tensor::Zeros(DType::kF32, {3, 5});
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(t->owns_data());
  EXPECT_TRUE(t->is_contiguous());
  EXPECT_EQ(t->strides(), (std::vector<int64_t>{5, 1}));
  EXPECT_EQ(t->num_bytes(), 60);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t->data()) % 64, 0u);
  for (int i = 0; i < 15; ++i) EXPECT_EQ(t->data_as<float>()[i], 0.0f);
  EXPECT_EQ(t->ShapeString(), "F32[3, 5]");
}

TEST(TensorTest, BlockFormatsMeasureInBlocks) {
  Result<Tensor> t = Tensor::Zeros(DType::kQ4_K, {2, 512});
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->num_bytes(), 2 * 2 * 144);
  Result<Tensor> row = t->SliceRows(1, 2);
  ASSERT_TRUE(row.ok());
  EXPECT_EQ(static_cast<uint8_t*>(row->data()) - static_cast<uint8_t*>(t->data()), 288);
  EXPECT_FALSE(Tensor::Zeros(DType::kQ4_K, {2, 100}).ok());
}

TEST(TensorTest, ViewDoesNotOwnAndSlicesShareStorage) {
  float buf[6] = {0, 1, 2, 3, 4, 5};
  Result<Tensor> v = Tensor::View(DType::kF32, {3, 2}, buf);
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->owns_data());
  Result<Tensor> s = v->SliceRows(1, 3);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->data_as<float>()[0], 2.0f);
  EXPECT_FALSE(v->SliceRows(2, 4).ok());
  Result<Tensor> r = v->Reshape({6});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->dim(-1), 6);
  EXPECT_FALSE(v->Reshape({4}).ok());
}

TEST(TensorTest, RejectsOverflowingShapes) {
  EXPECT_FALSE(Tensor::View(DType::kF32, {int64_t{1} << 40, int64_t{1} << 40}, nullptr).ok());
  EXPECT_FALSE(Tensor::View(DType::kF32, {-1}, nullptr).ok());
}

}  // namespace
}  // namespace fathom

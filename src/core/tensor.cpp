#include "core/tensor.h"

#include <cstdlib>
#include <cstring>

namespace fathom {

Status Tensor::CheckShape(DType dtype, const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return InvalidArgument("negative dimension in shape");
    if (__builtin_mul_overflow(n, d, &n)) return OutOfRange("shape element count overflows");
  }
  const int64_t block = GetDTypeInfo(dtype).block_elems;
  if (block > 1 && (shape.empty() || shape.back() % block != 0)) {
    return InvalidArgument(std::string(DTypeName(dtype)) + " rows must be a multiple of " + std::to_string(block) +
                           " elements");
  }
  return DTypeByteSize(dtype, n).status();
}

std::vector<int64_t> Tensor::ContiguousStrides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> strides(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

Result<Tensor> Tensor::Zeros(DType dtype, std::vector<int64_t> shape) {
  FATHOM_RETURN_IF_ERROR(CheckShape(dtype, shape));
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.strides_ = ContiguousStrides(t.shape_);
  const size_t bytes = static_cast<size_t>(t.num_bytes());
  const size_t rounded = (bytes + 63) / 64 * 64;
  void* p = rounded == 0 ? nullptr : std::aligned_alloc(64, rounded);
  if (rounded != 0 && p == nullptr) return ResourceExhausted("cannot allocate " + std::to_string(bytes) + " bytes");
  if (p != nullptr) std::memset(p, 0, rounded);
  t.storage_ = std::shared_ptr<void>(p, [](void* q) { std::free(q); });
  t.data_ = p;
  return t;
}

Result<Tensor> Tensor::View(DType dtype, std::vector<int64_t> shape, const void* data, Device device) {
  FATHOM_RETURN_IF_ERROR(CheckShape(dtype, shape));
  Tensor t;
  t.dtype_ = dtype;
  t.device_ = device;
  t.shape_ = std::move(shape);
  t.strides_ = ContiguousStrides(t.shape_);
  t.data_ = const_cast<void*>(data);
  return t;
}

int64_t Tensor::num_elements() const {
  int64_t n = 1;
  for (int64_t d : shape_) n *= d;
  return n;
}

int64_t Tensor::num_bytes() const {
  const DTypeInfo& info = GetDTypeInfo(dtype_);
  return num_elements() / info.block_elems * info.block_bytes;
}

bool Tensor::is_contiguous() const {
  // Walks the dimensions instead of building ContiguousStrides: kernels ask this
  // on every call, and the answer must not allocate.
  int64_t expected = 1;
  for (int i = ndim() - 1; i >= 0; --i) {
    if (strides_[i] != expected) return false;
    expected *= shape_[i];
  }
  return true;
}

Result<Tensor> Tensor::SliceRows(int64_t begin, int64_t end) const {
  if (shape_.empty()) return InvalidArgument("cannot slice a scalar");
  if (begin < 0 || end < begin || end > shape_[0]) {
    return OutOfRange("rows [" + std::to_string(begin) + ", " + std::to_string(end) + ") of " + ShapeString());
  }
  Tensor t = *this;
  t.shape_[0] = end - begin;
  const DTypeInfo& info = GetDTypeInfo(dtype_);
  const int64_t offset_elems = begin * strides_[0];
  t.data_ = static_cast<uint8_t*>(data_) + offset_elems / info.block_elems * info.block_bytes;
  return t;
}

Result<Tensor> Tensor::Reshape(std::vector<int64_t> shape) const {
  if (!is_contiguous()) return InvalidArgument("reshape needs a contiguous tensor");
  FATHOM_RETURN_IF_ERROR(CheckShape(dtype_, shape));
  Tensor t = *this;
  t.shape_ = std::move(shape);
  if (t.num_elements() != num_elements()) {
    return InvalidArgument("reshape of " + ShapeString() + " changes the element count");
  }
  t.strides_ = ContiguousStrides(t.shape_);
  return t;
}

std::string Tensor::ShapeString() const {
  std::string s(DTypeName(dtype_));
  s += "[";
  for (size_t i = 0; i < shape_.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape_[i]);
  }
  return s + "]";
}

}  // namespace fathom

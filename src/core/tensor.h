// Tensor: a typed, shaped view of memory that may or may not own it. Kernels take
// Tensors; model files hand out non-owning views into their mappings; activations
// own aligned buffers.
//
// Non-obvious rule: strides count elements, and for block formats (Q4_K, ...) the
// innermost dimension must be contiguous and a whole number of blocks, so a row
// always starts on a block boundary.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"

namespace fathom {

enum class Device : uint8_t { kCpu, kCuda };

// Copyable: copies share the storage (like a view). Thread-compatible.
// Invariants: shape and strides have the same rank; every dimension >= 0; for an
// owning tensor, storage keeps num_bytes() bytes alive.
class Tensor {
 public:
  Tensor() = default;

  // A new zero-filled, contiguous, 64-byte aligned CPU tensor.
  static Result<Tensor> Zeros(DType dtype, std::vector<int64_t> shape);
  // A contiguous view of memory owned elsewhere; `data` must outlive the view.
  static Result<Tensor> View(DType dtype, std::vector<int64_t> shape, const void* data, Device device = Device::kCpu);

  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  const std::vector<int64_t>& strides() const { return strides_; }
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const { return shape_[i < 0 ? i + ndim() : i]; }
  int64_t num_elements() const;
  // Bytes spanned by a contiguous tensor of this shape.
  int64_t num_bytes() const;
  bool is_contiguous() const;
  bool owns_data() const { return storage_ != nullptr; }

  void* data() const { return data_; }
  template <typename T>
  T* data_as() const { return static_cast<T*>(data_); }
  std::span<const uint8_t> bytes() const { return {static_cast<const uint8_t*>(data_), static_cast<size_t>(num_bytes())}; }

  // Rows [begin, end) of the outermost dimension, sharing storage.
  Result<Tensor> SliceRows(int64_t begin, int64_t end) const;
  // The same contiguous data under another shape with equal element count.
  Result<Tensor> Reshape(std::vector<int64_t> shape) const;

  // "BF16[4096, 11008]"
  std::string ShapeString() const;

 private:
  static Status CheckShape(DType dtype, const std::vector<int64_t>& shape);
  static std::vector<int64_t> ContiguousStrides(const std::vector<int64_t>& shape);

  DType dtype_ = DType::kF32;
  Device device_ = Device::kCpu;
  std::vector<int64_t> shape_;
  std::vector<int64_t> strides_;
  void* data_ = nullptr;
  std::shared_ptr<void> storage_;  // null for views
};

}  // namespace fathom

#include "kernels/cpu/packed_weight.h"

#include <algorithm>

#include "kernels/cpu/quant_kernels.h"
#include "kernels/cpu/quant_matmul.h"

namespace fathom::cpu {

std::optional<PackedWeight> PackedWeight::Pack(ThreadPool& pool, const Tensor& w) {
  FATHOM_CHECK(w.ndim() == 2 && w.is_contiguous());
  if (!IsQuantMatMulDType(w.dtype())) return std::nullopt;
  const Isa isa = ActiveIsa();
  const QuantPanelKernels* kern = QuantPanelKernelsFor(isa, w.dtype());
  if (kern == nullptr) return std::nullopt;
  const DTypeInfo& info = GetDTypeInfo(w.dtype());
  FATHOM_CHECK(w.dim(1) % info.block_elems == 0);

  PackedWeight pw;
  pw.isa_ = isa;
  pw.dtype_ = w.dtype();
  pw.n_ = w.dim(0);
  pw.k_ = w.dim(1);
  pw.num_blocks_ = pw.k_ / info.block_elems;
  pw.num_panels_ = (pw.n_ + kPanelCols - 1) / kPanelCols;
  // Every packed block is a whole number of 64-byte lines, so panels stay aligned.
  FATHOM_CHECK(kern->packed_block_bytes % 64 == 0);
  pw.panel_bytes_ = pw.num_blocks_ * kern->packed_block_bytes;
  pw.is_compact_ = kern->packed_block_bytes * 8 <= kPanelCols * info.block_bytes * 9;
  const size_t total = static_cast<size_t>(std::max<int64_t>(64, pw.num_bytes()));
  pw.data_.reset(static_cast<uint8_t*>(std::aligned_alloc(64, (total + 63) / 64 * 64)));
  FATHOM_CHECK(pw.data_ != nullptr);

  const auto* src = static_cast<const uint8_t*>(w.data());
  const int64_t row_bytes = pw.num_blocks_ * info.block_bytes;
  PackedWeight* out = &pw;
  pool.ParallelFor(pw.num_panels_, 1, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const int64_t j = p * kPanelCols;
      const int rows = static_cast<int>(std::min<int64_t>(kPanelCols, out->n_ - j));
      kern->pack(src + j * row_bytes, row_bytes, rows, out->num_blocks_, out->data_.get() + p * out->panel_bytes_);
    }
  });
  return pw;
}

}  // namespace fathom::cpu

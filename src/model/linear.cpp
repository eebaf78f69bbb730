#include "model/linear.h"

#include "kernels/cpu/matmul.h"

namespace fathom {

void Linear::Apply(ThreadPool& pool, const float* x, int64_t rows, float* y) const {
  cpu::MatMul(pool, x, rows, in_features(), weight, packed.get(), bias.empty() ? nullptr : bias.data(), y);
}

Result<Linear> Linear::Load(WeightStore& store, const std::string& prefix, int64_t out, int64_t in, bool has_bias) {
  Linear l;
  FATHOM_ASSIGN_OR_RETURN(l.weight, store.Matrix(prefix + ".weight", out, in));
  l.packed = PackWeight(store, l.weight);
  if (has_bias) {
    FATHOM_ASSIGN_OR_RETURN(l.bias, store.Vector(prefix + ".bias", out));
  }
  return l;
}

std::shared_ptr<const cpu::PackedWeight> PackWeight(WeightStore& store, const Tensor& w) {
  if (!IsBlockQuantized(w.dtype())) return nullptr;
  std::optional<cpu::PackedWeight> packed;
  if (store.pool() != nullptr) {
    packed = cpu::PackedWeight::Pack(*store.pool(), w);
  } else {
    ThreadPool serial(1);
    packed = cpu::PackedWeight::Pack(serial, w);
  }
  if (!packed.has_value()) return nullptr;
  // Decode reads the packed copy only when it is compact; prefill reads it always.
  if (packed->is_compact()) store.CountPackedCopy(w.num_bytes(), packed->num_bytes());
  return std::make_shared<const cpu::PackedWeight>(std::move(*packed));
}

}  // namespace fathom

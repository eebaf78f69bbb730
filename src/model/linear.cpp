#include "model/linear.h"

#include "kernels/cpu/matmul.h"

namespace fathom {

void Linear::Apply(ThreadPool& pool, const float* x, int64_t rows, float* y) const {
  cpu::MatMul(pool, x, rows, in_features(), weight, bias.empty() ? nullptr : bias.data(), y);
}

Result<Linear> Linear::Load(WeightStore& store, const std::string& prefix, int64_t out, int64_t in, bool has_bias) {
  Linear l;
  FATHOM_ASSIGN_OR_RETURN(l.weight, store.Matrix(prefix + ".weight", out, in));
  if (has_bias) {
    FATHOM_ASSIGN_OR_RETURN(l.bias, store.Vector(prefix + ".bias", out));
  }
  return l;
}

}  // namespace fathom

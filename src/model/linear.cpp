#include "model/linear.h"

#include <optional>

#include "kernels/cpu/packed_weight.h"

namespace fathom {

Result<Linear> Linear::Load(WeightStore& store, Backend& backend, const std::string& prefix, int64_t out, int64_t in,
                            bool has_bias) {
  Linear l;
  FATHOM_ASSIGN_OR_RETURN(Tensor w, store.Matrix(prefix + ".weight", out, in));
  FATHOM_ASSIGN_OR_RETURN(l.weight, UploadWeight(store, backend, w));
  if (has_bias) {
    FATHOM_ASSIGN_OR_RETURN(l.bias, LoadVector(store, backend, prefix + ".bias", out));
  }
  return l;
}

Result<std::shared_ptr<const BackendMatrix>> UploadWeight(WeightStore& store, Backend& backend, const Tensor& w) {
  std::shared_ptr<const cpu::PackedWeight> packed;
  if (backend.kind() == DeviceKind::kCpu && IsBlockQuantized(w.dtype())) {
    std::optional<cpu::PackedWeight> p;
    if (store.pool() != nullptr) {
      p = cpu::PackedWeight::Pack(*store.pool(), w);
    } else {
      ThreadPool serial(1);
      p = cpu::PackedWeight::Pack(serial, w);
    }
    if (p.has_value()) {
      // Decode reads the packed copy only when it is compact; prefill reads it always.
      if (p->is_compact()) store.CountPackedCopy(w.num_bytes(), p->num_bytes());
      packed = std::make_shared<const cpu::PackedWeight>(std::move(*p));
    }
  }
  FATHOM_ASSIGN_OR_RETURN(std::unique_ptr<BackendMatrix> m, backend.UploadMatrix(w, std::move(packed)));
  return std::shared_ptr<const BackendMatrix>(std::move(m));
}

Result<DeviceVector> LoadVector(WeightStore& store, Backend& backend, const std::string& name, int64_t n) {
  FATHOM_ASSIGN_OR_RETURN(std::vector<float> v, store.Vector(name, n));
  return backend.UploadVector(v);
}

}  // namespace fathom

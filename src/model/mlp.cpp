#include "model/mlp.h"

namespace fathom {

void Mlp::Apply(Backend& b, const float* x, int64_t rows, float* out) const {
  const int64_t inter = intermediate_size();
  float* gate = b.workspace().Floats(Workspace::Buf::kMlpGate, rows * inter);  // (rows, intermediate)
  float* up = b.workspace().Floats(Workspace::Buf::kMlpUp, rows * inter);      // (rows, intermediate)
  gate_proj.Apply(b, x, rows, gate);
  up_proj.Apply(b, x, rows, up);
  b.SiluMul(gate, up, rows * inter, gate);
  down_proj.Apply(b, gate, rows, out);
}

Result<Mlp> Mlp::Load(WeightStore& store, Backend& b, const std::string& prefix, int64_t hidden, int64_t intermediate,
                      bool has_bias) {
  Mlp m;
  FATHOM_ASSIGN_OR_RETURN(m.gate_proj, Linear::Load(store, b, prefix + ".gate_proj", intermediate, hidden, has_bias));
  FATHOM_ASSIGN_OR_RETURN(m.up_proj, Linear::Load(store, b, prefix + ".up_proj", intermediate, hidden, has_bias));
  FATHOM_ASSIGN_OR_RETURN(m.down_proj, Linear::Load(store, b, prefix + ".down_proj", hidden, intermediate, has_bias));
  return m;
}

}  // namespace fathom

#include "model/mlp.h"

#include "kernels/cpu/elementwise.h"

namespace fathom {

void Mlp::Apply(ThreadPool& pool, Workspace& ws, const float* x, int64_t rows, float* out) const {
  const int64_t inter = intermediate_size();
  float* gate = ws.Floats(Workspace::Buf::kMlpGate, rows * inter);  // (rows, intermediate)
  float* up = ws.Floats(Workspace::Buf::kMlpUp, rows * inter);      // (rows, intermediate)
  gate_proj.Apply(pool, x, rows, gate);
  up_proj.Apply(pool, x, rows, up);
  cpu::SiluMul(gate, up, rows * inter, gate);
  down_proj.Apply(pool, gate, rows, out);
}

Result<Mlp> Mlp::Load(WeightStore& store, const std::string& prefix, int64_t hidden, int64_t intermediate,
                      bool has_bias) {
  Mlp m;
  FATHOM_ASSIGN_OR_RETURN(m.gate_proj, Linear::Load(store, prefix + ".gate_proj", intermediate, hidden, has_bias));
  FATHOM_ASSIGN_OR_RETURN(m.up_proj, Linear::Load(store, prefix + ".up_proj", intermediate, hidden, has_bias));
  FATHOM_ASSIGN_OR_RETURN(m.down_proj, Linear::Load(store, prefix + ".down_proj", hidden, intermediate, has_bias));
  return m;
}

}  // namespace fathom

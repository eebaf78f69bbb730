#include "kernels/cpu/rope.h"

namespace fathom::cpu {

void ApplyRope(float* x, int64_t num_heads, int64_t head_stride, int64_t rot_dim, const float* cos, const float* sin,
               RopeStyle style) {
  const int64_t half = rot_dim / 2;
  for (int64_t h = 0; h < num_heads; ++h) {
    float* v = x + h * head_stride;
    for (int64_t i = 0; i < half; ++i) {
      float* a = style == RopeStyle::kNeox ? &v[i] : &v[2 * i];
      float* b = style == RopeStyle::kNeox ? &v[i + half] : &v[2 * i + 1];
      const float x0 = *a, x1 = *b;
      *a = x0 * cos[i] - x1 * sin[i];
      *b = x1 * cos[i] + x0 * sin[i];
    }
  }
}

}  // namespace fathom::cpu

// Rotary position embedding applied to a token's heads, given that position's
// cos/sin row (already scaled by any attention factor the scaling type defines).
//
// Non-obvious rule: two pairings exist and both are in use. kNeox rotates
// (x[i], x[i + d/2]), transformers' rotate_half; kInterleaved rotates
// (x[2i], x[2i + 1]), which is what DeepSeek's MLA rope dims use in every
// checkpoint and what llama.cpp's GGUF `llama` files expect after the converter
// permuted q/k rows.
#pragma once

#include <cstdint>

namespace fathom::cpu {

enum class RopeStyle { kNeox, kInterleaved };

// Rotates the first `rot_dim` values of each of `num_heads` heads (head h starts
// at x + h * head_stride). cos/sin hold rot_dim / 2 values: pair i turns by
// angle i. REQUIRES: rot_dim even.
void ApplyRope(float* x, int64_t num_heads, int64_t head_stride, int64_t rot_dim, const float* cos /*(rot_dim/2)*/,
               const float* sin /*(rot_dim/2)*/, RopeStyle style);

}  // namespace fathom::cpu

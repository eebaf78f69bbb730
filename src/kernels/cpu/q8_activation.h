// Float32 activation rows quantized to 8 bits, the other operand of the integer
// dot products against quantized weights: Q8_0 and Q4_0 weights pair with
// ActQ8Block (32 values), Q4_K and Q6_K with ActQ8KBlock (256 values).
//
// Non-obvious rule: every ISA path gets exactly the same bytes, so each kernel
// set multiplies the same integers: x ~= d * qs[i] with d = amax / 127 and
// qs[i] = round-to-nearest-even(x[i] * (127 / amax)). The vector quantizers only
// reorder exactly rounded operations, so they match the scalar one bit for bit.
// The block sums let kernels turn unsigned-times-signed products into signed
// ones without a sign trick.
#pragma once

#include <cstdint>

namespace fathom::cpu {

constexpr int64_t kActQ8BlockElems = 32;
constexpr int64_t kActQ8KBlockElems = 256;

struct ActQ8Block {
  float d;         // scale
  int32_t sum;     // sum of qs
  int8_t qs[32];   // (32) quants in [-127, 127]
};

struct ActQ8KBlock {
  float d;              // scale
  int16_t bsums[16];    // (16) sums of qs[16 * j, 16 * j + 16)
  int8_t qs[256];       // (256) quants in [-127, 127]
};

static_assert(sizeof(ActQ8Block) == 40);
static_assert(sizeof(ActQ8KBlock) == 292);

// Quantize x[n] into n / 32 (resp. n / 256) blocks. REQUIRES: n is a multiple of
// the block size. Non-finite x gives garbage but defined quants. Pure and
// thread-safe.
void QuantizeActivationRowQ8(const float* x /*(n)*/, ActQ8Block* blocks /*(n / 32)*/, int64_t n);
void QuantizeActivationRowQ8K(const float* x /*(n)*/, ActQ8KBlock* blocks /*(n / 256)*/, int64_t n);

// Writes d * qs[i] for n values: the activations the integer kernels really see.
void DequantizeActivationRowQ8(const ActQ8Block* blocks, float* out /*(n)*/, int64_t n);
void DequantizeActivationRowQ8K(const ActQ8KBlock* blocks, float* out /*(n)*/, int64_t n);

}  // namespace fathom::cpu

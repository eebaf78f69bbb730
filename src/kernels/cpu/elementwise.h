// Row-wise float32 operations of the forward pass that are not matrix products:
// RMSNorm, the SwiGLU gate, residual adds and softmax. Each is a plain loop the
// compiler vectorises; they are bandwidth-light next to the matrix products.
#pragma once

#include <cstdint>

namespace fathom::cpu {

// y[r] = x[r] / sqrt(mean(x[r]^2) + eps) * weight, per row of `dim` floats, as
// transformers' LlamaRMSNorm computes it in float32. y may alias x.
void RmsNorm(const float* x /*(rows, dim)*/, const float* weight /*(dim)*/, int64_t rows, int64_t dim, float eps,
             float* y /*(rows, dim)*/);

// out[i] = silu(gate[i]) * up[i]; out may alias gate or up.
void SiluMul(const float* gate, const float* up, int64_t n, float* out);

// y[i] += x[i].
void AddInPlace(float* y, const float* x, int64_t n);

// y[i] += a * x[i].
void Axpy(float a, const float* x, int64_t n, float* y);

// x = softmax(x) in place over n values, max-subtracted. Entries of -inf get 0.
void SoftmaxInPlace(float* x, int64_t n);

}  // namespace fathom::cpu

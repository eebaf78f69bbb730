// The layout of one forward's batch as the CUDA kernels read it. C++17 and free
// of CUDA headers, so both nvcc (kernels/cuda/*.cu) and the C++20 backend
// (backend/cuda_backend.cpp) include it. Every pointer is device memory, filled
// by CudaBackend::BeginForward with one host-to-device copy.
//
// Non-obvious rules: entry e's new tokens are the packed rows [row_begin[e],
// row_begin[e + 1]); row r sits at position positions[r] of its sequence and
// attends to positions [0, positions[r]]. Position p of entry e is cached in
// block block_tables[e * max_blocks + p / block_size], row p % block_size. The
// host-known maxima size the grids; kernels that may be captured in a CUDA graph
// (decode steps) size their grids only from num_rows, num_entries and
// max_blocks, never from max_len, so one graph serves every step of a shape.
#pragma once

#include <cstdint>

namespace fathom::cuda {

struct BatchLayout {
  int32_t num_rows = 0;       // new tokens over all entries
  int32_t num_entries = 0;    // sequences
  int32_t max_new = 0;        // most new tokens of one entry
  int32_t max_len = 0;        // most positions one row attends to (its position + 1)
  int32_t block_size = 0;     // rows per KV block
  int32_t max_blocks = 0;     // the block tables' row stride (blocks of the longest table, rounded up)
  int32_t rot_dim = 0;        // rope values per row
  int32_t num_logits = 0;     // rows whose logits are returned

  const int32_t* tokens = nullptr;        // (num_rows)
  const int32_t* positions = nullptr;     // (num_rows)
  const int32_t* row_entry = nullptr;     // (num_rows): the entry each row belongs to
  const int32_t* row_begin = nullptr;     // (num_entries + 1)
  const int32_t* first_pos = nullptr;     // (num_entries): cached positions before this forward
  const int32_t* block_tables = nullptr;  // (num_entries, max_blocks), unused slots 0
  const float* rope = nullptr;            // (num_rows, rot_dim): [cos (rot_dim/2) | sin (rot_dim/2)]
  const int32_t* logits_rows = nullptr;   // (num_logits)
};

// One stream (keys, values, MLA latent or rope key) of one layer of a paged KV
// pool: position p of entry e is at
//   base + block_tables[e * max_blocks + p / block_size] * block_stride + (p % block_size) * width.
struct PagedStream {
  float* base = nullptr;
  int64_t block_stride = 0;  // floats from one block's row 0 to the next block's
  int64_t width = 0;         // floats per row
};

}  // namespace fathom::cuda

#include "kernels/cpu/quant_matmul.h"

#include <algorithm>
#include <vector>

#include "kernels/cpu/isa.h"
#include "kernels/cpu/packed_weight.h"
#include "kernels/cpu/q8_activation.h"
#include "kernels/cpu/quant_kernels.h"

namespace fathom::cpu {
namespace {

// A weight panel of about this many bytes stays in L2 while activation rows
// stream past it.
constexpr int64_t kPanelBytes = 256 << 10;
// Panels per thread, so threads that finish early can take more.
constexpr int64_t kPanelsPerThread = 4;
// Activation rows per quantization task when quantizing in parallel.
constexpr int64_t kQuantizeGrain = 8;

// Packed bytes of one k-chunk of a panel: small enough to stay in L1 while every
// activation row streams past it.
constexpr int64_t kPackedChunkBytes = 32 << 10;

const QuantKernelSet& KernelsFor(Isa isa) {
  switch (isa) {
    case Isa::kAvx512: return Avx512QuantKernels();
    case Isa::kAvx2: return Avx2QuantKernels();
    case Isa::kScalar: break;
  }
  return ScalarQuantKernels();
}

const QuantTileKernels& TileKernelsFor(const QuantKernelSet& set, DType dtype) {
  switch (dtype) {
    case DType::kQ8_0: return set.q8_0;
    case DType::kQ4_0: return set.q4_0;
    case DType::kQ4_K: return set.q4_k;
    default: FATHOM_CHECK(dtype == DType::kQ6_K); return set.q6_k;
  }
}

// Everything a panel task needs, passed by one pointer so the std::function
// holding the task fits its small-object buffer (no allocation per call).
struct Problem {
  const QuantTileKernels* kernels;
  const QuantPanelKernels* panels;  // null: use the tile kernels
  const PackedWeight* prepacked;     // non-null: panels packed at load, for `panels`
  const uint8_t* w;         // (n, w_row_bytes)
  int64_t w_row_bytes;
  uint8_t* a;               // (m, a_row_bytes): quantized activations
  int64_t a_row_bytes;
  int64_t a_block_bytes;    // sizeof(ActQ8Block) or sizeof(ActQ8KBlock)
  int64_t num_blocks;       // blocks per row, the same for w and a
  int64_t m, n;
  int64_t panel_rows;       // a multiple of kernels->max_cols
  const float* bias;        // (n) or null
  float* y;                 // (m, n)
  // For quantizing activations.
  const float* x;           // (m, k)
  int64_t k;
  bool k_quant;             // ActQ8KBlock rather than ActQ8Block
};

void QuantizeRows(const Problem& p, int64_t row_begin, int64_t row_end) {
  for (int64_t i = row_begin; i < row_end; ++i) {
    uint8_t* dst = p.a + i * p.a_row_bytes;
    if (p.k_quant) {
      QuantizeActivationRowQ8K(p.x + i * p.k, reinterpret_cast<ActQ8KBlock*>(dst), p.k);
    } else {
      QuantizeActivationRowQ8(p.x + i * p.k, reinterpret_cast<ActQ8Block*>(dst), p.k);
    }
  }
}

void RunPanels(const Problem& p, int64_t panel_begin, int64_t panel_end) {
  const QuantTileKernels& kern = *p.kernels;
  for (int64_t panel = panel_begin; panel < panel_end; ++panel) {
    const int64_t j_begin = panel * p.panel_rows;
    const int64_t j_end = std::min(p.n, j_begin + p.panel_rows);
    for (int64_t i0 = 0; i0 < p.m; i0 += kern.max_rows) {
      const int rows = static_cast<int>(std::min<int64_t>(kern.max_rows, p.m - i0));
      const uint8_t* a = p.a + i0 * p.a_row_bytes;
      float* y = p.y + i0 * p.n;
      const int64_t cols = kern.cols[rows - 1];
      int64_t j = j_begin;
      for (; j + cols <= j_end; j += cols) {
        kern.tile[rows - 1](p.w + j * p.w_row_bytes, p.w_row_bytes, a, p.a_row_bytes, p.num_blocks,
                            p.bias != nullptr ? p.bias + j : nullptr, y + j, p.n);
      }
      for (; j < j_end; ++j) {
        kern.column[rows - 1](p.w + j * p.w_row_bytes, p.w_row_bytes, a, p.a_row_bytes, p.num_blocks,
                              p.bias != nullptr ? p.bias + j : nullptr, y + j, p.n);
      }
    }
  }
}

// Panels of kPanelCols weight rows. Each L1-sized chunk of a panel's blocks is
// packed into a stack buffer (no heap scratch, so no thread ever allocates on
// its first panel) and then run against every group of activation rows.
void RunPackedPanels(const Problem& p, int64_t panel_begin, int64_t panel_end) {
  const QuantPanelKernels& kern = *p.panels;
  const int64_t w_block_bytes = p.w_row_bytes / p.num_blocks;
  // k in chunks; the split depends only on k, so results do not depend on threads.
  const int64_t chunk_blocks = std::max<int64_t>(1, kPackedChunkBytes / kern.packed_block_bytes);
  FATHOM_CHECK(chunk_blocks * kern.packed_block_bytes <= kPackedChunkBytes);
  alignas(64) uint8_t packed[kPackedChunkBytes];
  for (int64_t panel = panel_begin; panel < panel_end; ++panel) {
    const int64_t j = panel * kPanelCols;
    const int cols = static_cast<int>(std::min<int64_t>(kPanelCols, p.n - j));
    for (int64_t b0 = 0; b0 < p.num_blocks; b0 += chunk_blocks) {
      const int64_t num_blocks = std::min(chunk_blocks, p.num_blocks - b0);
      const bool last = b0 + num_blocks == p.num_blocks;
      kern.pack(p.w + j * p.w_row_bytes + b0 * w_block_bytes, p.w_row_bytes, cols, num_blocks, packed);
      for (int64_t i0 = 0; i0 < p.m; i0 += kMaxTileRows) {
        const int rows = static_cast<int>(std::min<int64_t>(kMaxTileRows, p.m - i0));
        kern.tile[rows - 1](packed, p.a + i0 * p.a_row_bytes + b0 * p.a_block_bytes, p.a_row_bytes, num_blocks,
                            last && p.bias != nullptr ? p.bias + j : nullptr, p.y + i0 * p.n + j, p.n, cols,
                            /*accumulate=*/b0 > 0);
      }
    }
  }
}

// As RunPackedPanels, with the same k-chunks (so the same sums), reading the
// panels packed at load time.
void RunPrepackedPanels(const Problem& p, int64_t panel_begin, int64_t panel_end) {
  const QuantPanelKernels& kern = *p.panels;
  const PackedWeight& pw = *p.prepacked;
  const int64_t chunk_blocks = std::max<int64_t>(1, kPackedChunkBytes / kern.packed_block_bytes);
  for (int64_t panel = panel_begin; panel < panel_end; ++panel) {
    const int64_t j = panel * kPanelCols;
    const int cols = static_cast<int>(std::min<int64_t>(kPanelCols, p.n - j));
    const uint8_t* packed = pw.panel(panel);
    for (int64_t b0 = 0; b0 < p.num_blocks; b0 += chunk_blocks) {
      const int64_t num_blocks = std::min(chunk_blocks, p.num_blocks - b0);
      const bool last = b0 + num_blocks == p.num_blocks;
      const uint8_t* chunk = packed + b0 * kern.packed_block_bytes;
      for (int64_t i0 = 0; i0 < p.m; i0 += kMaxTileRows) {
        const int rows = static_cast<int>(std::min<int64_t>(kMaxTileRows, p.m - i0));
        kern.tile[rows - 1](chunk, p.a + i0 * p.a_row_bytes + b0 * p.a_block_bytes, p.a_row_bytes, num_blocks,
                            last && p.bias != nullptr ? p.bias + j : nullptr, p.y + i0 * p.n + j, p.n, cols,
                            /*accumulate=*/b0 > 0);
      }
    }
  }
}

}  // namespace

const QuantPanelKernels* QuantPanelKernelsFor(Isa isa, DType dtype) {
  if (isa == Isa::kScalar || !IsQuantMatMulDType(dtype)) return nullptr;
  const QuantPanelSet& set = isa == Isa::kAvx512 ? Avx512QuantPanels() : Avx2QuantPanels();
  switch (dtype) {
    case DType::kQ8_0: return &set.q8_0;
    case DType::kQ4_0: return &set.q4_0;
    case DType::kQ4_K: return &set.q4_k;
    default: FATHOM_CHECK(dtype == DType::kQ6_K); return &set.q6_k;
  }
}

bool IsQuantMatMulDType(DType dtype) {
  return dtype == DType::kQ8_0 || dtype == DType::kQ4_0 || dtype == DType::kQ4_K || dtype == DType::kQ6_K;
}

void QuantMatMul(ThreadPool& pool, const float* x, int64_t m, int64_t k, const Tensor& w, const float* bias,
                 float* y) {
  QuantMatMul(pool, x, m, k, w, nullptr, bias, y);
}

void QuantMatMul(ThreadPool& pool, const float* x, int64_t m, int64_t k, const Tensor& w,
                 const PackedWeight* packed, const float* bias, float* y) {
  FATHOM_CHECK(w.ndim() == 2 && w.dim(1) == k && IsQuantMatMulDType(w.dtype()) && w.is_contiguous());
  const int64_t n = w.dim(0);
  if (m == 0 || n == 0) return;
  const DTypeInfo& info = GetDTypeInfo(w.dtype());
  const bool k_quant = info.block_elems == kActQ8KBlockElems;
  const int64_t num_blocks = k / info.block_elems;
  const int64_t a_block_bytes = static_cast<int64_t>(k_quant ? sizeof(ActQ8KBlock) : sizeof(ActQ8Block));
  const int64_t a_row_bytes = num_blocks * a_block_bytes;

  // Grow-only and per calling thread: a decode step calls this hundreds of times.
  thread_local std::vector<uint8_t> act_scratch;
  if (act_scratch.size() < static_cast<size_t>(m * a_row_bytes)) act_scratch.resize(m * a_row_bytes);

  const Isa isa = ActiveIsa();
  const QuantTileKernels& kernels = TileKernelsFor(KernelsFor(isa), w.dtype());
  const QuantPanelKernels* panels = QuantPanelKernelsFor(isa, w.dtype());
  const bool use_prepacked = packed != nullptr && packed->isa() == isa && (m >= kQuantPackMinRows || packed->is_compact());
  if (use_prepacked) FATHOM_CHECK(packed->dtype() == w.dtype() && packed->n() == n && packed->k() == k);
  Problem p = {.kernels = &kernels,
               .panels = use_prepacked || m >= kQuantPackMinRows ? panels : nullptr,
               .prepacked = use_prepacked ? packed : nullptr,
               .w = static_cast<const uint8_t*>(w.data()),
               .w_row_bytes = num_blocks * info.block_bytes,
               .a = act_scratch.data(),
               .a_row_bytes = a_row_bytes,
               .a_block_bytes = a_block_bytes,
               .num_blocks = num_blocks,
               .m = m,
               .n = n,
               .panel_rows = 0,
               .bias = bias,
               .y = y,
               .x = x,
               .k = k,
               .k_quant = k_quant};

  const Problem* pp = &p;
  if (m >= 2 * kQuantizeGrain && pool.num_threads() > 1) {
    pool.ParallelFor(m, kQuantizeGrain, [pp](int64_t begin, int64_t end) { QuantizeRows(*pp, begin, end); });
  } else {
    QuantizeRows(p, 0, m);
  }

  if (p.prepacked != nullptr) {
    pool.ParallelFor(packed->num_panels(), 1,
                     [pp](int64_t begin, int64_t end) { RunPrepackedPanels(*pp, begin, end); });
    return;
  }
  if (p.panels != nullptr) {
    pool.ParallelFor((n + kPanelCols - 1) / kPanelCols, 1,
                     [pp](int64_t begin, int64_t end) { RunPackedPanels(*pp, begin, end); });
    return;
  }

  // Panels fit L2 and are numerous enough to balance the threads.
  const int64_t cols = kernels.max_cols;
  const int64_t l2_rows = std::max<int64_t>(1, kPanelBytes / p.w_row_bytes);
  const int64_t balanced_rows = (n + pool.num_threads() * kPanelsPerThread - 1) / (pool.num_threads() * kPanelsPerThread);
  const int64_t rows = std::max<int64_t>(1, std::min(l2_rows, balanced_rows));
  p.panel_rows = (rows + cols - 1) / cols * cols;
  const int64_t num_panels = (n + p.panel_rows - 1) / p.panel_rows;
  pool.ParallelFor(num_panels, 1, [pp](int64_t begin, int64_t end) { RunPanels(*pp, begin, end); });
}

}  // namespace fathom::cpu

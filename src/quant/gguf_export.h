// `fathom quantize`: writes a GGUF v3 file llama.cpp loads, from a Hugging Face
// model directory (BF16/F16/F32, or FP8 with block scales) or from another GGUF
// file, with every tensor stored in the type quant_policy.h picks for the target.
//
// The non-obvious rule: the file is streamed tensor by tensor and each tensor
// piece by piece (one expert, one source matrix), so memory stays near one source
// matrix however large the model; rows are quantized independently on the pool,
// so the bytes written never depend on the thread count (same input, same file).
#pragma once

#include <cstdint>
#include <string>

#include "core/dtype.h"
#include "core/status.h"

namespace fathom {

struct GgufExportOptions {
  DType target = DType::kQ8_0;  // REQUIRES: IsQuantTarget(target)
  int num_threads = 0;          // 0: one per hardware thread
  bool show_progress = true;    // a progress line on stderr
};

struct GgufExportSummary {
  int64_t num_tensors = 0;
  int64_t num_weights = 0;    // elements over every tensor written
  uint64_t input_bytes = 0;   // the source's weight files
  uint64_t output_bytes = 0;  // the GGUF file
  double seconds = 0.0;
  // Bits of the output file per weight (metadata included).
  double bits_per_weight() const {
    return num_weights > 0 ? 8.0 * static_cast<double>(output_bytes) / static_cast<double>(num_weights) : 0.0;
  }
};

// Reads `in_path` (an HF directory with config.json, safetensors and
// tokenizer.json, or a .gguf file) and writes `out_path` atomically (a temporary
// file renamed at the end). HF sources get llama.cpp's metadata, vocabulary and
// tensor layout (q/k rows permuted for `llama`, experts stacked, MLA kv_b split
// into attn_k_b/attn_v_b, MTP layers dropped, llama3 rope as rope_freqs); GGUF
// sources keep their metadata and tensors, requantized from float32.
// Errors name the file and the problem: NotFound (no input), Unsupported
// (architecture, tokenizer, a tensor type that cannot be dequantized),
// IoError (output directory missing or not writable).
Result<GgufExportSummary> ExportGguf(const std::string& in_path, const std::string& out_path,
                                     const GgufExportOptions& options);

}  // namespace fathom

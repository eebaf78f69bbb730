// Which storage type each tensor gets when a model is quantized to a target type,
// shared by `fathom quantize` (writing GGUF) and `--quant` (quantizing at load) so
// the two always agree.
//
// The one non-obvious rule: the policy follows llama.cpp's defaults for the same
// target, so a file we write and one llama.cpp's llama-quantize writes spend their
// bits alike: 1-D tensors and the MoE router stay F32, the output head (or the
// embedding when it is tied to the head) becomes Q6_K unless the target is Q8_0,
// and a matrix whose rows are not a whole number of the target's blocks falls back
// to Q8_0 (rows of 32) or F16.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "core/dtype.h"
#include "core/status.h"

namespace fathom {

// Returns true iff `dtype` is a target `fathom quantize` and `--quant` accept:
// F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K.
bool IsQuantTarget(DType dtype);

// Parses a target name ("q4_k", "Q8_0", "bf16"); InvalidArgument lists the
// accepted names.
Result<DType> ParseQuantTarget(std::string_view name);

// The storage type for tensor `hf_name` (Hugging Face naming) of row-major
// `shape` when quantizing to `target`. `tied_embeddings` says the embedding also
// serves as the output head. REQUIRES: IsQuantTarget(target).
DType QuantTypeFor(std::string_view hf_name, std::span<const int64_t> shape, DType target, bool tied_embeddings);

}  // namespace fathom

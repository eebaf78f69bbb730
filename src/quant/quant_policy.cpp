#include "quant/quant_policy.h"

#include <string>

namespace fathom {
namespace {

constexpr DType kTargets[] = {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0,
                              DType::kQ4_0, DType::kQ4_K, DType::kQ6_K};

bool Fits(DType dtype, int64_t row_elems) { return row_elems % GetDTypeInfo(dtype).block_elems == 0; }

}  // namespace

bool IsQuantTarget(DType dtype) {
  for (DType t : kTargets) {
    if (t == dtype) return true;
  }
  return false;
}

Result<DType> ParseQuantTarget(std::string_view name) {
  const std::optional<DType> d = DTypeFromName(name);
  if (d && IsQuantTarget(*d)) return *d;
  std::string names;
  for (DType t : kTargets) names += (names.empty() ? "" : ", ") + std::string(DTypeName(t));
  return InvalidArgument("unknown quantization type '" + std::string(name) + "' (expected one of " + names + ")");
}

DType QuantTypeFor(std::string_view hf_name, std::span<const int64_t> shape, DType target, bool tied_embeddings) {
  FATHOM_CHECK(IsQuantTarget(target));
  // Norms, biases, V3's routing bias: tiny, and read as float32 anyway.
  if (shape.size() != 2) return DType::kF32;
  // The router's logits decide which experts run; llama.cpp never quantizes it.
  if (hf_name.ends_with("mlp.gate.weight")) return DType::kF32;
  if (!IsBlockQuantized(target)) return target;
  DType want = target;
  const bool is_output =
      hf_name == "lm_head.weight" || (tied_embeddings && hf_name == "model.embed_tokens.weight");
  if (is_output && target != DType::kQ8_0) want = DType::kQ6_K;
  const int64_t row_elems = shape[1];
  if (Fits(want, row_elems)) return want;
  if (Fits(DType::kQ8_0, row_elems)) return DType::kQ8_0;
  return DType::kF16;
}

}  // namespace fathom

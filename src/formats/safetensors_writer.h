// Writing safetensors files, singly or sharded the way transformers' save_pretrained
// shards them. The non-obvious rule: tensor bytes are produced by a callback at
// write time, one tensor at a time, so converting a model larger than memory
// streams it to disk instead of building it in RAM first.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"

namespace fathom {

// A tensor to write. Its bytes are produced at write time so big models stream to
// disk. `fill` must write exactly the tensor's byte size (row-major, little-endian)
// into `out`, which arrives zeroed; a non-OK Status aborts the write.
// REQUIRES: dtype has a safetensors name (no GGUF block formats); shape entries >= 0.
struct TensorSource {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::function<Status(std::span<uint8_t> out)> fill;  // out: (byte size of dtype x shape)
};

// Writes one safetensors file at `path`: the header lists "__metadata__" first (when
// `metadata` is not empty), then the tensors in the given order with contiguous
// data_offsets, padded with spaces to a multiple of 8 bytes so that the data section
// starts on an 8-byte boundary.
// The file is written as `path`.tmp and renamed into place, so `path` is either the
// old file or the complete new one. Holds one tensor's bytes in memory at a time.
// Returns InvalidArgument for duplicate or reserved names, negative dims, names
// that are not UTF-8, and Unsupported for dtypes safetensors cannot store.
Status WriteSafetensors(const std::string& path, std::span<const TensorSource> tensors,
                        const std::map<std::string, std::string>& metadata);

// Splits `tensors` into model-00001-of-0000N.safetensors files of at most
// max_shard_bytes of tensor data each (a tensor larger than that gets a shard of its
// own, placed where transformers places it) plus model.safetensors.index.json
// ({"metadata": {"total_size": bytes}, "weight_map": {name: file}}, keys sorted,
// two-space indent), exactly as transformers' save_pretrained names them. A model
// that fits in one shard is written as model.safetensors without an index.
// Every shard carries `metadata`. Creates `dir` if needed; does not delete files an
// earlier write left there (a stale index beside a new model.safetensors would be
// read first by SafetensorsModel, so write into an empty directory).
// Returns the file names written, relative to `dir`: the shards in order, then the
// index.
Result<std::vector<std::string>> WriteShardedSafetensors(const std::string& dir, std::span<const TensorSource> tensors,
                                                         uint64_t max_shard_bytes,
                                                         const std::map<std::string, std::string>& metadata);

}  // namespace fathom

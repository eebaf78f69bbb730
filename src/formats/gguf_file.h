// Reads GGUF files (versions 2 and 3, little-endian): the metadata, the tensor
// directory, and views of each tensor's bytes straight from the mapping. The
// non-obvious rule: every input is treated as hostile. Each length and count is
// checked against the bytes that remain before anything is allocated, so a file of n
// bytes costs O(n) memory and time however it lies, and a GgufFile that parsed can be
// trusted: every tensor's bytes lie inside the file, aligned, without overlap.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "core/mapped_file.h"
#include "core/status.h"
#include "formats/gguf_value.h"

namespace fathom {

// One entry of the tensor directory. Plain data; the pointer is valid while the
// GgufFile (or the buffer given to Parse) that produced it lives.
struct GgufTensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> ne;  // ggml order: ne[0] is the innermost (contiguous) dimension
  uint64_t offset = 0;      // from the start of the data section
  uint64_t num_bytes = 0;
  const uint8_t* data = nullptr;  // into the mapping; num_bytes readable bytes

  // Returns ne reversed: the HF/PyTorch (row-major, outermost first) order.
  std::vector<int64_t> RowMajorShape() const;
  // Returns the product of ne (1 for no dimensions).
  int64_t num_elements() const;
};

// A parsed GGUF file. Movable, not copyable; owns the mapping when opened from a
// path. Immutable after parsing, so const methods are safe to call concurrently.
// Invariants (established by Open/Parse):
//   - metadata keys are unique, non-empty and at most 65535 bytes;
//   - tensor names are unique; every tensor has 1..4 dimensions, each >= 0, whose
//     product fits int64; ne[0] is a multiple of its dtype's block size;
//   - alignment() is a power of two; data_offset() is the end of the tensor
//     directory rounded up to it; every tensor offset is a multiple of it;
//   - every tensor's [data_offset() + offset, + num_bytes) lies inside the file and
//     no two tensors' ranges overlap.
class GgufFile {
 public:
  // The largest nesting of arrays inside arrays a file may use.
  static constexpr int kMaxArrayDepth = 8;
  // The longest metadata key, in bytes (the GGUF spec's limit).
  static constexpr uint64_t kMaxKeyBytes = 65535;
  // The most metadata values (array elements included) one file may hold. Each costs
  // about 80 bytes in memory; real files hold well under a million.
  static constexpr uint64_t kMaxMetadataValues = uint64_t{1} << 24;
  static constexpr uint64_t kDefaultAlignment = 32;

  // Maps and parses the file at `path`. Errors are prefixed with the path.
  static Result<GgufFile> Open(const std::string& path);
  // Parses `bytes` without copying; the result points into them, so they must
  // outlive it. For tests and fuzzing.
  static Result<GgufFile> Parse(std::span<const uint8_t> bytes);

  GgufFile(GgufFile&&) noexcept = default;
  GgufFile& operator=(GgufFile&&) noexcept = default;
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  // Where the data section starts, from the start of the file.
  uint64_t data_offset() const { return data_offset_; }
  uint64_t file_size() const { return file_size_; }

  // In file order.
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
  // Returns the value of `key`, or nullptr if the file has none.
  const GgufValue* Find(std::string_view key) const;

  // In file order.
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  // Returns the tensor called `name`, or nullptr if the file has none.
  const GgufTensorInfo* FindTensor(std::string_view name) const;

 private:
  GgufFile() = default;
  class Parser;

  MappedFile mapping_;  // empty when built by Parse
  uint32_t version_ = 0;
  uint64_t alignment_ = kDefaultAlignment;
  uint64_t data_offset_ = 0;
  uint64_t file_size_ = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::vector<uint32_t> metadata_by_key_;  // indices into metadata_, sorted by key
  std::vector<GgufTensorInfo> tensors_;
  std::vector<uint32_t> tensors_by_name_;  // indices into tensors_, sorted by name
};

}  // namespace fathom

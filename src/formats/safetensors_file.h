// One .safetensors file: an 8-byte little-endian header length, a JSON header that
// names every tensor with its dtype, shape and byte range, then the data section.
// The non-obvious rule: the whole header is validated before any tensor is exposed,
// and the byte ranges must tile the data section exactly (no overlaps, no holes,
// no trailing bytes), because that is what the reference implementation (the
// Python/Rust `safetensors` library) accepts; a file it rejects, we reject.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "core/mapped_file.h"
#include "core/status.h"

namespace fathom {

// One tensor of a safetensors file. A plain view: it owns nothing, and is valid as
// long as the SafetensorsFile (or SafetensorsModel) it came from is alive.
// Invariants: end - begin == DTypeByteSize(dtype, num_elements()); every shape
// entry is >= 0; `data` is NOT necessarily aligned to the element size (the format
// does not require writers to pad the header).
struct SafetensorsTensor {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;  // row-major, as in PyTorch
  uint64_t begin, end;         // byte range within the data section (after the header)
  const uint8_t* data;         // points into the mapping; end - begin bytes
  const std::string* file;     // path of the file that holds it ("" when parsed from memory)

  // Product of `shape` (1 for a scalar). Never overflows for a parsed tensor.
  int64_t num_elements() const;
};

// A parsed safetensors file.
// Ownership: owns its memory mapping when opened with Open(); a Parse()d file only
// views the caller's bytes, which must outlive it.
// Thread-safety: immutable after construction, so safe for concurrent readers.
// Invariants: tensors() is in header order with unique names; every tensor's
// [begin, end) lies inside the data section and the ranges tile it exactly;
// each tensor's `file` points at path(), whose address survives moves.
// Header limits: at most 100,000,000 bytes (as the reference implementation),
// nesting at most kMaxHeaderDepth deep, shapes at most kMaxRank dimensions.
// Duplicate keys anywhere in the header are rejected as Corrupt (the reference
// silently keeps the last one). Parsing allocates a small constant multiple of the
// header size (no JSON DOM is built), never an amount a header merely claims.
class SafetensorsFile {
 public:
  static constexpr uint64_t kMaxHeaderBytes = 100'000'000;
  static constexpr int kMaxHeaderDepth = 64;
  static constexpr size_t kMaxRank = 64;  // numpy 2's NPY_MAXDIMS

  // Maps and parses the file at `path`. Every error message starts with `path`.
  static Result<SafetensorsFile> Open(const std::string& path);
  // Parses `bytes` without copying them. REQUIRES: `bytes` outlives the result.
  static Result<SafetensorsFile> Parse(std::span<const uint8_t> bytes);

  SafetensorsFile(SafetensorsFile&&) noexcept = default;
  SafetensorsFile& operator=(SafetensorsFile&&) noexcept = default;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;
  ~SafetensorsFile() = default;

  // The path given to Open(); empty for Parse().
  const std::string& path() const { return *path_; }
  // Total bytes: 8 + header + data section.
  uint64_t file_size() const { return file_size_; }
  // Bytes before the data section (8 + header length).
  uint64_t data_offset() const { return data_offset_; }
  const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }
  // Returns the tensor called `name`, or nullptr if there is none.
  const SafetensorsTensor* Find(std::string_view name) const;
  // The header's "__metadata__" (empty if absent or null).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  SafetensorsFile() : path_(std::make_unique<std::string>()) {}
  static Result<SafetensorsFile> ParseInto(SafetensorsFile file, std::span<const uint8_t> bytes);

  std::unique_ptr<std::string> path_;  // heap-held so SafetensorsTensor::file survives moves
  MappedFile mapping_;                 // empty for Parse()
  uint64_t file_size_ = 0;
  uint64_t data_offset_ = 0;
  std::vector<SafetensorsTensor> tensors_;
  std::map<std::string, size_t, std::less<>> index_;  // name -> position in tensors_
  std::map<std::string, std::string> metadata_;
};

}  // namespace fathom

// A read-only memory mapping of a whole file. Weights are used straight from the
// mapping, so loading is bounded by the disk, not by parsing or copying.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "core/status.h"

namespace fathom {

// Owns the mapping; movable, not copyable. Thread-safe for concurrent reads.
// Invariant: size() bytes at data() are readable for the object's lifetime
// (an empty file maps to data() == nullptr, size() == 0).
class MappedFile {
 public:
  static Result<MappedFile> Open(const std::string& path);

  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  std::span<const uint8_t> bytes() const { return {data_, static_cast<size_t>(size_)}; }
  const std::string& path() const { return path_; }

 private:
  void Reset();

  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
  std::string path_;
};

// Reads a whole (small) file into a string: configs, indexes, templates.
// Fails if the file is larger than max_bytes.
Result<std::string> ReadTextFile(const std::string& path, uint64_t max_bytes = 64ull << 20);

// Writes `data` to `path` atomically (temporary file + rename).
Status WriteFileAtomic(const std::string& path, std::string_view data);

}  // namespace fathom

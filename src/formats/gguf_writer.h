// Builds GGUF v3 files. The non-obvious rule: tensors are not held in memory; each
// is produced by a callback (or read from caller-owned bytes) at the moment Write
// streams it to disk, so a multi-GB file needs at most one tensor's worth of
// buffer. Layout follows the spec: the data section starts at the end of the tensor
// directory rounded up to the alignment, and every tensor's data is padded to it.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "formats/gguf_value.h"

namespace fathom {

// Not thread-safe; copyable and movable (copies share the callbacks and borrowed
// byte spans). Invariants: metadata keys are unique (in insertion order); tensor
// names are unique; every tensor's dtype has a ggml type id, 1..4 dimensions each
// >= 0 with an int64 element product, and ne[0] a multiple of the block size.
class GgufWriter {
 public:
  // Fills `out` with a tensor's bytes; must fill exactly out.size() bytes. A non-OK
  // Status aborts Write, which then reports it.
  using Fill = std::function<Status(std::span<uint8_t> out)>;

  // Sets `key` to `value`, replacing an earlier value in place (insertion order is
  // kept). "general.alignment" (a power-of-two uint32) sets the data alignment;
  // anything else under that key makes Write fail.
  void Set(std::string key, GgufValue value);

  // Adds a tensor whose bytes `fill` produces during Write. Fails (and adds nothing)
  // if dtype has no ggml type, ne has 0 or more than 4 dimensions or a negative one,
  // the element count overflows, ne[0] is not a multiple of the block size, the
  // name is empty, 64 bytes or longer (ggml's limit), or already used.
  Status AddTensor(std::string name, DType dtype, std::vector<int64_t> ne, Fill fill);
  // As above, with bytes the caller owns. Copies nothing: `bytes` must stay valid
  // until the last Write. Also fails if bytes.size() is not the tensor's byte size.
  Status AddTensor(std::string name, DType dtype, std::vector<int64_t> ne, std::span<const uint8_t> bytes);

  // Writes the file to `path + ".tmp"` and renames it to `path`, so `path` is either
  // the old file or the complete new one. Returns a non-OK Status (and removes the
  // temporary file) on an invalid key or alignment, a Fill error, or any I/O error.
  // May be called more than once.
  Status Write(const std::string& path) const;

  // Alignment the next Write will use (32 unless general.alignment says otherwise);
  // 0 if general.alignment is set to something invalid.
  uint64_t alignment() const;

 private:
  struct PendingTensor {
    std::string name;
    DType dtype;
    std::vector<int64_t> ne;  // ggml order
    uint64_t num_bytes;
    Fill fill;                       // empty when `bytes` holds the data
    std::span<const uint8_t> bytes;  // borrowed
  };

  // Checks everything AddTensor promises except the byte source; returns the byte size.
  Result<uint64_t> ValidateTensor(const std::string& name, DType dtype, const std::vector<int64_t>& ne) const;
  // Serialises the header, metadata and tensor directory (without the padding).
  Result<std::string> EncodeHeader(uint64_t alignment) const;

  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::vector<PendingTensor> tensors_;
};

}  // namespace fathom

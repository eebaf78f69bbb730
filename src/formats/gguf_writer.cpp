#include "formats/gguf_writer.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>

#include "formats/gguf_file.h"

namespace fathom {
namespace {

static_assert(std::endian::native == std::endian::little, "the GGUF writer assumes a little-endian host");

constexpr uint32_t kVersion = 3;
constexpr size_t kMaxDims = 4;          // GGML_MAX_DIMS
constexpr size_t kMaxNameBytes = 63;    // ggml's GGML_MAX_NAME (64) less the terminating NUL
constexpr char kAlignmentKey[] = "general.alignment";

void AppendUint(uint64_t v, size_t num_bytes, std::string* out) {
  char b[8];
  std::memcpy(b, &v, sizeof(b));
  out->append(b, num_bytes);
}

void AppendString(std::string_view s, std::string* out) {
  AppendUint(s.size(), 8, out);
  out->append(s);
}

// Appends a value's encoding without its type id; `depth` counts enclosing arrays.
Status AppendValue(const GgufValue& v, int depth, std::string* out) {
  if (v.type() == GgufType::kString) {
    AppendString(*v.AsString(), out);
    return Status::Ok();
  }
  if (!v.is_array()) {
    AppendUint(v.scalar_bits(), GgufScalarSize(v.type()), out);
    return Status::Ok();
  }
  if (depth + 1 > GgufFile::kMaxArrayDepth) {
    return InvalidArgument("arrays nested more than " + std::to_string(GgufFile::kMaxArrayDepth) + " deep");
  }
  AppendUint(static_cast<uint32_t>(v.element_type()), 4, out);
  AppendUint(v.elements().size(), 8, out);
  for (const GgufValue& e : v.elements()) {
    FATHOM_RETURN_IF_ERROR(AppendValue(e, depth + 1, out));
  }
  return Status::Ok();
}

uint64_t PaddingTo(uint64_t n, uint64_t alignment) { return (alignment - n % alignment) % alignment; }

std::string ErrnoText() { return std::strerror(errno); }

// A FILE* that remembers the first error and removes the file unless committed.
class TempFile {
 public:
  explicit TempFile(std::string path) : path_(std::move(path)), fp_(std::fopen(path_.c_str(), "wb")) {}
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (fp_ != nullptr) std::fclose(fp_);
    if (!committed_) std::remove(path_.c_str());
  }

  bool is_open() const { return fp_ != nullptr; }

  Status Write(const void* data, size_t n) {
    if (n != 0 && std::fwrite(data, 1, n, fp_) != n) return IoError(path_ + ": write failed: " + ErrnoText());
    written_ += n;
    return Status::Ok();
  }

  Status PadTo(uint64_t alignment) {
    static constexpr uint8_t kZeros[256] = {};
    uint64_t pad = PaddingTo(written_, alignment);
    while (pad > 0) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(pad, sizeof(kZeros)));
      FATHOM_RETURN_IF_ERROR(Write(kZeros, n));
      pad -= n;
    }
    return Status::Ok();
  }

  // Closes the file and renames it to `final_path`.
  Status CommitTo(const std::string& final_path) {
    int rc = std::fclose(fp_);
    fp_ = nullptr;
    if (rc != 0) return IoError(path_ + ": write failed: " + ErrnoText());
    if (std::rename(path_.c_str(), final_path.c_str()) != 0) {
      return IoError(final_path + ": cannot rename " + path_ + " into place: " + ErrnoText());
    }
    committed_ = true;
    return Status::Ok();
  }

 private:
  std::string path_;
  FILE* fp_;
  uint64_t written_ = 0;
  bool committed_ = false;
};

}  // namespace

void GgufWriter::Set(std::string key, GgufValue value) {
  for (auto& [k, v] : metadata_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  metadata_.emplace_back(std::move(key), std::move(value));
}

uint64_t GgufWriter::alignment() const {
  for (const auto& [k, v] : metadata_) {
    if (k != kAlignmentKey) continue;
    if (v.type() != GgufType::kUint32 || !std::has_single_bit(v.scalar_bits())) return 0;
    return v.scalar_bits();
  }
  return GgufFile::kDefaultAlignment;
}

Result<uint64_t> GgufWriter::ValidateTensor(const std::string& name, DType dtype,
                                            const std::vector<int64_t>& ne) const {
  std::string what = "tensor '" + name + "'";
  if (name.empty()) return InvalidArgument("tensor name is empty");
  if (name.size() > kMaxNameBytes) {
    return InvalidArgument(what + ": name is " + std::to_string(name.size()) + " bytes, more than ggml's limit of " +
                           std::to_string(kMaxNameBytes));
  }
  const DTypeInfo& info = GetDTypeInfo(dtype);
  if (info.ggml_type < 0) return InvalidArgument(what + ": " + std::string(info.name) + " has no GGUF type");
  if (ne.empty() || ne.size() > kMaxDims) {
    return InvalidArgument(what + ": has " + std::to_string(ne.size()) + " dimensions; GGUF allows 1 to 4");
  }
  int64_t num_elements = 1;
  for (size_t d = 0; d < ne.size(); ++d) {
    if (ne[d] < 0) return InvalidArgument(what + ": ne[" + std::to_string(d) + "] is negative");
    if (__builtin_mul_overflow(num_elements, ne[d], &num_elements)) {
      return InvalidArgument(what + ": element count overflows int64");
    }
  }
  if (ne[0] % info.block_elems != 0) {
    return InvalidArgument(what + ": ne[0] = " + std::to_string(ne[0]) + " is not a multiple of the " +
                           std::string(info.name) + " block size " + std::to_string(info.block_elems));
  }
  for (const PendingTensor& t : tensors_) {
    if (t.name == name) return InvalidArgument(what + ": a tensor with this name was already added");
  }
  Result<int64_t> num_bytes = DTypeByteSize(dtype, num_elements);
  if (!num_bytes.ok()) return num_bytes.status().WithContext(what);
  return static_cast<uint64_t>(*num_bytes);
}

Status GgufWriter::AddTensor(std::string name, DType dtype, std::vector<int64_t> ne, Fill fill) {
  if (!fill) return InvalidArgument("tensor '" + name + "': no fill callback");
  FATHOM_ASSIGN_OR_RETURN(uint64_t num_bytes, ValidateTensor(name, dtype, ne));
  tensors_.push_back({std::move(name), dtype, std::move(ne), num_bytes, std::move(fill), {}});
  return Status::Ok();
}

Status GgufWriter::AddTensor(std::string name, DType dtype, std::vector<int64_t> ne,
                             std::span<const uint8_t> bytes) {
  FATHOM_ASSIGN_OR_RETURN(uint64_t num_bytes, ValidateTensor(name, dtype, ne));
  if (bytes.size() != num_bytes) {
    return InvalidArgument("tensor '" + name + "': given " + std::to_string(bytes.size()) + " bytes, its shape needs " +
                           std::to_string(num_bytes));
  }
  tensors_.push_back({std::move(name), dtype, std::move(ne), num_bytes, nullptr, bytes});
  return Status::Ok();
}

Result<std::string> GgufWriter::EncodeHeader(uint64_t alignment) const {
  std::string out = "GGUF";
  AppendUint(kVersion, 4, &out);
  AppendUint(tensors_.size(), 8, &out);
  AppendUint(metadata_.size(), 8, &out);
  for (const auto& [key, value] : metadata_) {
    if (key.empty() || key.size() > GgufFile::kMaxKeyBytes) {
      return InvalidArgument("metadata key '" + key.substr(0, 100) + "' must be 1 to 65535 bytes");
    }
    AppendString(key, &out);
    AppendUint(static_cast<uint32_t>(value.type()), 4, &out);
    Status s = AppendValue(value, 0, &out);
    if (!s.ok()) return s.WithContext("metadata key '" + key + "'");
  }
  uint64_t offset = 0;
  for (const PendingTensor& t : tensors_) {
    AppendString(t.name, &out);
    AppendUint(t.ne.size(), 4, &out);
    for (int64_t n : t.ne) AppendUint(static_cast<uint64_t>(n), 8, &out);
    AppendUint(static_cast<uint32_t>(GetDTypeInfo(t.dtype).ggml_type), 4, &out);
    AppendUint(offset, 8, &out);
    uint64_t padded = t.num_bytes + PaddingTo(t.num_bytes, alignment);
    if (__builtin_add_overflow(offset, padded, &offset)) return OutOfRange("total tensor data overflows 2^64 bytes");
  }
  return out;
}

Status GgufWriter::Write(const std::string& path) const {
  uint64_t alignment = this->alignment();
  if (alignment == 0) {
    return InvalidArgument(path + ": general.alignment must be a uint32 power of two");
  }
  Result<std::string> header = EncodeHeader(alignment);
  if (!header.ok()) return header.status().WithContext(path);

  TempFile file(path + ".tmp");
  if (!file.is_open()) return IoError(path + ".tmp: cannot create: " + ErrnoText());
  FATHOM_RETURN_IF_ERROR(file.Write(header->data(), header->size()));
  FATHOM_RETURN_IF_ERROR(file.PadTo(alignment));
  std::vector<uint8_t> buffer;
  for (const PendingTensor& t : tensors_) {
    if (t.fill) {
      try {
        buffer.assign(static_cast<size_t>(t.num_bytes), 0);
      } catch (const std::bad_alloc&) {
        return ResourceExhausted(path + ": tensor '" + t.name + "': cannot allocate " + std::to_string(t.num_bytes) +
                                 " bytes to fill it");
      }
      Status s = t.fill(std::span<uint8_t>(buffer));
      if (!s.ok()) return s.WithContext(path + ": tensor '" + t.name + "'");
      FATHOM_RETURN_IF_ERROR(file.Write(buffer.data(), buffer.size()));
    } else {
      FATHOM_RETURN_IF_ERROR(file.Write(t.bytes.data(), t.bytes.size()));
    }
    FATHOM_RETURN_IF_ERROR(file.PadTo(alignment));
  }
  return file.CommitTo(path);
}

}  // namespace fathom

// Streaming safetensors writer. Sizes and the header are computed from the tensor
// descriptions alone, so the header is written first and each tensor's bytes are
// produced and written in turn; only one tensor's buffer is alive at a time.
#include "formats/safetensors_writer.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/mapped_file.h"

namespace fathom {
namespace {

constexpr char kIndexName[] = "model.safetensors.index.json";

struct PlannedTensor {
  const TensorSource* source;
  uint64_t bytes;
};

// Returns the tensor's byte size, or why it cannot be stored in safetensors.
Result<uint64_t> TensorBytes(const TensorSource& t) {
  const std::string where = "tensor '" + t.name + "': ";
  if (GetDTypeInfo(t.dtype).safetensors_name.empty()) {
    return Unsupported(where + "safetensors cannot store dtype " + std::string(DTypeName(t.dtype)));
  }
  int64_t num_elements = 1;
  for (int64_t dim : t.shape) {
    if (dim < 0) return InvalidArgument(where + "negative dimension " + std::to_string(dim));
    if (__builtin_mul_overflow(num_elements, dim, &num_elements)) {
      return InvalidArgument(where + "element count overflows");
    }
  }
  Result<int64_t> bytes = DTypeByteSize(t.dtype, num_elements);
  if (!bytes.ok()) return bytes.status().WithContext("tensor '" + t.name + "'");
  return static_cast<uint64_t>(*bytes);
}

// Validates every source and returns them with their sizes, in order.
Result<std::vector<PlannedTensor>> Plan(std::span<const TensorSource> tensors) {
  std::vector<PlannedTensor> planned;
  planned.reserve(tensors.size());
  std::set<std::string_view> names;
  for (const TensorSource& t : tensors) {
    if (t.name == "__metadata__") return InvalidArgument("tensor name '__metadata__' is reserved");
    if (!names.insert(t.name).second) return InvalidArgument("tensor '" + t.name + "' is given twice");
    if (!t.fill) return InvalidArgument("tensor '" + t.name + "' has no fill function");
    FATHOM_ASSIGN_OR_RETURN(uint64_t bytes, TensorBytes(t));
    planned.push_back({&t, bytes});
  }
  return planned;
}

// The header JSON, space-padded to a multiple of 8 bytes.
Result<std::string> BuildHeader(const std::vector<PlannedTensor>& tensors,
                                const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const PlannedTensor& p : tensors) {
    nlohmann::ordered_json entry = nlohmann::ordered_json::object();
    entry["dtype"] = GetDTypeInfo(p.source->dtype).safetensors_name;
    entry["shape"] = p.source->shape;
    entry["data_offsets"] = {offset, offset + p.bytes};
    header[p.source->name] = std::move(entry);
    offset += p.bytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::ordered_json::exception& e) {
    return InvalidArgument(std::string("a tensor name or metadata entry is not valid UTF-8: ") + e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

// A file being written at `path`.tmp; removed unless Commit() renames it to `path`.
class PendingFile {
 public:
  explicit PendingFile(std::string path) : path_(std::move(path)), tmp_(path_ + ".tmp") {}
  PendingFile(const PendingFile&) = delete;
  PendingFile& operator=(const PendingFile&) = delete;
  ~PendingFile() {
    if (fp_ != nullptr) std::fclose(fp_);
    if (!committed_) std::remove(tmp_.c_str());
  }

  Status Create() {
    fp_ = std::fopen(tmp_.c_str(), "wb");
    if (fp_ == nullptr) return IoError(tmp_ + ": cannot create: " + std::strerror(errno));
    return Status::Ok();
  }

  Status Write(const void* data, size_t size) {
    if (size != 0 && std::fwrite(data, 1, size, fp_) != size) {
      return IoError(tmp_ + ": write failed: " + std::strerror(errno));
    }
    return Status::Ok();
  }

  Status Commit() {
    int rc = std::fclose(fp_);
    fp_ = nullptr;
    if (rc != 0) return IoError(tmp_ + ": write failed: " + std::strerror(errno));
    if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
      return IoError(path_ + ": cannot rename into place: " + std::strerror(errno));
    }
    committed_ = true;
    return Status::Ok();
  }

 private:
  std::string path_;
  std::string tmp_;
  FILE* fp_ = nullptr;
  bool committed_ = false;
};

Status WriteFile(const std::string& path, const std::vector<PlannedTensor>& tensors,
                 const std::map<std::string, std::string>& metadata) {
  Result<std::string> header_text = BuildHeader(tensors, metadata);
  if (!header_text.ok()) return header_text.status().WithContext(path);
  const std::string& header = *header_text;
  PendingFile file(path);
  FATHOM_RETURN_IF_ERROR(file.Create());
  uint8_t length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<uint8_t>(static_cast<uint64_t>(header.size()) >> (8 * i));
  FATHOM_RETURN_IF_ERROR(file.Write(length, sizeof(length)));
  FATHOM_RETURN_IF_ERROR(file.Write(header.data(), header.size()));
  std::vector<uint8_t> buffer;  // (bytes of the tensor being written)
  for (const PlannedTensor& p : tensors) {
    buffer.assign(p.bytes, 0);
    Status filled = p.source->fill(std::span<uint8_t>(buffer.data(), buffer.size()));
    if (!filled.ok()) return filled.WithContext(path + ": tensor '" + p.source->name + "'");
    FATHOM_RETURN_IF_ERROR(file.Write(buffer.data(), buffer.size()));
  }
  return file.Commit();
}

std::string ShardName(size_t index, size_t count) {
  char name[64];
  std::snprintf(name, sizeof(name), "model-%05zu-of-%05zu.safetensors", index + 1, count);
  return name;
}

// Groups tensors into shards exactly as huggingface_hub's split_state_dict_into_shards
// does: a tensor over the limit becomes its own shard at once (ahead of the shard
// still being filled); otherwise a tensor that would tip the current shard over the
// limit closes it first.
std::vector<std::vector<PlannedTensor>> SplitIntoShards(const std::vector<PlannedTensor>& tensors,
                                                        uint64_t max_shard_bytes) {
  std::vector<std::vector<PlannedTensor>> shards;
  std::vector<PlannedTensor> current;
  uint64_t current_bytes = 0;
  for (const PlannedTensor& p : tensors) {
    if (p.bytes > max_shard_bytes) {
      shards.push_back({p});
      continue;
    }
    if (current_bytes + p.bytes > max_shard_bytes) {
      shards.push_back(std::move(current));
      current.clear();
      current_bytes = 0;
    }
    current.push_back(p);
    current_bytes += p.bytes;
  }
  if (!current.empty()) shards.push_back(std::move(current));
  return shards;
}

}  // namespace

Status WriteSafetensors(const std::string& path, std::span<const TensorSource> tensors,
                        const std::map<std::string, std::string>& metadata) {
  Result<std::vector<PlannedTensor>> planned = Plan(tensors);
  if (!planned.ok()) return planned.status().WithContext(path);
  return WriteFile(path, *planned, metadata);
}

Result<std::vector<std::string>> WriteShardedSafetensors(const std::string& dir, std::span<const TensorSource> tensors,
                                                         uint64_t max_shard_bytes,
                                                         const std::map<std::string, std::string>& metadata) {
  Result<std::vector<PlannedTensor>> planned = Plan(tensors);
  if (!planned.ok()) return planned.status().WithContext(dir);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return IoError(dir + ": cannot create directory: " + ec.message());

  std::vector<std::vector<PlannedTensor>> shards = SplitIntoShards(*planned, max_shard_bytes);
  if (shards.size() <= 1) {
    FATHOM_RETURN_IF_ERROR(WriteFile(dir + "/model.safetensors", *planned, metadata));
    return std::vector<std::string>{"model.safetensors"};
  }
  std::vector<std::string> written;
  nlohmann::json weight_map = nlohmann::json::object();
  uint64_t total_size = 0;
  for (size_t i = 0; i < shards.size(); ++i) {
    std::string name = ShardName(i, shards.size());
    FATHOM_RETURN_IF_ERROR(WriteFile(dir + "/" + name, shards[i], metadata));
    for (const PlannedTensor& p : shards[i]) {
      weight_map[p.source->name] = name;
      total_size += p.bytes;
    }
    written.push_back(std::move(name));
  }
  nlohmann::json index = {{"metadata", {{"total_size", total_size}}}, {"weight_map", std::move(weight_map)}};
  FATHOM_RETURN_IF_ERROR(WriteFileAtomic(dir + "/" + kIndexName, index.dump(2) + "\n"));
  written.push_back(kIndexName);
  return written;
}

}  // namespace fathom

// All safetensors tensors of a Hugging Face model directory, whichever way it was
// saved: shards listed by model.safetensors.index.json, one model.safetensors, or
// several *.safetensors without an index. The non-obvious rule: the index is
// trusted for nothing; every tensor it names must really be in the shard it names,
// and no tensor may live in two files, so a name always means one set of bytes.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "formats/safetensors_file.h"

namespace fathom {

// Ownership: owns every file it opened (their mappings) and the tensor views into
// them. Thread-safety: immutable after Open(), so safe for concurrent readers.
// Invariants: tensor names are unique across all files; every tensor's `data` and
// `file` point into a file this object owns and stay valid across moves.
// Tensor order: with an index, the index's weight_map order, then any tensors the
// index does not list in file order; without one, file order (files sorted by name).
class SafetensorsModel {
 public:
  static constexpr char kIndexName[] = "model.safetensors.index.json";

  // `path` is a directory (model.safetensors.index.json + shards, or one
  // model.safetensors, or several *.safetensors without an index) or a single
  // .safetensors file. Errors name the file at fault: NotFound for a missing path
  // or shard, Corrupt for an index or shard that contradicts itself or the other.
  static Result<SafetensorsModel> Open(const std::string& path);

  SafetensorsModel(SafetensorsModel&&) noexcept = default;
  SafetensorsModel& operator=(SafetensorsModel&&) noexcept = default;
  SafetensorsModel(const SafetensorsModel&) = delete;
  SafetensorsModel& operator=(const SafetensorsModel&) = delete;
  ~SafetensorsModel() = default;

  // Every tensor of every file, in the order described above.
  const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }
  // Returns the tensor called `name`, or nullptr if no file holds it.
  const SafetensorsTensor* Find(std::string_view name) const;

  struct FileInfo {
    std::string path;
    uint64_t size;        // bytes on disk
    int64_t num_tensors;  // tensors in this file
  };
  // The files opened, in the order their tensors were first listed.
  const std::vector<FileInfo>& files() const { return files_; }

 private:
  SafetensorsModel() = default;
  static Result<SafetensorsModel> OpenFiles(const std::vector<std::string>& paths);
  static Result<SafetensorsModel> OpenIndexed(const std::string& dir, const std::string& index_path);
  // Appends `t` to tensors_; Corrupt if another file already holds its name.
  Status Add(const SafetensorsTensor& t);

  std::vector<SafetensorsFile> shards_;
  std::vector<SafetensorsTensor> tensors_;  // views into shards_
  std::map<std::string, size_t, std::less<>> index_;  // name -> position in tensors_
  std::vector<FileInfo> files_;
};

}  // namespace fathom

// Opening a model directory: finding its safetensors files, reading the shard
// index with a SAX handler (bounded memory and nesting, duplicate keys caught), and
// cross-checking the index against what the shards really hold.
#include "formats/safetensors_model.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/mapped_file.h"

namespace fathom {
namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

constexpr int kMaxIndexDepth = 64;

// Index entries are hostile text: quote them on one line, truncated.
std::string Quote(std::string_view s) {
  constexpr size_t kMaxShown = 80;
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < kMaxShown; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    out += (c < 0x20 || c == 0x7f) ? '?' : static_cast<char>(c);
  }
  if (s.size() > kMaxShown) out += "...";
  return out + "'";
}

// Reads {"weight_map": {tensor: shard file, ...}, anything else ignored} keeping the
// weight_map's order. The first violation is kept in status() and stops the parse.
class IndexSax final : public nlohmann::json_sax<Json> {
 public:
  const Status& status() const { return status_; }
  bool has_weight_map() const { return seen_weight_map_; }
  std::vector<std::pair<std::string, std::string>>& entries() { return entries_; }

  bool null() override { return Value("null", nullptr); }
  bool boolean(bool) override { return Value("a boolean", nullptr); }
  bool number_integer(number_integer_t) override { return Value("a number", nullptr); }
  bool number_unsigned(number_unsigned_t) override { return Value("a number", nullptr); }
  bool number_float(number_float_t, const string_t&) override { return Value("a number", nullptr); }
  bool string(string_t& s) override { return Value("a string", &s); }
  bool binary(binary_t&) override { return Fail(Corrupt("index holds binary data")); }

  bool start_object(std::size_t) override { return Open(true); }
  bool start_array(std::size_t) override { return Open(false); }
  bool end_object() override { return Close(); }
  bool end_array() override { return Close(); }

  bool key(string_t& k) override {
    if (depth_ == 1) {
      if (k == "weight_map" && seen_weight_map_) return Fail(Corrupt("\"weight_map\" appears twice"));
      key_ = k;
    } else if (depth_ == 2 && in_weight_map_) {
      if (!names_.insert(k).second) return Fail(Corrupt("weight_map lists tensor " + Quote(k) + " twice"));
      key_ = k;
    }
    return true;
  }

  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& ex) override {
    std::string what = ex.what();
    size_t bracket = what.find("] ");
    if (bracket != std::string::npos) what = what.substr(bracket + 2);
    return Fail(Corrupt("not valid JSON (byte " + std::to_string(position) + "): " + what));
  }

 private:
  bool Fail(Status s) {
    if (status_.ok()) status_ = std::move(s);
    return false;
  }

  bool Value(std::string_view kind, std::string* str) {
    if (depth_ == 0) return Fail(Corrupt("index is " + std::string(kind) + ", not a JSON object"));
    if (depth_ == 1 && key_ == "weight_map") {
      return Fail(Corrupt("\"weight_map\" is " + std::string(kind) + ", not an object"));
    }
    if (depth_ == 2 && in_weight_map_) {
      if (str == nullptr) {
        return Fail(Corrupt("weight_map entry " + Quote(key_) + " is " + std::string(kind) + ", not a file name"));
      }
      entries_.emplace_back(key_, std::move(*str));
    }
    return true;
  }

  bool Open(bool is_object) {
    std::string_view kind = is_object ? "an object" : "an array";
    if (depth_ == 0 && !is_object) return Fail(Corrupt("index is an array, not a JSON object"));
    if (depth_ == 1 && key_ == "weight_map") {
      if (!is_object) return Value(kind, nullptr);
      in_weight_map_ = true;
      seen_weight_map_ = true;
    } else if (depth_ == 2 && in_weight_map_) {
      return Value(kind, nullptr);
    }
    if (++depth_ > kMaxIndexDepth) {
      return Fail(Corrupt("nests deeper than " + std::to_string(kMaxIndexDepth) + " levels"));
    }
    return true;
  }

  bool Close() {
    if (--depth_ == 1) in_weight_map_ = false;
    return true;
  }

  Status status_;
  int depth_ = 0;
  bool in_weight_map_ = false;
  bool seen_weight_map_ = false;
  std::string key_;  // the current key at depth 1, or inside weight_map
  std::set<std::string> names_;
  std::vector<std::pair<std::string, std::string>> entries_;
};

// A shard must be a relative path that stays inside the model directory.
bool IsSafeShardName(const std::string& name) {
  if (name.empty() || name.front() == '/') return false;
  for (const fs::path& part : fs::path(name)) {
    if (part == "..") return false;
  }
  return true;
}

}  // namespace

Result<SafetensorsModel> SafetensorsModel::Open(const std::string& path) {
  std::error_code ec;
  fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) return NotFound(path + ": no such file or directory");
  if (fs::is_regular_file(st)) return OpenFiles({path});
  if (!fs::is_directory(st)) return InvalidArgument(path + ": neither a file nor a directory");

  const std::string dir = path;
  const std::string index_path = dir + "/" + kIndexName;
  if (fs::exists(index_path, ec)) return OpenIndexed(dir, index_path);
  const std::string single = dir + "/model.safetensors";
  if (fs::exists(single, ec)) return OpenFiles({single});

  std::vector<std::string> paths;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() == ".safetensors" && it->is_regular_file(ec)) paths.push_back(it->path().string());
  }
  if (ec) return IoError(dir + ": cannot list directory: " + ec.message());
  if (paths.empty()) return NotFound(dir + ": no .safetensors files and no " + kIndexName);
  std::sort(paths.begin(), paths.end());
  return OpenFiles(paths);
}

Result<SafetensorsModel> SafetensorsModel::OpenFiles(const std::vector<std::string>& paths) {
  SafetensorsModel model;
  for (const std::string& path : paths) {
    FATHOM_ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::Open(path));
    model.shards_.push_back(std::move(file));
  }
  for (const SafetensorsFile& file : model.shards_) {
    for (const SafetensorsTensor& t : file.tensors()) FATHOM_RETURN_IF_ERROR(model.Add(t));
    model.files_.push_back({file.path(), file.file_size(), static_cast<int64_t>(file.tensors().size())});
  }
  return model;
}

Result<SafetensorsModel> SafetensorsModel::OpenIndexed(const std::string& dir, const std::string& index_path) {
  FATHOM_ASSIGN_OR_RETURN(std::string text, ReadTextFile(index_path));
  if (text.find('\0') != std::string::npos) return Corrupt(index_path + ": holds a NUL byte");
  IndexSax sax;
  bool parsed = false;
  try {
    parsed = Json::sax_parse(text.begin(), text.end(), &sax);
  } catch (const Json::exception& e) {
    return Corrupt(index_path + ": not valid JSON: " + e.what());
  }
  if (!sax.status().ok()) return sax.status().WithContext(index_path);
  if (!parsed) return Corrupt(index_path + ": not valid JSON");
  if (!sax.has_weight_map()) return Corrupt(index_path + ": has no \"weight_map\" object");

  // Shards in order of first mention; shard_of[i] is the shard of entries()[i].
  SafetensorsModel model;
  std::map<std::string, size_t> shard_ids;
  std::vector<size_t> shard_of;
  for (const auto& [tensor, shard] : sax.entries()) {
    if (!IsSafeShardName(shard)) {
      return Corrupt(index_path + ": tensor " + Quote(tensor) + " names shard " + Quote(shard) +
                     " outside the model directory");
    }
    auto [it, inserted] = shard_ids.emplace(shard, shard_ids.size());
    if (inserted) {
      const std::string shard_path = dir + "/" + shard;
      Result<SafetensorsFile> file = SafetensorsFile::Open(shard_path);
      if (!file.ok() && file.status().code() == StatusCode::kNotFound) {
        return NotFound(index_path + ": shard " + Quote(shard) + " is missing (" + shard_path + ")");
      }
      if (!file.ok()) return file.status();
      model.shards_.push_back(std::move(file).value());
    }
    shard_of.push_back(it->second);
  }

  for (size_t i = 0; i < sax.entries().size(); ++i) {
    const auto& [tensor, shard] = sax.entries()[i];
    const SafetensorsTensor* t = model.shards_[shard_of[i]].Find(tensor);
    if (t == nullptr) {
      return Corrupt(index_path + ": puts tensor " + Quote(tensor) + " in " + Quote(shard) +
                     ", which does not hold it");
    }
    FATHOM_RETURN_IF_ERROR(model.Add(*t));
  }
  // Tensors the index does not list are still part of the model (vLLM and
  // transformers load whole shards), but must not shadow listed ones.
  std::set<std::string_view> listed;
  for (const auto& entry : sax.entries()) listed.insert(entry.first);
  for (const SafetensorsFile& file : model.shards_) {
    for (const SafetensorsTensor& t : file.tensors()) {
      if (listed.count(t.name) == 0) {
        FATHOM_RETURN_IF_ERROR(model.Add(t));
      } else if (model.Find(t.name)->file != t.file) {
        return Corrupt(index_path + ": tensor " + Quote(t.name) + " is in both " + *model.Find(t.name)->file +
                       " and " + file.path());
      }
    }
    model.files_.push_back({file.path(), file.file_size(), static_cast<int64_t>(file.tensors().size())});
  }
  return model;
}

Status SafetensorsModel::Add(const SafetensorsTensor& t) {
  auto [it, inserted] = index_.emplace(t.name, tensors_.size());
  if (!inserted) {
    return Corrupt("tensor " + Quote(t.name) + " is in both " + *tensors_[it->second].file + " and " + *t.file);
  }
  tensors_.push_back(t);
  return Status::Ok();
}

const SafetensorsTensor* SafetensorsModel::Find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace fathom

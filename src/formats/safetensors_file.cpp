// Parsing and validation of one safetensors file. The header is read with a SAX
// handler rather than a JSON DOM so that hostile headers cannot make us allocate
// more than a small multiple of their size, nest without bound, or smuggle in
// duplicate keys (a DOM keeps only the last one).
#include "formats/safetensors_file.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <numeric>
#include <optional>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

namespace fathom {
namespace {

using Json = nlohmann::json;

// Names come from hostile files: quote them on one line, escaped and truncated.
std::string QuoteName(std::string_view name) {
  constexpr size_t kMaxShown = 80;
  std::string out = "'";
  for (size_t i = 0; i < name.size() && i < kMaxShown; ++i) {
    auto c = static_cast<unsigned char>(name[i]);
    if (c < 0x20 || c == 0x7f || c == '\\' || c == '\'') {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (name.size() > kMaxShown) out += "...";
  return out + "'";
}

// A tensor entry as the header spells it, before any semantic check.
struct RawTensor {
  std::string name;
  std::optional<std::string> dtype;
  std::optional<std::vector<uint64_t>> shape;
  std::optional<std::vector<uint64_t>> data_offsets;
};

// Receives the header's SAX events and keeps only what the format allows: a root
// object whose entries are "__metadata__" (object of string -> string, or null) or
// tensor objects with "dtype" (string), "shape" and "data_offsets" (arrays of
// non-negative integers). Unknown fields inside a tensor are skipped, as the
// reference implementation does. The first violation is kept in status() and
// stops the parse.
class HeaderSax final : public nlohmann::json_sax<Json> {
 public:
  const Status& status() const { return status_; }
  std::vector<RawTensor>& tensors() { return tensors_; }
  std::map<std::string, std::string>& metadata() { return metadata_; }

  bool null() override { return Scalar("null", nullptr, std::nullopt); }
  bool boolean(bool) override { return Scalar("a boolean", nullptr, std::nullopt); }
  // nlohmann reports only negative integers and "-0" here; the reference rejects both.
  bool number_integer(number_integer_t) override { return Scalar("a negative number", nullptr, std::nullopt); }
  bool number_unsigned(number_unsigned_t v) override { return Scalar("an integer", nullptr, v); }
  bool number_float(number_float_t, const string_t&) override {
    return Scalar("a non-integer number", nullptr, std::nullopt);
  }
  bool string(string_t& s) override { return Scalar("a string", &s, std::nullopt); }
  bool binary(binary_t&) override { return Fail(Corrupt("header holds binary data")); }

  bool start_object(std::size_t) override { return Open(/*is_object=*/true); }
  bool start_array(std::size_t) override { return Open(/*is_object=*/false); }
  bool end_object() override { return Close(); }
  bool end_array() override { return Close(); }

  bool key(string_t& k) override {
    if (skip_depth_ > 0) return true;
    if (depth_ == 1) {
      entry_ = k;
      if (k == kMetadataKey) {
        if (seen_metadata_) return Fail(Corrupt("\"__metadata__\" appears twice in the header"));
        seen_metadata_ = true;
      } else if (!names_.insert(k).second) {
        return Fail(Corrupt("tensor " + QuoteName(k) + " appears twice in the header"));
      }
      return true;
    }
    if (in_metadata_) {
      meta_key_ = k;
      if (metadata_.count(k) != 0) {
        return Fail(Corrupt("\"__metadata__\" has key " + QuoteName(k) + " twice"));
      }
      return true;
    }
    field_ = k;
    RawTensor& t = tensors_.back();
    bool seen = (k == "dtype" && t.dtype) || (k == "shape" && t.shape) ||
                (k == "data_offsets" && t.data_offsets);
    if (seen) return Fail(Corrupt(Where() + "has field '" + k + "' twice"));
    return true;
  }

  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& ex) override {
    std::string what = ex.what();
    size_t bracket = what.find("] ");  // drop nlohmann's "[json.exception.parse_error.101] "
    if (bracket != std::string::npos) what = what.substr(bracket + 2);
    return Fail(Corrupt("header is not valid JSON (byte " + std::to_string(position) + "): " + what));
  }

 private:
  static constexpr std::string_view kMetadataKey = "__metadata__";

  bool Fail(Status s) {
    if (status_.ok()) status_ = std::move(s);
    return false;
  }

  std::string Where() const { return "tensor " + QuoteName(tensors_.back().name) + " "; }

  // A scalar value; `str` is set for strings, `integer` for non-negative integers.
  bool Scalar(std::string_view kind, std::string* str, std::optional<uint64_t> integer) {
    if (skip_depth_ > 0) return true;
    switch (depth_) {
      case 0:
        return Fail(Corrupt("header is " + std::string(kind) + ", not a JSON object"));
      case 1:
        if (entry_ == kMetadataKey) {
          if (str == nullptr && integer == std::nullopt && kind == "null") return true;
          return Fail(Corrupt("\"__metadata__\" is " + std::string(kind) + ", not an object"));
        }
        return Fail(Corrupt("tensor " + QuoteName(entry_) + " is " + std::string(kind) + ", not an object"));
      case 2:
        if (in_metadata_) {
          if (str == nullptr) {
            return Fail(Corrupt("\"__metadata__\" value of " + QuoteName(meta_key_) + " is " + std::string(kind) +
                                ", not a string"));
          }
          metadata_.emplace(meta_key_, std::move(*str));
          return true;
        }
        if (field_ == "dtype") {
          if (str == nullptr) return Fail(Corrupt(Where() + "field 'dtype' is " + std::string(kind) + ", not a string"));
          tensors_.back().dtype = std::move(*str);
          return true;
        }
        if (field_ == "shape" || field_ == "data_offsets") {
          return Fail(Corrupt(Where() + "field '" + field_ + "' is " + std::string(kind) + ", not an array"));
        }
        return true;  // an unknown field's scalar value
      default: {
        std::vector<uint64_t>& items = *array_;
        if (!integer) {
          return Fail(Corrupt(Where() + "field '" + field_ + "' holds " + std::string(kind) +
                              ", not a non-negative integer"));
        }
        if (array_is_shape_ && items.size() >= SafetensorsFile::kMaxRank) {
          return Fail(Unsupported(Where() + "has more than " + std::to_string(SafetensorsFile::kMaxRank) +
                                  " dimensions"));
        }
        if (!array_is_shape_ && items.size() >= 2) {
          return Fail(Corrupt(Where() + "field 'data_offsets' holds more than 2 integers"));
        }
        items.push_back(*integer);
        return true;
      }
    }
  }

  bool Open(bool is_object) {
    std::string_view kind = is_object ? "an object" : "an array";
    if (skip_depth_ > 0) {
      ++skip_depth_;
      if (depth_ + skip_depth_ > SafetensorsFile::kMaxHeaderDepth) {
        return Fail(Corrupt("header nests deeper than " + std::to_string(SafetensorsFile::kMaxHeaderDepth) +
                            " levels"));
      }
      return true;
    }
    switch (depth_) {
      case 0:
        if (!is_object) return Fail(Corrupt("header is an array, not a JSON object"));
        break;
      case 1:
        if (!is_object) return Scalar(kind, nullptr, std::nullopt);
        in_metadata_ = entry_ == kMetadataKey;
        if (!in_metadata_) {
          tensors_.emplace_back();
          tensors_.back().name = entry_;
        }
        break;
      case 2:
        if (in_metadata_) return Scalar(kind, nullptr, std::nullopt);
        if (field_ == "shape" || field_ == "data_offsets") {
          if (is_object) return Scalar(kind, nullptr, std::nullopt);
          RawTensor& t = tensors_.back();
          array_is_shape_ = field_ == "shape";
          auto& slot = array_is_shape_ ? t.shape : t.data_offsets;
          array_ = &slot.emplace();
        } else if (field_ == "dtype") {
          return Scalar(kind, nullptr, std::nullopt);
        } else {
          skip_depth_ = 1;  // an unknown field's container: ignore all of it
          return true;
        }
        break;
      default:
        return Scalar(kind, nullptr, std::nullopt);
    }
    ++depth_;
    return true;
  }

  bool Close() {
    if (skip_depth_ > 0) {
      --skip_depth_;
      return true;
    }
    --depth_;
    if (depth_ == 1 && !in_metadata_) {
      const RawTensor& t = tensors_.back();
      const char* missing = !t.dtype ? "dtype" : !t.shape ? "shape" : !t.data_offsets ? "data_offsets" : nullptr;
      if (missing != nullptr) return Fail(Corrupt(Where() + "has no '" + missing + "' field"));
      if (t.data_offsets->size() != 2) {
        return Fail(Corrupt(Where() + "field 'data_offsets' holds " + std::to_string(t.data_offsets->size()) +
                            " integers, not 2"));
      }
    }
    if (depth_ == 1) in_metadata_ = false;
    return true;
  }

  Status status_;
  int depth_ = 0;       // containers open, not counting skipped ones
  int skip_depth_ = 0;  // containers open inside an ignored field
  bool in_metadata_ = false;
  bool seen_metadata_ = false;
  std::string entry_;     // current root key
  std::string meta_key_;  // current "__metadata__" key
  std::string field_;     // current tensor field
  std::vector<uint64_t>* array_ = nullptr;  // the shape or data_offsets being filled
  bool array_is_shape_ = false;
  std::vector<RawTensor> tensors_;
  std::set<std::string> names_;
  std::map<std::string, std::string> metadata_;
};

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Checks one entry's dtype, shape and byte count, and that it lies inside the data
// section; fills everything but `data` and `file`.
Result<SafetensorsTensor> ValidateTensor(RawTensor& raw, uint64_t data_size) {
  const std::string where = "tensor " + QuoteName(raw.name) + " ";
  std::optional<DType> dtype = DTypeFromSafetensorsName(*raw.dtype);
  if (!dtype) return Unsupported(where + "has unsupported dtype " + QuoteName(*raw.dtype));
  SafetensorsTensor t{.name = std::move(raw.name), .dtype = *dtype, .shape = {}, .begin = 0, .end = 0,
                      .data = nullptr, .file = nullptr};
  int64_t num_elements = 1;
  for (uint64_t dim : *raw.shape) {
    if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
        __builtin_mul_overflow(num_elements, static_cast<int64_t>(dim), &num_elements)) {
      return Corrupt(where + "has a shape whose element count overflows");
    }
    t.shape.push_back(static_cast<int64_t>(dim));
  }
  Result<int64_t> bytes = DTypeByteSize(t.dtype, num_elements);
  if (!bytes.ok()) return Corrupt(where + "of shape " + ShapeText(t.shape) + ": " + bytes.status().message());
  t.begin = (*raw.data_offsets)[0];
  t.end = (*raw.data_offsets)[1];
  const std::string range = "[" + std::to_string(t.begin) + ", " + std::to_string(t.end) + "]";
  if (t.begin > t.end) return Corrupt(where + "has data_offsets " + range + " with begin after end");
  if (t.end - t.begin != static_cast<uint64_t>(*bytes)) {
    return Corrupt(where + "has data_offsets " + range + " spanning " + std::to_string(t.end - t.begin) +
                   " bytes, but shape " + ShapeText(t.shape) + " of " + std::string(DTypeName(t.dtype)) +
                   " needs " + std::to_string(*bytes));
  }
  if (t.end > data_size) {
    return Corrupt(where + "has data_offsets " + range + " past the end of the " + std::to_string(data_size) +
                   "-byte data section");
  }
  return t;
}

// Requires the ranges, taken in offset order, to tile [0, data_size) exactly.
Status CheckTiling(const std::vector<SafetensorsTensor>& tensors, uint64_t data_size) {
  std::vector<size_t> order(tensors.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return std::pair(tensors[a].begin, tensors[a].end) < std::pair(tensors[b].begin, tensors[b].end);
  });
  uint64_t covered = 0;
  const SafetensorsTensor* previous = nullptr;
  for (size_t i : order) {
    const SafetensorsTensor& t = tensors[i];
    if (t.begin < covered) {
      return Corrupt("tensors " + QuoteName(previous->name) + " and " + QuoteName(t.name) +
                     " overlap in the data section");
    }
    if (t.begin > covered) {
      return Corrupt("data section bytes [" + std::to_string(covered) + ", " + std::to_string(t.begin) +
                     ") belong to no tensor (a hole before " + QuoteName(t.name) + ")");
    }
    covered = t.end;
    previous = &t;
  }
  if (covered != data_size) {
    return Corrupt("the last " + std::to_string(data_size - covered) + " bytes of the " +
                   std::to_string(data_size) + "-byte data section belong to no tensor");
  }
  return Status::Ok();
}

}  // namespace

int64_t SafetensorsTensor::num_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Result<SafetensorsFile> SafetensorsFile::Open(const std::string& path) {
  FATHOM_ASSIGN_OR_RETURN(MappedFile mapping, MappedFile::Open(path));
  SafetensorsFile file;
  *file.path_ = path;
  std::span<const uint8_t> bytes = mapping.bytes();
  file.mapping_ = std::move(mapping);  // the mapping's address does not change on move
  Result<SafetensorsFile> parsed = ParseInto(std::move(file), bytes);
  if (!parsed.ok()) return parsed.status().WithContext(path);
  return parsed;
}

Result<SafetensorsFile> SafetensorsFile::Parse(std::span<const uint8_t> bytes) {
  return ParseInto(SafetensorsFile(), bytes);
}

Result<SafetensorsFile> SafetensorsFile::ParseInto(SafetensorsFile file, std::span<const uint8_t> bytes) {
  if (bytes.size() < 8) {
    return Corrupt("file is " + std::to_string(bytes.size()) + " bytes, too short for the 8-byte header length");
  }
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | bytes[i];
  if (header_size > kMaxHeaderBytes) {
    return Corrupt("header length " + std::to_string(header_size) + " exceeds the limit of " +
                   std::to_string(kMaxHeaderBytes) + " bytes");
  }
  if (header_size > bytes.size() - 8) {
    return Corrupt("header length " + std::to_string(header_size) + " runs past the end of the " +
                   std::to_string(bytes.size()) + "-byte file");
  }
  std::span<const uint8_t> header = bytes.subspan(8, header_size);
  // nlohmann's lexer takes NUL as end of input, so "{}\0junk" would parse; JSON forbids it.
  if (const void* nul = std::memchr(header.data(), 0, header.size()); nul != nullptr) {
    return Corrupt("header holds a NUL byte at offset " +
                   std::to_string(static_cast<const uint8_t*>(nul) - header.data()));
  }

  // nlohmann skips a leading UTF-8 byte-order mark; the reference (and JSON) does not.
  if (header.size() >= 3 && header[0] == 0xef && header[1] == 0xbb && header[2] == 0xbf) {
    return Corrupt("header starts with a UTF-8 byte-order mark");
  }
  HeaderSax sax;
  bool parsed = false;
  try {
    parsed = Json::sax_parse(header.begin(), header.end(), &sax);
  } catch (const Json::exception& e) {
    return Corrupt(std::string("header is not valid JSON: ") + e.what());
  }
  if (!sax.status().ok()) return sax.status();
  if (!parsed) return Corrupt("header is not valid JSON");

  file.file_size_ = bytes.size();
  file.data_offset_ = 8 + header_size;
  const uint64_t data_size = bytes.size() - file.data_offset_;
  const uint8_t* data = bytes.data() + file.data_offset_;
  file.tensors_.reserve(sax.tensors().size());
  for (RawTensor& raw : sax.tensors()) {
    FATHOM_ASSIGN_OR_RETURN(SafetensorsTensor t, ValidateTensor(raw, data_size));
    file.tensors_.push_back(std::move(t));
  }
  FATHOM_RETURN_IF_ERROR(CheckTiling(file.tensors_, data_size));
  for (size_t i = 0; i < file.tensors_.size(); ++i) {
    SafetensorsTensor& t = file.tensors_[i];
    t.data = data + t.begin;
    t.file = file.path_.get();
    file.index_.emplace(t.name, i);
  }
  file.metadata_ = std::move(sax.metadata());
  return file;
}

const SafetensorsTensor* SafetensorsFile::Find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace fathom

#include "formats/gguf_file.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>

namespace fathom {
namespace {

static_assert(std::endian::native == std::endian::little, "the GGUF reader assumes a little-endian host");

constexpr uint8_t kMagic[4] = {'G', 'G', 'U', 'F'};
constexpr uint32_t kMaxDims = 4;  // GGML_MAX_DIMS
// The fewest bytes one entry can take, used to bound counts before allocating.
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;              // key length, type, a 1-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // name length, n_dims, 1 dim, type, offset

// A name from the file, quoted and made printable for an error message (files are
// hostile; their strings may hold newlines, escapes or megabytes).
std::string Quote(std::string_view s) {
  constexpr size_t kMaxShown = 120;
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < kMaxShown; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      out += static_cast<char>(c);
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  if (s.size() > kMaxShown) out += "...";
  out += "'";
  return out;
}

std::string Num(uint64_t v) { return std::to_string(v); }

// Minimum encoded size of one array element of `type` (never 0).
uint64_t MinElementBytes(GgufType type) {
  if (type == GgufType::kString) return 8;
  if (type == GgufType::kArray) return 4 + 8;
  return GgufScalarSize(type);
}

}  // namespace

// Walks the bytes once, front to back. `context_` names what is being read (a key or
// a tensor) so error messages can say where things went wrong without building
// strings on the hot path.
class GgufFile::Parser {
 public:
  Parser(std::span<const uint8_t> bytes, GgufFile* file) : bytes_(bytes), file_(file) {}

  Status Run() {
    file_->file_size_ = bytes_.size();
    uint64_t num_tensors = 0;
    uint64_t num_kvs = 0;
    FATHOM_RETURN_IF_ERROR(ParseHeader(&num_tensors, &num_kvs));
    FATHOM_RETURN_IF_ERROR(ParseMetadata(num_kvs));
    FATHOM_RETURN_IF_ERROR(ResolveAlignment());
    FATHOM_RETURN_IF_ERROR(ParseTensorInfos(num_tensors));
    return PlaceTensors();
  }

 private:
  uint64_t remaining() const { return bytes_.size() - pos_; }

  Status Truncated(uint64_t need, const char* what) const {
    std::string m = "unexpected end of file reading " + std::string(what);
    if (!context_.empty()) m += " of " + context_;
    m += ": needs " + Num(need) + " bytes at byte " + Num(pos_) + ", file is " + Num(bytes_.size()) + " bytes";
    return Corrupt(std::move(m));
  }

  // Reads an n-byte little-endian unsigned integer. REQUIRES: n <= 8.
  Status ReadUint(size_t n, const char* what, uint64_t* out) {
    if (remaining() < n) return Truncated(n, what);
    uint64_t v = 0;
    std::memcpy(&v, bytes_.data() + pos_, n);
    pos_ += n;
    *out = v;
    return Status::Ok();
  }

  Status ReadU32(const char* what, uint32_t* out) {
    uint64_t v = 0;
    FATHOM_RETURN_IF_ERROR(ReadUint(4, what, &v));
    *out = static_cast<uint32_t>(v);
    return Status::Ok();
  }

  Status ReadU64(const char* what, uint64_t* out) { return ReadUint(8, what, out); }

  // Reads a gguf_string (u64 length + bytes) of at most max_bytes bytes.
  Status ReadString(uint64_t max_bytes, const char* what, std::string* out) {
    uint64_t len = 0;
    FATHOM_RETURN_IF_ERROR(ReadU64(what, &len));
    if (len > max_bytes) {
      std::string m = std::string(what);
      if (!context_.empty()) m += " of " + context_;
      return Corrupt(m + " at byte " + Num(pos_ - 8) + " claims " + Num(len) + " bytes, more than the limit of " +
                     Num(max_bytes));
    }
    if (len > remaining()) return Truncated(len, what);
    out->assign(reinterpret_cast<const char*>(bytes_.data() + pos_), static_cast<size_t>(len));
    pos_ += len;
    return Status::Ok();
  }

  Status ParseHeader(uint64_t* num_tensors, uint64_t* num_kvs) {
    if (bytes_.size() < 4 || std::memcmp(bytes_.data(), kMagic, 4) != 0) {
      return Corrupt("not a GGUF file: it does not start with the magic bytes \"GGUF\"");
    }
    pos_ = 4;
    uint32_t version = 0;
    FATHOM_RETURN_IF_ERROR(ReadU32("the version", &version));
    if (version == 1) return Unsupported("GGUF version 1 is not supported (only versions 2 and 3)");
    if ((version & 0xFFFF) == 0 && version != 0) {
      return Unsupported("big-endian GGUF files are not supported (version field reads " + Num(version) + ")");
    }
    if (version != 2 && version != 3) {
      return Unsupported("GGUF version " + Num(version) + " is not supported (only versions 2 and 3)");
    }
    file_->version_ = version;
    FATHOM_RETURN_IF_ERROR(ReadU64("the tensor count", num_tensors));
    FATHOM_RETURN_IF_ERROR(ReadU64("the metadata count", num_kvs));
    if (*num_kvs > remaining() / kMinKvBytes) {
      return Corrupt("the header claims " + Num(*num_kvs) + " metadata entries, more than the " + Num(remaining()) +
                     " remaining bytes can hold");
    }
    if (*num_tensors > remaining() / kMinTensorInfoBytes) {
      return Corrupt("the header claims " + Num(*num_tensors) + " tensors, more than the " + Num(remaining()) +
                     " remaining bytes can hold");
    }
    return Status::Ok();
  }

  Status ParseMetadata(uint64_t num_kvs) {
    auto& metadata = file_->metadata_;
    metadata.reserve(static_cast<size_t>(num_kvs));
    for (uint64_t i = 0; i < num_kvs; ++i) {
      context_ = "metadata entry " + Num(i);
      std::string key;
      FATHOM_RETURN_IF_ERROR(ReadString(kMaxKeyBytes, "the key", &key));
      if (key.empty()) return Corrupt("metadata entry " + Num(i) + " has an empty key");
      context_ = "metadata key " + Quote(key);
      uint32_t type_id = 0;
      FATHOM_RETURN_IF_ERROR(ReadU32("the value type", &type_id));
      if (!IsValidGgufType(type_id)) {
        return Corrupt(context_ + ": unknown value type " + Num(type_id));
      }
      GgufValue value;
      FATHOM_RETURN_IF_ERROR(ParseValue(static_cast<GgufType>(type_id), 0, &value));
      metadata.emplace_back(std::move(key), std::move(value));
    }
    context_.clear();

    auto& order = file_->metadata_by_key_;
    order.resize(metadata.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<uint32_t>(i);
    std::sort(order.begin(), order.end(),
              [&](uint32_t a, uint32_t b) { return metadata[a].first < metadata[b].first; });
    for (size_t i = 1; i < order.size(); ++i) {
      if (metadata[order[i - 1]].first == metadata[order[i]].first) {
        return Corrupt("duplicate metadata key " + Quote(metadata[order[i]].first));
      }
    }
    return Status::Ok();
  }

  // Parses one value of `type`; `depth` counts the arrays enclosing it.
  Status ParseValue(GgufType type, int depth, GgufValue* out) {
    if (++num_values_ > kMaxMetadataValues) {
      return Unsupported(context_ + ": the file holds more than " + Num(kMaxMetadataValues) + " metadata values");
    }
    if (type == GgufType::kString) {
      std::string s;
      FATHOM_RETURN_IF_ERROR(ReadString(std::numeric_limits<uint64_t>::max(), "a string", &s));
      *out = GgufValue::String(std::move(s));
      return Status::Ok();
    }
    if (type != GgufType::kArray) {
      uint64_t bits = 0;
      FATHOM_RETURN_IF_ERROR(ReadUint(GgufScalarSize(type), "a value", &bits));
      if (type == GgufType::kBool && bits > 1) {
        return Corrupt(context_ + ": bool at byte " + Num(pos_ - 1) + " is " + Num(bits) + ", not 0 or 1");
      }
      *out = GgufValue::FromScalarBits(type, bits);
      return Status::Ok();
    }
    if (depth + 1 > kMaxArrayDepth) {
      return Corrupt(context_ + ": arrays nested more than " + Num(kMaxArrayDepth) + " deep");
    }
    uint32_t element_id = 0;
    FATHOM_RETURN_IF_ERROR(ReadU32("an array's element type", &element_id));
    if (!IsValidGgufType(element_id)) {
      return Corrupt(context_ + ": array of unknown element type " + Num(element_id));
    }
    auto element_type = static_cast<GgufType>(element_id);
    uint64_t count = 0;
    FATHOM_RETURN_IF_ERROR(ReadU64("an array's length", &count));
    uint64_t min_bytes = MinElementBytes(element_type);
    if (count > remaining() / min_bytes) {
      return Corrupt(context_ + ": array of " + Num(count) + " " + std::string(GgufTypeName(element_type)) +
                     " at byte " + Num(pos_ - 8) + " needs at least " + Num(count) + " x " + Num(min_bytes) +
                     " bytes, but only " + Num(remaining()) + " remain");
    }
    if (count > kMaxMetadataValues - num_values_) {
      return Unsupported(context_ + ": the file holds more than " + Num(kMaxMetadataValues) + " metadata values");
    }
    std::vector<GgufValue> elements(static_cast<size_t>(count));
    for (GgufValue& e : elements) FATHOM_RETURN_IF_ERROR(ParseValue(element_type, depth + 1, &e));
    *out = GgufValue::Array(element_type, std::move(elements));
    return Status::Ok();
  }

  Status ResolveAlignment() {
    const GgufValue* v = file_->Find("general.alignment");
    if (v == nullptr) return Status::Ok();
    if (v->type() != GgufType::kUint32) {
      return Corrupt("general.alignment must be a uint32, not a " + std::string(GgufTypeName(v->type())));
    }
    uint64_t a = v->scalar_bits();
    if (!std::has_single_bit(a)) {
      return Corrupt("general.alignment is " + Num(a) + ", not a power of two");
    }
    file_->alignment_ = a;
    return Status::Ok();
  }

  Status ParseTensorInfo(uint64_t index, GgufTensorInfo* t) {
    context_ = "tensor " + Num(index);
    FATHOM_RETURN_IF_ERROR(ReadString(kMaxKeyBytes, "the name", &t->name));
    context_ = "tensor " + Quote(t->name);
    uint32_t num_dims = 0;
    FATHOM_RETURN_IF_ERROR(ReadU32("the dimension count", &num_dims));
    if (num_dims == 0) return Corrupt(context_ + ": has 0 dimensions");
    if (num_dims > kMaxDims) {
      return Unsupported(context_ + ": has " + Num(num_dims) + " dimensions, more than " + Num(kMaxDims));
    }
    t->ne.resize(num_dims);
    int64_t num_elements = 1;
    for (uint32_t d = 0; d < num_dims; ++d) {
      uint64_t n = 0;
      FATHOM_RETURN_IF_ERROR(ReadU64("a dimension", &n));
      if (n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return Corrupt(context_ + ": dimension " + Num(d) + " is " + Num(n) + ", negative as int64");
      }
      t->ne[d] = static_cast<int64_t>(n);
      if (__builtin_mul_overflow(num_elements, t->ne[d], &num_elements)) {
        return Corrupt(context_ + ": its element count overflows int64");
      }
    }
    uint32_t type_id = 0;
    FATHOM_RETURN_IF_ERROR(ReadU32("the type", &type_id));
    std::optional<DType> dtype = DTypeFromGgmlType(type_id);
    if (!dtype) return Unsupported(context_ + ": unknown ggml type id " + Num(type_id));
    t->dtype = *dtype;
    const DTypeInfo& info = GetDTypeInfo(*dtype);
    if (t->ne[0] % info.block_elems != 0) {
      return Corrupt(context_ + ": ne[0] = " + Num(t->ne[0]) + " is not a multiple of the " + std::string(info.name) +
                     " block size " + Num(info.block_elems));
    }
    Result<int64_t> num_bytes = DTypeByteSize(*dtype, num_elements);
    if (!num_bytes.ok()) return Corrupt(context_ + ": " + num_bytes.status().message());
    t->num_bytes = static_cast<uint64_t>(*num_bytes);
    return ReadU64("the data offset", &t->offset);
  }

  Status ParseTensorInfos(uint64_t num_tensors) {
    if (num_tensors > remaining() / kMinTensorInfoBytes) {
      return Corrupt("the header claims " + Num(num_tensors) + " tensors, more than the " + Num(remaining()) +
                     " bytes after the metadata can hold");
    }
    auto& tensors = file_->tensors_;
    tensors.resize(static_cast<size_t>(num_tensors));
    for (uint64_t i = 0; i < num_tensors; ++i) FATHOM_RETURN_IF_ERROR(ParseTensorInfo(i, &tensors[i]));
    context_.clear();

    auto& order = file_->tensors_by_name_;
    order.resize(tensors.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<uint32_t>(i);
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return tensors[a].name < tensors[b].name; });
    for (size_t i = 1; i < order.size(); ++i) {
      if (tensors[order[i - 1]].name == tensors[order[i]].name) {
        return Corrupt("duplicate tensor name " + Quote(tensors[order[i]].name));
      }
    }
    return Status::Ok();
  }

  Status PlaceTensors() {
    const uint64_t alignment = file_->alignment_;
    const uint64_t size = bytes_.size();
    // pos_ <= size < 2^63 and alignment <= 2^31, so this cannot overflow.
    file_->data_offset_ = (pos_ + alignment - 1) / alignment * alignment;
    const uint64_t data_offset = file_->data_offset_;
    auto& tensors = file_->tensors_;
    for (GgufTensorInfo& t : tensors) {
      if (t.offset % alignment != 0) {
        return Corrupt("tensor " + Quote(t.name) + ": data offset " + Num(t.offset) +
                       " is not a multiple of the alignment " + Num(alignment));
      }
      uint64_t start = 0;
      uint64_t end = 0;
      bool overflow =
          __builtin_add_overflow(data_offset, t.offset, &start) || __builtin_add_overflow(start, t.num_bytes, &end);
      if (overflow || end > size) {
        std::string end_text = overflow ? "2^64 or beyond" : Num(end);
        return Corrupt("tensor " + Quote(t.name) + ": data ends at byte " + end_text + ", past the end of the file (" +
                       Num(size) + " bytes)");
      }
      t.data = bytes_.data() + start;
    }

    std::vector<uint32_t> by_offset(tensors.size());
    for (size_t i = 0; i < by_offset.size(); ++i) by_offset[i] = static_cast<uint32_t>(i);
    std::sort(by_offset.begin(), by_offset.end(), [&](uint32_t a, uint32_t b) {
      return std::pair(tensors[a].offset, tensors[a].num_bytes) < std::pair(tensors[b].offset, tensors[b].num_bytes);
    });
    for (size_t i = 1; i < by_offset.size(); ++i) {
      const GgufTensorInfo& prev = tensors[by_offset[i - 1]];
      const GgufTensorInfo& cur = tensors[by_offset[i]];
      if (prev.offset + prev.num_bytes > cur.offset) {
        return Corrupt("tensors " + Quote(prev.name) + " (data bytes " + Num(prev.offset) + ".." +
                       Num(prev.offset + prev.num_bytes) + ") and " + Quote(cur.name) + " (from byte " +
                       Num(cur.offset) + ") overlap");
      }
    }
    return Status::Ok();
  }

  std::span<const uint8_t> bytes_;
  GgufFile* file_;
  uint64_t pos_ = 0;
  uint64_t num_values_ = 0;
  std::string context_;
};

std::vector<int64_t> GgufTensorInfo::RowMajorShape() const { return {ne.rbegin(), ne.rend()}; }

int64_t GgufTensorInfo::num_elements() const {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  return n;
}

Result<GgufFile> GgufFile::Open(const std::string& path) {
  FATHOM_ASSIGN_OR_RETURN(MappedFile mapping, MappedFile::Open(path));
  GgufFile file;
  Status status = Parser(mapping.bytes(), &file).Run();
  if (!status.ok()) return status.WithContext(path);
  file.mapping_ = std::move(mapping);  // moving a mapping keeps its address, so data pointers stay valid
  return file;
}

Result<GgufFile> GgufFile::Parse(std::span<const uint8_t> bytes) {
  GgufFile file;
  FATHOM_RETURN_IF_ERROR(Parser(bytes, &file).Run());
  return file;
}

const GgufValue* GgufFile::Find(std::string_view key) const {
  auto it = std::lower_bound(metadata_by_key_.begin(), metadata_by_key_.end(), key,
                             [&](uint32_t i, std::string_view k) { return metadata_[i].first < k; });
  if (it == metadata_by_key_.end() || metadata_[*it].first != key) return nullptr;
  return &metadata_[*it].second;
}

const GgufTensorInfo* GgufFile::FindTensor(std::string_view name) const {
  auto it = std::lower_bound(tensors_by_name_.begin(), tensors_by_name_.end(), name,
                             [&](uint32_t i, std::string_view n) { return tensors_[i].name < n; });
  if (it == tensors_by_name_.end() || tensors_[*it].name != name) return nullptr;
  return &tensors_[*it];
}

}  // namespace fathom

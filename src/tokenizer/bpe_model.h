// Byte-level BPE: turns one pre-tokenized piece (raw bytes) into token ids by
// applying merges lowest rank first, leftmost first among equal ranks, as Hugging
// Face's BPE model does. Merges live in a hash map keyed by the (left id, right id)
// pair; words are merged over a linked list with a min-heap of candidate pairs, and
// results are cached per word. The non-obvious rule: with ignore_merges (Llama 3),
// a piece that is itself in the vocabulary is one token even where the merges
// would never build it.
#pragma once

#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"

namespace fathom {

// Thread-safe: Tokenize may be called from many threads at once (the word cache
// is guarded by a mutex). Not copyable or movable (it owns the mutex); hold it by
// unique_ptr.
class BpeModel {
 public:
  struct Options {
    bool ignore_merges = false;
    size_t max_cache_words = 1 << 16;  // the cache is cleared when it grows past this
  };

  // `vocab`: token string (byte-level alphabet) -> id. `merges`: pairs of token
  // strings, highest priority first. Errors name the first merge whose parts or
  // result are missing from the vocabulary, or a byte with no token.
  static Result<std::unique_ptr<BpeModel>> Create(const std::vector<std::pair<std::string, int32_t>>& vocab,
                                                  const std::vector<std::pair<std::string, std::string>>& merges,
                                                  Options options);

  // Parses the "model" member of a tokenizer.json (type BPE, byte-level).
  static Result<std::unique_ptr<BpeModel>> FromJson(const nlohmann::json& model);

  BpeModel(const BpeModel&) = delete;
  BpeModel& operator=(const BpeModel&) = delete;

  // Appends the ids of `piece` (raw bytes, non-empty) to *ids.
  void Tokenize(std::string_view piece, std::vector<int32_t>* ids) const;

  // Returns the id of the token whose bytes are `bytes`, or -1.
  int32_t FindBytes(std::string_view bytes) const;

  // The vocabulary in tokenizer.json form: token string -> id.
  const std::vector<std::pair<std::string, int32_t>>& vocab() const { return vocab_; }

 private:
  BpeModel() = default;
  void Merge(std::string_view piece, std::vector<int32_t>* ids) const;

  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  struct MergeResult {
    int32_t rank;
    int32_t id;
  };

  Options options_;
  std::vector<std::pair<std::string, int32_t>> vocab_;
  int32_t byte_ids_[256] = {};
  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> bytes_to_id_;
  std::unordered_map<uint64_t, MergeResult> merges_;  // (left << 32 | right) -> result

  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> cache_;
};

}  // namespace fathom

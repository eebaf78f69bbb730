#include "tokenizer/bpe_model.h"

#include <algorithm>

#include "tokenizer/byte_level.h"

namespace fathom {
namespace {

constexpr size_t kMaxCachedPieceBytes = 256;

uint64_t PairKey(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

// One symbol of a word being merged; symbols form a doubly linked list.
struct Symbol {
  int32_t id;
  int32_t prev;  // -1 at the start
  int32_t next;  // -1 at the end
  bool alive;
};

// A candidate merge of symbols[left] and its right neighbour.
struct Candidate {
  int32_t rank;
  int32_t left;
  int32_t left_id;
  int32_t right_id;
  int32_t merged_id;
  // Min-heap on (rank, left) through std::*_heap's max-heap order.
  bool operator<(const Candidate& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
};

}  // namespace

Result<std::unique_ptr<BpeModel>> BpeModel::Create(const std::vector<std::pair<std::string, int32_t>>& vocab,
                                                   const std::vector<std::pair<std::string, std::string>>& merges,
                                                   Options options) {
  std::unique_ptr<BpeModel> m(new BpeModel());
  m->options_ = options;
  m->vocab_ = vocab;
  std::unordered_map<std::string_view, int32_t> by_text;
  by_text.reserve(vocab.size());
  m->bytes_to_id_.reserve(vocab.size());
  for (const auto& [text, id] : m->vocab_) {
    by_text.emplace(text, id);
    if (std::optional<std::string> bytes = ByteLevelToBytes(text)) m->bytes_to_id_.emplace(*std::move(bytes), id);
  }
  for (int b = 0; b < 256; ++b) {
    const std::string one(1, static_cast<char>(b));
    auto it = m->bytes_to_id_.find(one);
    if (it == m->bytes_to_id_.end()) {
      return Unsupported("BPE vocabulary has no token for byte " + std::to_string(b) +
                         " (only byte-level BPE is supported)");
    }
    m->byte_ids_[b] = it->second;
  }
  m->merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    auto ia = by_text.find(a), ib = by_text.find(b), ic = by_text.find(a + b);
    if (ia == by_text.end() || ib == by_text.end() || ic == by_text.end()) {
      return Corrupt("BPE merge #" + std::to_string(rank) + " \"" + a + " " + b + "\" uses a token not in the vocab");
    }
    // The first (highest-priority) occurrence of a pair wins, as in Hugging Face.
    m->merges_.emplace(PairKey(ia->second, ib->second), MergeResult{static_cast<int32_t>(rank), ic->second});
  }
  return m;
}

Result<std::unique_ptr<BpeModel>> BpeModel::FromJson(const nlohmann::json& model) {
  if (!model.is_object()) return Corrupt("tokenizer.json has no \"model\" object");
  const std::string type = model.value("type", std::string("BPE"));
  if (type != "BPE") return Unsupported("model type \"" + type + "\" is not supported (only BPE)");
  if (!model.value("dropout", nlohmann::json()).is_null()) return Unsupported("BPE dropout is not supported");
  if (model.value("byte_fallback", false)) return Unsupported("BPE byte_fallback is not supported");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const nlohmann::json v = model.value(key, nlohmann::json());
    if (!v.is_null() && !(v.is_string() && v.get<std::string>().empty())) {
      return Unsupported(std::string("BPE ") + key + " is not supported");
    }
  }
  if (!model.contains("vocab") || !model["vocab"].is_object()) return Corrupt("BPE model has no vocab object");
  std::vector<std::pair<std::string, int32_t>> vocab;
  vocab.reserve(model["vocab"].size());
  for (auto it = model["vocab"].begin(); it != model["vocab"].end(); ++it) {
    vocab.emplace_back(it.key(), it.value().get<int32_t>());
  }
  std::vector<std::pair<std::string, std::string>> merges;
  if (model.contains("merges")) {
    merges.reserve(model["merges"].size());
    for (const nlohmann::json& merge : model["merges"]) {
      if (merge.is_string()) {
        const std::string& s = merge.get_ref<const std::string&>();
        const size_t space = s.find(' ');
        if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
          return Corrupt("BPE merge \"" + s + "\" is not two tokens separated by one space");
        }
        merges.emplace_back(s.substr(0, space), s.substr(space + 1));
      } else if (merge.is_array() && merge.size() == 2) {
        merges.emplace_back(merge[0].get<std::string>(), merge[1].get<std::string>());
      } else {
        return Corrupt("BPE merge " + merge.dump() + " is neither \"a b\" nor [a, b]");
      }
    }
  }
  Options options;
  options.ignore_merges = model.value("ignore_merges", false);
  return Create(vocab, merges, options);
}

int32_t BpeModel::FindBytes(std::string_view bytes) const {
  auto it = bytes_to_id_.find(bytes);
  return it == bytes_to_id_.end() ? -1 : it->second;
}

void BpeModel::Tokenize(std::string_view piece, std::vector<int32_t>* ids) const {
  if (piece.size() == 1) {
    ids->push_back(byte_ids_[static_cast<uint8_t>(piece[0])]);
    return;
  }
  if (options_.ignore_merges) {
    const int32_t whole = FindBytes(piece);
    if (whole >= 0) {
      ids->push_back(whole);
      return;
    }
  }
  // Long pieces (runs of one script without spaces) are rare and would bloat the cache.
  if (piece.size() > kMaxCachedPieceBytes) {
    Merge(piece, ids);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    auto it = cache_.find(piece);
    if (it != cache_.end()) {
      ids->insert(ids->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t first = ids->size();
  Merge(piece, ids);
  std::lock_guard<std::mutex> lock(cache_mutex_);
  if (cache_.size() >= options_.max_cache_words) cache_.clear();
  cache_.emplace(std::string(piece), std::vector<int32_t>(ids->begin() + static_cast<ptrdiff_t>(first), ids->end()));
}

void BpeModel::Merge(std::string_view piece, std::vector<int32_t>* ids) const {
  thread_local std::vector<Symbol> symbols;
  thread_local std::vector<Candidate> heap;
  symbols.clear();
  heap.clear();
  const auto n = static_cast<int32_t>(piece.size());
  for (int32_t i = 0; i < n; ++i) {
    symbols.push_back({byte_ids_[static_cast<uint8_t>(piece[i])], i - 1, i + 1 < n ? i + 1 : -1, true});
  }
  auto push_candidate = [&](int32_t left) {
    const int32_t right = symbols[left].next;
    if (right < 0) return;
    auto it = merges_.find(PairKey(symbols[left].id, symbols[right].id));
    if (it == merges_.end()) return;
    heap.push_back({it->second.rank, left, symbols[left].id, symbols[right].id, it->second.id});
    std::push_heap(heap.begin(), heap.end());
  };
  for (int32_t i = 0; i + 1 < n; ++i) push_candidate(i);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end());
    const Candidate c = heap.back();
    heap.pop_back();
    Symbol& left = symbols[c.left];
    // Stale if either side has changed since the candidate was pushed.
    if (!left.alive || left.id != c.left_id || left.next < 0) continue;
    Symbol& right = symbols[left.next];
    if (right.id != c.right_id) continue;
    left.id = c.merged_id;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = c.left;
    if (left.prev >= 0) push_candidate(left.prev);
    push_candidate(c.left);
  }
  for (int32_t i = 0; i >= 0; i = symbols[i].next) ids->push_back(symbols[i].id);
}

}  // namespace fathom

#include "tokenizer/pre_tokenizer.h"

#include <utility>

namespace fathom {
namespace {

// GPT-2's pre-tokenizer regex, which ByteLevel applies when use_regex is true.
constexpr std::string_view kGpt2Regex =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

thread_local std::vector<SplitRegex::Match> tls_matches;

Result<PreTokenizer::Behavior> ParseBehavior(const std::string& name) {
  if (name == "Isolated") return PreTokenizer::Behavior::kIsolated;
  if (name == "Removed") return PreTokenizer::Behavior::kRemoved;
  if (name == "MergedWithPrevious") return PreTokenizer::Behavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return PreTokenizer::Behavior::kMergedWithNext;
  if (name == "Contiguous") return PreTokenizer::Behavior::kContiguous;
  return Unsupported("Split behavior \"" + name + "\" is not supported");
}

}  // namespace

Status PreTokenizer::AppendSteps(const nlohmann::json& j, std::vector<Step>* steps) {
  if (j.is_null()) return Status::Ok();
  if (!j.is_object() || !j.contains("type")) return Corrupt("pre_tokenizer is not an object with a \"type\"");
  const std::string type = j["type"].get<std::string>();
  if (type == "Sequence") {
    if (!j.contains("pretokenizers") || !j["pretokenizers"].is_array()) {
      return Corrupt("Sequence pre_tokenizer has no \"pretokenizers\" list");
    }
    for (const nlohmann::json& item : j["pretokenizers"]) FATHOM_RETURN_IF_ERROR(AppendSteps(item, steps));
    return Status::Ok();
  }
  if (type == "Split") {
    const nlohmann::json& pattern = j.value("pattern", nlohmann::json());
    if (!pattern.is_object()) return Corrupt("Split pre_tokenizer has no pattern");
    std::string regex_text;
    if (pattern.contains("Regex")) {
      regex_text = pattern["Regex"].get<std::string>();
    } else if (pattern.contains("String")) {
      // A literal: escape it for PCRE2 with \Q...\E.
      regex_text = "\\Q" + pattern["String"].get<std::string>() + "\\E";
    } else {
      return Unsupported("Split pattern kind " + pattern.dump() + " is not supported");
    }
    FATHOM_ASSIGN_OR_RETURN(SplitRegex regex, SplitRegex::Compile(regex_text));
    Step step;
    step.regex = std::make_unique<SplitRegex>(std::move(regex));
    FATHOM_ASSIGN_OR_RETURN(step.behavior, ParseBehavior(j.value("behavior", std::string("Isolated"))));
    step.invert = j.value("invert", false);
    steps->push_back(std::move(step));
    return Status::Ok();
  }
  if (type == "ByteLevel") {
    Step step;
    step.is_byte_level = true;
    step.add_prefix_space = j.value("add_prefix_space", false);
    steps->push_back(std::move(step));
    if (j.value("use_regex", true)) {
      FATHOM_ASSIGN_OR_RETURN(SplitRegex regex, SplitRegex::Compile(kGpt2Regex));
      Step split;
      split.regex = std::make_unique<SplitRegex>(std::move(regex));
      steps->push_back(std::move(split));
    }
    return Status::Ok();
  }
  return Unsupported("pre_tokenizer type \"" + type + "\" is not supported");
}

Result<PreTokenizer> PreTokenizer::FromJson(const nlohmann::json& j) {
  PreTokenizer p;
  FATHOM_RETURN_IF_ERROR(AppendSteps(j, &p.steps_));
  bool has_byte_level = false;
  for (const Step& s : p.steps_) has_byte_level |= s.is_byte_level;
  if (!has_byte_level) return Unsupported("pre_tokenizer without a ByteLevel step is not supported");
  return p;
}

Result<PreTokenizer> PreTokenizer::FromRegexes(const std::vector<std::string>& patterns) {
  nlohmann::json seq = nlohmann::json::array();
  for (const std::string& p : patterns) {
    seq.push_back({{"type", "Split"}, {"pattern", {{"Regex", p}}}, {"behavior", "Isolated"}, {"invert", false}});
  }
  seq.push_back({{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", patterns.empty()}});
  return FromJson({{"type", "Sequence"}, {"pretokenizers", seq}});
}

Status PreTokenizer::ApplySplit(const Step& step, const std::string& buffer, Piece piece,
                                std::vector<Piece>* out) const {
  std::vector<SplitRegex::Match>& matches = tls_matches;
  matches.clear();
  const std::string_view subject(buffer.data() + piece.begin, piece.end - piece.begin);
  FATHOM_RETURN_IF_ERROR(step.regex->FindAll(subject, &matches));
  // Walk matches and the gaps between them as (range, is_match) segments.
  bool previous_match = false;
  bool have_previous = false;
  size_t pending_next_begin = SIZE_MAX;  // MergedWithNext: where a carried match begins
  auto emit = [&](uint32_t b, uint32_t e, bool is_match) {
    if (step.invert) is_match = !is_match;
    switch (step.behavior) {
      case Behavior::kIsolated:
        out->push_back({b, e});
        break;
      case Behavior::kRemoved:
        if (!is_match) out->push_back({b, e});
        break;
      case Behavior::kMergedWithPrevious:
        if (is_match && !previous_match && have_previous)
          out->back().end = e;
        else
          out->push_back({b, e});
        break;
      case Behavior::kContiguous:
        if (is_match && previous_match && have_previous)
          out->back().end = e;
        else
          out->push_back({b, e});
        break;
      case Behavior::kMergedWithNext:
        if (pending_next_begin != SIZE_MAX) {
          if (is_match) {
            // Hugging Face merges a match only into a following non-match.
            out->push_back({static_cast<uint32_t>(pending_next_begin), b});
            pending_next_begin = b;
          } else {
            out->push_back({static_cast<uint32_t>(pending_next_begin), e});
            pending_next_begin = SIZE_MAX;
          }
        } else if (is_match) {
          pending_next_begin = b;
        } else {
          out->push_back({b, e});
        }
        break;
    }
    previous_match = is_match;
    have_previous = true;
  };
  uint32_t prev = piece.begin;
  for (const SplitRegex::Match& m : matches) {
    const auto b = static_cast<uint32_t>(piece.begin + m.begin), e = static_cast<uint32_t>(piece.begin + m.end);
    if (b > prev) emit(prev, b, false);
    emit(b, e, true);
    prev = e;
  }
  if (prev < piece.end) emit(prev, piece.end, false);
  if (pending_next_begin != SIZE_MAX) out->push_back({static_cast<uint32_t>(pending_next_begin), piece.end});
  return Status::Ok();
}

Status PreTokenizer::Split(std::string* buffer, Piece range, std::vector<Piece>* pieces) const {
  thread_local std::vector<Piece> current, next;
  current.clear();
  current.push_back(range);
  for (const Step& step : steps_) {
    next.clear();
    if (step.is_byte_level) {
      for (Piece p : current) {
        if (step.add_prefix_space && (p.end == p.begin || (*buffer)[p.begin] != ' ')) {
          const auto begin = static_cast<uint32_t>(buffer->size());
          buffer->push_back(' ');
          buffer->append(*buffer, p.begin, p.end - p.begin);
          next.push_back({begin, static_cast<uint32_t>(buffer->size())});
        } else {
          next.push_back(p);
        }
      }
    } else {
      for (Piece p : current) FATHOM_RETURN_IF_ERROR(ApplySplit(step, *buffer, p, &next));
    }
    std::swap(current, next);
  }
  for (Piece p : current) {
    if (p.end > p.begin) pieces->push_back(p);
  }
  return Status::Ok();
}

}  // namespace fathom

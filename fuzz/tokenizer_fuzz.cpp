// libFuzzer target for the tokenizer, on the builtin vocabulary (no files needed).
// The first byte picks the mode: encode the rest as text (arbitrary bytes, invalid
// UTF-8 included), or read the rest as little-endian int32 ids and decode them both
// in one shot and incrementally, which must agree.
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/builtin_vocab.h"
#include "tokenizer/incremental_detokenizer.h"
#include "tokenizer/tokenizer.h"
#include "core/utf8.h"

namespace {

const fathom::Tokenizer& GetTokenizer() {
  static const std::unique_ptr<fathom::Tokenizer> tokenizer = [] {
    const fathom::BuiltinVocab v = fathom::MakeBuiltinVocab(512, false);
    fathom::Result<fathom::Tokenizer> t = fathom::Tokenizer::FromJson(v.tokenizer_json, v.tokenizer_config_json);
    if (!t.ok()) __builtin_trap();
    return std::make_unique<fathom::Tokenizer>(std::move(t).value());
  }();
  return *tokenizer;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const fathom::Tokenizer& tokenizer = GetTokenizer();
  const bool decode_mode = (data[0] & 1) != 0;
  ++data;
  --size;
  if (!decode_mode) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    fathom::Result<std::vector<int32_t>> ids = tokenizer.Encode(text, false);
    if (!ids.ok()) return 0;
    fathom::Result<std::vector<int32_t>> with_special = tokenizer.Encode(text, true);
    if (!with_special.ok() ||
        with_special->size() != ids->size() + tokenizer.prefix_ids().size() + tokenizer.suffix_ids().size()) {
      __builtin_trap();
    }
    // Byte-level BPE loses nothing: decoding gives back the (repaired) text.
    std::string repaired;
    fathom::utf8::AppendLossy(text, &repaired);
    if (tokenizer.Decode(*ids, false) != repaired) __builtin_trap();
    return 0;
  }
  std::vector<int32_t> ids(size / 4);
  if (!ids.empty()) std::memcpy(ids.data(), data, ids.size() * 4);
  for (bool skip : {false, true}) {
    const std::string whole = tokenizer.Decode(ids, skip);
    fathom::IncrementalDetokenizer detok(&tokenizer, skip);
    std::string streamed;
    for (int32_t id : ids) streamed += detok.Append(id);
    streamed += detok.Finish();
    if (streamed != whole || !fathom::utf8::IsValid(whole)) __builtin_trap();
  }
  return 0;
}

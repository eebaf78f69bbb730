#include "tokenizer/normalizer.h"

#include <utf8proc.h>

#include <cstdlib>

namespace fathom {
namespace {

Status AppendForms(const nlohmann::json& j, std::vector<Normalizer::Form>* forms) {
  if (j.is_null()) return Status::Ok();
  if (!j.is_object() || !j.contains("type")) return Corrupt("normalizer is not an object with a \"type\"");
  const std::string type = j["type"].get<std::string>();
  if (type == "Sequence") {
    if (!j.contains("normalizers") || !j["normalizers"].is_array()) return Corrupt("Sequence normalizer has no list");
    for (const nlohmann::json& item : j["normalizers"]) FATHOM_RETURN_IF_ERROR(AppendForms(item, forms));
    return Status::Ok();
  }
  if (type == "NFC")
    forms->push_back(Normalizer::Form::kNfc);
  else if (type == "NFD")
    forms->push_back(Normalizer::Form::kNfd);
  else if (type == "NFKC")
    forms->push_back(Normalizer::Form::kNfkc);
  else if (type == "NFKD")
    forms->push_back(Normalizer::Form::kNfkd);
  else
    return Unsupported("normalizer type \"" + type + "\" is not supported");
  return Status::Ok();
}

bool IsAscii(std::string_view text) {
  for (char c : text) {
    if (static_cast<uint8_t>(c) >= 0x80) return false;
  }
  return true;
}

}  // namespace

Result<Normalizer> Normalizer::FromJson(const nlohmann::json& j) {
  std::vector<Form> forms;
  FATHOM_RETURN_IF_ERROR(AppendForms(j, &forms));
  return Normalizer(std::move(forms));
}

std::string Normalizer::Normalize(std::string_view text) const {
  std::string out(text);
  // Every Unicode normal form leaves ASCII text unchanged.
  if (forms_.empty() || IsAscii(text)) return out;
  for (Form form : forms_) {
    int options = UTF8PROC_STABLE;
    switch (form) {
      case Form::kNfc:
        options |= UTF8PROC_COMPOSE;
        break;
      case Form::kNfd:
        options |= UTF8PROC_DECOMPOSE;
        break;
      case Form::kNfkc:
        options |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
        break;
      case Form::kNfkd:
        options |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
        break;
    }
    utf8proc_uint8_t* result = nullptr;
    const utf8proc_ssize_t n =
        utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(out.data()), static_cast<utf8proc_ssize_t>(out.size()),
                     &result, static_cast<utf8proc_option_t>(options));
    if (n < 0) continue;  // only invalid UTF-8 fails, which callers never pass
    out.assign(reinterpret_cast<const char*>(result), static_cast<size_t>(n));
    std::free(result);
  }
  return out;
}

}  // namespace fathom

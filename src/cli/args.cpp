#include "cli/args.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>

namespace fathom::cli {

Result<ParsedArgs> ParsedArgs::Parse(const std::vector<std::string>& args, const std::vector<OptionSpec>& specs) {
  ParsedArgs out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.size() < 2 || a[0] != '-' || a == "--") {
      if (a == "--") {
        for (++i; i < args.size(); ++i) out.positional_.push_back(args[i]);
        break;
      }
      out.positional_.push_back(a);
      continue;
    }
    std::string name, value;
    bool has_inline = false;
    const bool is_long = a.rfind("--", 0) == 0;
    name = a.substr(is_long ? 2 : 1);
    if (size_t eq = name.find('='); is_long && eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_inline = true;
    }
    const OptionSpec* spec = nullptr;
    for (const OptionSpec& s : specs) {
      if ((is_long && s.name == name) || (!is_long && !s.short_name.empty() && s.short_name == name)) spec = &s;
    }
    if (spec == nullptr) return InvalidArgument("unknown option '" + a + "'");
    if (spec->takes_value && !has_inline) {
      if (i + 1 >= args.size()) return InvalidArgument("option '--" + spec->name + "' needs a value");
      value = args[++i];
    } else if (!spec->takes_value && has_inline) {
      return InvalidArgument("option '--" + spec->name + "' takes no value");
    }
    out.values_[spec->name] = value;
    out.all_values_[spec->name].push_back(value);
  }
  return out;
}

std::optional<std::string> ParsedArgs::Get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::string ParsedArgs::GetOr(const std::string& name, const std::string& fallback) const {
  return Get(name).value_or(fallback);
}

std::vector<std::string> ParsedArgs::GetAll(const std::string& name) const {
  auto it = all_values_.find(name);
  if (it == all_values_.end()) return {};
  return it->second;
}

Result<std::optional<int64_t>> ParsedArgs::GetInt(const std::string& name) const {
  std::optional<std::string> v = Get(name);
  if (!v) return std::optional<int64_t>();
  int64_t x = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), x);
  if (ec != std::errc() || end != v->data() + v->size()) {
    return InvalidArgument("option '--" + name + "' needs an integer, got '" + *v + "'");
  }
  return std::optional<int64_t>(x);
}

Result<std::optional<double>> ParsedArgs::GetDouble(const std::string& name) const {
  std::optional<std::string> v = Get(name);
  if (!v) return std::optional<double>();
  double x = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), x);
  if (ec != std::errc() || end != v->data() + v->size() || !std::isfinite(x)) {
    return InvalidArgument("option '--" + name + "' needs a number, got '" + *v + "'");
  }
  return std::optional<double>(x);
}

Result<int> ParsedArgs::GetThreads() const {
  FATHOM_ASSIGN_OR_RETURN(std::optional<int64_t> threads, GetInt("threads"));
  if (threads && (*threads < 0 || *threads > 1024)) return InvalidArgument("--threads must be in [0, 1024]");
  return static_cast<int>(threads.value_or(0));
}

Result<DeviceKind> ParsedArgs::GetDevice() const {
  Result<DeviceKind> kind = ParseDeviceKind(GetOr("device", "cpu"));
  if (!kind.ok()) return InvalidArgument("--device: " + kind.status().message());
  return *kind;
}

Result<uint64_t> ParseByteSize(const std::string& text) {
  uint64_t number = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc() || end == text.data()) return InvalidArgument("'" + text + "' is not a size such as 5GB");
  std::string unit(end, text.data() + text.size());
  for (char& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  static const std::pair<const char*, uint64_t> kUnits[] = {
      {"", 1}, {"B", 1}, {"KB", 1000}, {"MB", 1000'000}, {"GB", 1000'000'000},
      {"KIB", 1ull << 10}, {"MIB", 1ull << 20}, {"GIB", 1ull << 30}};
  for (auto [name, mult] : kUnits) {
    if (unit == name) {
      if (number == 0 || number > UINT64_MAX / mult) return InvalidArgument("'" + text + "' is out of range");
      return number * mult;
    }
  }
  return InvalidArgument("'" + text + "' has an unknown unit (B, KB, MB, GB, KiB, MiB, GiB)");
}

}  // namespace fathom::cli

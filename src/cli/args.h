// A small command-line parser: `--name value`, `--name=value`, boolean `--flag`,
// `-n value` short aliases and positional arguments. Unknown options are errors,
// so a typo never silently falls back to a default.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/status.h"

namespace fathom::cli {

struct OptionSpec {
  std::string name;        // "model" for --model
  bool takes_value = true;
  std::string short_name;  // "n" for -n, optional
};

class ParsedArgs {
 public:
  static Result<ParsedArgs> Parse(const std::vector<std::string>& args, const std::vector<OptionSpec>& specs);

  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  std::optional<std::string> Get(const std::string& name) const;
  std::string GetOr(const std::string& name, const std::string& fallback) const;
  // Parses an integer option; errors name the option.
  Result<std::optional<int64_t>> GetInt(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

}  // namespace fathom::cli

// A small command-line parser: `--name value`, `--name=value`, boolean `--flag`,
// `-n value` short aliases and positional arguments. Unknown options are errors,
// so a typo never silently falls back to a default.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "backend/device_memory.h"
#include "core/status.h"

namespace fathom::cli {

struct OptionSpec {
  OptionSpec(std::string name_in, bool takes_value_in = true, std::string short_name_in = "")  // NOLINT
      : name(std::move(name_in)), takes_value(takes_value_in), short_name(std::move(short_name_in)) {}
  OptionSpec(const char* name_in) : OptionSpec(std::string(name_in)) {}  // NOLINT: {"model"} reads well

  std::string name;        // "model" for --model
  bool takes_value;        // false: a boolean flag
  std::string short_name;  // "n" for -n, optional
};

class ParsedArgs {
 public:
  static Result<ParsedArgs> Parse(const std::vector<std::string>& args, const std::vector<OptionSpec>& specs);

  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  std::optional<std::string> Get(const std::string& name) const;
  std::string GetOr(const std::string& name, const std::string& fallback) const;
  // Returns every value a repeatable option was given, in order (Get returns the last).
  std::vector<std::string> GetAll(const std::string& name) const;
  // Parses an integer option; errors name the option.
  Result<std::optional<int64_t>> GetInt(const std::string& name) const;
  // Parses a finite decimal number option; errors name the option.
  Result<std::optional<double>> GetDouble(const std::string& name) const;
  // The --threads option as a ThreadPool size: 0 (one per hardware thread) when
  // absent; InvalidArgument outside [0, 1024].
  Result<int> GetThreads() const;
  // The --device option (cpu or cuda); cpu when absent.
  Result<DeviceKind> GetDevice() const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::string> values_;
  std::map<std::string, std::vector<std::string>> all_values_;
  std::vector<std::string> positional_;
};

// "5GB", "200MB", "64KiB", "1000": decimal units as transformers' max_shard_size
// reads them, binary ones with an i. Must be positive.
Result<uint64_t> ParseByteSize(const std::string& text);

}  // namespace fathom::cli

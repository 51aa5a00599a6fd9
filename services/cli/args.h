#pragma once
// A small command-line parser for the `smartbus` subcommands: positional arguments, `--name
// value`, `--name=value` and boolean `--flag`. Repeated options keep every value.

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace smartbus::cli {

class Args {
 public:
  // `flags` names the options that take no value (e.g. "json"). Any other `--name` takes one.
  static absl::StatusOr<Args> Parse(int argc, char** argv, const std::set<std::string>& flags);

  const std::vector<std::string>& positional() const { return positional_; }
  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  // The last value given for `name`, or `def`.
  std::string Get(const std::string& name, const std::string& def = "") const;
  std::vector<std::string> GetAll(const std::string& name) const;
  // Fails with a message naming the option when the value is not a number.
  absl::StatusOr<double> GetDouble(const std::string& name, double def) const;
  absl::StatusOr<int64_t> GetInt(const std::string& name, int64_t def) const;
  // Fails naming the first option that is not in `known`.
  absl::Status CheckKnown(const std::set<std::string>& known) const;

 private:
  std::vector<std::string> positional_;
  std::map<std::string, std::vector<std::string>> values_;
};

// Parses the arguments of a command whose `usage` text starts "usage: " and ends in a newline:
// `flags` take no value, `known` are the options that take one (--help is added). --help prints
// the usage to stdout (*exit_code 0); a malformed or unknown option prints "smartbus CMD:
// <problem>" and the usage to stderr (*exit_code 2); both return false.
bool ParseCommandArgs(const char* cmd, const char* usage, int argc, char** argv,
                      std::set<std::string> flags, std::set<std::string> known, Args* out,
                      int* exit_code);

}  // namespace smartbus::cli

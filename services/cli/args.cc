#include "services/cli/args.h"

#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace smartbus::cli {

absl::StatusOr<Args> Args::Parse(int argc, char** argv, const std::set<std::string>& flags) {
  Args a;
  for (int i = 0; i < argc; ++i) {
    std::string s = argv[i];
    if (s.size() > 2 && s.rfind("--", 0) == 0) {
      std::string name = s.substr(2);
      auto eq = name.find('=');
      if (eq != std::string::npos) {
        a.values_[name.substr(0, eq)].push_back(name.substr(eq + 1));
      } else if (flags.count(name)) {
        a.values_[name].push_back("true");
      } else {
        if (i + 1 >= argc) return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
        a.values_[name].push_back(argv[++i]);
      }
    } else {
      a.positional_.push_back(s);
    }
  }
  return a;
}

std::string Args::Get(const std::string& name, const std::string& def) const {
  auto it = values_.find(name);
  return it == values_.end() ? def : it->second.back();
}

std::vector<std::string> Args::GetAll(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

namespace {

// The last value of --name read by parse(text, &value), or `def`; the error names `what` it
// should have been.
template <typename T, typename Parse>
absl::StatusOr<T> GetNumber(const Args& a, const std::string& name, T def, Parse parse,
                            const char* what) {
  if (!a.Has(name)) return def;
  T v;
  if (!parse(a.Get(name), &v))
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, ": not ", what, ": '", a.Get(name), "'"));
  return v;
}

}  // namespace

absl::StatusOr<double> Args::GetDouble(const std::string& name, double def) const {
  return GetNumber(*this, name, def,
                   [](absl::string_view s, double* v) { return absl::SimpleAtod(s, v); },
                   "a number");
}

absl::StatusOr<int64_t> Args::GetInt(const std::string& name, int64_t def) const {
  return GetNumber(*this, name, def,
                   [](absl::string_view s, int64_t* v) { return absl::SimpleAtoi(s, v); },
                   "an integer");
}

absl::Status Args::CheckKnown(const std::set<std::string>& known) const {
  for (const auto& [name, v] : values_) {
    if (!known.count(name)) return absl::InvalidArgumentError(absl::StrCat("unknown option --", name));
  }
  return absl::OkStatus();
}

bool ParseCommandArgs(const char* cmd, const char* usage, int argc, char** argv,
                      std::set<std::string> flags, std::set<std::string> known, Args* out,
                      int* exit_code) {
  flags.insert("help");
  known.insert(flags.begin(), flags.end());
  auto a = Args::Parse(argc, argv, flags);
  if (a.ok() && a->Has("help")) {
    std::fprintf(stdout, "%s", usage);
    *exit_code = 0;
    return false;
  }
  if (absl::Status s = a.ok() ? a->CheckKnown(known) : a.status(); !s.ok()) {
    std::fprintf(stderr, "smartbus %s: %s\n%s", cmd, std::string(s.message()).c_str(), usage);
    *exit_code = 2;
    return false;
  }
  *out = *std::move(a);
  return true;
}

}  // namespace smartbus::cli

#include "services/jt808/registry.h"

#include <fstream>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace smartbus::jt808 {
namespace {

bool AllDigits(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

std::string NewAuthCode(uint64_t n) {
  static constexpr char kAlphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  std::random_device rd;
  std::mt19937_64 rng((uint64_t{rd()} << 32) ^ rd() ^ n);
  std::string code;
  for (int i = 0; i < 8; ++i) code.push_back(kAlphabet[rng() % (sizeof(kAlphabet) - 1)]);
  return code;
}

}  // namespace

std::string TerminalRegistry::NormalisePhone(absl::string_view d) {
  size_t i = 0;
  while (i + 1 < d.size() && d[i] == '0') ++i;
  return std::string(d.substr(i));
}

absl::StatusOr<std::unique_ptr<TerminalRegistry>> TerminalRegistry::Open(const std::string& path,
                                                                         bool auto_register) {
  std::unique_ptr<TerminalRegistry> r(new TerminalRegistry(path, auto_register));
  if (path.empty()) return r;
  std::ifstream in(path);
  if (!in) {
    if (auto_register) return r;  // created on the first registration
    return absl::NotFoundError(absl::StrCat("terminal registry ", path, ": cannot open"));
  }
  std::string line;
  int n = 0;
  MutexLock lock(r->mu_);  // not shared yet; taken for the analysis (ABSL_GUARDED_BY)
  while (std::getline(in, line)) {
    ++n;
    absl::string_view l = absl::StripAsciiWhitespace(line);
    if (l.empty() || l[0] == '#') continue;
    std::vector<std::string> c = absl::StrSplit(l, absl::ByAnyChar("\t "), absl::SkipEmpty());
    if (c.size() < 4 || c.size() > 5)
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", n, ": ", c.size(),
                       " columns, expected phone vehicle_id plate auth_code [agency]"));
    if (!AllDigits(c[0]))
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", n, ": phone \"", c[0], "\" is not digits"));
    Terminal t{NormalisePhone(c[0]), c[1], c[2], c[3], c.size() > 4 ? c[4] : ""};
    r->by_phone_[t.phone] = std::move(t);  // a later line replaces an earlier one (Put appends)
  }
  return r;
}

std::optional<Terminal> TerminalRegistry::Find(absl::string_view phone) const {
  MutexLock lock(mu_);
  auto it = by_phone_.find(NormalisePhone(phone));
  if (it == by_phone_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<Terminal> TerminalRegistry::Register(absl::string_view phone,
                                                    absl::string_view plate) {
  const std::string p = NormalisePhone(phone);
  MutexLock lock(mu_);
  auto it = by_phone_.find(p);
  if (it != by_phone_.end()) return it->second;
  if (!auto_register_)
    return absl::NotFoundError(absl::StrCat("terminal ", p,
                                            " is not in the registry (--jt808_registry); "
                                            "add it or run with --jt808_auto_register"));
  std::string plate_id(plate);
  for (char& c : plate_id)
    if (c == ' ' || c == '\t') c = '_';
  Terminal t{p, absl::StrCat("jt808-", p), plate_id.empty() ? "-" : plate_id,
             NewAuthCode(++codes_issued_), ""};
  absl::Status s = AppendLocked(t);
  by_phone_.emplace(p, t);
  if (!s.ok()) return s;
  return t;
}

absl::Status TerminalRegistry::Put(const Terminal& t0) {
  Terminal t = t0;
  t.phone = NormalisePhone(t.phone);
  if (!AllDigits(t.phone) || t.vehicle_id.empty() || t.auth_code.empty())
    return absl::InvalidArgumentError(
        absl::StrCat("terminal ", t.phone, ": phone digits, vehicle id and auth code required"));
  MutexLock lock(mu_);
  by_phone_[t.phone] = t;
  return AppendLocked(t);
}

size_t TerminalRegistry::size() const {
  MutexLock lock(mu_);
  return by_phone_.size();
}

absl::Status TerminalRegistry::AppendLocked(const Terminal& t) {
  if (path_.empty()) return absl::OkStatus();
  std::ofstream out(path_, std::ios::app);
  out << t.phone << '\t' << t.vehicle_id << '\t' << t.plate << '\t' << t.auth_code;
  if (!t.agency.empty()) out << '\t' << t.agency;
  out << '\n';
  if (!out)
    return absl::UnavailableError(absl::StrCat("terminal registry ", path_, ": cannot write"));
  return absl::OkStatus();
}

}  // namespace smartbus::jt808

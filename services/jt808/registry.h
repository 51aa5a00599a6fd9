#pragma once
// The terminal registry of the JT/T 808 gateway: terminal phone number -> vehicle id, plate and
// auth code. Backed by a tab-separated file, one terminal per line:
//
//   # phone        vehicle_id   plate      auth_code   [agency]
//   013912345678   bus-101      SB-101     k3J9x2      metro
//
// The optional agency binds the terminal to that agency's ingest token at the gateway
// (smartbus-jt808 --agency_tokens): its fixes go to smartbusd with that token only, so a terminal
// registered for one agency cannot report for another agency's buses (smartbusd refuses fixes
// outside a token's agency= / vehicles= scope). No agency: the gateway's own --token.
// `#` starts a comment; a later line for a phone replaces an earlier one; the phone is the header's BCD digits with leading zeros removed (so
// 2013 and 2019 headers of one terminal match). Unknown terminals are refused registration
// (0x8100 result 4 "terminal not in database") unless auto-registration is on: then the terminal
// gets vehicle id "jt808-<phone>", its plate from the 0x0100 body and a fresh auth code, and the
// line is appended to the file (when there is one).
//
// Thread safety: every method may be called from any thread.

#include <cstdint>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "services/core/common/mutex.h"

namespace smartbus::jt808 {

struct Terminal {
  std::string phone;       // digits, no leading zeros
  std::string vehicle_id;
  std::string plate;
  std::string auth_code;
  std::string agency;      // "" = the gateway's default token
};

class TerminalRegistry {
 public:
  // Reads `path` ("" = an empty registry kept in memory). INVALID_ARGUMENT names the file, line
  // and problem (missing column, non-digit phone); a missing file is NOT_FOUND.
  static absl::StatusOr<std::unique_ptr<TerminalRegistry>> Open(const std::string& path,
                                                               bool auto_register);
  // Digits without leading zeros ("013912345678" -> "13912345678").
  static std::string NormalisePhone(absl::string_view bcd_digits);

  std::optional<Terminal> Find(absl::string_view phone) const;
  // Registration of `phone`: the known terminal, or (auto-registration) a new one (no agency),
  // appended to the file. NOT_FOUND when unknown and auto-registration is off.
  absl::StatusOr<Terminal> Register(absl::string_view phone, absl::string_view plate);
  // Adds or replaces a terminal (tests, tools); appended to the file.
  absl::Status Put(const Terminal& t);
  size_t size() const;
  bool auto_register() const { return auto_register_; }

 private:
  TerminalRegistry(std::string path, bool auto_register)
      : path_(std::move(path)), auto_register_(auto_register) {}
  absl::Status AppendLocked(const Terminal& t) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  const bool auto_register_;
  mutable Mutex mu_;  // also serializes the appends to the file
  absl::flat_hash_map<std::string, Terminal> by_phone_ ABSL_GUARDED_BY(mu_);
  uint64_t codes_issued_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace smartbus::jt808

#pragma once
// JT/T 808 frame codec (2011/2013 and 2019 layouts): a pure library, no I/O.
//
//   wire bytes --Deframer--> escaped frame contents (between two 0x7E flags)
//              --Unescape--> header | body | check code
//              --DecodeFrame--> Frame (header fields, body bytes), check code and length verified
//   Frame bodies: see messages.h (0x0100, 0x0102, 0x0002, 0x0200, 0x0704, 0x0003; 0x8001/0x8100).
//   EncodeFrame builds a wire frame (check code, escapes, flags) for any message id.
//
// Facts and quirks: ../shared/data/jt808-samples/README.md ("Protocol summary", "Quirks").
// Tolerances (each counted in DecodeStats so a gateway can report them):
//   - 0x7D followed by a byte other than 0x01/0x02 is kept as data (real terminals send it);
//   - bit 14 set with a 2013 header (a vendor bug): when the 2019 reading of the header does not
//     fit the declared body length and the 2013 reading does, the frame is read as 2013;
//   - a frame whose escapes were already removed (published de-escaped, or a terminal that does
//     not escape) is accepted when the check code only verifies without un-escaping.
// Errors name the problem ("check code 0xEF, computed 0x2D"); nothing here throws or aborts on
// any input (fuzz/jt808_frame_fuzz.cc).
//
// Thread safety: free functions are pure; a Deframer or Reassembler belongs to one connection.

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace smartbus::jt808 {

using Bytes = std::vector<uint8_t>;

inline constexpr uint8_t kFlag = 0x7E;
inline constexpr uint8_t kEscape = 0x7D;
// A 10-bit body length field: at most 1023 body bytes per packet.
inline constexpr size_t kMaxBodyLength = 1023;
// Longest escaped frame content a Deframer keeps: a 2019 subpackage header (21) + body (1023) +
// check code (1), every byte escaped (x2). Longer runs without a flag are garbage.
inline constexpr size_t kMaxEscapedFrame = 2 * (21 + kMaxBodyLength + 1);

// Message ids this library knows.
enum MsgId : uint16_t {
  kTerminalResponse = 0x0001,
  kHeartbeat = 0x0002,
  kLogout = 0x0003,
  kRegister = 0x0100,
  kAuthenticate = 0x0102,
  kLocation = 0x0200,
  kBatchLocation = 0x0704,
  kPlatformResponse = 0x8001,
  kRegisterResponse = 0x8100,
};

// 0x8001 result codes.
enum class Result : uint8_t {
  kSuccess = 0,
  kFailure = 1,
  kMessageError = 2,
  kNotSupported = 3,
  kAlarmConfirmed = 4,
};

// 0x8100 result codes.
enum class RegisterResult : uint8_t {
  kSuccess = 0,
  kVehicleRegistered = 1,
  kVehicleUnknown = 2,
  kTerminalRegistered = 3,
  kTerminalUnknown = 4,
};

struct Header {
  uint16_t msg_id = 0;
  uint16_t body_length = 0;     // bits 0-9 of the body properties
  uint8_t encryption = 0;       // bits 10-12 (0 none, 1 RSA)
  bool subpackage = false;      // bit 13
  bool v2019 = false;           // bit 14 AND the frame has the 2019 header
  bool v2019_flag_nonstd = false;  // bit 14 set but the header is 2013 (vendor quirk)
  uint8_t protocol_version = 0; // 2019 only
  std::string phone;            // BCD digits as sent (12 or 20), leading zeros kept
  uint16_t serial = 0;
  uint16_t packet_total = 0;    // subpackage only
  uint16_t packet_index = 0;    // subpackage only (1-based)
};

struct Frame {
  Header header;
  Bytes body;
  uint8_t check_code = 0;
  bool raw_escapes = false;     // accepted only without un-escaping (de-escaped publication)
  bool odd_escapes = false;     // contained 0x7D followed by a byte other than 0x01/0x02
  bool header_ok = false;       // message id, phone and serial were read
};

// Splits a byte stream into frame contents (the escaped bytes between two 0x7E flags). Handles
// partial and several frames per read, "7E 7E" between frames and bytes before the first flag
// (skipped, counted). A content longer than kMaxEscapedFrame is dropped and counted.
class Deframer {
 public:
  // Calls on_frame(content) for every complete frame in `data` (content without the flags,
  // still escaped). Empty contents ("7E 7E") are not frames.
  void Feed(absl::Span<const uint8_t> data,
            const std::function<void(absl::Span<const uint8_t>)>& on_frame);
  uint64_t skipped_bytes() const { return skipped_bytes_; }
  uint64_t oversized() const { return oversized_; }
  size_t buffered() const { return buf_.size(); }

 private:
  Bytes buf_;
  bool in_frame_ = false;
  bool discarding_ = false;
  uint64_t skipped_bytes_ = 0;
  uint64_t oversized_ = 0;
};

// Un-escapes 7D 02 -> 7E and 7D 01 -> 7D; any other byte after 7D is kept as it is (and
// *odd is set when non-null). A trailing lone 7D is kept.
Bytes Unescape(absl::Span<const uint8_t> escaped, bool* odd = nullptr);
// Escapes 7E and 7D for the wire (no flags added).
void AppendEscaped(absl::Span<const uint8_t> raw, Bytes* out);

// XOR of every byte.
uint8_t CheckCode(absl::Span<const uint8_t> bytes);

// Decodes one frame content (as the Deframer gives it: escaped, no flags) into *frame.
// INVALID_ARGUMENT with a message naming the problem: too short, check code mismatch, body length
// mismatch. Even then frame->header holds what could be read (header_ok() says whether message
// id, phone and serial are usable, so the terminal can be answered "message error").
// Encrypted bodies are returned as sent (header.encryption != 0; the caller answers "not
// supported").
absl::Status DecodeFrame(absl::Span<const uint8_t> escaped_content, Frame* frame);
// The same from bytes already un-escaped (header | body | check code).
absl::Status DecodeUnescaped(absl::Span<const uint8_t> raw, Frame* frame);

// Builds a wire frame (7E ... 7E) for header + body: sets body length (and the subpackage and
// 2019 bits from the header), computes the check code, escapes. Bodies longer than
// kMaxBodyLength are INVALID_ARGUMENT (split them with the subpackage fields first).
absl::StatusOr<Bytes> EncodeFrame(const Header& header, absl::Span<const uint8_t> body);

// Packs a phone number (decimal digits) into BCD of 6 (2013) or 10 (2019) bytes, left-padded
// with zeros. INVALID_ARGUMENT for non-digits or too many digits.
absl::Status PackPhone(absl::string_view digits, bool v2019, Bytes* out);

// Reassembles subpackaged messages of one terminal connection. Packets of one message share
// msg_id and packet_total and have consecutive serials (first serial = serial - index + 1).
// At most max_pending messages are kept; the oldest is dropped (counted) beyond that.
class Reassembler {
 public:
  explicit Reassembler(size_t max_pending = 8) : max_pending_(max_pending) {}
  // A non-subpackage frame is returned as is. A subpackage returns the whole message (header of
  // the first packet, subpackage cleared, body concatenated) once every packet arrived,
  // otherwise nullopt-like empty status NOT_FOUND ("waiting for packet k of n").
  // INVALID_ARGUMENT for a packet index of 0 or above the total.
  absl::StatusOr<Frame> Add(Frame frame);
  uint64_t dropped() const { return dropped_; }

 private:
  struct Pending {
    Header first;
    std::vector<Bytes> parts;
    size_t received = 0;
    uint64_t order = 0;
  };
  size_t max_pending_;
  uint64_t next_order_ = 0;
  uint64_t dropped_ = 0;
  std::map<uint64_t, Pending> pending_;
};

// "0x0200".
std::string MsgIdName(uint16_t msg_id);
// Upper-case hex of bytes (for logs and errors).
std::string Hex(absl::Span<const uint8_t> bytes);
// Parses hex (spaces allowed); INVALID_ARGUMENT on an odd count or a non-hex character.
absl::StatusOr<Bytes> ParseHex(absl::string_view hex);

}  // namespace smartbus::jt808

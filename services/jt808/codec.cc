#include "services/jt808/codec.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace smartbus::jt808 {
namespace {

constexpr size_t kHeader2013 = 12;
constexpr size_t kHeader2019 = 17;
constexpr size_t kSubpackageFields = 4;

uint16_t HeaderWord(absl::Span<const uint8_t> b, size_t at) {
  return static_cast<uint16_t>((b[at] << 8) | b[at + 1]);
}

std::string BcdDigits(absl::Span<const uint8_t> b) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string s;
  s.reserve(b.size() * 2);
  for (uint8_t c : b) {
    s.push_back(kDigits[c >> 4]);
    s.push_back(kDigits[c & 0x0F]);
  }
  return s;
}

// Reads the header from `raw` (un-escaped, check code last) assuming the 2019 layout or not.
// Returns the header size.
size_t ReadHeader(absl::Span<const uint8_t> raw, bool as2019, Header* h) {
  const uint16_t props = HeaderWord(raw, 2);
  h->msg_id = HeaderWord(raw, 0);
  h->body_length = props & 0x03FF;
  h->encryption = static_cast<uint8_t>((props >> 10) & 0x07);
  h->subpackage = (props >> 13) & 1;
  h->v2019 = as2019;
  h->v2019_flag_nonstd = ((props >> 14) & 1) && !as2019;
  size_t at = 4;
  if (as2019) {
    h->protocol_version = raw[at++];
    h->phone = BcdDigits(raw.subspan(at, 10));
    at += 10;
  } else {
    h->protocol_version = 0;
    h->phone = BcdDigits(raw.subspan(at, 6));
    at += 6;
  }
  h->serial = HeaderWord(raw, at);
  at += 2;
  if (h->subpackage) {
    h->packet_total = HeaderWord(raw, at);
    h->packet_index = HeaderWord(raw, at + 2);
    at += kSubpackageFields;
  } else {
    h->packet_total = h->packet_index = 0;
  }
  return at;
}

size_t HeaderSize(bool as2019, bool subpackage) {
  return (as2019 ? kHeader2019 : kHeader2013) + (subpackage ? kSubpackageFields : 0);
}

}  // namespace

void Deframer::Feed(absl::Span<const uint8_t> data,
                    const std::function<void(absl::Span<const uint8_t>)>& on_frame) {
  for (uint8_t c : data) {
    if (c == kFlag) {
      if (in_frame_ && !discarding_ && !buf_.empty()) on_frame(buf_);
      // A flag both ends a frame and may start the next one ("7E ... 7E7E ... 7E" or a single
      // flag shared between frames by some terminals).
      buf_.clear();
      in_frame_ = true;
      discarding_ = false;
      continue;
    }
    if (!in_frame_) {
      ++skipped_bytes_;
      continue;
    }
    if (discarding_) {
      ++skipped_bytes_;
      continue;
    }
    if (buf_.size() >= kMaxEscapedFrame) {
      ++oversized_;
      skipped_bytes_ += buf_.size() + 1;
      buf_.clear();
      discarding_ = true;
      continue;
    }
    buf_.push_back(c);
  }
}

Bytes Unescape(absl::Span<const uint8_t> escaped, bool* odd) {
  Bytes out;
  out.reserve(escaped.size());
  for (size_t i = 0; i < escaped.size(); ++i) {
    const uint8_t c = escaped[i];
    if (c == kEscape && i + 1 < escaped.size()) {
      const uint8_t n = escaped[i + 1];
      if (n == 0x02) {
        out.push_back(kFlag);
        ++i;
        continue;
      }
      if (n == 0x01) {
        out.push_back(kEscape);
        ++i;
        continue;
      }
      if (odd) *odd = true;
    }
    out.push_back(c);
  }
  return out;
}

void AppendEscaped(absl::Span<const uint8_t> raw, Bytes* out) {
  for (uint8_t c : raw) {
    if (c == kFlag) {
      out->push_back(kEscape);
      out->push_back(0x02);
    } else if (c == kEscape) {
      out->push_back(kEscape);
      out->push_back(0x01);
    } else {
      out->push_back(c);
    }
  }
}

uint8_t CheckCode(absl::Span<const uint8_t> bytes) {
  uint8_t x = 0;
  for (uint8_t c : bytes) x ^= c;
  return x;
}

absl::Status DecodeUnescaped(absl::Span<const uint8_t> raw, Frame* f) {
  f->header_ok = false;
  if (raw.size() < kHeader2013 + 1)
    return absl::InvalidArgumentError(absl::StrCat(
        "frame too short: ", raw.size(), " bytes, a header and check code need at least ",
        kHeader2013 + 1));
  const size_t n = raw.size() - 1;  // without the check code
  const uint16_t props = HeaderWord(raw, 2);
  const bool flag2019 = (props >> 14) & 1;
  const bool sub = (props >> 13) & 1;
  const size_t declared = props & 0x03FF;
  // Which header layout: bit 14 says 2019, unless only the 2013 reading fits the length.
  bool as2019 = flag2019;
  if (flag2019) {
    const size_t h19 = HeaderSize(true, sub), h13 = HeaderSize(false, sub);
    const bool fits19 = n >= h19 && n - h19 == declared;
    const bool fits13 = n >= h13 && n - h13 == declared;
    if (!fits19 && fits13) as2019 = false;
  }
  const size_t hsize = HeaderSize(as2019, sub);
  if (n < hsize)
    return absl::InvalidArgumentError(absl::StrCat("frame too short for its ",
                                                   as2019 ? "2019" : "2013", " header: ", n,
                                                   " bytes before the check code, header ",
                                                   hsize));
  ReadHeader(raw, as2019, &f->header);
  f->header_ok = true;
  f->check_code = raw[n];
  const uint8_t computed = CheckCode(raw.subspan(0, n));
  if (computed != f->check_code) {
    // The body is still given when the length fits (a caller may read a frame whose phone was
    // masked, as SmallChi's SkipCRCCode does); the status says the frame is bad.
    if (n - hsize == declared)
      f->body.assign(raw.begin() + static_cast<ptrdiff_t>(hsize),
                     raw.begin() + static_cast<ptrdiff_t>(n));
    return absl::InvalidArgumentError(absl::StrFormat(
        "check code 0x%02X, computed 0x%02X (message %s, serial %d)", f->check_code, computed,
        MsgIdName(f->header.msg_id), f->header.serial));
  }
  if (n - hsize != declared)
    return absl::InvalidArgumentError(absl::StrCat(
        "body length: header declares ", declared, " bytes, the frame has ", n - hsize,
        " (message ", MsgIdName(f->header.msg_id), ")"));
  f->body.assign(raw.begin() + static_cast<ptrdiff_t>(hsize),
                 raw.begin() + static_cast<ptrdiff_t>(n));
  return absl::OkStatus();
}

absl::Status DecodeFrame(absl::Span<const uint8_t> escaped, Frame* f) {
  bool odd = false;
  const Bytes raw = Unescape(escaped, &odd);
  absl::Status s = DecodeUnescaped(raw, f);
  f->odd_escapes = odd;
  f->raw_escapes = false;
  if (s.ok() || raw.size() == escaped.size()) return s;
  // Quirk: bytes that were never escaped (a 7D 01/7D 02 that is data). Accept the frame when it
  // verifies as sent.
  Frame alt;
  if (DecodeUnescaped(escaped, &alt).ok()) {
    *f = std::move(alt);
    f->raw_escapes = true;
    return absl::OkStatus();
  }
  return s;
}

absl::Status PackPhone(absl::string_view digits, bool v2019, Bytes* out) {
  const size_t width = v2019 ? 20 : 12;
  if (digits.empty() || digits.size() > width)
    return absl::InvalidArgumentError(absl::StrCat("phone \"", digits, "\": 1..", width,
                                                   " digits for a ", v2019 ? "2019" : "2013",
                                                   " header"));
  for (char c : digits)
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c)))
      return absl::InvalidArgumentError(absl::StrCat("phone \"", digits, "\": digits only"));
  std::string padded(width - digits.size(), '0');
  padded.append(digits.data(), digits.size());
  for (size_t i = 0; i < width; i += 2)
    out->push_back(static_cast<uint8_t>(((padded[i] - '0') << 4) | (padded[i + 1] - '0')));
  return absl::OkStatus();
}

absl::StatusOr<Bytes> EncodeFrame(const Header& h, absl::Span<const uint8_t> body) {
  if (body.size() > kMaxBodyLength)
    return absl::InvalidArgumentError(absl::StrCat("body of ", body.size(),
                                                   " bytes: at most ", kMaxBodyLength,
                                                   " per packet (split into subpackages)"));
  Bytes raw;
  raw.reserve(kHeader2019 + kSubpackageFields + body.size() + 1);
  raw.push_back(static_cast<uint8_t>(h.msg_id >> 8));
  raw.push_back(static_cast<uint8_t>(h.msg_id));
  uint16_t props = static_cast<uint16_t>(body.size()) |
                   static_cast<uint16_t>((h.encryption & 0x07) << 10);
  if (h.subpackage) props |= 1 << 13;
  if (h.v2019) props |= 1 << 14;
  raw.push_back(static_cast<uint8_t>(props >> 8));
  raw.push_back(static_cast<uint8_t>(props));
  if (h.v2019) raw.push_back(h.protocol_version ? h.protocol_version : 1);
  absl::Status s = PackPhone(h.phone, h.v2019, &raw);
  if (!s.ok()) return s;
  raw.push_back(static_cast<uint8_t>(h.serial >> 8));
  raw.push_back(static_cast<uint8_t>(h.serial));
  if (h.subpackage) {
    for (uint16_t w : {h.packet_total, h.packet_index}) {
      raw.push_back(static_cast<uint8_t>(w >> 8));
      raw.push_back(static_cast<uint8_t>(w));
    }
  }
  raw.insert(raw.end(), body.begin(), body.end());
  raw.push_back(CheckCode(raw));
  Bytes out;
  out.reserve(raw.size() + 8);
  out.push_back(kFlag);
  AppendEscaped(raw, &out);
  out.push_back(kFlag);
  return out;
}

absl::StatusOr<Frame> Reassembler::Add(Frame f) {
  const Header& h = f.header;
  if (!h.subpackage) return f;
  if (h.packet_total == 0 || h.packet_index == 0 || h.packet_index > h.packet_total)
    return absl::InvalidArgumentError(absl::StrCat("subpackage ", h.packet_index, " of ",
                                                   h.packet_total, ": index must be 1..total"));
  const uint16_t first_serial = static_cast<uint16_t>(h.serial - (h.packet_index - 1));
  const uint64_t key = (uint64_t{h.msg_id} << 32) | (uint64_t{h.packet_total} << 16) |
                       first_serial;
  auto it = pending_.find(key);
  if (it == pending_.end()) {
    if (pending_.size() >= max_pending_) {
      auto oldest = std::min_element(pending_.begin(), pending_.end(), [](auto& a, auto& b) {
        return a.second.order < b.second.order;
      });
      pending_.erase(oldest);
      ++dropped_;
    }
    it = pending_.emplace(key, Pending{}).first;
    it->second.parts.resize(h.packet_total);
    it->second.order = next_order_++;
  }
  Pending& p = it->second;
  Bytes& slot = p.parts[h.packet_index - 1];
  if (slot.empty() && !f.body.empty()) ++p.received;
  if (h.packet_index == 1) p.first = h;
  slot = std::move(f.body);
  if (p.received < h.packet_total)
    return absl::NotFoundError(absl::StrCat("waiting for ", h.packet_total - p.received,
                                            " more packets of ", h.packet_total));
  Frame whole;
  whole.header = p.first;
  whole.header.subpackage = false;
  whole.header.packet_total = whole.header.packet_index = 0;
  whole.header_ok = true;
  for (const Bytes& part : p.parts) whole.body.insert(whole.body.end(), part.begin(), part.end());
  whole.header.body_length = static_cast<uint16_t>(std::min<size_t>(whole.body.size(), 0xFFFF));
  pending_.erase(it);
  return whole;
}

std::string MsgIdName(uint16_t msg_id) { return absl::StrFormat("0x%04X", msg_id); }

std::string Hex(absl::Span<const uint8_t> bytes) {
  std::string s;
  s.reserve(bytes.size() * 2);
  for (uint8_t c : bytes) absl::StrAppendFormat(&s, "%02X", c);
  return s;
}

absl::StatusOr<Bytes> ParseHex(absl::string_view hex) {
  Bytes out;
  int hi = -1;
  for (size_t i = 0; i < hex.size(); ++i) {
    const char c = hex[i];
    if (c == ' ') continue;
    int v;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      v = c - 'A' + 10;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("hex: character '", std::string(1, c),
                                                     "' at ", i, " is not a hex digit"));
    }
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<uint8_t>(hi << 4 | v));
      hi = -1;
    }
  }
  if (hi >= 0) return absl::InvalidArgumentError("hex: odd number of digits");
  return out;
}

}  // namespace smartbus::jt808

#pragma once
// A JT/T 808 terminal over one TCP connection, on a caller's Boost.Asio io_context: what
// `smartbus sim --jt808` and bench/jt808 drive. Start() connects, registers (0x0100), and
// authenticates (0x0102) with the code the platform returned; then Send* send messages and call
// back with the 0x8001 result of each (matched by serial).
//
// Thread safety: one terminal is used from its io_context's thread(s) only (callbacks run
// there); Send* may be called from any thread (they post to the executor).

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include <utility>  // before Boost 1.74 asio: its awaitable.hpp uses std::exchange

#include <boost/asio.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "services/jt808/messages.h"

namespace smartbus::jt808 {

struct TerminalOptions {
  std::string phone;        // digits
  bool v2019 = false;       // 2019 header layout
  std::string plate;        // 0x0100 plate (ASCII)
  std::string terminal_id;  // 0x0100 terminal id (<= 7 bytes in 2013)
};

class Terminal808 : public std::enable_shared_from_this<Terminal808> {
 public:
  // Result of a message: the 0x8001 result byte, or -1 when the connection failed first.
  using ResultCallback = std::function<void(int result)>;

  Terminal808(boost::asio::any_io_executor executor, TerminalOptions options);
  // Connects, registers and authenticates; ready(OK) once authenticated, else the reason
  // (connection refused, registration result, authentication failure).
  void Start(const boost::asio::ip::tcp::endpoint& gateway,
             std::function<void(absl::Status)> ready);
  void SendLocation(const Location& loc, ResultCallback done);
  void SendBatch(uint8_t type, std::vector<Location> items, ResultCallback done);
  void SendHeartbeat(ResultCallback done);
  void SendRaw(uint16_t msg_id, Bytes body, ResultCallback done);
  void Close();
  bool ready() const { return ready_; }
  const std::string& auth_code() const { return auth_code_; }

 private:
  void Read();
  void OnFrame(absl::Span<const uint8_t> content);
  void Write(Bytes wire);
  void WriteFront();
  void Fail(const absl::Status& s);

  boost::asio::ip::tcp::socket socket_;
  TerminalOptions opt_;
  std::function<void(absl::Status)> ready_cb_;
  uint8_t buf_[2048];
  Deframer deframer_;
  std::deque<Bytes> out_;
  uint16_t serial_ = 0;
  bool ready_ = false;
  std::string auth_code_;
  absl::flat_hash_map<uint16_t, ResultCallback> waiting_;  // by serial
};

}  // namespace smartbus::jt808

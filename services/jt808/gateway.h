#pragma once
// The JT/T 808 gateway: a TCP server (Boost.Asio, a few I/O threads, no thread per terminal)
// that speaks JT/T 808 with bus terminals and hands their positions to a FixSink (smartbusd's
// IngestService in smartbus-jt808, a fake in tests).
//
// Per connection: Deframer -> DecodeFrame -> Reassembler -> message handling; every message is
// answered:
//   0x0100 register      -> 0x8100 (0 + auth code; 4 "terminal not in database" when the
//                           registry does not know it and auto-registration is off)
//   0x0102 authenticate  -> 0x8001 success, or failure (wrong code / unknown terminal)
//   0x0002 heartbeat, 0x0003 logout, 0x0001 terminal response -> 0x8001 success
//   0x0200 location, 0x0704 batch -> 0x8001 after smartbusd processed the fixes (tracked,
//                           predicted, queued for the store): success; failure when smartbusd
//                           was saturated (the terminal resends) or the terminal has not
//                           authenticated; message error for a body that cannot be read
//   any other id         -> 0x8001 "not supported" (3)
//   a frame with a bad check code or length -> 0x8001 "message error" (2) when its header can
//                           be read, counted in GatewayStats::bad_frames either way.
// Who may report for which bus: a terminal authenticates (0x0102) with the auth code the
// registry holds for its phone (issued in its 0x8100); its positions are the registry's
// vehicle's, never an id it sends. On an authenticated connection, frames carrying another
// terminal's phone are refused (0x8001 failure, phone_mismatch); after max_failed_auth wrong
// codes the connection is closed (auth_lockouts). A terminal whose registry line names an agency
// reports through that agency's sink only (AddAgencySink: smartbus-jt808 gives each agency its
// own ingest token, which smartbusd binds to that agency's vehicles); an agency without a sink is
// refused at authentication (refused_agency). Fixes smartbusd refuses (the token does not cover
// the vehicle: reason kRefusedReason) are answered failure and counted in fixes_refused. Every
// refusal is counted and logged (GatewayOptions::log, at most one line per second of each kind,
// with the number left out).
// Replies use the request's header layout (2013 or 2019) and the gateway's own serial per
// connection. Positions without a GNSS fix (status bit 1 clear, time or coordinates zero) are
// answered success and not forwarded (counted as unpositioned).
//
// Thread safety: Start/Stop from one thread; stats() from any.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "services/core/tracking/types.h"
#include "services/jt808/messages.h"
#include "services/jt808/registry.h"

namespace smartbus::jt808 {

// FixSink reason: smartbusd refused the whole request (UNAUTHENTICATED / PERMISSION_DENIED).
inline constexpr uint8_t kRefusedReason = 255;

// Where the gateway's fixes go.
class FixSink {
 public:
  virtual ~FixSink() = default;
  // Hands `fixes` on; `done(reasons)` runs exactly once, on any thread, with one entry per fix:
  // 0 accepted, otherwise the ingest RejectReason number (8 = overloaded: not processed), or
  // kRefusedReason when smartbusd refused the request (token or scope: not processed).
  virtual void Submit(std::vector<Fix> fixes,
                      std::function<void(std::vector<uint8_t> reasons)> done) = 0;
};

struct GatewayOptions {
  // Address and port to listen on; port 0 picks a free one (see Gateway::port()). Default
  // 0.0.0.0:6808 (no IANA port; 6808 is what the demo uses).
  std::string listen_host = "0.0.0.0";
  int listen_port = 6808;
  // I/O threads. Default 1 (one thread serves 10,000 terminals reporting every 10 s with room to
  // spare: bench/RESULTS.md "JT/T 808 gateway").
  int threads = 1;
  // A connection that sends nothing for this long is closed (JT/T 808 terminals send a
  // heartbeat every 60 s by default, so 3 missed heartbeats). Seconds. Default 180.
  int idle_timeout_s = 180;
  // Positions are forwarded only after 0x0102 authentication succeeded. Default true.
  bool require_auth = true;
  // Wrong auth codes one connection may send before it is closed. Default 3 (a terminal that
  // lost its code re-registers instead; guessing 8 characters of 32 needs ~10^12 tries).
  int max_failed_auth = 3;
  // Where refusals are told (at most one line per second of each kind); may be empty.
  std::function<void(const std::string&)> log;
};

struct GatewayStats {
  std::atomic<uint64_t> connections{0};       // accepted since start
  std::atomic<int64_t> open_connections{0};
  std::atomic<uint64_t> frames{0};            // frames that decoded
  std::atomic<uint64_t> bad_frames{0};        // check code, length, too short
  std::atomic<uint64_t> bad_bodies{0};        // a body that could not be read
  std::atomic<uint64_t> unsupported{0};       // answered "not supported"
  std::atomic<uint64_t> refused_registrations{0};
  std::atomic<uint64_t> failed_auth{0};
  std::atomic<uint64_t> unauthenticated{0};   // positions from a terminal not authenticated
  std::atomic<uint64_t> phone_mismatch{0};    // frames of another phone on an authenticated connection
  std::atomic<uint64_t> auth_lockouts{0};     // connections closed after max_failed_auth wrong codes
  std::atomic<uint64_t> refused_agency{0};    // authentications of a terminal whose agency has no sink
  std::atomic<uint64_t> fixes_refused{0};     // refused by smartbusd (token / scope)
  std::atomic<uint64_t> fixes_forwarded{0};
  std::atomic<uint64_t> fixes_accepted{0};
  std::atomic<uint64_t> fixes_rejected{0};    // by the engine (duplicate, invalid, ...)
  std::atomic<uint64_t> fixes_overloaded{0};
  std::atomic<uint64_t> unpositioned{0};
  std::atomic<uint64_t> replies{0};
};

// A position report as the Fix the engine takes (vehicle id from the registry). Direction and
// speed become bearing_deg and speed_mps; alarm/status flags and items the DeviceReport
// (mileage 1/10 km -> odometer_m, fuel 1/10 L -> fuel_l).
Fix ToFix(const Location& loc, const std::string& vehicle_id);
// Whether the report carries a usable position (GNSS fix, a time, not (0, 0)).
bool HasPosition(const Location& loc);

class Gateway {
 public:
  // `sink`: where terminals without an agency report (may be null when every terminal has one).
  Gateway(const GatewayOptions& options, TerminalRegistry* registry, FixSink* sink);
  ~Gateway();
  // The sink of the terminals whose registry line names `agency` (before Start).
  void AddAgencySink(const std::string& agency, FixSink* sink);
  // Binds and starts the I/O threads. UNAVAILABLE naming the address when it cannot bind.
  absl::Status Start();
  // Closes the listener and every connection, joins the threads. Idempotent.
  void Stop();
  int port() const;
  const GatewayStats& stats() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace smartbus::jt808

#pragma once
// `smartbus sim --jt808 ADDR`: the simulated fleet as JT/T 808 terminals, one TCP connection per
// bus (services/jt808/terminal.h): each registers (0x0100), authenticates (0x0102), reports its
// fixes as 0x0200 (status ACC on + positioned; mileage, fuel, signal and satellite items; the
// overspeed alarm bit while faster than --jt808-overspeed-kmh), sends a heartbeat when it has
// been quiet for a minute of wall time, and, for a simulated signal loss (--jt808-blind
// VEHICLE@HH:MM+MIN), keeps its fixes of that window and uploads them as a 0x0704 blind-area
// batch right after its first live report once the signal is back (so they arrive late).
//
// Terminal phone numbers: 13800000000 + the bus's index in the simulator's vehicle list;
// WriteRegistry writes the matching registry file for smartbus-jt808 --jt808_registry.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "services/core/sim/simulator.h"

namespace smartbus::cli {

struct Jt808SimOptions {
  std::string gateway;            // host:port
  bool v2019 = false;             // 2019 headers (default 2013, what most terminals send)
  double overspeed_kmh = 0;       // 0 = never raise the overspeed alarm
  std::string blind_vehicle;      // "" = no signal loss
  int64_t blind_start_s = 0;      // epoch s
  int64_t blind_duration_s = 0;
  bool quiet = false;
};

class Jt808Fleet {
 public:
  static absl::StatusOr<std::unique_ptr<Jt808Fleet>> Create(
      const Jt808SimOptions& options, const std::vector<SimVehicleInfo>& vehicles);
  ~Jt808Fleet();
  // Sends the fixes (timestamp order) as their terminals' reports; connects terminals on first
  // use. Does not wait for the answers.
  void Send(const std::vector<SimFix>& fixes);
  // Waits (at most timeout) for every answer, then closes the connections.
  void Close(absl::Duration timeout);
  int64_t sent() const;
  int64_t accepted() const;   // answered 0x8001 success
  int64_t failed() const;     // answered otherwise, or the connection failed

  // The registry lines (phone vehicle_id plate auth_code) for these vehicles.
  static absl::Status WriteRegistry(const std::string& path,
                                    const std::vector<SimVehicleInfo>& vehicles);
  static std::string Phone(size_t vehicle_index);

  class Impl;

 private:
  explicit Jt808Fleet(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Parses "VEHICLE@HH:MM+MIN" (time of the service day) into the options.
absl::Status ParseBlind(const std::string& spec, int64_t day_start_s, Jt808SimOptions* out);

}  // namespace smartbus::cli

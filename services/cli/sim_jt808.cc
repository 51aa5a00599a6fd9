#include "services/cli/sim_jt808.h"

#include <atomic>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/core/geo/geo.h"
#include "services/jt808/terminal.h"

namespace smartbus::cli {

namespace asio = boost::asio;
using jt808::Location;
using jt808::Terminal808;

namespace {

constexpr uint64_t kFirstPhone = 13800000000ULL;
// Simulated terminal items: a full tank, what a diesel city bus burns per km (about 0.4 L/km),
// a good mobile signal and a typical satellite count. Shown in fleet status; nothing depends
// on the values.
constexpr double kTankL = 250;
constexpr double kFuelPerKmL = 0.4;
constexpr uint8_t kSignal = 24;
constexpr uint8_t kSatellites = 12;
// A terminal quiet for this long (wall time) sends a heartbeat (JT/T 808 default interval).
constexpr auto kHeartbeatAfter = std::chrono::seconds(60);
// Items per 0x0704 batch: 20 items of ~48 bytes stay under the 1023-byte body limit.
constexpr size_t kBatchItems = 20;

struct TerminalState {
  std::shared_ptr<Terminal808> term;
  bool starting = false;
  std::vector<Location> queued;   // reports waiting for authentication
  double mileage_m = 0;
  LatLon last{NAN, NAN};
  std::vector<Location> held;     // blind-area reports not sent yet
  std::chrono::steady_clock::time_point last_send;
};

}  // namespace

class Jt808Fleet::Impl {
 public:
  Impl(const Jt808SimOptions& o, const std::vector<SimVehicleInfo>& vehicles)
      : opt_(o), work_(asio::make_work_guard(io_)), heartbeat_(io_) {
    for (size_t i = 0; i < vehicles.size(); ++i) index_[vehicles[i].vehicle_id] = i;
    states_.resize(vehicles.size());
    thread_ = std::thread([this] { io_.run(); });
    ArmHeartbeat();
  }
  ~Impl() {
    work_.reset();
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }

  absl::Status Resolve() {
    const size_t colon = opt_.gateway.rfind(':');
    int port = 0;
    if (colon == std::string::npos || !absl::SimpleAtoi(opt_.gateway.substr(colon + 1), &port))
      return absl::InvalidArgumentError(
          absl::StrCat("--jt808 ", opt_.gateway, ": expected host:port"));
    boost::system::error_code ec;
    asio::ip::tcp::resolver resolver(io_);
    auto results = resolver.resolve(opt_.gateway.substr(0, colon), std::to_string(port), ec);
    if (ec || results.empty())
      return absl::InvalidArgumentError(
          absl::StrCat("--jt808 ", opt_.gateway, ": ", ec ? ec.message() : "no address"));
    endpoint_ = results.begin()->endpoint();
    return absl::OkStatus();
  }

  void Send(const std::vector<SimFix>& fixes) {
    std::vector<std::pair<size_t, Fix>> batch;
    batch.reserve(fixes.size());
    for (const SimFix& f : fixes) {
      auto it = index_.find(f.fix.vehicle_id);
      if (it != index_.end()) batch.emplace_back(it->second, f.fix);
    }
    asio::post(io_, [this, batch = std::move(batch)] {
      for (const auto& [i, fix] : batch) Report(i, fix);
    });
  }

  void Close(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (outstanding_.load() > 0 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(20));
    asio::post(io_, [this] {
      heartbeat_.cancel();
      for (TerminalState& s : states_)
        if (s.term) s.term->Close();
    });
    absl::SleepFor(absl::Milliseconds(50));
  }

  std::atomic<int64_t> sent_{0}, accepted_{0}, failed_{0}, outstanding_{0};

 private:
  Location ToLocation(TerminalState& s, const Fix& f) {
    if (std::isfinite(s.last.lat)) s.mileage_m += GeodesicDistanceM(s.last, LatLon{f.lat, f.lon});
    s.last = LatLon{f.lat, f.lon};
    Location l;
    l.lat = f.lat;
    l.lon = f.lon;
    l.time_s = f.timestamp_s;
    const double kmh = std::isfinite(f.speed_mps) ? f.speed_mps * 3.6 : 0;
    l.speed_dkmh = static_cast<uint16_t>(std::lround(kmh * 10));
    l.direction = static_cast<uint16_t>(
        std::isfinite(f.bearing_deg) ? std::lround(f.bearing_deg) % 360 : 0);
    l.status = (1u << jt808::kStatusAccOn) | (1u << jt808::kStatusPositioned);
    if (opt_.overspeed_kmh > 0 && kmh > opt_.overspeed_kmh) l.alarm |= 1u << jt808::kAlarmOverspeedBit;
    l.mileage_hm = static_cast<uint32_t>(s.mileage_m / 100);
    l.fuel_dl = static_cast<uint16_t>(
        std::lround(std::max(0.0, kTankL - s.mileage_m / 1000 * kFuelPerKmL) * 10));
    l.signal_strength = kSignal;
    l.satellites = kSatellites;
    return l;
  }

  void Report(size_t i, const Fix& fix) {
    TerminalState& s = states_[i];
    Location l = ToLocation(s, fix);
    const bool blind = !opt_.blind_vehicle.empty() && fix.vehicle_id == opt_.blind_vehicle &&
                       fix.timestamp_s >= opt_.blind_start_s &&
                       fix.timestamp_s < opt_.blind_start_s + opt_.blind_duration_s;
    if (blind) {
      s.held.push_back(l);
      return;
    }
    if (!s.term) Connect(i);
    if (!s.term->ready()) {
      s.queued.push_back(l);
      return;
    }
    SendLocation(s, l);
    if (!s.held.empty()) UploadHeld(s);
  }

  void UploadHeld(TerminalState& s) {
    if (!opt_.quiet)
      std::fprintf(stderr, "sim: %s back from its signal loss: uploading %zu stored reports "
                   "(0x0704)\n", opt_.blind_vehicle.c_str(), s.held.size());
    for (size_t at = 0; at < s.held.size(); at += kBatchItems) {
      std::vector<Location> part(
          s.held.begin() + static_cast<ptrdiff_t>(at),
          s.held.begin() + static_cast<ptrdiff_t>(std::min(s.held.size(), at + kBatchItems)));
      const int64_t n = static_cast<int64_t>(part.size());
      sent_ += n;
      ++outstanding_;
      s.term->SendBatch(1, std::move(part), [this, n](int r) { Done(r, n); });
    }
    s.held.clear();
  }

  void SendLocation(TerminalState& s, const Location& l) {
    ++sent_;
    ++outstanding_;
    s.last_send = std::chrono::steady_clock::now();
    s.term->SendLocation(l, [this](int r) { Done(r, 1); });
  }

  void Done(int result, int64_t n) {
    (result == 0 ? accepted_ : failed_) += n;
    --outstanding_;
  }

  void Connect(size_t i) {
    TerminalState& s = states_[i];
    jt808::TerminalOptions to;
    to.phone = Jt808Fleet::Phone(i);
    to.v2019 = opt_.v2019;
    to.plate = absl::StrCat("SIM", i);
    to.terminal_id = absl::StrCat("T", i);
    s.term = std::make_shared<Terminal808>(io_.get_executor(), to);
    s.term->Start(endpoint_, [this, i](absl::Status st) {
      TerminalState& s = states_[i];
      if (!st.ok()) {
        std::fprintf(stderr, "sim: terminal %s: %s\n", Jt808Fleet::Phone(i).c_str(),
                     std::string(st.message()).c_str());
        failed_ += static_cast<int64_t>(s.queued.size());
        s.queued.clear();
        s.term.reset();  // the next report connects again
        return;
      }
      for (const Location& l : s.queued) SendLocation(s, l);
      s.queued.clear();
    });
  }

  void ArmHeartbeat() {
    heartbeat_.expires_after(std::chrono::seconds(20));
    heartbeat_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      const auto now = std::chrono::steady_clock::now();
      for (TerminalState& s : states_) {
        if (!s.term || !s.term->ready() || now - s.last_send < kHeartbeatAfter) continue;
        s.last_send = now;
        s.term->SendHeartbeat(nullptr);
      }
      ArmHeartbeat();
    });
  }

  Jt808SimOptions opt_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  asio::steady_timer heartbeat_;
  asio::ip::tcp::endpoint endpoint_;
  absl::flat_hash_map<std::string, size_t> index_;
  std::vector<TerminalState> states_;
  std::thread thread_;
};

absl::StatusOr<std::unique_ptr<Jt808Fleet>> Jt808Fleet::Create(
    const Jt808SimOptions& options, const std::vector<SimVehicleInfo>& vehicles) {
  auto impl = std::make_unique<Impl>(options, vehicles);
  if (absl::Status s = impl->Resolve(); !s.ok()) return s;
  return std::unique_ptr<Jt808Fleet>(new Jt808Fleet(std::move(impl)));
}

Jt808Fleet::Jt808Fleet(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Jt808Fleet::~Jt808Fleet() = default;
void Jt808Fleet::Send(const std::vector<SimFix>& fixes) { impl_->Send(fixes); }
void Jt808Fleet::Close(absl::Duration timeout) { impl_->Close(timeout); }
int64_t Jt808Fleet::sent() const { return impl_->sent_.load(); }
int64_t Jt808Fleet::accepted() const { return impl_->accepted_.load(); }
int64_t Jt808Fleet::failed() const { return impl_->failed_.load(); }

std::string Jt808Fleet::Phone(size_t i) { return std::to_string(kFirstPhone + i); }

absl::Status Jt808Fleet::WriteRegistry(const std::string& path,
                                       const std::vector<SimVehicleInfo>& vehicles) {
  std::ofstream out(path);
  out << "# phone\tvehicle_id\tplate\tauth_code (smartbus sim)\n";
  for (size_t i = 0; i < vehicles.size(); ++i)
    out << Phone(i) << '\t' << vehicles[i].vehicle_id << "\tSIM" << i << "\tSIM" << Phone(i)
        << '\n';
  if (!out) return absl::UnavailableError(absl::StrCat(path, ": cannot write"));
  return absl::OkStatus();
}

absl::Status ParseBlind(const std::string& spec, int64_t day_start_s, Jt808SimOptions* out) {
  const size_t at = spec.find('@'), plus = spec.find('+', at == std::string::npos ? 0 : at);
  int hh = 0, mm = 0, minutes = 0;
  if (at == std::string::npos || plus == std::string::npos || at == 0 ||
      std::sscanf(spec.c_str() + at + 1, "%d:%d", &hh, &mm) != 2 ||
      !absl::SimpleAtoi(spec.substr(plus + 1), &minutes) || minutes <= 0)
    return absl::InvalidArgumentError(absl::StrCat(
        "--jt808-blind \"", spec, "\": expected VEHICLE@HH:MM+MINUTES, e.g. 1003@07:40+10"));
  out->blind_vehicle = spec.substr(0, at);
  out->blind_start_s = day_start_s + hh * 3600 + mm * 60;
  out->blind_duration_s = int64_t{minutes} * 60;
  return absl::OkStatus();
}

}  // namespace smartbus::cli

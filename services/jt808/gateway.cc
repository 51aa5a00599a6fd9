#include "services/jt808/gateway.h"

#include <deque>

#include <utility>  // before Boost 1.74 asio: its awaitable.hpp uses std::exchange

#include <boost/asio.hpp>

#include "absl/strings/str_cat.h"

namespace smartbus::jt808 {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr size_t kReadBuffer = 4096;
// A report at or above this odometer is taken as garbage (1e9 km).
constexpr double kMaxOdometerM = 1e12;

}  // namespace

bool HasPosition(const Location& l) {
  return l.positioned() && l.time_s > 0 && !(l.lat_raw == 0 && l.lon_raw == 0) &&
         std::abs(l.lat) <= 90 && std::abs(l.lon) <= 180;
}

Fix ToFix(const Location& l, const std::string& vehicle_id) {
  Fix f;
  f.vehicle_id = vehicle_id;
  f.timestamp_s = l.time_s;
  f.lat = l.lat;
  f.lon = l.lon;
  if (l.direction <= 360) f.bearing_deg = static_cast<float>(l.direction % 360);
  f.speed_mps = static_cast<float>(l.speed_mps());
  if (f.speed_mps > 100) f.speed_mps = NAN;  // the ingest range is 0..100 m/s
  DeviceReport& d = f.device;
  d.present = true;
  d.alarm_flags = l.alarm;
  d.status_flags = l.status;
  if (l.mileage_hm && *l.mileage_hm * 100.0 < kMaxOdometerM) d.odometer_m = *l.mileage_hm * 100.0;
  if (l.fuel_dl) d.fuel_l = static_cast<float>(*l.fuel_dl / 10.0);
  if (l.signal_strength) d.signal_strength = *l.signal_strength;
  if (l.satellites) d.satellites = *l.satellites;
  return f;
}

class Gateway::Impl {
 public:
  Impl(const GatewayOptions& o, TerminalRegistry* r, FixSink* s)
      : opt_(o), registry_(r), sink_(s), acceptor_(io_) {}

  class Session;

  absl::Status Start() {
    boost::system::error_code ec;
    tcp::endpoint ep(asio::ip::make_address(opt_.listen_host, ec),
                     static_cast<uint16_t>(opt_.listen_port));
    if (ec)
      return absl::InvalidArgumentError(
          absl::StrCat("jt808 listen address \"", opt_.listen_host, "\": ", ec.message()));
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      return absl::UnavailableError(absl::StrCat("jt808 listen on ", opt_.listen_host, ":",
                                                 opt_.listen_port, ": ", ec.message()));
    port_ = acceptor_.local_endpoint().port();
    Accept();
    for (int i = 0; i < std::max(1, opt_.threads); ++i) threads_.emplace_back([this] { io_.run(); });
    return absl::OkStatus();
  }

  void Stop() {
    if (stopped_.exchange(true)) return;
    asio::post(io_, [this] {
      boost::system::error_code ec;
      acceptor_.close(ec);
    });
    io_.stop();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

  void Accept();

  GatewayOptions opt_;
  TerminalRegistry* registry_;
  FixSink* sink_;
  GatewayStats stats_;  // before io_: sessions destroyed with io_ still count themselves out
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stopped_{false};
  int port_ = 0;
};

class Gateway::Impl::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Impl* gw, tcp::socket socket)
      : gw_(gw), socket_(std::move(socket)), timer_(socket_.get_executor()) {}

  void Start() {
    gw_->stats_.open_connections.fetch_add(1);
    Read();
    ArmTimer();
  }
  ~Session() { gw_->stats_.open_connections.fetch_sub(1); }

 private:
  void ArmTimer() {
    last_read_ = std::chrono::steady_clock::now();
    timer_.expires_after(std::chrono::seconds(gw_->opt_.idle_timeout_s));
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec) return;
      const auto idle = std::chrono::steady_clock::now() - self->last_read_;
      if (idle >= std::chrono::seconds(self->gw_->opt_.idle_timeout_s)) {
        self->Close();
      } else {
        self->timer_.expires_after(std::chrono::seconds(self->gw_->opt_.idle_timeout_s) - idle);
        self->ArmTimerWait();
      }
    });
  }
  void ArmTimerWait() {
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->ArmTimer();
    });
  }

  void Close() {
    boost::system::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    timer_.cancel();
  }

  void Read() {
    socket_.async_read_some(
        asio::buffer(buf_, kReadBuffer),
        [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
          if (ec) {
            self->Close();
            return;
          }
          self->last_read_ = std::chrono::steady_clock::now();
          self->deframer_.Feed(absl::MakeConstSpan(self->buf_, n),
                               [&](absl::Span<const uint8_t> c) { self->OnFrame(c); });
          self->Read();
        });
  }

  void OnFrame(absl::Span<const uint8_t> content) {
    Frame f;
    absl::Status s = DecodeFrame(content, &f);
    if (!s.ok()) {
      gw_->stats_.bad_frames.fetch_add(1, std::memory_order_relaxed);
      if (f.header_ok) Answer(f.header, Result::kMessageError);
      return;
    }
    gw_->stats_.frames.fetch_add(1, std::memory_order_relaxed);
    if (f.header.encryption != 0) {
      gw_->stats_.unsupported.fetch_add(1, std::memory_order_relaxed);
      Answer(f.header, Result::kNotSupported);
      return;
    }
    const Header first = f.header;
    absl::StatusOr<Frame> whole = reassembler_.Add(std::move(f));
    if (!whole.ok()) {
      // A packet of a subpackaged message: acknowledged; the message is handled when complete.
      Answer(first, absl::IsNotFound(whole.status()) ? Result::kSuccess : Result::kMessageError);
      return;
    }
    Handle(*whole);
  }

  void Handle(const Frame& f) {
    const Header& h = f.header;
    switch (h.msg_id) {
      case kRegister:
        return OnRegister(f);
      case kAuthenticate:
        return OnAuthenticate(f);
      case kHeartbeat:
      case kTerminalResponse:
        return Answer(h, Result::kSuccess);
      case kLogout:
        authenticated_ = false;
        return Answer(h, Result::kSuccess);
      case kLocation:
      case kBatchLocation:
        return OnPositions(f);
      default:
        gw_->stats_.unsupported.fetch_add(1, std::memory_order_relaxed);
        return Answer(h, Result::kNotSupported);
    }
  }

  void OnRegister(const Frame& f) {
    absl::StatusOr<Register> reg = ParseRegister(f.body, f.header.v2019);
    if (!reg.ok()) {
      gw_->stats_.bad_bodies.fetch_add(1, std::memory_order_relaxed);
      return Answer(f.header, Result::kMessageError);
    }
    absl::StatusOr<Terminal> t = gw_->registry_->Register(f.header.phone, reg->plate);
    if (!t.ok()) {
      gw_->stats_.refused_registrations.fetch_add(1, std::memory_order_relaxed);
      return Send(f.header, kRegisterResponse,
                  RegisterResponseBody(f.header.serial, RegisterResult::kTerminalUnknown, ""));
    }
    Send(f.header, kRegisterResponse,
         RegisterResponseBody(f.header.serial, RegisterResult::kSuccess, t->auth_code));
  }

  void OnAuthenticate(const Frame& f) {
    absl::StatusOr<Authenticate> a = ParseAuthenticate(f.body, f.header.v2019);
    if (!a.ok()) {
      gw_->stats_.bad_bodies.fetch_add(1, std::memory_order_relaxed);
      return Answer(f.header, Result::kMessageError);
    }
    std::optional<Terminal> t = gw_->registry_->Find(f.header.phone);
    if (!t || t->auth_code != a->auth_code) {
      gw_->stats_.failed_auth.fetch_add(1, std::memory_order_relaxed);
      authenticated_ = false;
      return Answer(f.header, Result::kFailure);
    }
    authenticated_ = true;
    vehicle_id_ = t->vehicle_id;
    Answer(f.header, Result::kSuccess);
  }

  void OnPositions(const Frame& f);

  void Answer(const Header& request, Result result) {
    Send(request, kPlatformResponse,
         GeneralResponseBody(request.serial, request.msg_id, result));
  }

  void Send(const Header& request, uint16_t msg_id, const Bytes& body) {
    Header h;
    h.msg_id = msg_id;
    h.v2019 = request.v2019;
    h.protocol_version = request.protocol_version;
    h.phone = request.phone;
    h.serial = serial_++;
    absl::StatusOr<Bytes> wire = EncodeFrame(h, body);
    if (!wire.ok()) return;  // a phone that cannot be re-encoded: nothing to send to
    gw_->stats_.replies.fetch_add(1, std::memory_order_relaxed);
    out_.push_back(*std::move(wire));
    if (out_.size() == 1) Write();
  }

  void Write() {
    asio::async_write(socket_, asio::buffer(out_.front()),
                      [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                        if (ec) {
                          self->out_.clear();
                          self->Close();
                          return;
                        }
                        self->out_.pop_front();
                        if (!self->out_.empty()) self->Write();
                      });
  }

  Impl* gw_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  std::chrono::steady_clock::time_point last_read_;
  uint8_t buf_[kReadBuffer];
  Deframer deframer_;
  Reassembler reassembler_;
  std::deque<Bytes> out_;
  uint16_t serial_ = 0;
  bool authenticated_ = false;
  std::string vehicle_id_;
};

void Gateway::Impl::Session::OnPositions(const Frame& f) {
  GatewayStats& st = gw_->stats_;
  std::vector<Location> locs;
  if (f.header.msg_id == kLocation) {
    absl::StatusOr<Location> l = ParseLocation(f.body);
    if (l.ok()) locs.push_back(*std::move(l));
  } else {
    absl::StatusOr<Batch> b = ParseBatch(f.body);
    if (b.ok()) locs = std::move(b->items);
  }
  if (locs.empty()) {
    st.bad_bodies.fetch_add(1, std::memory_order_relaxed);
    return Answer(f.header, Result::kMessageError);
  }
  if (!authenticated_ && gw_->opt_.require_auth) {
    st.unauthenticated.fetch_add(1, std::memory_order_relaxed);
    return Answer(f.header, Result::kFailure);
  }
  if (vehicle_id_.empty()) {
    std::optional<Terminal> t = gw_->registry_->Find(f.header.phone);
    vehicle_id_ = t ? t->vehicle_id : absl::StrCat("jt808-", TerminalRegistry::NormalisePhone(
                                                                 f.header.phone));
  }
  std::vector<Fix> fixes;
  fixes.reserve(locs.size());
  for (const Location& l : locs) {
    if (HasPosition(l)) {
      fixes.push_back(ToFix(l, vehicle_id_));
    } else {
      st.unpositioned.fetch_add(1, std::memory_order_relaxed);
    }
  }
  if (fixes.empty()) return Answer(f.header, Result::kSuccess);
  st.fixes_forwarded.fetch_add(fixes.size(), std::memory_order_relaxed);
  const Header request = f.header;
  auto exec = socket_.get_executor();
  gw_->sink_->Submit(std::move(fixes), [self = shared_from_this(), request,
                                        exec](std::vector<uint8_t> reasons) {
    asio::post(exec, [self, request, reasons = std::move(reasons)] {
      GatewayStats& st = self->gw_->stats_;
      Result r = Result::kSuccess;
      for (uint8_t reason : reasons) {
        if (reason == 0) {
          st.fixes_accepted.fetch_add(1, std::memory_order_relaxed);
        } else if (reason == 8) {
          st.fixes_overloaded.fetch_add(1, std::memory_order_relaxed);
          r = Result::kFailure;  // not processed: the terminal sends it again
        } else {
          st.fixes_rejected.fetch_add(1, std::memory_order_relaxed);
        }
      }
      self->Answer(request, r);
    });
  });
}

void Gateway::Impl::Accept() {
  acceptor_.async_accept(asio::make_strand(io_), [this](const boost::system::error_code& ec,
                                                        tcp::socket socket) {
    if (ec) {
      if (ec != asio::error::operation_aborted && !stopped_) Accept();
      return;
    }
    stats_.connections.fetch_add(1, std::memory_order_relaxed);
    boost::system::error_code ignore;
    socket.set_option(tcp::no_delay(true), ignore);
    std::make_shared<Session>(this, std::move(socket))->Start();
    Accept();
  });
}

Gateway::Gateway(const GatewayOptions& options, TerminalRegistry* registry, FixSink* sink)
    : impl_(std::make_unique<Impl>(options, registry, sink)) {}
Gateway::~Gateway() { Stop(); }
absl::Status Gateway::Start() { return impl_->Start(); }
void Gateway::Stop() { impl_->Stop(); }
int Gateway::port() const { return impl_->port_; }
const GatewayStats& Gateway::stats() const { return impl_->stats_; }

}  // namespace smartbus::jt808

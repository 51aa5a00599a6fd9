#include "services/jt808/gateway.h"

#include <deque>

#include <utility>  // before Boost 1.74 asio: its awaitable.hpp uses std::exchange

#include <boost/asio.hpp>

#include "absl/strings/str_cat.h"
#include "services/core/common/mutex.h"

namespace smartbus::jt808 {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr size_t kReadBuffer = 4096;
// A report at or above this odometer is taken as garbage (1e9 km).
constexpr double kMaxOdometerM = 1e12;

// Auth codes compared in time that does not depend on where they differ.
bool SameCode(absl::string_view a, absl::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

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

  // The sink of `t`: its agency's, or the default one for a terminal without an agency; null
  // when its agency has none.
  FixSink* SinkFor(const Terminal& t) const {
    if (t.agency.empty()) return sink_;
    auto it = agency_sinks_.find(t.agency);
    return it == agency_sinks_.end() ? nullptr : it->second;
  }

  // Logs a refusal: at most one line per second of each kind (`kind`), the ones left out
  // counted into the next line of that kind.
  void Refusal(absl::string_view kind, const std::string& line) {
    if (!opt_.log) return;
    const auto now = std::chrono::steady_clock::now();
    uint64_t left_out = 0;
    {
      MutexLock lock(log_mu_);
      LogSlot& slot = log_slots_[std::string(kind)];
      if (slot.logged && now - slot.last < std::chrono::seconds(1)) {
        ++slot.unlogged;
        return;
      }
      slot.logged = true;
      slot.last = now;
      std::swap(left_out, slot.unlogged);
    }
    opt_.log(left_out == 0 ? line
                           : absl::StrCat(line, " (", left_out, " more like it not logged)"));
  }

  GatewayOptions opt_;
  TerminalRegistry* registry_;
  FixSink* sink_;
  absl::flat_hash_map<std::string, FixSink*> agency_sinks_;  // set before Start
  struct LogSlot {
    bool logged = false;
    std::chrono::steady_clock::time_point last;
    uint64_t unlogged = 0;
  };
  Mutex log_mu_;
  absl::flat_hash_map<std::string, LogSlot> log_slots_ ABSL_GUARDED_BY(log_mu_);
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
    if (authenticated_ && h.msg_id != kRegister && h.msg_id != kAuthenticate &&
        TerminalRegistry::NormalisePhone(h.phone) != phone_) {
      gw_->stats_.phone_mismatch.fetch_add(1, std::memory_order_relaxed);
      gw_->Refusal("phone", absl::StrCat("jt808: terminal ", phone_, " sent ", MsgIdName(h.msg_id),
                                " as terminal ", TerminalRegistry::NormalisePhone(h.phone),
                                ": refused (a connection reports only for the terminal that "
                                "authenticated on it)"));
      return Answer(h, Result::kFailure);
    }
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
    const std::string phone = TerminalRegistry::NormalisePhone(f.header.phone);
    std::optional<Terminal> t = gw_->registry_->Find(phone);
    authenticated_ = false;
    if (!t || !SameCode(t->auth_code, a->auth_code)) return RefuseAuth(f.header, phone, t.has_value());
    FixSink* sink = gw_->SinkFor(*t);
    if (!sink) {
      gw_->stats_.refused_agency.fetch_add(1, std::memory_order_relaxed);
      gw_->Refusal("agency", absl::StrCat("jt808: terminal ", phone, " (vehicle ", t->vehicle_id,
                                ") of agency ", t->agency, ": authentication refused, the gateway "
                                "has no ingest token for agency ", t->agency,
                                " (smartbus-jt808 --agency_tokens)"));
      return Answer(f.header, Result::kFailure);
    }
    authenticated_ = true;
    failed_auth_ = 0;
    phone_ = phone;
    vehicle_id_ = t->vehicle_id;
    sink_ = sink;
    Answer(f.header, Result::kSuccess);
  }

  // A wrong code or an unknown terminal: answered failure, counted, logged; the connection is
  // closed after max_failed_auth of them.
  void RefuseAuth(const Header& h, const std::string& phone, bool known) {
    gw_->stats_.failed_auth.fetch_add(1, std::memory_order_relaxed);
    const int max = std::max(1, gw_->opt_.max_failed_auth);
    const bool lockout = ++failed_auth_ >= max;
    gw_->Refusal("auth", absl::StrCat("jt808: terminal ", phone, ": authentication refused (",
                              known ? "wrong auth code" : "not in the registry", ", ",
                              failed_auth_, " of ", max, " on this connection",
                              lockout ? "; connection closed" : "", ")"));
    if (lockout) {
      gw_->stats_.auth_lockouts.fetch_add(1, std::memory_order_relaxed);
      close_after_write_ = true;
    }
    Answer(h, Result::kFailure);
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
                        else if (self->close_after_write_) self->Close();
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
  bool close_after_write_ = false;  // too many wrong auth codes: close once the answer is out
  int failed_auth_ = 0;
  std::string phone_;       // the authenticated terminal (normalised)
  std::string vehicle_id_;  // its registry vehicle
  FixSink* sink_ = nullptr;  // its agency's sink
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
  if (!sink_) {  // without require_auth: the registry's vehicle and sink, if it knows the phone
    std::optional<Terminal> t = gw_->registry_->Find(f.header.phone);
    vehicle_id_ = t ? t->vehicle_id : absl::StrCat("jt808-", TerminalRegistry::NormalisePhone(
                                                                 f.header.phone));
    sink_ = t ? gw_->SinkFor(*t) : gw_->sink_;
    if (!sink_) {
      st.refused_agency.fetch_add(1, std::memory_order_relaxed);
      return Answer(f.header, Result::kFailure);
    }
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
  sink_->Submit(std::move(fixes), [self = shared_from_this(), request,
                                   exec](std::vector<uint8_t> reasons) {
    asio::post(exec, [self, request, reasons = std::move(reasons)] {
      GatewayStats& st = self->gw_->stats_;
      Result r = Result::kSuccess;
      size_t refused = 0;
      for (uint8_t reason : reasons) {
        if (reason == 0) {
          st.fixes_accepted.fetch_add(1, std::memory_order_relaxed);
        } else if (reason == kRefusedReason) {
          ++refused;
          r = Result::kFailure;
        } else if (reason == 8) {
          st.fixes_overloaded.fetch_add(1, std::memory_order_relaxed);
          r = Result::kFailure;  // not processed: the terminal sends it again
        } else {
          st.fixes_rejected.fetch_add(1, std::memory_order_relaxed);
        }
      }
      if (refused > 0) {
        st.fixes_refused.fetch_add(refused, std::memory_order_relaxed);
        self->gw_->Refusal("smartbusd", absl::StrCat(
            "jt808: terminal ", self->phone_, ": smartbusd refused ", refused,
            " fixes of vehicle ", self->vehicle_id_,
            " (the ingest token of the terminal's agency does not cover it; smartbusd's log says "
            "why)"));
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
void Gateway::AddAgencySink(const std::string& agency, FixSink* sink) {
  impl_->agency_sinks_[agency] = sink;
}
absl::Status Gateway::Start() { return impl_->Start(); }
void Gateway::Stop() { impl_->Stop(); }
int Gateway::port() const { return impl_->port_; }
const GatewayStats& Gateway::stats() const { return impl_->stats_; }

}  // namespace smartbus::jt808

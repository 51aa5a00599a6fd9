#include "services/jt808/terminal.h"

#include "absl/strings/str_cat.h"

namespace smartbus::jt808 {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

Terminal808::Terminal808(asio::any_io_executor executor, TerminalOptions options)
    : socket_(executor), opt_(std::move(options)) {}

void Terminal808::Start(const tcp::endpoint& gateway, std::function<void(absl::Status)> ready) {
  ready_cb_ = std::move(ready);
  socket_.async_connect(gateway, [self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec) return self->Fail(absl::UnavailableError(absl::StrCat("connect: ", ec.message())));
    boost::system::error_code ignore;
    self->socket_.set_option(tcp::no_delay(true), ignore);
    self->Read();
    Register reg;
    reg.province = 31;
    reg.city = 110;
    reg.maker = "SBSIM";
    reg.model = "smartbus-sim";
    reg.terminal_id = self->opt_.terminal_id;
    reg.plate_color = 1;
    reg.plate = self->opt_.plate;
    self->SendRaw(kRegister, RegisterBody(reg, self->opt_.v2019), nullptr);
  });
}

void Terminal808::SendLocation(const Location& loc, ResultCallback done) {
  SendRaw(kLocation, LocationBody(loc), std::move(done));
}

void Terminal808::SendBatch(uint8_t type, std::vector<Location> items, ResultCallback done) {
  SendRaw(kBatchLocation, BatchBody(type, items), std::move(done));
}

void Terminal808::SendHeartbeat(ResultCallback done) { SendRaw(kHeartbeat, {}, std::move(done)); }

void Terminal808::SendRaw(uint16_t msg_id, Bytes body, ResultCallback done) {
  asio::post(socket_.get_executor(), [self = shared_from_this(), msg_id, body = std::move(body),
                                      done = std::move(done)]() mutable {
    Header h;
    h.msg_id = msg_id;
    h.v2019 = self->opt_.v2019;
    h.phone = self->opt_.phone;
    h.serial = self->serial_++;
    absl::StatusOr<Bytes> wire = EncodeFrame(h, body);
    if (!wire.ok()) {
      if (done) done(-1);
      return;
    }
    if (done) self->waiting_[h.serial] = std::move(done);
    self->Write(*std::move(wire));
  });
}

void Terminal808::Close() {
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    boost::system::error_code ec;
    self->socket_.close(ec);
  });
}

void Terminal808::Read() {
  socket_.async_read_some(asio::buffer(buf_), [self = shared_from_this()](
                                                  const boost::system::error_code& ec, size_t n) {
    if (ec) return self->Fail(absl::UnavailableError(absl::StrCat("read: ", ec.message())));
    self->deframer_.Feed(absl::MakeConstSpan(self->buf_, n),
                         [&](absl::Span<const uint8_t> c) { self->OnFrame(c); });
    self->Read();
  });
}

void Terminal808::OnFrame(absl::Span<const uint8_t> content) {
  Frame f;
  if (!DecodeFrame(content, &f).ok()) return;
  if (f.header.msg_id == kRegisterResponse) {
    absl::StatusOr<RegisterResponse> r = ParseRegisterResponse(f.body);
    if (!r.ok() || r->result != 0)
      return Fail(absl::PermissionDeniedError(
          absl::StrCat("registration refused, result ", r.ok() ? r->result : -1)));
    auth_code_ = r->auth_code;
    SendRaw(kAuthenticate, AuthenticateBody(auth_code_, opt_.v2019),
            [self = shared_from_this()](int result) {
              if (result != 0)
                return self->Fail(absl::PermissionDeniedError(
                    absl::StrCat("authentication refused, result ", result)));
              self->ready_ = true;
              if (self->ready_cb_) std::exchange(self->ready_cb_, nullptr)(absl::OkStatus());
            });
    return;
  }
  if (f.header.msg_id != kPlatformResponse) return;
  absl::StatusOr<GeneralResponse> r = ParseGeneralResponse(f.body);
  if (!r.ok()) return;
  auto it = waiting_.find(r->reply_serial);
  if (it == waiting_.end()) return;
  ResultCallback cb = std::move(it->second);
  waiting_.erase(it);
  cb(r->result);
}

void Terminal808::Write(Bytes wire) {
  out_.push_back(std::move(wire));
  if (out_.size() == 1) WriteFront();
}

void Terminal808::WriteFront() {
  asio::async_write(socket_, asio::buffer(out_.front()),
                    [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                      if (ec) {
                        self->out_.clear();
                        return self->Fail(
                            absl::UnavailableError(absl::StrCat("write: ", ec.message())));
                      }
                      self->out_.pop_front();
                      if (!self->out_.empty()) self->WriteFront();
                    });
}

void Terminal808::Fail(const absl::Status& s) {
  ready_ = false;
  boost::system::error_code ec;
  socket_.close(ec);
  if (ready_cb_) std::exchange(ready_cb_, nullptr)(s);
  auto waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& [serial, cb] : waiting) cb(-1);
}

}  // namespace smartbus::jt808

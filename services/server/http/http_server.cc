#include "services/server/http/http_server.h"

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "services/core/common/mutex.h"
#include "services/server/http/tls.h"

namespace smartbus::server {
namespace {

// cpp-httplib's ThreadPool queues connections without bound; this one holds at most
// `max_queued` and makes the acceptor wait beyond that.
class BoundedPool final : public httplib::TaskQueue {
 public:
  BoundedPool(int threads, size_t max_queued) : max_queued_(max_queued) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Work(); });
  }
  void enqueue(std::function<void()> fn) override {
    UniqueLock lock(mu_);
    room_.wait(lock.native(), [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return jobs_.size() < max_queued_ || stop_;
    });
    jobs_.push_back(std::move(fn));
    lock.Unlock();
    ready_.notify_one();
  }
  void shutdown() override {
    {
      MutexLock lock(mu_);
      stop_ = true;
    }
    ready_.notify_all();
    room_.notify_all();
    for (auto& t : threads_) t.join();
  }

 private:
  void Work() {
    while (true) {
      std::function<void()> fn;
      {
        UniqueLock lock(mu_);
        ready_.wait(lock.native(), [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return !jobs_.empty() || stop_;
        });
        if (jobs_.empty()) return;  // stopping and drained
        fn = std::move(jobs_.front());
        jobs_.pop_front();
      }
      room_.notify_one();
      fn();  // serves the connection and closes its socket
    }
  }
  const size_t max_queued_;
  Mutex mu_;
  std::condition_variable ready_, room_;
  std::deque<std::function<void()>> jobs_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
};

// Per worker thread: the request being served (a connection is served by one thread).
thread_local std::chrono::steady_clock::time_point t_start;
thread_local std::string t_route;

const char* StatusName(int status) {
  switch (status) {
    case 400: return "INVALID_ARGUMENT";
    case 404: return "NOT_FOUND";
    case 405: return "METHOD_NOT_ALLOWED";
    case 413: return "PAYLOAD_TOO_LARGE";
    case 429: return "RESOURCE_EXHAUSTED";
    case 501: return "UNIMPLEMENTED";
    case 503: return "UNAVAILABLE";
    case 504: return "DEADLINE_EXCEEDED";
    default: return status >= 500 ? "INTERNAL" : "ERROR";
  }
}

}  // namespace

void HttpError(HttpResponse& res, int status, const std::string& message) {
  res.status = status;
  nlohmann::json j = {{"error", {{"code", status}, {"status", StatusName(status)},
                                 {"message", message}}}};
  res.set_content(j.dump() + "\n", "application/json");
}

std::string HttpDate(int64_t epoch_s) {
  return absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", absl::FromUnixSeconds(epoch_s),
                          absl::UTCTimeZone());
}

int64_t ParseHttpDate(const std::string& text) {
  // IMF-fixdate, RFC 850, asctime (RFC 7231 section 7.1.1.1).
  for (const char* fmt : {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT",
                          "%a %b %e %H:%M:%S %Y"}) {
    absl::Time t;
    std::string err;
    if (absl::ParseTime(fmt, text, absl::UTCTimeZone(), &t, &err)) return absl::ToUnixSeconds(t);
  }
  return -1;
}

namespace {

// A plain server, or an HTTPS one when the options name a certificate (*tls then holds it; a
// certificate that cannot be read leaves a plain server that never starts: *error says why).
std::unique_ptr<httplib::Server> MakeServer(const HttpOptions& o,
                                            std::unique_ptr<TlsIdentity>* tls,
                                            absl::Status* error) {
  if (o.tls_cert_file.empty() && o.tls_key_file.empty())
    return std::make_unique<httplib::Server>();
  auto id = TlsIdentity::Load(o.tls_cert_file, o.tls_key_file, o.tls_reload_s, o.log);
  if (!id.ok()) {
    *error = id.status();
    return std::make_unique<httplib::Server>();
  }
  *tls = std::move(*id);
  TlsIdentity* identity = tls->get();
  auto server = std::make_unique<httplib::SSLServer>(
      [identity](SSL_CTX& ctx) { return ConfigureServerContext(&ctx, identity); });
  if (!server->is_valid())
    *error = absl::InternalError("HTTPS: OpenSSL refused the server context settings");
  return server;
}

}  // namespace

HttpServer::HttpServer(HttpOptions options)
    : options_(std::move(options)), server_(MakeServer(options_, &tls_, &init_error_)) {
  httplib::Server& s = *server_;
  const int threads = std::max(1, options_.threads);
  const size_t queued = std::max<size_t>(1, options_.max_queued_connections);
  s.new_task_queue = [threads, queued] { return new BoundedPool(threads, queued); };
  s.set_payload_max_length(options_.max_body_bytes);
  s.set_keep_alive_max_count(options_.keep_alive_max_requests);
  s.set_keep_alive_timeout(options_.keep_alive_timeout_s);
  s.set_read_timeout(options_.io_timeout_s);
  s.set_write_timeout(options_.io_timeout_s);
  if (!options_.cors_origin.empty())
    s.set_default_headers({{"Access-Control-Allow-Origin", options_.cors_origin},
                           {"Access-Control-Expose-Headers", "Last-Modified, Content-Length"}});
  s.set_pre_routing_handler([this](const HttpRequest& req, HttpResponse& res) {
    t_start = std::chrono::steady_clock::now();
    t_route = "unmatched";
    if (req.method == "OPTIONS" && !options_.cors_origin.empty()) {  // CORS preflight
      t_route = "preflight";
      res.status = 204;
      res.set_header("Access-Control-Allow-Methods", "GET, HEAD, POST, OPTIONS");
      res.set_header("Access-Control-Allow-Headers",
                     req.has_header("Access-Control-Request-Headers")
                         ? req.get_header_value("Access-Control-Request-Headers")
                         : "Content-Type");
      res.set_header("Access-Control-Max-Age", "86400");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  s.set_error_handler(httplib::Server::HandlerWithResponse([](const HttpRequest& req,
                                                              HttpResponse& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    if (res.status == 404)
      HttpError(res, 404, absl::StrCat("no such path: ", req.path));
    else if (res.status == 413)
      HttpError(res, 413, "request body too large");
    else
      HttpError(res, res.status, absl::StrCat("HTTP ", res.status));
    return httplib::Server::HandlerResponse::Handled;
  }));
  s.set_exception_handler([](const HttpRequest&, HttpResponse& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    HttpError(res, 500, absl::StrCat("internal error: ", what));
  });
  s.set_logger([this](const HttpRequest&, const HttpResponse& res) {
    if (!observer_) return;
    if (t_route == "unmatched" && res.status < 400) t_route = "static";
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    observer_(t_route, res.status, secs);
  });
}

HttpServer::~HttpServer() { Stop(); }

HttpServer::Handler HttpServer::Timed(const std::string& route, Handler handler) {
  return [route, handler = std::move(handler)](const HttpRequest& req, HttpResponse& res) {
    t_route = route;
    handler(req, res);
  };
}

void HttpServer::Get(const std::string& pattern, const std::string& route, Handler handler) {
  server_->Get(pattern, Timed(route, std::move(handler)));
}

void HttpServer::Post(const std::string& pattern, const std::string& route, Handler handler) {
  server_->Post(pattern, Timed(route, std::move(handler)));
}

bool HttpServer::Mount(const std::string& prefix, const std::string& dir) {
  return server_->set_mount_point(prefix, dir);
}

absl::Status HttpServer::ReloadTls() { return tls_ ? tls_->Reload() : absl::OkStatus(); }
uint64_t HttpServer::tls_reloads() const { return tls_ ? tls_->reloads() : 0; }
uint64_t HttpServer::tls_reload_failures() const { return tls_ ? tls_->reload_failures() : 0; }
uint64_t HttpServer::plaintext_refused() const { return tls_ ? tls_->plaintext_refused() : 0; }

absl::Status HttpServer::Start() {
  if (!init_error_.ok()) return init_error_;
  const std::string& l = options_.listen;
  const size_t colon = l.rfind(':');
  int port = -1;
  if (colon == std::string::npos || !absl::SimpleAtoi(l.substr(colon + 1), &port) || port < 0 ||
      port > 65535)
    return absl::InvalidArgumentError(
        absl::StrCat("--http_listen=", l, ": expected HOST:PORT (port 0..65535)"));
  std::string host = l.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (port == 0) {
    port_ = server_->bind_to_any_port(host);
  } else {
    port_ = server_->bind_to_port(host, port) ? port : -1;
  }
  if (port_ <= 0) {
    port_ = 0;
    return absl::UnavailableError(absl::StrCat(
        "cannot listen for HTTP on ", l, ": address in use or not valid (check --http_listen)"));
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // stop() only acts on a running server: wait until the accept loop has started.
  while (!server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return absl::OkStatus();
}

void HttpServer::Stop() {
  if (!thread_.joinable()) return;
  server_->stop();
  thread_.join();
}

}  // namespace smartbus::server

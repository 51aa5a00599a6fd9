#pragma once
// HttpServer: the one HTTP/1.1 server of smartbusd (cpp-httplib, Debian libcpp-httplib-dev).
//
//   HttpServer http(options);
//   http.Get("/healthz", "healthz", [](const HttpRequest& req, HttpResponse& res) {...});
//   http.Get("/api/v1/stops/(.+)/arrivals", "arrivals", handler);   // regex, req.matches[1]
//   http.Mount("/", "web/");                                         // static files
//   http.Start();          // binds (port 0: any free, see port()), serves on its own threads
//   http.Stop();           // stops accepting, finishes requests in progress
//
// What every response gets: CORS headers (Access-Control-Allow-Origin, answered preflights),
// gzip when the client accepts it and the body is text/JSON (cpp-httplib with zlib), keep-alive
// (at most keep_alive_max_requests per connection, closed after keep_alive_timeout_s idle).
// Limits: request bodies over max_body_bytes get 413; at most `threads` connections are served
// at once (a connection holds its worker while kept alive), at most `max_queued_connections`
// more wait; beyond that the acceptor stops accepting, so the kernel's listen backlog (and then
// the client) feels it. Handlers that throw answer 500 with the message; unknown paths 404.
//
// Routes are matched in the order they are added (the first regex matching the whole path).
// Every request is timed: the observer (set before Start) gets route name, status and seconds
// (route "static" for mounted files, "unmatched" for the rest).
//
// HTTPS: with tls_cert_file and tls_key_file the port speaks only HTTPS (TLS 1.2+, tls.h):
// the files are re-read when they change (checked at most every tls_reload_s seconds, on the
// next handshake) or on ReloadTls() (SIGHUP), a bad pair keeps the one in use; a plaintext
// request gets a plaintext 400 saying the port speaks HTTPS only.

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace smartbus::server {

using HttpRequest = httplib::Request;
using HttpResponse = httplib::Response;

struct HttpOptions {
  // host:port; port 0 picks a free port; "" = no HTTP server.
  std::string listen;
  // Worker threads (connections served at once). Default 8.
  int threads = 8;
  // Accepted connections waiting for a worker. Default 256.
  size_t max_queued_connections = 256;
  // Largest request body (bytes); larger ones get 413. Default 1 MiB.
  size_t max_body_bytes = 1 << 20;
  // Requests served on one kept-alive connection before it is closed. Default 100.
  size_t keep_alive_max_requests = 100;
  // An idle kept-alive connection is closed after this many seconds. Default 5.
  int keep_alive_timeout_s = 5;
  // Reading a request / writing a response may take this long (s). Default 10.
  int io_timeout_s = 10;
  // Access-Control-Allow-Origin of every response ("" = no CORS headers). Default "*".
  std::string cors_origin = "*";
  // HTTPS certificate chain and private key (PEM); both empty = plain HTTP.
  std::string tls_cert_file;
  std::string tls_key_file;
  // The certificate files are checked for changes at most this often (s). Default 10 (as the
  // gRPC port's certificate watcher).
  int tls_reload_s = 10;
  // Where HTTPS certificate (re)loads and reload errors are told (may be empty).
  std::function<void(const std::string&)> log;
};

class TlsIdentity;

class HttpServer {
 public:
  using Handler = std::function<void(const HttpRequest&, HttpResponse&)>;
  using Observer =
      std::function<void(const std::string& route, int status, double seconds)>;

  explicit HttpServer(HttpOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // GET (and HEAD) route. `pattern`: a regex for the whole path; `route`: the name used in
  // metrics and logs (low cardinality: "api.arrivals", not the stop id).
  void Get(const std::string& pattern, const std::string& route, Handler handler);
  void Post(const std::string& pattern, const std::string& route, Handler handler);
  // Serves the files under `dir` at `prefix`. False when dir is not a directory.
  bool Mount(const std::string& prefix, const std::string& dir);
  void set_observer(Observer observer) { observer_ = std::move(observer); }

  // Binds and starts serving on a thread of its own. UNAVAILABLE naming the address when it
  // cannot be bound; INVALID_ARGUMENT when `listen` is not host:port.
  absl::Status Start();
  int port() const { return port_; }
  bool https() const { return tls_ != nullptr; }
  // Re-reads the HTTPS certificate and key now (SIGHUP). OK without HTTPS; on error the pair
  // in use stays and the error names the file.
  absl::Status ReloadTls();
  // HTTPS figures: certificate reloads, failed reloads, plaintext requests refused (0 without).
  uint64_t tls_reloads() const;
  uint64_t tls_reload_failures() const;
  uint64_t plaintext_refused() const;
  // Stops accepting and waits for the requests in progress. Idempotent.
  void Stop();

  const HttpOptions& options() const { return options_; }

 private:
  Handler Timed(const std::string& route, Handler handler);

  HttpOptions options_;
  std::unique_ptr<TlsIdentity> tls_;  // before server_: the SSL context points at it
  absl::Status init_error_;           // a certificate that could not be read; Start() returns it
  std::unique_ptr<httplib::Server> server_;
  Observer observer_;
  std::thread thread_;
  int port_ = 0;
};

// Helpers for handlers.
// Sets status, a JSON body {"error":{"code":N,"status":"...","message":"..."}} and its type.
void HttpError(HttpResponse& res, int status, const std::string& message);
// The RFC 7231 IMF-fixdate of an epoch second ("Sun, 06 Nov 1994 08:49:37 GMT"), and back
// (-1 when the text is not a date in one of the three HTTP formats).
std::string HttpDate(int64_t epoch_s);
int64_t ParseHttpDate(const std::string& text);

}  // namespace smartbus::server

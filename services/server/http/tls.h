#pragma once
// HTTPS for HttpServer: the certificate chain and private key of the port (PEM files, OpenSSL
// from Debian), re-read without a restart, and a plain answer to plaintext clients.
//
//   auto id = TlsIdentity::Load(cert_file, key_file, /*reload_s=*/10, log);   // error names the file
//   SSL_CTX* ctx = ...;  ConfigureServerContext(ctx, id->get());              // TLS 1.2+, per-handshake cert
//
// Every handshake takes the pair in use (SSL_CTX cert callback). At most every `reload_s`
// seconds a handshake checks whether either file changed (modification time, size, inode) and
// then re-reads both; Reload() does it at once (SIGHUP). A pair that cannot be used (a file
// missing or not PEM, a key that is not the certificate's) is logged and the old pair stays, so
// a half-written rotation never takes the port down.
//
// A plaintext HTTP request sent to the HTTPS port (OpenSSL: "http request" / "https proxy
// request" on the first record) is answered in plaintext 400 with a JSON error saying the port
// speaks HTTPS only, then the connection is closed; counted in plaintext_refused().
//
// Thread safety: every method may be called from any thread.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/core/common/mutex.h"

typedef struct ssl_ctx_st SSL_CTX;

namespace smartbus::server {

class TlsIdentity {
 public:
  using Log = std::function<void(const std::string&)>;
  // Reads both files; INVALID_ARGUMENT naming the file and what is wrong with it.
  static absl::StatusOr<std::unique_ptr<TlsIdentity>> Load(std::string cert_file,
                                                           std::string key_file, int reload_s,
                                                           Log log);
  ~TlsIdentity();

  // Re-reads both files now. On error the pair in use stays (and the error is returned).
  absl::Status Reload();
  // Reload() when reload_s passed since the last check and a file changed; errors are logged.
  void MaybeReload();

  uint64_t reloads() const { return reloads_.load(std::memory_order_relaxed); }
  uint64_t reload_failures() const { return reload_failures_.load(std::memory_order_relaxed); }
  uint64_t plaintext_refused() const { return plaintext_refused_.load(std::memory_order_relaxed); }

  struct Pair;  // certificate, chain and key (OpenSSL objects), immutable once loaded
  std::shared_ptr<const Pair> Current() const;
  void CountPlaintextRefused() { plaintext_refused_.fetch_add(1, std::memory_order_relaxed); }

 private:
  TlsIdentity(std::string cert_file, std::string key_file, int reload_s, Log log);
  std::string FilesStamp() const;

  const std::string cert_file_, key_file_;
  const int reload_s_;
  const Log log_;
  mutable Mutex mu_;
  std::shared_ptr<const Pair> pair_ ABSL_GUARDED_BY(mu_);
  std::string stamp_ ABSL_GUARDED_BY(mu_);  // of the files when pair_ was read
  std::atomic<int64_t> next_check_ns_{0};
  std::atomic<uint64_t> reloads_{0}, reload_failures_{0}, plaintext_refused_{0};
};

// Makes `ctx` a server context serving `identity`'s pair on every handshake: TLS 1.2 or newer,
// the pair chosen per handshake (so a reload applies to the next connection), plaintext HTTP
// requests answered as above. `identity` must outlive `ctx`. False when OpenSSL refuses.
bool ConfigureServerContext(SSL_CTX* ctx, TlsIdentity* identity);

}  // namespace smartbus::server

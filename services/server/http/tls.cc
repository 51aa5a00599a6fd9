#include "services/server/http/tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace smartbus::server {

struct TlsIdentity::Pair {
  X509* cert = nullptr;
  STACK_OF(X509)* chain = nullptr;  // intermediates after the leaf in the certificate file
  EVP_PKEY* key = nullptr;
  std::string subject;
  Pair() = default;
  Pair(const Pair&) = delete;
  Pair& operator=(const Pair&) = delete;
  ~Pair() {
    X509_free(cert);
    if (chain) sk_X509_pop_free(chain, X509_free);
    EVP_PKEY_free(key);
  }
};

namespace {

// The newest OpenSSL error of this thread as text (and the queue cleared).
std::string OpenSslError() {
  unsigned long e = ERR_peek_last_error();
  char buf[256] = "no detail from OpenSSL";
  if (e != 0) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

absl::StatusOr<std::string> ReadWhole(const std::string& path, const char* what) {
  std::ifstream f(path, std::ios::binary);
  if (!f)
    return absl::InvalidArgumentError(
        absl::StrCat("HTTPS ", what, " ", path, ": cannot read (", std::strerror(errno), ")"));
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using Bio = std::unique_ptr<BIO, BioFree>;

// Never prompts for a pass phrase (an encrypted key is an error, not a question on stdin).
int NoPassword(char*, int, int, void*) { return 0; }

absl::StatusOr<std::shared_ptr<const TlsIdentity::Pair>> ReadPair(const std::string& cert_file,
                                                                  const std::string& key_file) {
  auto cert_pem = ReadWhole(cert_file, "certificate");
  if (!cert_pem.ok()) return cert_pem.status();
  auto key_pem = ReadWhole(key_file, "private key");
  if (!key_pem.ok()) return key_pem.status();
  auto pair = std::make_shared<TlsIdentity::Pair>();
  Bio cb(BIO_new_mem_buf(cert_pem->data(), static_cast<int>(cert_pem->size())));
  pair->cert = PEM_read_bio_X509(cb.get(), nullptr, NoPassword, nullptr);
  if (!pair->cert)
    return absl::InvalidArgumentError(absl::StrCat("HTTPS certificate ", cert_file,
                                                   ": no PEM certificate in it (", OpenSslError(),
                                                   ")"));
  pair->chain = sk_X509_new_null();
  while (X509* c = PEM_read_bio_X509(cb.get(), nullptr, NoPassword, nullptr))
    sk_X509_push(pair->chain, c);
  ERR_clear_error();  // the end of the file reads as "no start line"
  Bio kb(BIO_new_mem_buf(key_pem->data(), static_cast<int>(key_pem->size())));
  pair->key = PEM_read_bio_PrivateKey(kb.get(), nullptr, NoPassword, nullptr);
  if (!pair->key)
    return absl::InvalidArgumentError(
        absl::StrCat("HTTPS private key ", key_file,
                     ": no unencrypted PEM private key in it (", OpenSslError(), ")"));
  if (X509_check_private_key(pair->cert, pair->key) != 1)
    return absl::InvalidArgumentError(absl::StrCat("HTTPS private key ", key_file,
                                                   " is not the key of certificate ", cert_file,
                                                   " (", OpenSslError(), ")"));
  char name[256] = "";
  X509_NAME_oneline(X509_get_subject_name(pair->cert), name, sizeof name);
  pair->subject = name;
  return std::shared_ptr<const TlsIdentity::Pair>(std::move(pair));
}

int64_t SteadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// SSL ex_data slot marking a connection already answered as plaintext.
int PlaintextMarkIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

int CertCallback(SSL* ssl, void* arg) {
  auto* id = static_cast<TlsIdentity*>(arg);
  id->MaybeReload();
  std::shared_ptr<const TlsIdentity::Pair> p = id->Current();
  return SSL_use_cert_and_key(ssl, p->cert, p->key, p->chain, 1) == 1 ? 1 : 0;
}

// Answers a plaintext HTTP request on the HTTPS port in plaintext (once per connection).
void InfoCallback(const SSL* ssl, int where, int ret) {
  if (!(where & SSL_CB_EXIT) || ret > 0) return;
  const unsigned long e = ERR_peek_last_error();
  if (ERR_GET_LIB(e) != ERR_LIB_SSL) return;
  const int reason = ERR_GET_REASON(e);
  if (reason != SSL_R_HTTP_REQUEST && reason != SSL_R_HTTPS_PROXY_REQUEST) return;
  if (SSL_get_ex_data(ssl, PlaintextMarkIndex()) != nullptr) return;
  static char mark = 1;
  SSL_set_ex_data(const_cast<SSL*>(ssl), PlaintextMarkIndex(), &mark);
  auto* id = static_cast<TlsIdentity*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  if (id) id->CountPlaintextRefused();
  const int fd = SSL_get_fd(ssl);
  if (fd < 0) return;
  const std::string body =
      "{\"error\":{\"code\":400,\"status\":\"INVALID_ARGUMENT\",\"message\":\"plain HTTP sent to "
      "an HTTPS port: this port speaks HTTPS only (use https://)\"}}\n";
  const std::string reply = absl::StrCat(
      "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nConnection: close\r\n"
      "Content-Length: ",
      body.size(), "\r\n\r\n", body);
  (void)!send(fd, reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  shutdown(fd, SHUT_WR);
  // Read what is left of the request, so closing does not reset the connection (and with it
  // the answer) before the client read it.
  char sink[4096];
  for (int i = 0; i < 16 && recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0; ++i) {
  }
}

}  // namespace

TlsIdentity::TlsIdentity(std::string cert_file, std::string key_file, int reload_s, Log log)
    : cert_file_(std::move(cert_file)), key_file_(std::move(key_file)),
      reload_s_(std::max(1, reload_s)), log_(std::move(log)) {}

TlsIdentity::~TlsIdentity() = default;

absl::StatusOr<std::unique_ptr<TlsIdentity>> TlsIdentity::Load(std::string cert_file,
                                                               std::string key_file, int reload_s,
                                                               Log log) {
  if (cert_file.empty() || key_file.empty())
    return absl::InvalidArgumentError(
        "HTTPS needs both a certificate and a private key file (one of them is empty)");
  std::unique_ptr<TlsIdentity> id(
      new TlsIdentity(std::move(cert_file), std::move(key_file), reload_s, std::move(log)));
  if (absl::Status st = id->Reload(); !st.ok()) return st;
  id->reloads_.store(0);
  id->next_check_ns_.store(SteadyNowNs() + int64_t{id->reload_s_} * 1'000'000'000);  // just read
  return id;
}

std::string TlsIdentity::FilesStamp() const {
  std::string out;
  for (const std::string* f : {&cert_file_, &key_file_}) {
    struct stat st;
    if (stat(f->c_str(), &st) != 0) {
      out += "missing;";
      continue;
    }
    absl::StrAppend(&out, st.st_ino, ":", st.st_size, ":", st.st_mtim.tv_sec, ".",
                    st.st_mtim.tv_nsec, ";");
  }
  return out;
}

absl::Status TlsIdentity::Reload() {
  const std::string stamp = FilesStamp();
  auto pair = ReadPair(cert_file_, key_file_);
  if (!pair.ok()) {
    reload_failures_.fetch_add(1, std::memory_order_relaxed);
    return pair.status();
  }
  const std::string subject = (*pair)->subject;
  {
    MutexLock lock(mu_);
    pair_ = std::move(*pair);
    stamp_ = stamp;
  }
  reloads_.fetch_add(1, std::memory_order_relaxed);
  if (log_) log_(absl::StrCat("HTTPS certificate ", subject, " read from ", cert_file_));
  return absl::OkStatus();
}

void TlsIdentity::MaybeReload() {
  const int64_t now = SteadyNowNs();
  int64_t next = next_check_ns_.load(std::memory_order_relaxed);
  if (now < next) return;
  // One handshake checks; the others go on with the pair in use.
  if (!next_check_ns_.compare_exchange_strong(next, now + int64_t{reload_s_} * 1'000'000'000))
    return;
  const std::string stamp = FilesStamp();
  {
    MutexLock lock(mu_);
    if (stamp == stamp_) return;
  }
  if (absl::Status st = Reload(); !st.ok() && log_)
    log_(absl::StrCat(st.message(), "; still serving the certificate read before"));
}

std::shared_ptr<const TlsIdentity::Pair> TlsIdentity::Current() const {
  MutexLock lock(mu_);
  return pair_;
}

bool ConfigureServerContext(SSL_CTX* ctx, TlsIdentity* identity) {
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) return false;
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_app_data(ctx, identity);
  SSL_CTX_set_cert_cb(ctx, CertCallback, identity);
  SSL_CTX_set_info_callback(ctx, InfoCallback);
  return true;
}

}  // namespace smartbus::server

// A TCP proxy a test owns, to cut a connection between two real processes and restore it:
// 127.0.0.1:port() forwards every connection to 127.0.0.1:upstream_port. Cut() closes every
// open connection at once (both ends see a reset/EOF, as when a link or a middlebox drops) and
// refuses new ones (accepted and closed at once) until Restore(). One thread, poll().
//
//   TcpProxy proxy(redis.port());
//   ASSERT_TRUE(proxy.Start());
//   ... point the server at 127.0.0.1:proxy.port() ...
//   proxy.Cut(); sleep; proxy.Restore();

#ifndef SMARTBUS_TESTS_SERVER_TCP_PROXY_H_
#define SMARTBUS_TESTS_SERVER_TCP_PROXY_H_

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace smartbus::testing {

class TcpProxy {
 public:
  explicit TcpProxy(int upstream_port) : upstream_port_(upstream_port) {}
  ~TcpProxy() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    for (Pair& p : pairs_) Close(p);
    if (listen_fd_ >= 0) ::close(listen_fd_);
  }
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  // Listens on a free loopback port and starts forwarding. False when the socket fails.
  bool Start() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (listen_fd_ < 0) return false;
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a = Loopback(0);
    socklen_t len = sizeof(a);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        ::listen(listen_fd_, 64) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      return false;
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Loop(); });
    return true;
  }
  int port() const { return port_; }
  void Cut() { cut_ = true; }
  void Restore() { cut_ = false; }
  // Connections closed by Cut and refused while cut, for the test's report.
  int cuts() const { return cuts_; }
  int refused() const { return refused_; }

 private:
  struct Pair {
    int down = -1, up = -1;  // the client's side, the upstream side
  };
  static sockaddr_in Loopback(int port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    return a;
  }
  static void Close(Pair& p) {
    if (p.down >= 0) ::close(p.down);
    if (p.up >= 0) ::close(p.up);
    p.down = p.up = -1;
  }
  // Copies what is readable on `from` to `to` (blocking write: loopback, small volumes).
  static bool Pump(int from, int to) {
    char buf[16384];
    const ssize_t n = ::read(from, buf, sizeof(buf));
    if (n <= 0) return false;
    for (ssize_t off = 0; off < n;) {
      const ssize_t w = ::write(to, buf + off, static_cast<size_t>(n - off));
      if (w <= 0) return false;
      off += w;
    }
    return true;
  }
  void Accept() {
    const int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) return;
    if (cut_) {
      ++refused_;
      ::close(fd);
      return;
    }
    Pair p{fd, ::socket(AF_INET, SOCK_STREAM, 0)};
    sockaddr_in a = Loopback(upstream_port_);
    if (p.up < 0 || ::connect(p.up, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      Close(p);
      return;
    }
    pairs_.push_back(p);
  }
  void Loop() {
    while (!stop_) {
      if (cut_) {
        for (Pair& p : pairs_) {
          Close(p);
          ++cuts_;
        }
        pairs_.clear();
      }
      std::vector<pollfd> fds = {{listen_fd_, POLLIN, 0}};
      for (const Pair& p : pairs_) {
        fds.push_back({p.down, POLLIN, 0});
        fds.push_back({p.up, POLLIN, 0});
      }
      if (::poll(fds.data(), fds.size(), 20) <= 0) continue;
      if (fds[0].revents & POLLIN) Accept();
      for (size_t i = 0; i < (fds.size() - 1) / 2 && i < pairs_.size(); ++i) {
        Pair& p = pairs_[i];
        bool ok = true;
        if (fds[1 + 2 * i].revents & (POLLIN | POLLHUP | POLLERR)) ok = Pump(p.down, p.up);
        if (ok && fds[2 + 2 * i].revents & (POLLIN | POLLHUP | POLLERR)) ok = Pump(p.up, p.down);
        if (!ok) Close(p);
      }
      std::vector<Pair> open;
      for (const Pair& p : pairs_)
        if (p.down >= 0) open.push_back(p);
      pairs_.swap(open);
    }
  }

  const int upstream_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false}, cut_{false};
  std::atomic<int> cuts_{0}, refused_{0};
  std::vector<Pair> pairs_;  // the proxy thread's only
  std::thread thread_;
};

}  // namespace smartbus::testing

#endif  // SMARTBUS_TESTS_SERVER_TCP_PROXY_H_

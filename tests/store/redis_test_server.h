#pragma once
// A throwaway redis-server for tests: its own free loopback port and temp directory; start,
// stop (SIGTERM), kill -9 and restart on the same port and data (AOF survives a kill -9 with
// appendfsync always). Header-only, no hiredis needed: readiness is checked with a raw PING.
//
//   RedisTestServer redis({.appendonly = true});
//   ASSERT_TRUE(redis.Start().ok());
//   ... "redis://127.0.0.1:" + std::to_string(redis.port()) ...
//   redis.Kill9();   // crash it
//   ASSERT_TRUE(redis.Start().ok());  // same port, same dir: replays the AOF
//
// SharedRedisPort(): the port of the redis-server `make test` started (SMARTBUS_TEST_REDIS_PORT),
// or 0 when the variable is absent (then start your own). Never kill the shared one.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace smartbus::testing {

// The SMARTBUS_TEST_REDIS_PORT set by tests/run_tests.sh, or 0.
inline int SharedRedisPort() {
  const char* p = std::getenv("SMARTBUS_TEST_REDIS_PORT");
  if (p == nullptr || *p == '\0') return 0;
  return std::atoi(p);
}

// A free TCP port on 127.0.0.1 (bound and released; good enough for tests).
inline int FreeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  int port = 0;
  socklen_t len = sizeof(a);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

// True when a server on 127.0.0.1:port answers PING with +PONG (not -LOADING) within 1 s.
inline bool RedisAnswersPing(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  timeval tv{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      ::write(fd, "PING\r\n", 6) == 6) {
    char buf[64];
    ssize_t n = ::read(fd, buf, sizeof(buf));
    ok = (n >= 5 && std::memcmp(buf, "+PONG", 5) == 0) ||
         (n >= 7 && std::memcmp(buf, "-NOAUTH", 7) == 0);  // up, with a password
  }
  ::close(fd);
  return ok;
}

struct RedisTestServerOptions {
  bool appendonly = false;              // true: appendonly yes + appendfsync <appendfsync>
  std::string appendfsync = "always";   // with appendonly: "always", "everysec" or "no"
  std::string binary = "/usr/bin/redis-server";
  int port = 0;                         // 0: a free port chosen at the first Start
  std::vector<std::string> extra_args;  // e.g. {"--requirepass", "pw"}
};

class RedisTestServer {
 public:
  explicit RedisTestServer(RedisTestServerOptions options = {}) : options_(std::move(options)) {
    port_ = options_.port;
    std::string tmpl = (std::filesystem::temp_directory_path() / "sb-redis-XXXXXX").string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) != nullptr) dir_ = buf.data();
  }
  ~RedisTestServer() {
    Kill9();
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  RedisTestServer(const RedisTestServer&) = delete;
  RedisTestServer& operator=(const RedisTestServer&) = delete;

  // Starts redis-server (again: same port, same dir, so data persisted in the AOF comes back)
  // and waits until it answers PING (AOF loaded), at most 10 s.
  absl::Status Start() {
    if (pid_ > 0) return absl::FailedPreconditionError("redis test server already running");
    if (dir_.empty()) return absl::InternalError("redis test server: mkdtemp failed");
    if (port_ == 0) port_ = FreeLoopbackPort();
    if (port_ == 0) return absl::InternalError("redis test server: no free port");
    std::vector<std::string> args = {options_.binary,
                                     "--port", std::to_string(port_),
                                     "--bind", "127.0.0.1",
                                     "--dir", dir_,
                                     "--save", "",
                                     "--daemonize", "no",
                                     "--logfile", dir_ + "/redis.log",
                                     "--appendonly", options_.appendonly ? "yes" : "no"};
    if (options_.appendonly) {
      args.insert(args.end(), {"--appendfsync", options_.appendfsync});
    }
    args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
    pid_t pid = ::fork();
    if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
    if (pid == 0) {
      // Dies with the test (even a crashed one): no orphaned redis-server. Note: the signal
      // fires when the THREAD that called Start exits; start servers from a long-lived thread.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      int devnull = ::open("/dev/null", O_RDWR);
      if (devnull >= 0) {
        ::dup2(devnull, 1);
        ::dup2(devnull, 2);
      }
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    pid_ = pid;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      if (RedisAnswersPing(port_)) return absl::OkStatus();
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return absl::InternalError(absl::StrCat("redis-server on port ", port_,
                                                " exited at start; see ", dir_, "/redis.log"));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    Kill9();
    return absl::DeadlineExceededError(
        absl::StrCat("redis-server on port ", port_, " did not answer PING within 10 s"));
  }

  // kill -9: no shutdown, no final AOF rewrite; what was fsynced stays.
  void Kill9() { Signal(SIGKILL); }
  // SIGTERM: clean shutdown.
  void Stop() { Signal(SIGTERM); }

  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  std::string url() const { return absl::StrCat("redis://127.0.0.1:", port_); }

 private:
  void Signal(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  RedisTestServerOptions options_;
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace smartbus::testing

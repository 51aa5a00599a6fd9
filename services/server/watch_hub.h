#pragma once
// Display boards: one hub thread decides when each WatchArrivals stream gets its next board
// (on a change of its stop, at most every min_interval; a heartbeat otherwise), follows a GTFS
// reload into the new network, and ends every stream at shutdown.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "absl/time/time.h"
#include "grpcpp/support/server_callback.h"
#include "services/core/common/mutex.h"
#include "services/server/convert.h"

namespace smartbus::server {

class SmartbusServer;
class WatchReactor;

class WatchHub {
 public:
  // Reads the server's view, clock, options and draining flag.
  explicit WatchHub(const SmartbusServer* server);
  ~WatchHub();

  // A new WatchArrivals stream (or one refused with its status).
  grpc::ServerWriteReactor<pb::ArrivalsBoard>* Watch(const pb::WatchArrivalsRequest& req);
  // A watched stop changed: the hub thread looks at its streams soon.
  void Poke();
  // Ends every stream (UNAVAILABLE) at the hub thread's next turn.
  void BeginShutdown();
  // Open streams.
  uint32_t size() const;

  // From the reactors.
  void WriteDone(WatchReactor* r, bool ok);
  void Cancelled(WatchReactor* r);
  void Done(WatchReactor* r);

 private:
  void Run();

  const SmartbusServer* server_;
  mutable Mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> poked_{false};
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool exit_ ABSL_GUARDED_BY(mu_) = false;
  std::unordered_set<WatchReactor*> reactors_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace smartbus::server

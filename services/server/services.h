#pragma once
// The gRPC services of smartbusd (IngestService, PassengerService, NetworkService,
// OperatorService), implemented with gRPC's callback API: no thread per call, so thousands of
// bus streams and display boards share gRPC's small thread pool.

#include <cstdint>
#include <memory>

namespace grpc {
class ServerBuilder;
}

namespace smartbus::server {

class SmartbusServer;

class ServiceSet {
 public:
  virtual ~ServiceSet() = default;
  // Adds every service to the builder (before BuildAndStart).
  virtual void Register(grpc::ServerBuilder* builder) = 0;
  // Ends every display-board stream (UNAVAILABLE) and refuses new ones; ingest answers
  // UNAVAILABLE from now on.
  virtual void BeginShutdown() = 0;
  virtual uint32_t ingest_streams() const = 0;
  virtual uint32_t watch_streams() const = 0;
};

std::unique_ptr<ServiceSet> MakeServiceSet(SmartbusServer* server);

}  // namespace smartbus::server

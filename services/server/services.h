#pragma once
// The gRPC services of smartbusd, implemented with gRPC's callback API: no thread per call, so
// thousands of bus streams and display boards share gRPC's small thread pool. One file per
// service: ingest_service (over the gRPC-free pipeline in ingest.h), passenger_service (with
// the display-board streams of watch_hub), network_service, operator_service;
// analytics_service is registered by the server itself.

#include <cstdint>
#include <memory>

namespace grpc {
class ServerBuilder;
}

namespace smartbus::server {

class Ingest;
class SmartbusServer;

class ServiceSet {
 public:
  virtual ~ServiceSet() = default;
  // Adds every service to the builder (before BuildAndStart).
  virtual void Register(grpc::ServerBuilder* builder) = 0;
  // A watched stop changed (called by the shards).
  virtual void PokeWatchers() = 0;
  // Ends every display-board stream (UNAVAILABLE) and refuses new ones; ingest answers
  // UNAVAILABLE from now on.
  virtual void BeginShutdown() = 0;
  virtual uint32_t ingest_streams() const = 0;
  virtual uint32_t watch_streams() const = 0;
};

// `ingest` (owned by the server) outlives the set.
std::unique_ptr<ServiceSet> MakeServiceSet(SmartbusServer* server, Ingest* ingest);

}  // namespace smartbus::server

#pragma once
// smartbus.v1.OperatorService: fleet status (vehicles by state, stale ones) and the server's
// own status (feeds, shards, counters, store, streams, learned model).
#include <cstdint>
#include <functional>
#include <memory>

#include "grpcpp/impl/service_type.h"

namespace smartbus::server {

class SmartbusServer;
class WatchHub;

// `ingest_streams` counts the open StreamFixes calls; `hub` the display-board streams.
std::unique_ptr<grpc::Service> MakeOperatorService(const SmartbusServer* server,
                                                   std::function<uint32_t()> ingest_streams,
                                                   const WatchHub* hub);

}  // namespace smartbus::server

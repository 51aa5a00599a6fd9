#pragma once
// The GTFS-RT poller's way into smartbusd (services/gtfs_rt/poller.h): vehicle positions go
// through the same Ingest pipeline as the gRPC IngestService (same validation, back-pressure,
// shards, acknowledgement), and a feed's cancellations / alerts through the server's
// ServiceChangeKeeper (persisted, shown on boards).

#include <memory>

#include "services/gtfs_rt/poller.h"

namespace smartbus::server {

class SmartbusServer;

std::unique_ptr<gtfs_rt::GtfsRtSink> MakeGtfsRtSink(SmartbusServer* server);

}  // namespace smartbus::server

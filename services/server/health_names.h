#pragma once
// The grpc.health.v1 service names smartbusd reports: "" (the server as a whole), every
// smartbus.v1 service (SERVING while the server runs), and the storage (NOT_SERVING while the
// store is down). Header-only: `smartbus health` asks for the same names.

namespace smartbus::server {

inline constexpr const char* kServiceHealthNames[] = {
    "", "smartbus.v1.IngestService", "smartbus.v1.PassengerService",
    "smartbus.v1.NetworkService", "smartbus.v1.OperatorService", "smartbus.v1.AnalyticsService",
    "smartbus.v1.ConditionService"};
inline constexpr const char* kStorageHealth = "smartbus.storage";
// NOT_SERVING while a GTFS-RT feed (--gtfs_rt_*) has no good poll or a stalled header for
// its stall time; only registered when feeds are configured.
inline constexpr const char* kGtfsRtHealth = "smartbus.gtfs_rt";

}  // namespace smartbus::server

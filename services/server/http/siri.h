#pragma once
// SIRI-Lite JSON out, shaped like MTA Bus Time's (bustime.mta.info/wiki/Developers/SIRIIntro) so
// Bus Time clients work unchanged:
//
//   GET /siri/stop-monitoring.json?MonitoringRef=STOP[&LineRef=ROUTE][&DirectionRef=0|1]
//       [&MaximumStopVisits=N][&MinimumStopVisitsPerLine=N]
//       [&StopMonitoringDetailLevel=minimum|basic|normal|calls][&MaximumNumberOfCallsOnwards=N]
//   GET /siri/vehicle-monitoring.json?[VehicleRef=ID][&LineRef=ROUTE][&DirectionRef=0|1]
//       [&VehicleMonitoringDetailLevel=minimum|basic|normal|calls][&MaximumNumberOfCallsOnwards=N]
//
// `key`, `version` and `OperatorRef` are accepted and ignored (Bus Time requires a key; SmartBus
// does not). Ids are SmartBus's (GTFS ids), without Bus Time's agency prefixes. Only tracked
// buses are listed (MonitoredStopVisit = a live prediction), as Bus Time does.
// Extensions as Bus Time: MonitoredCall.Extensions.Distances {PresentableDistance,
// DistanceFromCall (m), StopsFromCall, CallDistanceAlongRoute (m)}; ProgressStatus "layover"
// (waiting at the terminal) and/or "prevTrip" (the bus is still on the trip before this one).
// Unknown parameters and bad values: 400 with Siri.ServiceDelivery...ErrorCondition naming them;
// an unknown MonitoringRef / VehicleRef / LineRef: 404 the same way.

#include <string>

namespace smartbus::server {

class HttpServer;
class SmartbusServer;

void AddSiriRoutes(HttpServer* http, SmartbusServer* server);

// PresentableDistance thresholds, OneBusAway NYC's PresentationService defaults (the code Bus
// Time runs): "at stop" within 100 ft, "approaching" within 500 ft. The GTFS-RT
// VehiclePositions (gtfs_rt.h) use the same two for STOPPED_AT / INCOMING_AT.
inline constexpr double kFeetPerMetre = 3.28084;
inline constexpr double kAtStopFeet = 100;
inline constexpr double kApproachingFeet = 500;

// Bus Time's PresentableDistance of a bus `distance_m` metres and `stops_away` stops from a
// stop: "at stop", "approaching", "< 1 stop away", "1 stop away", "N stops away" or
// "X.X miles away".
std::string PresentableDistance(double distance_m, int stops_away);

}  // namespace smartbus::server

#pragma once
// smartbus.v1.PassengerService: arrivals at a stop (GetArrivals, and WatchArrivals streamed by
// the WatchHub), stops near a point, one vehicle, the vehicles of a route or in a box.
#include <memory>

#include "grpcpp/impl/service_type.h"

namespace smartbus::server {

class SmartbusServer;
class WatchHub;

std::unique_ptr<grpc::Service> MakePassengerService(const SmartbusServer* server, WatchHub* hub);

}  // namespace smartbus::server

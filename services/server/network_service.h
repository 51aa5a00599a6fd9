#pragma once
// smartbus.v1.NetworkService: the loaded network (routes with their patterns and shapes, stop
// search by name, code or id, one stop).
#include <memory>

#include "grpcpp/impl/service_type.h"

namespace smartbus::server {

class SmartbusServer;
class WatchHub;

std::unique_ptr<grpc::Service> MakeNetworkService(const SmartbusServer* server);

}  // namespace smartbus::server

#pragma once
// smartbus.v1.ConditionService (proto/smartbus/v1/condition.proto): each bus's alarm events
// and driving time per day, read from the store (events are written behind, within about a
// second of the report) and, for today, the live condition of the vehicle's snapshot.
// Callback API (no thread per call). Register the returned service with the ServerBuilder.

#include <memory>

#include "grpcpp/impl/service_type.h"

namespace smartbus::server {

class SmartbusServer;

std::unique_ptr<grpc::Service> MakeConditionService(SmartbusServer* server);

}  // namespace smartbus::server

#pragma once
// smartbus.v1.AnalyticsService (proto/smartbus/v1/analytics.proto): the operator analytics
// served by smartbusd, answered by an AnalyticsHub over the server's store and vehicles.
// Callback API (no thread per call). Register the returned service with the ServerBuilder.

#include <memory>

#include "grpcpp/impl/service_type.h"
#include "services/server/analytics_hub.h"

namespace smartbus::server {

class SmartbusServer;

std::unique_ptr<grpc::Service> MakeAnalyticsService(SmartbusServer* server,
                                                    const AnalyticsHubOptions& options = {});

}  // namespace smartbus::server

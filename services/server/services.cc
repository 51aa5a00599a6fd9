#include "services/server/services.h"

#include "grpcpp/server_builder.h"
#include "services/server/auth.h"
#include "services/server/ingest_service.h"
#include "services/server/network_service.h"
#include "services/server/operator_service.h"
#include "services/server/passenger_service.h"
#include "services/server/server.h"
#include "services/server/watch_hub.h"

namespace smartbus::server {
namespace {

class ServiceSetImpl final : public ServiceSet {
 public:
  ServiceSetImpl(SmartbusServer* server, Ingest* ingest)
      : hub_(server),
        ingest_(ingest, server->options().max_stream_inflight,
                [server](const grpc::ServerContextBase& ctx, const pb::IngestRequest& req) {
                  Authorizer& auth = server->auth();
                  if (auto s = auth.CheckIngest(ctx, req, *server->view()->network); !s.ok())
                    return s;
                  return auth.AdmitFixes(ctx, static_cast<size_t>(req.fixes_size()));
                }),
        passenger_(MakePassengerService(server, &hub_)), network_(MakeNetworkService(server)),
        operator_(MakeOperatorService(server, [this] { return ingest_.streams(); }, &hub_)) {}
  void Register(grpc::ServerBuilder* b) override {
    b->RegisterService(&ingest_);
    b->RegisterService(passenger_.get());
    b->RegisterService(network_.get());
    b->RegisterService(operator_.get());
  }
  void PokeWatchers() override { hub_.Poke(); }
  void BeginShutdown() override { hub_.BeginShutdown(); }
  uint32_t ingest_streams() const override { return ingest_.streams(); }
  uint32_t watch_streams() const override { return hub_.size(); }

 private:
  WatchHub hub_;
  IngestServiceImpl ingest_;
  std::unique_ptr<grpc::Service> passenger_;
  std::unique_ptr<grpc::Service> network_;
  std::unique_ptr<grpc::Service> operator_;
};

}  // namespace

std::unique_ptr<ServiceSet> MakeServiceSet(SmartbusServer* server, Ingest* ingest) {
  return std::make_unique<ServiceSetImpl>(server, ingest);
}

}  // namespace smartbus::server

#pragma once
// Small helpers shared by the smartbus.v1 gRPC service implementations (callback API).

#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/server_callback.h"
#include "services/server/convert.h"

namespace smartbus::server {

// A server-streaming call refused before it started.
template <typename T>
class ErrorWriteReactor : public grpc::ServerWriteReactor<T> {
 public:
  explicit ErrorWriteReactor(const grpc::Status& s) { this->Finish(s); }
  void OnDone() override { delete this; }
};

// Finishes a unary call with `s` (the response message is already filled when s is OK).
inline grpc::ServerUnaryReactor* Reply(grpc::CallbackServerContext* ctx, const absl::Status& s) {
  auto* r = ctx->DefaultReactor();
  r->Finish(ToGrpc(s));
  return r;
}

// INVALID_ARGUMENT naming `field` unless p is a finite lat -90..90, lon -180..180.
inline absl::Status CheckLatLon(const pb::LatLon& p, const char* field) {
  if (!std::isfinite(p.lat()) || !std::isfinite(p.lon()) || p.lat() < -90 || p.lat() > 90 ||
      p.lon() < -180 || p.lon() > 180)
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": lat=", p.lat(), " lon=", p.lon(),
        " must be finite, lat -90..90, lon -180..180"));
  return absl::OkStatus();
}

}  // namespace smartbus::server

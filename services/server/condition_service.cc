#include "services/server/condition_service.h"

#include <cmath>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "grpcpp/support/server_callback.h"
#include "services/server/server.h"
#include "smartbus/v1/condition.grpc.pb.h"

namespace smartbus::server {
namespace {

namespace pb = ::smartbus::v1;

grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* ctx, const absl::Status& s) {
  auto* r = ctx->DefaultReactor();
  r->Finish(s.ok() ? grpc::Status::OK
                   : grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message())));
  return r;
}

int32_t DateOf(absl::CivilDay d) {
  return static_cast<int32_t>(d.year() * 10000 + d.month() * 100 + d.day());
}

class ConditionServiceImpl final : public pb::ConditionService::CallbackService {
 public:
  explicit ConditionServiceImpl(SmartbusServer* server) : server_(server) {}

  grpc::ServerUnaryReactor* GetVehicleEvents(grpc::CallbackServerContext* ctx,
                                             const pb::GetVehicleEventsRequest* req,
                                             pb::GetVehicleEventsResponse* resp) override {
    return Finish(ctx, Answer(*req, resp));
  }

 private:
  absl::Status Answer(const pb::GetVehicleEventsRequest& req, pb::GetVehicleEventsResponse* resp) {
    if (req.vehicle_id().empty())
      return absl::InvalidArgumentError("vehicle_id: empty (name the vehicle)");
    const absl::TimeZone tz = server_->view()->network->time_zone();
    absl::CivilDay day = absl::ToCivilDay(absl::FromUnixSeconds(server_->Now()), tz);
    if (req.date() != 0) {
      const int32_t d = req.date();
      day = absl::CivilDay(d / 10000, d / 100 % 100, d % 100);
      if (DateOf(day) != d)
        return absl::InvalidArgumentError(absl::StrCat("date=", d, ": not a YYYYMMDD date"));
    }
    const int32_t date = DateOf(day);
    const int64_t from = absl::ToUnixSeconds(absl::FromCivil(day, tz));
    const int64_t to = absl::ToUnixSeconds(absl::FromCivil(day + 1, tz)) - 1;
    resp->set_vehicle_id(req.vehicle_id());
    resp->set_date(date);
    resp->set_time_zone(tz.name());
    auto events = server_->store().ReadConditionEvents(req.vehicle_id(), from, to);
    if (!events.ok()) return events.status();
    std::set<std::string> active;
    for (const ConditionEvent& e : *events) {
      pb::AlarmEvent* a = resp->add_events();
      a->set_time(e.time_s);
      a->set_alarm(e.alarm);
      a->set_raised(e.raised);
      a->mutable_position()->set_lat(e.lat);
      a->mutable_position()->set_lon(e.lon);
      if (std::isfinite(e.speed_mps)) a->set_speed_mps(e.speed_mps);
      if (e.raised) {
        active.insert(e.alarm);
      } else {
        active.erase(e.alarm);
      }
    }
    // Today: the live condition (driving time so far, alarms active now).
    std::shared_ptr<VehicleSlot> slot =
        server_->ShardFor(req.vehicle_id()).directory().Find(req.vehicle_id());
    auto snap = slot ? slot->snapshot.load(std::memory_order_acquire) : nullptr;
    if (snap && snap->has_condition && snap->condition.day == date) {
      resp->set_driving_s(snap->condition.driving_day_s);
      for (std::string& a : ActiveAlarmNames(snap->condition.active))
        resp->add_active_alarms(std::move(a));
      return absl::OkStatus();
    }
    auto days = server_->store().ReadDrivingDays(req.vehicle_id());
    if (!days.ok()) return days.status();
    for (const DrivingDay& d : *days)
      if (d.day == date) resp->set_driving_s(d.driving_s);
    for (const std::string& a : active) resp->add_active_alarms(a);
    return absl::OkStatus();
  }

  SmartbusServer* server_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeConditionService(SmartbusServer* server) {
  return std::make_unique<ConditionServiceImpl>(server);
}

}  // namespace smartbus::server

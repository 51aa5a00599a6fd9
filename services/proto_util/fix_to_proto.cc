#include "services/proto_util/fix_to_proto.h"

#include <cmath>

namespace smartbus {

void FixToProto(const Fix& f, smartbus::v1::Fix* out) {
  namespace pb = ::smartbus::v1;
  out->set_vehicle_id(f.vehicle_id);
  out->set_timestamp(f.timestamp_s);
  out->set_lat(f.lat);
  out->set_lon(f.lon);
  if (std::isfinite(f.bearing_deg)) out->set_bearing_deg(f.bearing_deg);
  if (std::isfinite(f.speed_mps)) out->set_speed_mps(f.speed_mps);
  out->set_trip_id(f.trip_id);
  out->set_route_id(f.route_id);
  if (f.occupancy >= 0 && f.occupancy <= 8)
    out->set_occupancy(static_cast<pb::Occupancy>(f.occupancy + 1));
  if (f.boardings >= 0) out->set_boardings(f.boardings);
  if (f.alightings >= 0) out->set_alightings(f.alightings);
  if (f.load >= 0) out->set_load(f.load);
  if (std::isfinite(f.accuracy_m)) out->set_accuracy_m(f.accuracy_m);
  if (!f.device.present) return;
  pb::DeviceStatus* d = out->mutable_device();
  d->set_alarm_flags(f.device.alarm_flags);
  d->set_status_flags(f.device.status_flags);
  if (std::isfinite(f.device.odometer_m)) d->set_odometer_m(f.device.odometer_m);
  if (std::isfinite(f.device.fuel_l)) d->set_fuel_l(f.device.fuel_l);
  if (f.device.signal_strength >= 0) d->set_signal_strength(f.device.signal_strength);
  if (f.device.satellites >= 0) d->set_satellites(f.device.satellites);
}

}  // namespace smartbus

#include "services/core/tracking/fix_filter.h"

namespace smartbus {

RejectReason FixFilter::Screen(const Fix& fix, int64_t now_s) const {
  if (fix.vehicle_id.empty()) return RejectReason::kInvalidVehicleId;
  if (!IsValidLatLon(fix.lat, fix.lon)) return RejectReason::kInvalidCoordinates;
  if (fix.timestamp_s > now_s + opt_.future_tolerance_s) return RejectReason::kFutureTimestamp;
  return RejectReason::kNone;
}

Admission FixFilter::Admit(FixHistory& h, const Fix& fix, Vec2 p) const {
  Admission a;
  if (fix.timestamp_s == h.newest_ts) {
    a.reason = RejectReason::kDuplicate;
    return a;
  }
  if (fix.timestamp_s < h.newest_ts) {
    a.reason = RejectReason::kOutOfOrder;
    return a;
  }
  if (h.has_pos) {
    double dt = static_cast<double>(fix.timestamp_s - h.pos_ts);
    if (Dist(p, h.xy) > opt_.jump_speed_mps * dt + opt_.jump_slack_m) {
      // Implausible from the previous accepted position: counted while the jumps agree.
      double dt_jump = static_cast<double>(fix.timestamp_s - h.jump_ts);
      if (h.jump_count > 0 && Dist(p, h.jump_xy) <= opt_.jump_speed_mps * dt_jump +
                                                        opt_.jump_slack_m) {
        ++h.jump_count;
      } else {
        h.jump_count = 1;
      }
      h.jump_xy = p;
      h.jump_ts = fix.timestamp_s;
      if (h.jump_count < opt_.jump_reanchor_fixes) {
        a.reason = RejectReason::kImplausibleJump;
        return a;
      }
      a.reanchor = true;
    }
  }
  h.jump_count = 0;
  a.g = h.has_pos ? Dist(p, h.xy) : 0;
  if (h.has_pos) a.move = p - h.xy;
  a.first = !h.has_pos;
  h.has_pos = true;
  h.xy = p;
  h.pos_ts = fix.timestamp_s;
  h.newest_ts = fix.timestamp_s;
  return a;
}

}  // namespace smartbus

#include "services/core/tracking/types.h"

namespace smartbus {

absl::string_view MatchStateName(MatchState s) {
  switch (s) {
    case MatchState::kInService: return "in_service";
    case MatchState::kLayover: return "layover";
    case MatchState::kOffRoute: return "off_route";
    case MatchState::kUnassigned: return "unassigned";
    case MatchState::kRejected: return "rejected";
  }
  return "unassigned";
}

absl::string_view RejectReasonName(RejectReason r) {
  switch (r) {
    case RejectReason::kNone: return "";
    case RejectReason::kDuplicate: return "duplicate";
    case RejectReason::kOutOfOrder: return "out_of_order";
    case RejectReason::kInvalidCoordinates: return "invalid_coordinates";
    case RejectReason::kFutureTimestamp: return "future_timestamp";
    case RejectReason::kImplausibleJump: return "implausible_jump";
    case RejectReason::kInvalidVehicleId: return "invalid_vehicle_id";
  }
  return "";
}

}  // namespace smartbus

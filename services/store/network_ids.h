#pragma once
// Index <-> string id translation between the engine's core structs (indices into one Network)
// and the store's records (string ids, stable across GTFS reloads). Header-only: callers link
// sb_network themselves; sb_store does not depend on it.
//
//   write: store.PutVehicle(MakeVehicleRecord(state, *network));   // network the state used
//   read:  ResolveIndices(record, *current_network);                // after a restart/reload
// An id the network does not have resolves to kNoIndex (e.g. a trip removed by the new feed).

#include "services/core/network/network.h"
#include "services/store/store.h"

namespace smartbus {

namespace network_ids_internal {
inline std::string TripId(const Network& n, TripIdx i) {
  return i < n.feed().trips.size() ? n.feed().trips[i].id : std::string();
}
inline std::string RouteId(const Network& n, uint32_t i) {
  return i < n.feed().routes.size() ? n.feed().routes[i].id : std::string();
}
inline std::string StopId(const Network& n, uint32_t i) {
  return i < n.feed().stops.size() ? n.feed().stops[i].id : std::string();
}
template <class I>  // uint32_t or an Index kind
I Find(const absl::flat_hash_map<std::string, I>& index, const std::string& id) {
  if (id.empty()) return kNoIndex;
  auto it = index.find(id);
  return it == index.end() ? I(kNoIndex) : it->second;
}
}  // namespace network_ids_internal

inline VehicleRecord MakeVehicleRecord(const VehicleState& s, const Network& n) {
  VehicleRecord r;
  r.state = s;
  r.trip_id = network_ids_internal::TripId(n, s.trip);
  r.route_id = network_ids_internal::RouteId(n, s.route);
  return r;
}

inline StopVisitRecord MakeStopVisitRecord(const StopVisit& v, const Network& n) {
  StopVisitRecord r;
  r.visit = v;
  r.trip_id = network_ids_internal::TripId(n, v.trip);
  r.route_id = network_ids_internal::RouteId(n, v.route);
  r.stop_id = network_ids_internal::StopId(n, v.stop);
  return r;
}

// Sets state.trip / state.route from the record's string ids.
inline void ResolveIndices(VehicleRecord& r, const Network& n) {
  r.state.trip = network_ids_internal::Find(n.feed().trip_index, r.trip_id);
  r.state.route = network_ids_internal::Find(n.feed().route_index, r.route_id);
}

// Sets visit.trip / .route / .stop from the record's string ids.
inline void ResolveIndices(StopVisitRecord& r, const Network& n) {
  r.visit.trip = network_ids_internal::Find(n.feed().trip_index, r.trip_id);
  r.visit.route = network_ids_internal::Find(n.feed().route_index, r.route_id);
  r.visit.stop = network_ids_internal::Find(n.feed().stop_index, r.stop_id);
}

}  // namespace smartbus

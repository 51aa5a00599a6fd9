// The Store contract: the SAME cases run against MemoryStore and RedisStore (a real
// redis-server: the one `make test` started, or one this binary starts on a free port).

#include <hiredis/hiredis.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "services/store/codec.h"
#include "services/store/memory_store.h"
#include "services/store/redis_store.h"
#include "services/store/store.h"
#include "services/store/store_writer.h"
#include "tests/store/redis_test_server.h"

namespace smartbus {
namespace {

// One redis-server for this binary when make test did not provide one.
int TestRedisPort() {
  static int port = [] {
    if (int shared = testing::SharedRedisPort(); shared != 0) return shared;
    static testing::RedisTestServer own;  // stopped (kill -9) at exit
    absl::Status s = own.Start();
    if (!s.ok()) {
      ADD_FAILURE() << s;
      return 0;
    }
    return own.port();
  }();
  return port;
}

// Each test gets its own key prefix, so tests (and parallel ctest runs) share one Redis safely.
std::string UniquePrefix() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  static std::atomic<int> n{0};
  return absl::StrCat("sbtest:", getpid(), ":", info->test_suite_name(), ".", info->name(), ":",
                      n++, ":");
}

struct MemoryFactory {
  static constexpr bool kPersistent = false;
  std::shared_ptr<MemoryStore> store;
  std::unique_ptr<Store> Open(const StoreOptions& o) {
    if (!store) store = std::make_shared<MemoryStore>(o);
    // "Reopening" memory gives the same data (it is the same process).
    struct Handle : Store {
      std::shared_ptr<MemoryStore> s;
      absl::Status PutVehicle(const VehicleRecord& v) override { return s->PutVehicle(v); }
      absl::StatusOr<VehicleRecord> GetVehicle(absl::string_view id) override {
        return s->GetVehicle(id);
      }
      absl::StatusOr<std::vector<VehicleRecord>> ListVehicles() override {
        return s->ListVehicles();
      }
      absl::Status AppendPosition(const Fix& f) override { return s->AppendPosition(f); }
      absl::StatusOr<std::vector<std::string>> ListPositionVehicles() override {
        return s->ListPositionVehicles();
      }
      absl::StatusOr<std::vector<Fix>> ReadPositions(absl::string_view id, int64_t t) override {
        return s->ReadPositions(id, t);
      }
      absl::Status AppendStopVisit(const StopVisitRecord& v) override {
        return s->AppendStopVisit(v);
      }
      absl::StatusOr<std::vector<StopVisitRecord>> ReadStopVisits(
          const StopVisitQuery& q) override {
        return s->ReadStopVisits(q);
      }
      absl::Status PutModel(absl::string_view n, absl::string_view b) override {
        return s->PutModel(n, b);
      }
      absl::StatusOr<std::string> GetModel(absl::string_view n) override { return s->GetModel(n); }
      absl::Status PutLearnedPath(const LearnedPath& p) override { return s->PutLearnedPath(p); }
      absl::StatusOr<std::vector<LearnedPath>> ListLearnedPaths() override {
        return s->ListLearnedPaths();
      }
      absl::StatusOr<std::vector<ConditionEvent>> ReadConditionEvents(absl::string_view id,
                                                                      int64_t from,
                                                                      int64_t to) override {
        return s->ReadConditionEvents(id, from, to);
      }
      absl::StatusOr<std::vector<DrivingDay>> ReadDrivingDays(absl::string_view id) override {
        return s->ReadDrivingDays(id);
      }
      absl::Status Apply(absl::Span<const StoreChange> c) override { return s->Apply(c); }
      absl::Status ApplyServiceChanges(const ServiceChangeDiff& d) override {
        return s->ApplyServiceChanges(d);
      }
      absl::StatusOr<StoredServiceChanges> ListServiceChanges() override {
        return s->ListServiceChanges();
      }
      StoreHealth Health() override { return s->Health(); }
      std::string Describe() const override { return s->Describe(); }
    };
    auto h = std::make_unique<Handle>();
    h->s = store;
    return h;
  }
  void Cleanup() {}
};

struct RedisFactory {
  static constexpr bool kPersistent = true;
  std::string prefix = UniquePrefix();
  std::unique_ptr<Store> Open(StoreOptions o) {
    o.key_prefix = prefix;
    RedisAddress a;
    a.port = TestRedisPort();
    return std::make_unique<RedisStore>(a, o);
  }
  void Cleanup() {
    StoreOptions o;
    o.key_prefix = prefix;
    RedisAddress a;
    a.port = TestRedisPort();
    RedisStore s(a, o);
    (void)s.DeleteAllKeys();
  }
};

// The same Redis, every batch wrapped in MULTI/EXEC (what happens with appendfsync always).
struct RedisAtomicFactory : RedisFactory {
  std::unique_ptr<Store> Open(StoreOptions o) {
    o.redis_atomic_batches = StoreOptions::AtomicBatches::kAlways;
    return RedisFactory::Open(o);
  }
};

template <typename Factory>
class StoreContractTest : public ::testing::Test {
 protected:
  void TearDown() override { factory_.Cleanup(); }
  // A store handle; a second call with the same test "reopens" the same data.
  std::unique_ptr<Store> Open(const StoreOptions& o = {}) { return factory_.Open(o); }
  Factory factory_;
};

using Factories = ::testing::Types<MemoryFactory, RedisFactory, RedisAtomicFactory>;
class FactoryNames {
 public:
  template <typename T>
  static std::string GetName(int) {
    if (std::is_same_v<T, MemoryFactory>) return "Memory";
    return std::is_same_v<T, RedisFactory> ? "Redis" : "RedisMultiExec";
  }
};
TYPED_TEST_SUITE(StoreContractTest, Factories, FactoryNames);

VehicleRecord Vehicle(const std::string& id, int64_t t) {
  VehicleRecord r;
  VehicleState& s = r.state;
  s.vehicle_id = id;
  s.timestamp_s = t;
  s.pos = {38.8977123456789, -77.0365987654321};
  s.bearing_deg = 271.5f;
  s.speed_mps = NAN;  // unknown stays unknown
  s.state = MatchState::kInService;
  s.trip = TripIdx(17);  // an index: not persisted
  s.route = 3;
  s.service_date = 20260216;
  s.day_start_s = 1771200000;
  s.dist_along_m = 1234.5678;
  s.offset_m = 3.25;
  s.next_stop_index = 12;
  s.delay_s = -42.5;
  s.occupancy = 2;
  s.load = 37;
  r.trip_id = "T-1001:weekday";
  r.route_id = "R70";
  return r;
}

Fix Position(const std::string& id, int64_t t) {
  Fix f;
  f.vehicle_id = id;
  f.timestamp_s = t;
  f.lat = 38.9 + t * 1e-6;
  f.lon = -77.03 - t * 1e-6;
  if (t % 2 == 0) {
    f.bearing_deg = 90.25f;
    f.speed_mps = 7.5f;
    f.trip_id = "T1";
    f.route_id = "R1";
    f.occupancy = 1;
    f.boardings = 3;
    f.alightings = 0;
    f.load = 12;
    f.accuracy_m = 4.5f;
  }
  return f;
}

StopVisitRecord Visit(const std::string& vehicle, const std::string& route,
                      const std::string& stop, double arrival_s) {
  StopVisitRecord r;
  StopVisit& v = r.visit;
  v.vehicle_id = vehicle;
  v.trip = TripIdx(5);
  v.route = 6;
  v.stop = 7;
  v.stop_index = 4;
  v.stop_sequence = 50;
  v.service_date = 20260216;
  v.scheduled_arrival_s = int64_t(arrival_s) - 30;
  v.scheduled_departure_s = int64_t(arrival_s) - 20;
  v.arrival_s = arrival_s;
  v.departure_s = arrival_s + 12.25;
  v.boardings = 2;
  v.load = 20;
  r.trip_id = "trip-" + vehicle;
  r.route_id = route;
  r.stop_id = stop;
  return r;
}

void ExpectSameVehicle(const VehicleRecord& want, const VehicleRecord& got) {
  const VehicleState& a = want.state;
  const VehicleState& b = got.state;
  EXPECT_EQ(b.vehicle_id, a.vehicle_id);
  EXPECT_EQ(b.timestamp_s, a.timestamp_s);
  EXPECT_EQ(b.pos.lat, a.pos.lat);
  EXPECT_EQ(b.pos.lon, a.pos.lon);
  EXPECT_EQ(b.bearing_deg, a.bearing_deg);
  EXPECT_EQ(std::isnan(b.speed_mps), std::isnan(a.speed_mps));
  if (!std::isnan(a.speed_mps)) { EXPECT_EQ(b.speed_mps, a.speed_mps); }
  EXPECT_EQ(b.state, a.state);
  EXPECT_EQ(b.service_date, a.service_date);
  EXPECT_EQ(b.day_start_s, a.day_start_s);
  EXPECT_EQ(b.dist_along_m, a.dist_along_m);
  EXPECT_EQ(b.offset_m, a.offset_m);
  EXPECT_EQ(b.next_stop_index, a.next_stop_index);
  EXPECT_EQ(b.delay_s, a.delay_s);
  EXPECT_EQ(b.occupancy, a.occupancy);
  EXPECT_EQ(b.load, a.load);
  EXPECT_EQ(got.trip_id, want.trip_id);
  EXPECT_EQ(got.route_id, want.route_id);
  // Indices are never persisted: the reader re-resolves the ids against its Network.
  EXPECT_EQ(b.trip, kNoIndex);
  EXPECT_EQ(b.route, kNoIndex);
}

void ExpectSameFix(const Fix& a, const Fix& b) {
  EXPECT_EQ(b.vehicle_id, a.vehicle_id);
  EXPECT_EQ(b.timestamp_s, a.timestamp_s);
  EXPECT_EQ(b.lat, a.lat);
  EXPECT_EQ(b.lon, a.lon);
  EXPECT_EQ(std::isnan(b.bearing_deg), std::isnan(a.bearing_deg));
  if (!std::isnan(a.bearing_deg)) { EXPECT_EQ(b.bearing_deg, a.bearing_deg); }
  EXPECT_EQ(std::isnan(b.speed_mps), std::isnan(a.speed_mps));
  if (!std::isnan(a.speed_mps)) { EXPECT_EQ(b.speed_mps, a.speed_mps); }
  EXPECT_EQ(b.trip_id, a.trip_id);
  EXPECT_EQ(b.route_id, a.route_id);
  EXPECT_EQ(b.occupancy, a.occupancy);
  EXPECT_EQ(b.boardings, a.boardings);
  EXPECT_EQ(b.alightings, a.alightings);
  EXPECT_EQ(b.load, a.load);
  EXPECT_EQ(std::isnan(b.accuracy_m), std::isnan(a.accuracy_m));
}

TYPED_TEST(StoreContractTest, VehicleRoundTripAndReplace) {
  auto store = this->Open();
  EXPECT_EQ(store->GetVehicle("bus-1").status().code(), absl::StatusCode::kNotFound);

  VehicleRecord v = Vehicle("bus-1", 1000);
  ASSERT_TRUE(store->PutVehicle(v).ok());
  auto got = store->GetVehicle("bus-1");
  ASSERT_TRUE(got.ok()) << got.status();
  ExpectSameVehicle(v, *got);

  // A newer state replaces the old one, including fields that became unknown.
  VehicleRecord v2 = Vehicle("bus-1", 1030);
  v2.state.delay_s = NAN;
  v2.state.state = MatchState::kLayover;
  v2.trip_id = "";
  ASSERT_TRUE(store->PutVehicle(v2).ok());
  got = store->GetVehicle("bus-1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->state.timestamp_s, 1030);
  EXPECT_TRUE(std::isnan(got->state.delay_s));
  EXPECT_EQ(got->state.state, MatchState::kLayover);
  EXPECT_EQ(got->trip_id, "");
}

TYPED_TEST(StoreContractTest, ListVehiclesIsSortedById) {
  auto store = this->Open();
  for (const char* id : {"b", "c", "a", "b"}) {
    ASSERT_TRUE(store->PutVehicle(Vehicle(id, 5)).ok());
  }
  auto list = store->ListVehicles();
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].state.vehicle_id, "a");
  EXPECT_EQ((*list)[1].state.vehicle_id, "b");
  EXPECT_EQ((*list)[2].state.vehicle_id, "c");
}

TYPED_TEST(StoreContractTest, EmptyIdsAreInvalidArgument) {
  auto store = this->Open();
  EXPECT_EQ(store->PutVehicle(Vehicle("", 1)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->AppendPosition(Position("", 1)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->AppendStopVisit(Visit("", "r", "s", 1)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->PutModel("", "x").code(), absl::StatusCode::kInvalidArgument);
}

TYPED_TEST(StoreContractTest, PositionsRoundTripInOrderWithSince) {
  auto store = this->Open();
  std::vector<Fix> fixes;
  for (int64_t t = 100; t < 110; ++t) {
    fixes.push_back(Position("bus-7", t));
    ASSERT_TRUE(store->AppendPosition(fixes.back()).ok());
  }
  ASSERT_TRUE(store->AppendPosition(Position("other", 100)).ok());
  auto got = store->ReadPositions("bus-7", 0);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), fixes.size());
  for (size_t i = 0; i < fixes.size(); ++i) ExpectSameFix(fixes[i], (*got)[i]);

  got = store->ReadPositions("bus-7", 105);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 5u);
  EXPECT_EQ(got->front().timestamp_s, 105);

  got = store->ReadPositions("nobody", 0);
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->empty());
}

// Recovery rebuilds vehicles from their positions when no state was ever written (smartbusd
// killed -9 before its first state flush recovered 0 of 31 vehicles).
TYPED_TEST(StoreContractTest, ListPositionVehiclesNamesVehiclesWithoutState) {
  auto store = this->Open();
  ASSERT_TRUE(store->AppendPosition(Position("z-bus", 100)).ok());
  ASSERT_TRUE(store->AppendPosition(Position("a-bus", 100)).ok());
  ASSERT_TRUE(store->AppendPosition(Position("a-bus", 101)).ok());
  ASSERT_TRUE(store->PutVehicle(Vehicle("state-only", 5)).ok());
  auto ids = store->ListPositionVehicles();
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(*ids, (std::vector<std::string>{"a-bus", "z-bus"}));
}

TYPED_TEST(StoreContractTest, PositionHistoryKeepsTheNewestCapEntries) {
  StoreOptions o;
  o.positions_cap = 50;
  auto store = this->Open(o);
  std::vector<StoreChange> batch;
  for (int64_t t = 0; t < 500; ++t) batch.push_back(Position("bus-1", t));
  ASSERT_TRUE(store->Apply(batch).ok());
  auto got = store->ReadPositions("bus-1", 0);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 50u);
  EXPECT_EQ(got->front().timestamp_s, 450);
  EXPECT_EQ(got->back().timestamp_s, 499);
}

// One batch holding many fixes of a few vehicles, interleaved, some out of time order and one
// timestamp twice (Redis writes each vehicle's fixes of a batch as one or a few stream entries).
TYPED_TEST(StoreContractTest, ABatchOfManyFixesPerVehicleReadsBackSortedNewestCap) {
  StoreOptions o;
  o.positions_cap = 150;
  auto store = this->Open(o);
  std::vector<StoreChange> batch;
  std::vector<Fix> bus1;
  for (int64_t i = 0; i < 200; ++i) {
    // Every 10th is older than its predecessor (odd, between the two before it).
    const int64_t t = 1000 + (i % 10 == 3 ? 2 * i - 3 : 2 * i);
    bus1.push_back(Position("bus-1", t));
    batch.push_back(bus1.back());
    batch.push_back(Position("bus-2", 5000 + i));
  }
  batch.push_back(Position("bus-1", 1398));  // bus1[199]'s timestamp again: the first one wins
  std::get<Fix>(batch.back()).lat = 1.0;
  ASSERT_TRUE(store->Apply(batch).ok());
  // The newest 150 distinct timestamps of bus-1 (the last one appended is a copy): bus1[50..199].
  std::vector<Fix> want(bus1.begin() + 50, bus1.end());
  std::stable_sort(want.begin(), want.end(),
                   [](const Fix& a, const Fix& b) { return a.timestamp_s < b.timestamp_s; });
  auto got = store->ReadPositions("bus-1", 0);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) ExpectSameFix(want[i], (*got)[i]);
  EXPECT_EQ(got->back().timestamp_s, 1398);
  EXPECT_NE(got->back().lat, 1.0);
  got = store->ReadPositions("bus-2", 5100);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 100u);
  for (int64_t i = 0; i < 100; ++i) EXPECT_EQ((*got)[i].timestamp_s, 5100 + i);
}

TYPED_TEST(StoreContractTest, RetriedBatchDoesNotDuplicateAnything) {
  // The StoreWriter re-sends a whole batch when the store failed mid-way.
  auto store = this->Open();
  std::vector<StoreChange> batch = {Position("bus-1", 10), Position("bus-1", 11),
                                    Visit("bus-1", "R1", "S1", 1000.5),
                                    Vehicle("bus-1", 11)};
  ASSERT_TRUE(store->Apply(batch).ok());
  ASSERT_TRUE(store->Apply(batch).ok());
  auto pos = store->ReadPositions("bus-1", 0);
  ASSERT_TRUE(pos.ok());
  EXPECT_EQ(pos->size(), 2u);
  auto visits = store->ReadStopVisits({});
  ASSERT_TRUE(visits.ok());
  EXPECT_EQ(visits->size(), 1u);
}

// A write that timed out after Redis ran it is sent again (StoreWriter retries): under load
// (appendfsync always, a busy disk) the same fixes were appended several times, and the copies
// filled the newest `cap` entries, so a vehicle's oldest acknowledged fixes were missing from
// ReadPositions (EndToEndTest, "acknowledged fixes missing from Redis after kill -9").
TYPED_TEST(StoreContractTest, RetriedCopiesDoNotCrowdOutOlderFixes) {
  StoreOptions o;
  o.positions_cap = 50;
  auto store = this->Open(o);
  std::vector<StoreChange> batch;
  for (int64_t t = 0; t < 100; ++t) batch.push_back(Position("bus-1", t));
  for (int copy = 0; copy < 6; ++copy)
    for (int64_t t = 60; t < 100; ++t) batch.push_back(Position("bus-1", t));
  ASSERT_TRUE(store->Apply(batch).ok());
  auto got = store->ReadPositions("bus-1", 0);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 50u);
  for (int64_t i = 0; i < 50; ++i) EXPECT_EQ((*got)[i].timestamp_s, 50 + i);
  got = store->ReadPositions("bus-1", 55);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 45u);
  EXPECT_EQ(got->front().timestamp_s, 55);
}

TYPED_TEST(StoreContractTest, StopVisitsRoundTripAndFilters) {
  auto store = this->Open();
  // Ids with separators and non-ASCII must survive.
  std::vector<StopVisitRecord> in = {
      Visit("bus-1", "R1", "S1", 1000), Visit("bus-2", "R1", "S2", 1100.75),
      Visit("bus-3", "R2", "S1", 1200), Visit("bus\t4", "R:2", "Sü|1\\", 1300)};
  for (const auto& v : in) ASSERT_TRUE(store->AppendStopVisit(v).ok());

  auto all = store->ReadStopVisits({});
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 4u);
  for (size_t i = 0; i < in.size(); ++i) {
    const StopVisitRecord& a = in[i];
    const StopVisitRecord& b = (*all)[i];  // sorted by arrival
    EXPECT_EQ(b.visit.vehicle_id, a.visit.vehicle_id);
    EXPECT_EQ(b.trip_id, a.trip_id);
    EXPECT_EQ(b.route_id, a.route_id);
    EXPECT_EQ(b.stop_id, a.stop_id);
    EXPECT_EQ(b.visit.stop_index, a.visit.stop_index);
    EXPECT_EQ(b.visit.stop_sequence, a.visit.stop_sequence);
    EXPECT_EQ(b.visit.service_date, a.visit.service_date);
    EXPECT_EQ(b.visit.scheduled_arrival_s, a.visit.scheduled_arrival_s);
    EXPECT_EQ(b.visit.scheduled_departure_s, a.visit.scheduled_departure_s);
    EXPECT_EQ(b.visit.arrival_s, a.visit.arrival_s);
    EXPECT_EQ(b.visit.departure_s, a.visit.departure_s);
    EXPECT_EQ(b.visit.boardings, a.visit.boardings);
    EXPECT_EQ(b.visit.alightings, a.visit.alightings);
    EXPECT_EQ(b.visit.load, a.visit.load);
    EXPECT_EQ(b.visit.occupancy, a.visit.occupancy);
    EXPECT_EQ(b.visit.stop, kNoIndex);
  }

  StopVisitQuery by_route;
  by_route.route_id = "R1";
  auto r1 = store->ReadStopVisits(by_route);
  ASSERT_TRUE(r1.ok());
  ASSERT_EQ(r1->size(), 2u);
  EXPECT_EQ((*r1)[0].visit.vehicle_id, "bus-1");
  EXPECT_EQ((*r1)[1].visit.vehicle_id, "bus-2");

  StopVisitQuery by_stop;
  by_stop.stop_id = "S1";
  auto s1 = store->ReadStopVisits(by_stop);
  ASSERT_TRUE(s1.ok());
  ASSERT_EQ(s1->size(), 2u);
  EXPECT_EQ((*s1)[1].visit.vehicle_id, "bus-3");

  StopVisitQuery both = by_stop;
  both.route_id = "R2";
  auto b = store->ReadStopVisits(both);
  ASSERT_TRUE(b.ok());
  ASSERT_EQ(b->size(), 1u);
  EXPECT_EQ((*b)[0].visit.vehicle_id, "bus-3");

  StopVisitQuery window;
  window.from_s = 1100.75;  // inclusive
  window.to_s = 1200;       // inclusive
  auto w = store->ReadStopVisits(window);
  ASSERT_TRUE(w.ok());
  ASSERT_EQ(w->size(), 2u);

  StopVisitQuery limited;
  limited.limit = 3;
  auto l = store->ReadStopVisits(limited);
  ASSERT_TRUE(l.ok());
  ASSERT_EQ(l->size(), 3u);
  EXPECT_EQ((*l)[2].visit.vehicle_id, "bus-3");

  StopVisitQuery odd;
  odd.stop_id = "Sü|1\\";
  auto o = store->ReadStopVisits(odd);
  ASSERT_TRUE(o.ok());
  ASSERT_EQ(o->size(), 1u);
  EXPECT_EQ((*o)[0].visit.vehicle_id, "bus\t4");
}

TYPED_TEST(StoreContractTest, StopVisitsOlderThanRetentionAreDropped) {
  StoreOptions o;
  o.visits_retention_s = 3600;
  auto store = this->Open(o);
  // Data time, not wall time: a replayed day from 2026 is kept.
  const double t0 = 1771250000;
  ASSERT_TRUE(store->AppendStopVisit(Visit("bus-1", "R1", "S1", t0)).ok());
  ASSERT_TRUE(store->AppendStopVisit(Visit("bus-1", "R1", "S2", t0 + 1800)).ok());
  auto v = store->ReadStopVisits({});
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->size(), 2u);
  ASSERT_TRUE(store->AppendStopVisit(Visit("bus-1", "R1", "S3", t0 + 7200)).ok());
  v = store->ReadStopVisits({});
  ASSERT_TRUE(v.ok());
  ASSERT_EQ(v->size(), 1u);
  EXPECT_EQ((*v)[0].stop_id, "S3");
  StopVisitQuery q;
  q.stop_id = "S1";  // an index not written to since: still filtered
  v = store->ReadStopVisits(q);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->empty());
}

TYPED_TEST(StoreContractTest, ModelRoundTripsBinaryBytes) {
  auto store = this->Open();
  EXPECT_EQ(store->GetModel("segments").status().code(), absl::StatusCode::kNotFound);
  std::string bytes("\0\x01\xff model\r\n", 11);
  ASSERT_TRUE(store->PutModel("segments", bytes).ok());
  auto got = store->GetModel("segments");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, bytes);
  ASSERT_TRUE(store->PutModel("segments", "v2").ok());
  EXPECT_EQ(*store->GetModel("segments"), "v2");
}

LearnedPath Path(const std::string& route, int dir) {
  LearnedPath p;
  p.key = absl::StrCat(route, "|", dir, "|00ff00ff00ff00ff");
  p.route_id = route;
  p.direction_id = dir;
  p.stop_ids = {"S1", "S 2\twith tab", "S3"};
  p.traversals = 51;
  p.bin_seen = {0, 3, 17, 2};
  p.samples = {{-12.5f, {38.8977123456789, -77.0365987654321}}, {1234.25f, {38.9, -77.03}}};
  p.points = {{38.8977123456789, -77.0365987654321}, {38.91, -77.02}, {38.92, -77.01}};
  p.coverage = 0.923456789;
  p.longest_hole_m = 30;
  p.confident = true;
  return p;
}

void ExpectSamePath(const LearnedPath& a, const LearnedPath& b) {
  EXPECT_EQ(a.key, b.key);
  EXPECT_EQ(a.route_id, b.route_id);
  EXPECT_EQ(a.direction_id, b.direction_id);
  EXPECT_EQ(a.stop_ids, b.stop_ids);
  EXPECT_EQ(a.traversals, b.traversals);
  EXPECT_EQ(a.bin_seen, b.bin_seen);
  ASSERT_EQ(a.samples.size(), b.samples.size());
  for (size_t i = 0; i < a.samples.size(); ++i) {
    EXPECT_EQ(a.samples[i].chord_m, b.samples[i].chord_m);
    EXPECT_EQ(a.samples[i].pos.lat, b.samples[i].pos.lat);
    EXPECT_EQ(a.samples[i].pos.lon, b.samples[i].pos.lon);
  }
  ASSERT_EQ(a.points.size(), b.points.size());
  for (size_t i = 0; i < a.points.size(); ++i) {
    EXPECT_EQ(a.points[i].lat, b.points[i].lat);
    EXPECT_EQ(a.points[i].lon, b.points[i].lon);
  }
  EXPECT_EQ(a.coverage, b.coverage);
  EXPECT_EQ(a.longest_hole_m, b.longest_hole_m);
  EXPECT_EQ(a.confident, b.confident);
}

TYPED_TEST(StoreContractTest, LearnedPathsRoundTripAndAPutReplaces) {
  auto store = this->Open();
  auto none = store->ListLearnedPaths();
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty());
  ASSERT_TRUE(store->PutLearnedPath(Path("R2", 1)).ok());
  ASSERT_TRUE(store->PutLearnedPath(Path("R1", 0)).ok());
  LearnedPath empty;  // a pattern with no evidence yet
  empty.key = "R3|-1|0000000000000000";
  ASSERT_TRUE(store->PutLearnedPath(empty).ok());
  LearnedPath again = Path("R2", 1);
  again.traversals = 60;
  again.confident = false;
  ASSERT_TRUE(store->PutLearnedPath(again).ok());
  EXPECT_EQ(store->PutLearnedPath(LearnedPath{}).code(), absl::StatusCode::kInvalidArgument);
  auto reopened = this->Open();
  auto got = (TypeParam::kPersistent ? reopened : store)->ListLearnedPaths();
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 3u);
  ExpectSamePath((*got)[0], Path("R1", 0));
  ExpectSamePath((*got)[1], again);
  ExpectSamePath((*got)[2], empty);
}

TYPED_TEST(StoreContractTest, ServiceChangesRoundTripReplaceAndDelete) {
  auto store = this->Open();
  auto empty = store->ListServiceChanges();
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->trips.empty() && empty->alerts.empty());

  TripChange cancel{"operator", "T\t1", 20260216, true, {}, "driver\nill", 1771257000};
  TripChange skip{"gtfs-rt:agency", "T2", 0, false, {{"S1", 0}, {"", 7}}, "", 5};
  Alert a;
  a.source = "operator";
  a.id = "detour-1";
  a.active_periods = {{1771250000, 0}, {0, 1771260000}};
  a.informed = {{"", "C53", "", ""}, {"", "", "", "stop\t9"}};
  a.cause = 10;
  a.effect = 4;
  a.severity = 3;
  a.header = {{"en", "Detour on C53"}, {"es", "Desvío en C53"}};
  a.description = {{"en", "line 1\nline 2 with a \\ backslash"}};
  a.url = {{"", "https://example.com/detour"}};
  a.created_s = 1771250001;
  ServiceChangeDiff put;
  put.put_trips = {cancel, skip};
  put.put_alerts = {a};
  ASSERT_TRUE(store->ApplyServiceChanges(put).ok());
  ASSERT_TRUE(store->ApplyServiceChanges(put).ok());  // repeated: same result

  auto reopened = this->Open();
  auto got = reopened->ListServiceChanges();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->undecodable.empty());
  ASSERT_EQ(got->trips.size(), 2u);
  // Sorted by key: "gtfs-rt:agency|T2|0" < "operator|T\t1|20260216".
  EXPECT_EQ(got->trips[0], skip);
  EXPECT_EQ(got->trips[1], cancel);
  ASSERT_EQ(got->alerts.size(), 1u);
  EXPECT_EQ(got->alerts[0], a);

  ServiceChangeDiff del;
  del.delete_trips = {cancel.Key(), "operator|never-stored|0"};
  del.delete_alerts = {a.Key()};
  ASSERT_TRUE(store->ApplyServiceChanges(del).ok());
  got = reopened->ListServiceChanges();
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->trips.size(), 1u);
  EXPECT_EQ(got->trips[0], skip);
  EXPECT_TRUE(got->alerts.empty());
}

TYPED_TEST(StoreContractTest, WriterPersistsEverythingAndRecoveryReadsItBack) {
  StoreOptions o;
  o.positions_cap = 10000;
  {
    auto store = this->Open(o);
    StoreWriterOptions wo;
    wo.max_batch = 256;
    StoreWriter writer(store.get(), wo);
    for (int64_t t = 0; t < 2000; ++t) {
      const std::string id = absl::StrCat("bus-", t % 20);
      ASSERT_TRUE(writer.Enqueue(Position(id, t)).ok());
      ASSERT_TRUE(writer.Enqueue(Vehicle(id, t)).ok());
      if (t % 10 == 0) {
        ASSERT_TRUE(writer.Enqueue(Visit(id, "R1", "S1", 1e9 + t)).ok());
      }
    }
    ASSERT_TRUE(writer.Enqueue(ModelBlob{"segments", "learned"}).ok());
    ASSERT_TRUE(writer.Flush(absl::Seconds(10)).ok());
    StoreWriterStats s = writer.Stats();
    EXPECT_EQ(s.enqueued, s.applied + s.coalesced);
    EXPECT_EQ(s.queued, 0u);
    EXPECT_TRUE(writer.Health().serving);
  }
  // A new process on the same store: everything comes back.
  auto store = this->Open(o);
  auto vehicles = store->ListVehicles();
  ASSERT_TRUE(vehicles.ok()) << vehicles.status();
  ASSERT_EQ(vehicles->size(), 20u);
  for (const VehicleRecord& v : *vehicles) {
    // The newest state of each vehicle won.
    EXPECT_GE(v.state.timestamp_s, 1980) << v.state.vehicle_id;
  }
  for (int i = 0; i < 20; ++i) {
    auto p = store->ReadPositions(absl::StrCat("bus-", i), 0);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->size(), 100u);
  }
  auto visits = store->ReadStopVisits({});
  ASSERT_TRUE(visits.ok());
  EXPECT_EQ(visits->size(), 200u);
  EXPECT_EQ(*store->GetModel("segments"), "learned");
}

TYPED_TEST(StoreContractTest, AlarmEventsAndDrivingDaysRoundTripPerVehicle) {
  auto store = this->Open();
  ConditionEvent up{"bus-1", 1795435210, "overspeed", true, 31.25, 121.5, 16.5f};
  ConditionEvent down{"bus-1", 1795435240, "overspeed", false, 31.26, 121.51, NAN};
  ConditionEvent other{"bus-2", 1795435220, "emergency", true, 31.0, 121.0, 0.f};
  std::vector<StoreChange> batch = {down, up, other, DrivingDay{"bus-1", 20261123, 3600},
                                    DrivingDay{"bus-1", 20261122, 7200},
                                    DrivingDay{"bus-1", 20261123, 3700}};  // replaces
  ASSERT_TRUE(store->Apply(batch).ok());
  auto ev = store->ReadConditionEvents("bus-1", 1795435200, 1795435299);
  ASSERT_TRUE(ev.ok()) << ev.status();
  ASSERT_EQ(ev->size(), 2u);
  EXPECT_EQ((*ev)[0].time_s, 1795435210);
  EXPECT_TRUE((*ev)[0].raised);
  EXPECT_EQ((*ev)[0].alarm, "overspeed");
  EXPECT_DOUBLE_EQ((*ev)[0].lat, 31.25);
  EXPECT_FLOAT_EQ((*ev)[0].speed_mps, 16.5f);
  EXPECT_FALSE((*ev)[1].raised);
  EXPECT_TRUE(std::isnan((*ev)[1].speed_mps));
  EXPECT_EQ(store->ReadConditionEvents("bus-1", 1795435211, 1795435239)->size(), 0u);
  EXPECT_EQ(store->ReadConditionEvents("nobody", 0, 2000000000)->size(), 0u);
  auto days = store->ReadDrivingDays("bus-1");
  ASSERT_TRUE(days.ok()) << days.status();
  ASSERT_EQ(days->size(), 2u);
  EXPECT_EQ((*days)[0].day, 20261122);
  EXPECT_EQ((*days)[1].driving_s, 3700);
}

TYPED_TEST(StoreContractTest, HealthIsServing) {
  auto store = this->Open();
  EXPECT_TRUE(store->Health().serving) << store->Health().reason;
}

// A Redis error reply (here WRONGTYPE: a key of another type where a stream should be) fails
// the batch with the server's words, and the writer reports it instead of dropping the fix.
TEST(RedisStoreErrorsTest, ErrorRepliesFailTheBatchAndNameTheProblem) {
  RedisFactory f;
  RedisAddress a;
  a.port = TestRedisPort();
  StoreOptions o;
  o.key_prefix = f.prefix + "pos:";
  auto other = std::make_unique<RedisStore>(a, o);  // its model key "<prefix>pos:model:bus"
  o.key_prefix = f.prefix;                          // is a string...
  ASSERT_TRUE(other->PutModel("bus", "x").ok());
  for (auto mode : {StoreOptions::AtomicBatches::kNever, StoreOptions::AtomicBatches::kAlways}) {
    o.redis_atomic_batches = mode;
    auto store = std::make_unique<RedisStore>(a, o);
    // ...where this store keeps vehicle "model:bus"'s position stream.
    absl::Status st = store->AppendPosition([] {
      Fix fix;
      fix.vehicle_id = "model:bus";
      fix.timestamp_s = 1;
      return fix;
    }());
    EXPECT_EQ(st.code(), absl::StatusCode::kInternal) << st;
    EXPECT_NE(st.message().find("WRONGTYPE"), std::string::npos) << st;

    StoreWriterOptions wo;
    wo.min_backoff = absl::Milliseconds(5);
    StoreWriter writer(store.get(), wo);
    Fix fix;
    fix.vehicle_id = "model:bus";
    ASSERT_TRUE(writer.Enqueue(fix).ok());
    EXPECT_FALSE(writer.Flush(absl::Milliseconds(200)).ok());
    EXPECT_FALSE(writer.Health().serving);
    EXPECT_NE(writer.Health().reason.find("WRONGTYPE"), std::string::npos);
    EXPECT_EQ(writer.Stats().queued, 1u);  // kept, not dropped
  }
  f.Cleanup();
}

// --- Redis only: the stream layout behind the contract ---

struct RedisReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using RawReply = std::unique_ptr<redisReply, RedisReplyDeleter>;

// One raw command on the test Redis (a fresh connection: these tests are not about speed).
RawReply Raw(std::vector<std::string> args) {
  redisContext* c = redisConnect("127.0.0.1", TestRedisPort());
  EXPECT_TRUE(c != nullptr && c->err == 0);
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const std::string& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(
      redisCommandArgv(c, int(args.size()), argv.data(), lens.data()));
  redisFree(c);
  EXPECT_NE(r, nullptr);
  return RawReply(r);
}

int64_t RawInt(std::vector<std::string> args) {
  RawReply r = Raw(std::move(args));
  EXPECT_EQ(r->type, REDIS_REPLY_INTEGER);
  return r->integer;
}

class RedisLayoutTest : public ::testing::Test {
 protected:
  void TearDown() override { factory_.Cleanup(); }
  std::unique_ptr<Store> Open(const StoreOptions& o = {}) { return factory_.Open(o); }
  std::string Key(absl::string_view rest) const { return absl::StrCat(factory_.prefix, rest); }
  RedisFactory factory_;
};

TEST_F(RedisLayoutTest, ABatchOfOneVehiclesFixesIsOneStreamEntry) {
  auto store = Open();
  std::vector<StoreChange> batch;
  std::vector<Fix> fixes;
  for (int64_t t = 100; t < 110; ++t) {
    fixes.push_back(Position("bus-1", t));
    batch.push_back(fixes.back());
  }
  batch.push_back(Position("bus-2", 100));
  ASSERT_TRUE(store->Apply(batch).ok());
  EXPECT_EQ(RawInt({"XLEN", Key("pos:bus-1")}), 1);  // one XADD for the 10 fixes
  EXPECT_EQ(RawInt({"XLEN", Key("pos:bus-2")}), 1);
  // A single fix keeps the t/d layout; several are one "m" field.
  RawReply one = Raw({"XRANGE", Key("pos:bus-2"), "-", "+"});
  ASSERT_EQ(one->elements, 1u);
  ASSERT_EQ(one->element[0]->element[1]->elements, 4u);
  EXPECT_EQ(std::string(one->element[0]->element[1]->element[0]->str), "t");
  RawReply many = Raw({"XRANGE", Key("pos:bus-1"), "-", "+"});
  ASSERT_EQ(many->elements, 1u);
  ASSERT_EQ(many->element[0]->element[1]->elements, 2u);
  EXPECT_EQ(std::string(many->element[0]->element[1]->element[0]->str), "m");
  auto got = store->ReadPositions("bus-1", 0);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), fixes.size());
  for (size_t i = 0; i < fixes.size(); ++i) ExpectSameFix(fixes[i], (*got)[i]);
}

// Streams written before multi-fix entries existed (one t/d entry per fix) read back together
// with new entries, in time order, the newest positions_cap across both kinds.
TEST_F(RedisLayoutTest, OldSingleFixEntriesAndNewEntriesReadBackTogether) {
  StoreOptions o;
  o.positions_cap = 200;  // up to 20 fixes per entry
  auto store = Open(o);
  auto legacy_xadd = [&](const Fix& f) {
    std::string d;
    store_codec::AppendPositionData(&d, f);
    Raw({"XADD", Key("pos:bus-1"), "*", "t", absl::StrCat(f.timestamp_s), "d", d});
  };
  std::vector<Fix> all;
  for (int64_t t = 0; t < 10; ++t) {  // old layout
    all.push_back(Position("bus-1", t));
    legacy_xadd(all.back());
  }
  std::vector<StoreChange> batch;
  for (int64_t t = 10; t < 20; ++t) {  // new: one entry
    all.push_back(Position("bus-1", t));
    batch.push_back(all.back());
  }
  ASSERT_TRUE(store->Apply(batch).ok());
  for (int64_t t = 20; t < 25; ++t) {  // old layout again, e.g. an older writer still running
    all.push_back(Position("bus-1", t));
    legacy_xadd(all.back());
  }
  EXPECT_EQ(RawInt({"XLEN", Key("pos:bus-1")}), 16);
  auto got = store->ReadPositions("bus-1", 5);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 20u);
  for (size_t i = 0; i < got->size(); ++i) ExpectSameFix(all[i + 5], (*got)[i]);

  // The cap counts fixes, not entries: with a cap of 25, 3 more fixes push the 3 oldest out.
  o.positions_cap = 25;
  store = Open(o);
  batch.clear();
  for (int64_t t = 25; t < 28; ++t) {
    all.push_back(Position("bus-1", t));
    batch.push_back(all.back());
  }
  ASSERT_TRUE(store->Apply(batch).ok());
  got = store->ReadPositions("bus-1", 0);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 25u);
  EXPECT_EQ(got->front().timestamp_s, 3);
  EXPECT_EQ(got->back().timestamp_s, 27);
}

// Trimming is by entries: with several fixes per entry the stream is trimmed to the entries
// that hold the newest cap fixes (not to cap entries, which would keep several times the cap);
// a store that did not write the older entries (restart) trims conservatively.
TEST_F(RedisLayoutTest, TrimKeepsTheNewestCapFixesNotCapEntries) {
  StoreOptions o;
  o.positions_cap = 1000;
  int64_t t = 0;
  auto write_batches = [&](Store& store, int batches) {
    for (int b = 0; b < batches; ++b) {
      std::vector<StoreChange> batch;
      for (int i = 0; i < 7; ++i) batch.push_back(Position("bus-1", t++));
      ASSERT_TRUE(store.Apply(batch).ok());
    }
  };
  auto expect_newest_cap = [&](Store& store) {
    auto got = store.ReadPositions("bus-1", 0);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->size(), 1000u);
    EXPECT_EQ(got->front().timestamp_s, t - 1000);
    EXPECT_EQ(got->back().timestamp_s, t - 1);
  };
  {
    auto store = Open(o);
    write_batches(*store, 1000);  // 7,000 fixes in 1,000 entries
    expect_newest_cap(*store);
    // 1000/7 = 143 entries hold the newest 1,000 fixes; Redis trims whole nodes of up to 100
    // entries (MAXLEN ~) and every cap/10 fixes: ~143 + 15 + 100. Trimming to 1,000 entries
    // would leave about 1,000.
    EXPECT_LT(RawInt({"XLEN", Key("pos:bus-1")}), 300);
  }
  auto restarted = Open(o);  // knows nothing about the entries above
  write_batches(*restarted, 40);
  expect_newest_cap(*restarted);
}

// A vehicle state write sends only the fields that changed since this connection's last write
// (a moving bus: t, position, distance...), all of them from a new connection.
TEST_F(RedisLayoutTest, VehicleWritesSendOnlyChangedFieldsAndANewConnectionSendsAll) {
  auto store = Open();
  VehicleRecord v = Vehicle("bus-1", 1000);
  ASSERT_TRUE(store->PutVehicle(v).ok());
  EXPECT_EQ(Raw({"HLEN", Key("veh:bus-1")})->integer, 16);
  // Remove a field behind the store's back: an unchanged field is not re-sent...
  ASSERT_EQ(RawInt({"HDEL", Key("veh:bus-1"), "load"}), 1);
  v.state.timestamp_s = 1010;
  v.state.pos.lat += 1e-4;
  v.state.delay_s = NAN;  // unknown now: a change
  ASSERT_TRUE(store->PutVehicle(v).ok());
  EXPECT_EQ(Raw({"HLEN", Key("veh:bus-1")})->integer, 15);
  auto got = store->GetVehicle("bus-1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->state.timestamp_s, 1010);
  EXPECT_EQ(got->state.pos.lat, v.state.pos.lat);
  EXPECT_TRUE(std::isnan(got->state.delay_s));
  // ...but a new connection (restart, reconnect after a failure) writes every field.
  auto other = Open();
  v.state.timestamp_s = 1020;
  v.state.delay_s = 12;
  ASSERT_TRUE(other->PutVehicle(v).ok());
  EXPECT_EQ(Raw({"HLEN", Key("veh:bus-1")})->integer, 16);
  got = other->GetVehicle("bus-1");
  ASSERT_TRUE(got.ok()) << got.status();
  ExpectSameVehicle(v, *got);
}

// A batch's visits go to each sorted set in ONE ZADD (the global set: one per batch), and read
// back from every index as if added one by one.
TEST(RedisVisitBatchTest, OneZaddPerSortedSetPerBatch) {
  testing::RedisTestServer own;  // its own server: counts commands
  ASSERT_TRUE(own.Start().ok());
  RedisAddress a;
  a.port = own.port();
  RedisStore store(a);
  std::vector<StoreChange> batch;
  for (int i = 0; i < 30; ++i) {
    batch.push_back(Visit(absl::StrCat("bus-", i), absl::StrCat("R", i % 3),
                          absl::StrCat("S", i % 5), 1771250000 + i));
  }
  batch.push_back(batch[7]);  // the same visit twice in a batch: stored once
  ASSERT_TRUE(store.Apply(batch).ok());
  redisContext* c = redisConnect("127.0.0.1", own.port());
  ASSERT_TRUE(c != nullptr && c->err == 0);
  auto* r = static_cast<redisReply*>(redisCommand(c, "INFO commandstats"));
  ASSERT_NE(r, nullptr);
  const std::string info(r->str, r->len);
  freeReplyObject(r);
  redisFree(c);
  EXPECT_NE(info.find("cmdstat_zadd:calls=9,"), std::string::npos) << info;  // 1 + 3 + 5 sets
  auto all = store.ReadStopVisits({});
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 30u);
  for (int i = 0; i < 30; ++i) EXPECT_EQ((*all)[i].visit.vehicle_id, absl::StrCat("bus-", i));
  StopVisitQuery q;
  q.route_id = "R1";
  EXPECT_EQ(store.ReadStopVisits(q)->size(), 10u);
  q = {};
  q.stop_id = "S4";
  EXPECT_EQ(store.ReadStopVisits(q)->size(), 6u);
}

// The retention trim of a visit index is sent at most once per visits_trim_interval_s (per
// key); readers filter out what has expired but is still stored.
TEST_F(RedisLayoutTest, VisitRetentionTrimIsSentAtMostOncePerInterval) {
  const double t0 = 1771250000;
  for (int64_t interval : {int64_t{3600}, int64_t{0}}) {
    StoreOptions o;
    o.visits_retention_s = 3600;
    o.visits_trim_interval_s = interval;
    auto store = Open(o);
    ASSERT_TRUE(store->AppendStopVisit(Visit("bus-1", "R1", "S1", t0)).ok());
    ASSERT_TRUE(store->AppendStopVisit(Visit("bus-1", "R1", "S1", t0 + 7200)).ok());
    // Within the interval the expired visit is still stored, but never returned.
    EXPECT_EQ(RawInt({"ZCARD", Key("visits:stop:S1")}), interval > 0 ? 2 : 1) << interval;
    EXPECT_EQ(RawInt({"ZCARD", Key("visits")}), interval > 0 ? 2 : 1) << interval;
    StopVisitQuery q;
    q.stop_id = "S1";
    auto v = store->ReadStopVisits(q);
    ASSERT_TRUE(v.ok()) << v.status();
    ASSERT_EQ(v->size(), 1u);
    EXPECT_EQ((*v)[0].visit.arrival_s, t0 + 7200);
    factory_.Cleanup();
  }
}


// The stored text of each record, to the byte (deploy/REDIS_KEYS.md): what a store written by an
// earlier build holds must keep reading back, so an encoder may not drift.
TEST(StoreCodecTest, RecordsEncodeToTheDocumentedText) {
  using namespace store_codec;
  StopVisitRecord r;
  r.visit.vehicle_id = "v\t1";
  r.trip_id = "T1";
  r.route_id = "R\\1";
  r.stop_id = "S1";
  r.visit.stop_index = 3;
  r.visit.stop_sequence = 7;
  r.visit.service_date = 20260216;
  r.visit.scheduled_arrival_s = 1771257000;
  r.visit.scheduled_departure_s = 1771257030;
  r.visit.arrival_s = 1771257012.5;
  r.visit.departure_s = 1771257040;
  r.visit.boardings = 2;
  r.visit.load = 15;
  r.visit.occupancy = 1;
  const std::string visit =
      "v\\t1\tT1\tR\\\\1\tS1\t3\t7\t20260216\t1771257000\t1771257030\t1771257012.5\t1771257040\t2"
      "\t-1\t15\t1";
  EXPECT_EQ(EncodeStopVisit(r), visit);
  auto back = DecodeStopVisit(visit);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(EncodeStopVisit(*back), visit);
  std::string bad = visit;
  bad.replace(bad.find("1771257012.5"), 12, "x");
  EXPECT_NE(DecodeStopVisit(bad).status().message().find("bad arrival_s"), std::string::npos);
  EXPECT_NE(DecodeStopVisit("v\\q" + visit.substr(4)).status().message().find("bad escape"),
            std::string::npos);

  ConditionEvent e;
  e.time_s = 1771257000;
  e.alarm = "overspeed";
  e.lat = 42.1;
  e.lon = -75.9;
  e.speed_mps = 16.5f;
  EXPECT_EQ(EncodeConditionEvent(e), "1771257000\toverspeed\t1\t42.1\t-75.9\t16.5");

  LearnedPath p;
  p.key = "k";
  p.route_id = "R1";
  p.direction_id = 1;
  p.traversals = 5;
  p.coverage = 0.75;
  p.longest_hole_m = 20;
  p.confident = true;
  p.stop_ids = {"S1", "S\t2"};
  p.bin_seen = {1, 2};
  p.samples = {{0.5f, {42.1, -75.9}}};
  p.points = {{42.1, -75.9}, {42.2, -75.8}};
  const std::string path =
      "path1\tk\tR1\t1\t5\t0.75\t20\t1\nS1\tS\\t2\n1 2\n0.5,42.1,-75.9\n42.1,-75.9 42.2,-75.8";
  EXPECT_EQ(EncodeLearnedPath(p), path);
  auto path_back = DecodeLearnedPath(path, "key");
  ASSERT_TRUE(path_back.ok()) << path_back.status();
  EXPECT_EQ(EncodeLearnedPath(*path_back), path);

  TripChange t{"operator", "T\t1", 20260216, true, {{"S9", 4}}, "driver ill", 1771257000};
  const std::string trip = "trip\toperator\tT\\t1\t20260216\t1\t1771257000\tdriver ill\nskip\tS9\t4";
  EXPECT_EQ(EncodeTripChange(t), trip);
  auto trip_back = DecodeTripChange(trip);
  ASSERT_TRUE(trip_back.ok()) << trip_back.status();
  EXPECT_EQ(*trip_back, t);
  EXPECT_NE(DecodeTripChange(trip + "\nskip\tS9").status().message().find("line 3"),
            std::string::npos);

  Alert a;
  a.source = "operator";
  a.id = "a1";
  a.active_periods = {{100, 200}};
  a.informed = {{"", "C53", "", ""}};
  a.cause = 2;
  a.effect = 3;
  a.severity = 4;
  a.header = {{"en", "Closed"}};
  a.url = {{"", "http://x"}};
  a.created_s = 1771257000;
  const std::string alert =
      "alert\toperator\ta1\t2\t3\t4\t1771257000\nperiod\t100\t200\nentity\t\tC53\t\t\n"
      "header\ten\tClosed\nurl\t\thttp://x";
  EXPECT_EQ(EncodeAlert(a), alert);
  auto alert_back = DecodeAlert(alert);
  ASSERT_TRUE(alert_back.ok()) << alert_back.status();
  EXPECT_EQ(*alert_back, a);
  EXPECT_NE(DecodeAlert(alert + "\nperiod\tx\t1").status().message().find("line 6"),
            std::string::npos);
}

}  // namespace
}  // namespace smartbus

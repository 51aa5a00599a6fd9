// StoreWriter: back-pressure, ordering, flush, and surviving a store outage — against a gated
// in-memory store and against a real redis-server that is killed (-9) and restarted.

#include <hiredis/hiredis.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "services/store/memory_store.h"
#include "services/store/redis_store.h"
#include "services/store/store_writer.h"
#include "tests/store/redis_test_server.h"

namespace smartbus {
namespace {

Fix Position(const std::string& id, int64_t t) {
  Fix f;
  f.vehicle_id = id;
  f.timestamp_s = t;
  f.lat = 38.9;
  f.lon = -77.0;
  return f;
}

// A MemoryStore whose Apply fails with UNAVAILABLE while "down", and can be held (blocked).
class FlakyStore : public MemoryStore {
 public:
  absl::Status Apply(absl::Span<const StoreChange> changes) override {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return !held_; });
    ++calls_;
    if (down_) return absl::UnavailableError("test store is down");
    l.unlock();
    return MemoryStore::Apply(changes);
  }
  void SetDown(bool down) {
    std::lock_guard<std::mutex> l(mu_);
    down_ = down;
  }
  void Hold(bool held) {
    {
      std::lock_guard<std::mutex> l(mu_);
      held_ = held;
    }
    cv_.notify_all();
  }
  int calls() {
    std::lock_guard<std::mutex> l(mu_);
    return calls_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool down_ = false;
  bool held_ = false;
  int calls_ = 0;
};

bool WaitFor(const std::function<bool()>& pred, absl::Duration timeout = absl::Seconds(10)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (pred()) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return pred();
}

TEST(StoreWriterTest, FullQueueIsResourceExhaustedNeverSilentlyDropped) {
  FlakyStore store;
  store.SetDown(true);
  StoreWriterOptions o;
  o.queue_capacity = 100;
  o.max_batch = 10;
  o.min_backoff = absl::Milliseconds(5);
  o.max_backoff = absl::Milliseconds(20);
  StoreWriter writer(&store, o);
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(writer.Enqueue(Position("bus", i)).ok()) << i;
  }
  absl::Status full = writer.Enqueue(Position("bus", 100));
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(full.message().find("store queue full"), std::string::npos) << full;
  // A gateway batch is all-or-nothing, and not moved from when refused.
  std::vector<StoreChange> batch = {Position("gw", 1), Position("gw", 2)};
  EXPECT_EQ(writer.EnqueueAll(absl::MakeSpan(batch)).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(std::get<Fix>(batch[0]).vehicle_id, "gw");
  EXPECT_EQ(writer.Stats().rejected, 3u);

  // The writer reports the outage...
  ASSERT_TRUE(WaitFor([&] { return !writer.Health().serving; }));
  EXPECT_EQ(writer.Health().reason, "test store is down");
  EXPECT_EQ(writer.Flush(absl::Milliseconds(50)).code(), absl::StatusCode::kDeadlineExceeded);

  // ...and catches up when the store is back: every accepted change is there, in order.
  store.SetDown(false);
  ASSERT_TRUE(writer.Flush(absl::Seconds(10)).ok());
  EXPECT_TRUE(writer.Health().serving);
  auto got = store.ReadPositions("bus", 0);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ((*got)[i].timestamp_s, i);
  EXPECT_TRUE(writer.Enqueue(Position("bus", 100)).ok());
}

TEST(StoreWriterTest, QueueCountsTheBatchInFlight) {
  FlakyStore store;
  store.Hold(true);  // the writer takes a batch and blocks in Apply
  StoreWriterOptions o;
  o.queue_capacity = 10;
  o.max_batch = 4;
  StoreWriter writer(&store, o);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(writer.Enqueue(Position("bus", i)).ok());
  EXPECT_EQ(writer.Enqueue(Position("bus", 10)).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(writer.Stats().queued, 10u);
  store.Hold(false);
  ASSERT_TRUE(writer.Flush().ok());
  EXPECT_EQ(writer.Stats().queued, 0u);
  EXPECT_EQ(writer.Stats().applied, 10u);
}

TEST(StoreWriterTest, HealthChangesAreReportedOnce) {
  FlakyStore store;
  std::mutex mu;
  std::vector<StoreHealth> changes;
  StoreWriterOptions o;
  o.min_backoff = absl::Milliseconds(2);
  o.max_backoff = absl::Milliseconds(5);
  o.on_health_change = [&](const StoreHealth& h) {
    std::lock_guard<std::mutex> l(mu);
    changes.push_back(h);
  };
  StoreWriter writer(&store, o);
  store.SetDown(true);
  ASSERT_TRUE(writer.Enqueue(Position("bus", 1)).ok());
  ASSERT_TRUE(WaitFor([&] { return store.calls() >= 5; }));  // several failed retries
  store.SetDown(false);
  ASSERT_TRUE(writer.Flush().ok());
  std::lock_guard<std::mutex> l(mu);
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_FALSE(changes[0].serving);
  EXPECT_EQ(changes[0].reason, "test store is down");
  EXPECT_TRUE(changes[1].serving);
}

TEST(StoreWriterTest, InvalidChangesAreRefusedAtEnqueue) {
  MemoryStore store;
  StoreWriter writer(&store);
  EXPECT_EQ(writer.Enqueue(Position("", 1)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(writer.Enqueue(ModelBlob{"", "x"}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(writer.Stats().enqueued, 0u);
}

TEST(StoreWriterTest, AcceptedChangeReachesTheStoreWithoutFlush) {
  MemoryStore store;
  StoreWriterOptions o;
  o.flush_interval = absl::Milliseconds(5);
  StoreWriter writer(&store, o);
  ASSERT_TRUE(writer.Enqueue(Position("bus", 1)).ok());
  // Well within the "reaches the store within a second".
  EXPECT_TRUE(WaitFor([&] { return store.ReadPositions("bus", 0)->size() == 1; },
                      absl::Seconds(1)));
}

VehicleRecord State(const std::string& id, int64_t t) {
  VehicleRecord r;
  r.state.vehicle_id = id;
  r.state.timestamp_s = t;
  return r;
}

TEST(StoreWriterTest, VehicleStatesAreCoalescedToTheNewestAndWrittenOnFlush) {
  FlakyStore store;
  StoreWriterOptions o;
  o.state_interval = absl::Hours(1);  // only Flush writes states in this test
  o.queue_capacity = 10;
  StoreWriter writer(&store, o);
  for (int t = 0; t < 100; ++t) {
    // States do not take queue room: 100 states for 2 buses fit a 10-entry queue.
    ASSERT_TRUE(writer.Enqueue(State("bus-1", t)).ok());
    ASSERT_TRUE(writer.Enqueue(State("bus-2", 1000 + t)).ok());
  }
  EXPECT_EQ(writer.Stats().dirty_vehicles, 2u);
  EXPECT_EQ(store.GetVehicle("bus-1").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(writer.Flush().ok());
  EXPECT_EQ(store.GetVehicle("bus-1")->state.timestamp_s, 99);
  EXPECT_EQ(store.GetVehicle("bus-2")->state.timestamp_s, 1099);
  StoreWriterStats s = writer.Stats();
  EXPECT_EQ(s.coalesced, 198u);
  EXPECT_EQ(s.applied, 2u);
  EXPECT_EQ(s.dirty_vehicles, 0u);
}

TEST(StoreWriterTest, VehicleStateReachesTheStoreWithinTheStateInterval) {
  MemoryStore store;
  StoreWriterOptions o;
  o.state_interval = absl::Milliseconds(50);
  StoreWriter writer(&store, o);
  ASSERT_TRUE(writer.Enqueue(State("bus-1", 7)).ok());
  EXPECT_TRUE(WaitFor([&] { return store.GetVehicle("bus-1").ok(); }, absl::Seconds(1)));
}

TEST(StoreWriterTest, FlushWaitsForStatesHeldWhileTheStoreIsDown) {
  FlakyStore store;
  store.SetDown(true);
  StoreWriterOptions o;
  o.min_backoff = absl::Milliseconds(2);
  o.max_backoff = absl::Milliseconds(5);
  StoreWriter writer(&store, o);
  ASSERT_TRUE(writer.Enqueue(State("bus-1", 1)).ok());
  EXPECT_EQ(writer.Flush(absl::Milliseconds(50)).code(), absl::StatusCode::kDeadlineExceeded);
  ASSERT_TRUE(writer.Enqueue(State("bus-1", 2)).ok());
  store.SetDown(false);
  ASSERT_TRUE(writer.Flush().ok());
  EXPECT_EQ(store.GetVehicle("bus-1")->state.timestamp_s, 2);
}

// --- Position coalescing (position_window) ---

// A MemoryStore that remembers which positions each Apply call carried, and when.
class RecordingStore : public MemoryStore {
 public:
  struct Call {
    absl::Time at;
    std::vector<std::pair<std::string, int64_t>> fixes;  // vehicle, timestamp
  };
  absl::Status Apply(absl::Span<const StoreChange> changes) override {
    Call call{absl::Now(), {}};
    for (const StoreChange& c : changes) {
      if (const auto* f = std::get_if<Fix>(&c)) call.fixes.emplace_back(f->vehicle_id, f->timestamp_s);
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!call.fixes.empty()) calls_.push_back(std::move(call));
    }
    return MemoryStore::Apply(changes);
  }
  std::vector<Call> calls() {
    std::lock_guard<std::mutex> l(mu_);
    return calls_;
  }
  size_t positions(const std::string& id) { return ReadPositions(id, 0)->size(); }

 private:
  std::mutex mu_;
  std::vector<Call> calls_;
};

TEST(StoreWriterTest, AFastVehiclesFixesWithinTheWindowAreWrittenTogether) {
  RecordingStore store;
  StoreWriterOptions o;
  o.position_window = absl::Milliseconds(300);
  StoreWriter writer(&store, o);
  const absl::Time t0 = absl::Now();
  // The first fix is written at once (nothing written for this vehicle within the window).
  ASSERT_TRUE(writer.Enqueue(Position("bus", 0)).ok());
  ASSERT_TRUE(WaitFor([&] { return store.positions("bus") == 1; }, absl::Milliseconds(200)));
  // Five more in quick succession: held, then written in ONE Apply, in order, within the
  // window (plus slack), without a Flush.
  for (int t = 1; t <= 5; ++t) {
    ASSERT_TRUE(writer.Enqueue(Position("bus", t)).ok());
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_GE(writer.Stats().held_positions, 1u);
  ASSERT_TRUE(WaitFor([&] { return store.positions("bus") == 6; }, absl::Seconds(1)));
  EXPECT_LT(absl::Now() - t0, absl::Seconds(1));  // "reaches the store within a second"
  std::vector<RecordingStore::Call> calls = store.calls();
  ASSERT_EQ(calls.size(), 2u);
  ASSERT_EQ(calls[1].fixes.size(), 5u);
  for (int t = 1; t <= 5; ++t) EXPECT_EQ(calls[1].fixes[t - 1].second, t);
  EXPECT_GE(calls[1].at - calls[0].at, absl::Milliseconds(250));  // held for the window
  EXPECT_EQ(writer.Stats().held_positions, 0u);
  EXPECT_EQ(writer.Stats().queued, 0u);
}

TEST(StoreWriterTest, ASlowVehiclesFixIsNotHeldAndFlushWritesHeldFixes) {
  RecordingStore store;
  StoreWriterOptions o;
  o.position_window = absl::Seconds(30);  // longer than the test
  StoreWriter writer(&store, o);
  // Many vehicles, one fix each: every one goes out at once (a bus reporting every 10 s waits
  // no longer than without coalescing).
  for (int v = 0; v < 50; ++v) ASSERT_TRUE(writer.Enqueue(Position(absl::StrCat("bus-", v), 1)).ok());
  ASSERT_TRUE(WaitFor([&] {
    size_t n = 0;
    for (int v = 0; v < 50; ++v) n += store.positions(absl::StrCat("bus-", v));
    return n == 50;
  }, absl::Milliseconds(500)));
  // A second fix of bus-0 is held (its first was written just now)...
  ASSERT_TRUE(writer.Enqueue(Position("bus-0", 2)).ok());
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(store.positions("bus-0"), 1u);
  EXPECT_EQ(writer.Stats().held_positions, 1u);
  EXPECT_EQ(writer.Stats().queued, 1u);
  // ...and Flush writes it.
  ASSERT_TRUE(writer.Flush(absl::Seconds(5)).ok());
  EXPECT_EQ(store.positions("bus-0"), 2u);
  EXPECT_EQ(writer.Stats().held_positions, 0u);
}

TEST(StoreWriterTest, HeldFixesTakeQueueRoomAndSurviveAnOutage) {
  FlakyStore store;
  StoreWriterOptions o;
  o.position_window = absl::Seconds(30);
  o.queue_capacity = 10;
  o.min_backoff = absl::Milliseconds(2);
  o.max_backoff = absl::Milliseconds(5);
  StoreWriter writer(&store, o);
  ASSERT_TRUE(writer.Enqueue(Position("bus", 0)).ok());
  ASSERT_TRUE(WaitFor([&] { return store.ReadPositions("bus", 0)->size() == 1; }));
  store.SetDown(true);
  for (int t = 1; t <= 10; ++t) ASSERT_TRUE(writer.Enqueue(Position("bus", t)).ok()) << t;
  ASSERT_TRUE(WaitFor([&] { return writer.Stats().held_positions == 10; }));
  EXPECT_EQ(writer.Enqueue(Position("bus", 11)).code(), absl::StatusCode::kResourceExhausted);
  // Flush releases them into a batch that fails while the store is down; kept and retried.
  EXPECT_EQ(writer.Flush(absl::Milliseconds(100)).code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(writer.Stats().queued, 10u);
  store.SetDown(false);
  ASSERT_TRUE(writer.Flush(absl::Seconds(5)).ok());
  auto got = store.ReadPositions("bus", 0);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 11u);
  for (int t = 0; t <= 10; ++t) EXPECT_EQ((*got)[t].timestamp_s, t);
}

// Through a real Redis: a vehicle pushing fixes fast costs one stream entry per window.
TEST(StoreWriterRedisTest, AFastVehicleCostsOneStreamEntryPerWindow) {
  testing::RedisTestServer redis;
  ASSERT_TRUE(redis.Start().ok());
  RedisAddress a;
  a.port = redis.port();
  RedisStore store(a);
  StoreWriterOptions o;
  o.position_window = absl::Milliseconds(250);
  StoreWriter writer(&store, o);
  for (int t = 0; t < 40; ++t) {  // 40 fixes in ~400 ms
    ASSERT_TRUE(writer.Enqueue(Position("bus", t)).ok());
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_TRUE(WaitFor([&] { return store.ReadPositions("bus", 0)->size() == 40; },
                      absl::Seconds(2)));
  redisContext* c = redisConnect("127.0.0.1", redis.port());
  ASSERT_TRUE(c != nullptr && c->err == 0);
  auto* r = static_cast<redisReply*>(redisCommand(c, "XLEN sb:pos:bus"));
  ASSERT_NE(r, nullptr);
  // The first fix at once, then one entry per 250 ms window: 3 or 4 (not 40; a loaded machine
  // stretching the 10 ms sleeps makes a few more).
  EXPECT_GE(r->integer, 2);
  EXPECT_LE(r->integer, 10);
  freeReplyObject(r);
  redisFree(c);
  auto got = store.ReadPositions("bus", 0);
  ASSERT_TRUE(got.ok());
  for (int t = 0; t < 40; ++t) EXPECT_EQ((*got)[t].timestamp_s, t);
}

// --- Against a real redis-server that crashes ---

TEST(StoreWriterRedisTest, RedisDownAtStartIsNotServingThenCatchesUp) {
  // A server not started yet: its port refuses connections. The port is fixed up front so the
  // store knows where to connect.
  testing::RedisTestServerOptions so;
  so.port = testing::FreeLoopbackPort();
  testing::RedisTestServer server(so);
  RedisAddress a;
  a.port = so.port;
  StoreOptions opts;
  opts.connect_timeout = absl::Milliseconds(200);
  RedisStore store(a, opts);
  StoreHealth h = store.Health();
  EXPECT_FALSE(h.serving);
  EXPECT_NE(h.reason.find(absl::StrCat("127.0.0.1:", so.port)), std::string::npos) << h.reason;

  StoreWriterOptions wo;
  wo.min_backoff = absl::Milliseconds(10);
  wo.max_backoff = absl::Milliseconds(50);
  StoreWriter writer(&store, wo);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(writer.Enqueue(Position("bus", i)).ok());
  ASSERT_TRUE(WaitFor([&] { return !writer.Health().serving; }))
      << "applied " << writer.Stats().applied << " batches " << writer.Stats().batches
      << " failed " << writer.Stats().failed_batches << " store " << store.Health().reason;
  ASSERT_TRUE(server.Start().ok());
  ASSERT_TRUE(writer.Flush(absl::Seconds(10)).ok());
  EXPECT_TRUE(writer.Health().serving);
  EXPECT_TRUE(store.Health().serving);
  auto got = store.ReadPositions("bus", 0);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->size(), 1000u);
}

TEST(StoreWriterRedisTest, Kill9RedisMidStreamLosesNoAcknowledgedFix) {
  testing::RedisTestServerOptions so;
  so.appendonly = true;  // appendonly yes, appendfsync always
  testing::RedisTestServer redis(so);
  ASSERT_TRUE(redis.Start().ok());
  RedisAddress a;
  a.port = redis.port();
  StoreOptions opts;
  opts.positions_cap = 100000;
  opts.connect_timeout = absl::Milliseconds(200);
  opts.command_timeout = absl::Milliseconds(500);
  RedisStore store(a, opts);

  std::atomic<int> not_serving_reports{0}, serving_reports{0};
  StoreWriterOptions wo;
  wo.max_batch = 200;
  wo.queue_capacity = 1000000;
  wo.min_backoff = absl::Milliseconds(10);
  wo.max_backoff = absl::Milliseconds(100);
  wo.on_health_change = [&](const StoreHealth& h) {
    (h.serving ? serving_reports : not_serving_reports)++;
  };
  StoreWriter writer(&store, wo);

  // A producer streams fixes for 20 vehicles; it counts what the writer acknowledged.
  constexpr int kVehicles = 20;
  std::atomic<bool> stop{false};
  std::vector<int64_t> acked(kVehicles, 0);  // fixes 0..acked-1 of each vehicle were accepted
  std::thread producer([&] {
    int64_t t = 0;
    while (!stop.load()) {
      for (int v = 0; v < kVehicles; ++v) {
        if (writer.Enqueue(Position(absl::StrCat("bus-", v), t)).ok()) acked[v] = t + 1;
      }
      ++t;
      absl::SleepFor(absl::Microseconds(500));  // about 40,000 fixes/s
    }
  });

  ASSERT_TRUE(WaitFor([&] { return writer.Stats().applied > 5000; }));
  redis.Kill9();
  ASSERT_TRUE(WaitFor([&] { return !writer.Health().serving; }));
  absl::SleepFor(absl::Milliseconds(200));  // fixes keep being accepted meanwhile
  ASSERT_TRUE(redis.Start().ok());          // same port, replays the AOF
  ASSERT_TRUE(WaitFor([&] { return writer.Health().serving; }));
  absl::SleepFor(absl::Milliseconds(100));
  stop = true;
  producer.join();
  ASSERT_TRUE(writer.Flush(absl::Seconds(20)).ok());
  EXPECT_GE(not_serving_reports.load(), 1);
  EXPECT_GE(serving_reports.load(), 1);
  EXPECT_EQ(writer.Stats().rejected, 0u);

  // A fresh store on the restarted server: every acknowledged fix is there, once, in order.
  RedisStore reader(a, opts);
  for (int v = 0; v < kVehicles; ++v) {
    auto got = reader.ReadPositions(absl::StrCat("bus-", v), 0);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(int64_t(got->size()), acked[v]) << "bus-" << v;
    for (int64_t t = 0; t < acked[v]; ++t) ASSERT_EQ((*got)[t].timestamp_s, t);
  }
}

TEST(StoreWriterRedisTest, TtlsAreSetOnVehicleAndPositionKeys) {
  testing::RedisTestServer redis;
  ASSERT_TRUE(redis.Start().ok());
  RedisAddress a;
  a.port = redis.port();
  StoreOptions opts;
  opts.vehicle_ttl_s = 1;
  opts.positions_ttl_s = 1;
  RedisStore store(a, opts);
  VehicleRecord v;
  v.state.vehicle_id = "bus-1";
  ASSERT_TRUE(store.PutVehicle(v).ok());
  ASSERT_TRUE(store.AppendPosition(Position("bus-1", 1)).ok());
  ASSERT_TRUE(store.GetVehicle("bus-1").ok());
  ASSERT_TRUE(WaitFor([&] { return store.GetVehicle("bus-1").status().code() ==
                                   absl::StatusCode::kNotFound; },
                      absl::Seconds(5)));
  EXPECT_TRUE(WaitFor([&] { return store.ReadPositions("bus-1", 0)->empty(); },
                      absl::Seconds(5)));
  // An expired vehicle disappears from the listing too.
  auto list = store.ListVehicles();
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty());
}

TEST(RedisUrlTest, ParsesHostPortAndDb) {
  auto a = ParseRedisUrl("redis://10.0.0.5:6380/2");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->host, "10.0.0.5");
  EXPECT_EQ(a->port, 6380);
  EXPECT_EQ(a->db, 2);
  a = ParseRedisUrl("redis://cache");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "cache");
  EXPECT_EQ(a->port, 6379);
  EXPECT_EQ(a->db, 0);
  a = ParseRedisUrl("redis://[::1]:7000/");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->host, "::1");
  EXPECT_EQ(a->port, 7000);
}

TEST(RedisUrlTest, PasswordAclUserAndUnixSocket) {
  auto a = ParseRedisUrl("redis://:s3cret@10.0.0.5:6380/2");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->password, "s3cret");
  EXPECT_EQ(a->user, "");
  EXPECT_EQ(a->host, "10.0.0.5");
  EXPECT_EQ(a->ToString().find("s3cret"), std::string::npos);
  a = ParseRedisUrl("redis://smartbus:pw@cache/1");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->user, "smartbus");
  EXPECT_EQ(a->password, "pw");
  EXPECT_EQ(a->ToString(), "smartbus@cache:6379/1");
  a = ParseRedisUrl("unix:///run/redis/redis.sock?db=3");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->unix_path, "/run/redis/redis.sock");
  EXPECT_EQ(a->db, 3);
}

// A Redis with an ACL user, a default-user password and a unix socket: the store connects and
// writes as that user through the socket; a wrong password is NOT_SERVING naming AUTH, never
// echoing the secret.
TEST(RedisAuthTest, AclUserOverUnixSocketAndWrongPasswordRefused) {
  const std::string sock = absl::StrCat("/tmp/sb-redis-auth-", ::getpid(), ".sock");
  smartbus::testing::RedisTestServer redis(
      {.extra_args = {"--requirepass", "default-pw", "--unixsocket", sock, "--unixsocketperm",
                      "700", "--user", "smartbus", "on", ">sb-pw", "~*", "+@all"}});
  ASSERT_TRUE(redis.Start().ok());
  auto store = OpenStore("unix://" + sock);
  ASSERT_TRUE(store.ok());
  // No password: refused by the server.
  EXPECT_FALSE((*store)->Health().serving);
  store = OpenStore("redis://smartbus:sb-pw@127.0.0.1:" + std::to_string(redis.port()));
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_TRUE((*store)->Health().serving) << (*store)->Health().reason;
  store = OpenStore("redis://:wrong-pw@127.0.0.1:" + std::to_string(redis.port()));
  ASSERT_TRUE(store.ok());
  StoreHealth h = (*store)->Health();
  EXPECT_FALSE(h.serving);
  EXPECT_NE(h.reason.find("AUTH"), std::string::npos) << h.reason;
  EXPECT_EQ(h.reason.find("wrong-pw"), std::string::npos) << h.reason;
  // ACL user through the unix socket: writes and reads back.
  ::setenv("SMARTBUS_REDIS_USER", "smartbus", 1);
  ::setenv("SMARTBUS_REDIS_PASSWORD", "sb-pw", 1);
  store = OpenStore("unix://" + sock);
  ::unsetenv("SMARTBUS_REDIS_USER");
  ::unsetenv("SMARTBUS_REDIS_PASSWORD");
  ASSERT_TRUE(store.ok());
  EXPECT_TRUE((*store)->Health().serving) << (*store)->Health().reason;
  ASSERT_TRUE((*store)->PutModel("m", "bytes").ok());
  auto m = (*store)->GetModel("m");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(*m, "bytes");
}

TEST(RedisUrlTest, RejectsWhatItCannotDoWithAReason) {
  struct Case {
    const char* url;
    const char* says;
  } cases[] = {
      {"localhost:6379", "must start with redis://"},
      {"rediss://h", "TLS"},
      {"redis://h:0", "port \"0\""},
      {"redis://h:99999", "port \"99999\""},
      {"redis://h:x", "port \"x\""},
      {"redis://h/abc", "database \"abc\""},
      {"redis://user@h", "needs a ':'"},
      {"unix://relative.sock", "absolute socket path"},
      {"unix:///tmp/r.sock?x=1", "?db=N"},
      {"redis://", "no host"},
  };
  for (const Case& c : cases) {
    auto a = ParseRedisUrl(c.url);
    ASSERT_FALSE(a.ok()) << c.url;
    EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument) << c.url;
    EXPECT_NE(a.status().message().find(c.says), std::string::npos) << a.status();
  }
}

TEST(OpenStoreTest, ChoosesTheImplementationFromTheUrl) {
  auto m = OpenStore("");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ((*m)->Describe(), "memory");
  auto r = OpenStore("redis://127.0.0.1:1/3");  // not contacted yet
  ASSERT_TRUE(r.ok());
  EXPECT_NE((*r)->Describe().find("127.0.0.1:1/3"), std::string::npos);
  EXPECT_EQ(OpenStore("mysql://x").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace smartbus

// The ingest pipeline without gRPC (services/server/ingest.h): requests are built as protos and
// handed to Ingest::Submit directly; the shards, the store writer (embedded store) and the
// counters are real, the server and its gRPC services are not involved.

#include "services/server/ingest.h"

#include <cmath>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/core/gtfs/feed.h"
#include "services/core/network/network.h"
#include "tests/core/gtfs/test_feed.h"
#include "services/files/feed_files.h"

namespace smartbus::server {
namespace {

namespace pb = ::smartbus::v1;
using ::testing::HasSubstr;

// 2026-01-06 (a Tuesday) 08:00:00 America/New_York, epoch seconds.
constexpr int64_t kT0800 = 1767704400;

pb::Fix MakeFix(const std::string& vehicle, int64_t t, double lat) {
  pb::Fix f;
  f.set_vehicle_id(vehicle);
  f.set_timestamp(t);
  f.set_lat(lat);
  f.set_lon(-75.0);
  f.set_trip_id("T1");
  f.set_route_id("R1");
  return f;
}

// Shards, store writer and counters as the server wires them, on the minimal feed.
class IngestTest : public ::testing::Test {
 protected:
  void Start(size_t shard_capacity, size_t store_capacity, int shards = 2) {
    auto feed = LoadGtfs({smartbus::testing::WriteFeedDir(tmp_.path() + "/feed",
                                                          smartbus::testing::MinimalFeed())});
    ASSERT_TRUE(feed.ok()) << feed.status();
    auto net = Network::Build(std::move(*feed));
    ASSERT_TRUE(net.ok()) << net.status();
    auto store = OpenStore("memory", {});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    StoreWriterOptions wo;
    wo.queue_capacity = store_capacity;
    writer_ = std::make_unique<StoreWriter>(store_.get(), wo);
    shared_.writer = writer_.get();
    shared_.clock = &clock_;
    shared_.view.store(std::make_shared<LiveView>(*net));
    ShardOptions so;
    so.queue_capacity = shard_capacity;
    so.engine.clock_mode = ClockMode::kFixes;
    for (int i = 0; i < shards; ++i)
      shards_.push_back(std::make_unique<Shard>(i, &shared_, *net, so));
    for (auto& sh : shards_) shared_.shards.push_back(sh.get());
    for (auto& sh : shards_) sh->Start();
    IngestOptions io;
    io.max_batch = 100;
    io.store_queue_capacity = store_capacity;
    ingest_ = std::make_unique<Ingest>(
        io, &shared_, [this] { return draining_; }, [this] { return health_; });
  }
  void TearDown() override {
    for (auto& sh : shards_) sh->Stop();
  }

  // Submits and waits for the response; a refused request returns its status instead.
  absl::StatusOr<pb::IngestResponse> Submit(const std::vector<pb::Fix>& fixes) {
    pb::IngestRequest req;
    req.set_sequence(7);
    for (const auto& f : fixes) *req.add_fixes() = f;
    std::promise<pb::IngestResponse> p;
    absl::Status st = ingest_->Submit(req, [&p](pb::IngestResponse r) { p.set_value(r); });
    if (!st.ok()) return st;
    return p.get_future().get();
  }

  smartbus::testing::TempDir tmp_;
  ServerClock clock_{true};
  ShardShared shared_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<StoreWriter> writer_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::unique_ptr<Ingest> ingest_;
  bool draining_ = false;
  StoreHealth health_{true, ""};
};

TEST_F(IngestTest, AcceptsValidFixesAndNamesWhyOthersWereRejected) {
  Start(1000, 100000);
  auto r = Submit({MakeFix("bus1", kT0800, 40.0), MakeFix("bus2", kT0800, NAN),
                   MakeFix("bus1", kT0800 + 10, 40.0004), MakeFix("bus1", kT0800 + 10, 40.0004)});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->sequence(), 7u);
  EXPECT_EQ(r->accepted(), 2u);
  ASSERT_EQ(r->rejections_size(), 2);
  EXPECT_EQ(r->rejections(0).index(), 1u);
  EXPECT_EQ(r->rejections(0).reason(), pb::REJECT_REASON_INVALID_COORDINATES);
  EXPECT_THAT(r->rejections(0).detail(), HasSubstr("lat"));
  EXPECT_EQ(r->rejections(1).index(), 3u);
  EXPECT_EQ(r->rejections(1).vehicle_id(), "bus1");
  EXPECT_EQ(r->rejections(1).reason(), pb::REJECT_REASON_DUPLICATE);
  EXPECT_EQ(ingest_->fixes_received(), 4u);
  EXPECT_EQ(shared_.rejected.load(), 2u);
  EXPECT_EQ(r->server_time(), kT0800 + 10);  // the clock follows the fixes
}

TEST_F(IngestTest, EmptyOversizedAndDrainingRequestsAreRefusedWhole) {
  Start(1000, 100000);
  EXPECT_EQ(Submit({}).status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<pb::Fix> big(101, MakeFix("bus1", kT0800, 40.0));
  auto r = Submit(big);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("limit is 100"));
  EXPECT_EQ(ingest_->fixes_received(), 0u);
  draining_ = true;
  EXPECT_EQ(Submit({MakeFix("bus1", kT0800, 40.0)}).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(IngestTest, FullStoreQueueIsResourceExhaustedNamingTheStorageProblem) {
  Start(1000, 5);  // a 2-fix request needs room for 6 changes
  health_ = {false, "redis unreachable"};
  auto r = Submit({MakeFix("bus1", kT0800, 40.0), MakeFix("bus2", kT0800, 40.0004)});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(r.status().message(), HasSubstr("down: redis unreachable"));
  EXPECT_EQ(shared_.overloaded.load(), 2u);
}

TEST_F(IngestTest, FullShardQueueRefusesTheRequest) {
  Start(1, 100000, 1);  // one fix at a time
  auto r = Submit({MakeFix("bus1", kT0800, 40.0), MakeFix("bus1", kT0800 + 10, 40.0004)});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(r.status().message(), HasSubstr("every shard queue"));
}

}  // namespace
}  // namespace smartbus::server

#include "services/core/service_changes/service_changes.h"

#include "gtest/gtest.h"

namespace smartbus {
namespace {

constexpr int32_t kDay = 20260216;

Alert StopAlert(const std::string& id, const std::string& stop_id) {
  Alert a;
  a.source = kOperatorSource;
  a.id = id;
  a.informed = {{"", "", "", stop_id}};
  a.header = {{"en", "Stop closed"}};
  return a;
}

TEST(ServiceChangesTest, CancelAndRestoreAWholeTrip) {
  ServiceChanges sc;
  const uint64_t v0 = sc.Current()->version();
  auto d = sc.Cancel(kOperatorSource, "T1", kDay, nullptr, "no driver", 100);
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->put_trips.size(), 1u);
  auto cur = sc.Current();
  EXPECT_GT(cur->version(), v0);
  EXPECT_EQ(cur->TripStatus("T1", kDay, "S1", 3), StopStatus::kCancelled);
  EXPECT_EQ(cur->TripStatus("T1", kDay + 1, "S1", 3), StopStatus::kScheduled);  // other day
  EXPECT_EQ(cur->TripStatus("T2", kDay, "S1", 3), StopStatus::kScheduled);
  auto r = sc.Restore(kOperatorSource, "T1", kDay, nullptr);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->delete_trips, std::vector<std::string>{"operator|T1|20260216"});
  EXPECT_EQ(sc.Current()->TripStatus("T1", kDay, "S1", 3), StopStatus::kScheduled);
  EXPECT_EQ(sc.Restore(kOperatorSource, "T1", kDay, nullptr).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(ServiceChangesTest, SkipOneStopThenRestoreIt) {
  ServiceChanges sc;
  SkippedStop s{"S2", 0};
  ASSERT_TRUE(sc.Cancel(kOperatorSource, "T1", kDay, &s, "", 1).ok());
  auto cur = sc.Current();
  EXPECT_EQ(cur->TripStatus("T1", kDay, "S2", 4), StopStatus::kSkipped);
  EXPECT_EQ(cur->TripStatus("T1", kDay, "S3", 5), StopStatus::kScheduled);
  EXPECT_FALSE(cur->TripCancelled("T1", kDay));
  SkippedStop other{"S9", 0};
  EXPECT_EQ(sc.Restore(kOperatorSource, "T1", kDay, &other).status().code(),
            absl::StatusCode::kNotFound);
  auto r = sc.Restore(kOperatorSource, "T1", kDay, &s);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->delete_trips.size(), 1u);  // nothing left: the record goes
  EXPECT_TRUE(sc.Current()->trips().empty());
}

TEST(ServiceChangesTest, ASkipBySequenceOnlyHitsThatVisitOfALoop) {
  ServiceChanges sc;
  SkippedStop s{"", 9};
  ASSERT_TRUE(sc.Cancel(kOperatorSource, "LOOP", 0, &s, "", 1).ok());
  auto cur = sc.Current();
  EXPECT_EQ(cur->TripStatus("LOOP", kDay, "HUB", 9), StopStatus::kSkipped);
  EXPECT_EQ(cur->TripStatus("LOOP", kDay, "HUB", 1), StopStatus::kScheduled);
}

TEST(ServiceChangesTest, AlertsMatchTheirStopsRoutesAndActivePeriods) {
  ServiceChanges sc;
  Alert stop = StopAlert("a1", "S1");
  stop.active_periods = {{1000, 2000}};
  ASSERT_TRUE(sc.PostAlert(stop).ok());
  Alert route = StopAlert("a2", "");
  route.informed = {{"", "R1", "", ""}};
  ASSERT_TRUE(sc.PostAlert(route).ok());
  Alert route_at_stop = StopAlert("a3", "S2");
  route_at_stop.informed = {{"", "R1", "", "S2"}};  // R1 at S2 only
  ASSERT_TRUE(sc.PostAlert(route_at_stop).ok());
  auto cur = sc.Current();
  AlertSelector at_s1{"S1", "", {"R1"}, {}, {}};
  auto ids = [](const std::vector<const Alert*>& v) {
    std::vector<std::string> out;
    for (auto* a : v) out.push_back(a->id);
    return out;
  };
  EXPECT_EQ(ids(cur->AlertsFor(at_s1, 1500)), (std::vector<std::string>{"a1", "a2"}));
  EXPECT_EQ(ids(cur->AlertsFor(at_s1, 2500)), (std::vector<std::string>{"a2"}));  // a1 ended
  AlertSelector at_s2{"S2", "", {"R1"}, {}, {}};
  EXPECT_EQ(ids(cur->AlertsFor(at_s2, 1500)), (std::vector<std::string>{"a2", "a3"}));
  AlertSelector at_s3{"S3", "", {"R7"}, {}, {}};
  EXPECT_TRUE(cur->AlertsFor(at_s3, 1500).empty());
  ASSERT_TRUE(sc.EndAlert(kOperatorSource, "a2").ok());
  EXPECT_EQ(ids(sc.Current()->AlertsFor(at_s1, 1500)), (std::vector<std::string>{"a1"}));
  EXPECT_EQ(sc.EndAlert(kOperatorSource, "a2").status().code(), absl::StatusCode::kNotFound);
}

TEST(ServiceChangesTest, InvalidAlertsAreRefusedWithTheField) {
  ServiceChanges sc;
  Alert no_header = StopAlert("x", "S1");
  no_header.header.clear();
  EXPECT_NE(sc.PostAlert(no_header).status().message().find("header_text"), std::string::npos);
  Alert nothing = StopAlert("x", "");
  EXPECT_NE(sc.PostAlert(nothing).status().message().find("informed_entities[0]"),
            std::string::npos);
  Alert backwards = StopAlert("x", "S1");
  backwards.active_periods = {{2000, 1000}};
  EXPECT_NE(sc.PostAlert(backwards).status().message().find("active_periods[0]"),
            std::string::npos);
  EXPECT_TRUE(sc.Current()->alerts().empty());
}

TEST(ServiceChangesTest, ReplaceSourceReportsOnlyWhatChangedAndKeepsOtherSources) {
  ServiceChanges sc;
  ASSERT_TRUE(sc.Cancel(kOperatorSource, "T1", kDay, nullptr, "", 1).ok());
  TripChange f1{"", "T1", kDay, true, {}, "", 10};
  TripChange f2{"", "T2", kDay, false, {{"S4", 0}}, "", 10};
  auto d = sc.ReplaceSource("gtfs-rt:x", {f1, f2}, {StopAlert("fa", "S1")});
  EXPECT_EQ(d.put_trips.size(), 2u);
  EXPECT_EQ(d.put_alerts.size(), 1u);
  // Same content, new timestamps: nothing to write.
  f1.updated_s = f2.updated_s = 20;
  d = sc.ReplaceSource("gtfs-rt:x", {f1, f2}, {StopAlert("fa", "S1")});
  EXPECT_TRUE(d.empty());
  // T2 gone from the feed: deleted; the operator's T1 stays.
  d = sc.ReplaceSource("gtfs-rt:x", {f1}, {});
  EXPECT_EQ(d.delete_trips, std::vector<std::string>{"gtfs-rt:x|T2|20260216"});
  EXPECT_EQ(d.delete_alerts, std::vector<std::string>{"gtfs-rt:x|fa"});
  auto cur = sc.Current();
  EXPECT_EQ(cur->trips().size(), 2u);  // operator|T1 and gtfs-rt:x|T1
  // Restoring the operator's cancellation leaves the feed's: still cancelled.
  ASSERT_TRUE(sc.Restore(kOperatorSource, "T1", kDay, nullptr).ok());
  EXPECT_TRUE(sc.Current()->TripCancelled("T1", kDay));
}

TEST(ServiceChangesTest, PruneDropsPastDaysAndEndedAlerts) {
  ServiceChanges sc;
  ASSERT_TRUE(sc.Cancel(kOperatorSource, "old", 20260214, nullptr, "", 1).ok());
  ASSERT_TRUE(sc.Cancel(kOperatorSource, "today", kDay, nullptr, "", 1).ok());
  Alert ended = StopAlert("ended", "S1");
  ended.active_periods = {{100, 200}};
  ASSERT_TRUE(sc.PostAlert(ended).ok());
  ASSERT_TRUE(sc.PostAlert(StopAlert("open", "S1")).ok());
  auto d = sc.Prune(20260215, 1000);
  EXPECT_EQ(d.delete_trips, std::vector<std::string>{"operator|old|20260214"});
  EXPECT_EQ(d.delete_alerts, std::vector<std::string>{"operator|ended"});
  EXPECT_EQ(sc.Current()->trips().size(), 1u);
  EXPECT_EQ(sc.Current()->alerts().size(), 1u);
}

}  // namespace
}  // namespace smartbus

// smartbusd's HTTP side, in process: a SmartbusServer with --http_listen on a free port, the
// tiny inline feed of server_test (trip T1 S1 -> S2 -> S3 on weekdays 08:00-08:10), one bus
// driven over gRPC, then every HTTP surface checked with a plain HTTP client: the JSON mirror
// (same answer as gRPC, 400/404 naming the problem), CORS, gzip, body limit, GTFS-RT (decoded
// with the official proto: best-practice rules, cache, 304, service changes), /metrics (parsed
// by the small text-format parser below), /healthz and /readyz.

// Before httplib.h: <netdb.h> defines a NO_DATA macro that clashes with the generated enum.
#include "transit_realtime/gtfs-realtime.pb.h"

#include <httplib.h>

#include <chrono>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "services/core/gtfs/feed.h"
#include "services/core/network/network.h"
#include "services/server/http/gtfs_rt.h"
#include "services/server/http/siri.h"
#include "services/server/log.h"
#include "services/server/server.h"
#include "smartbus/v1/ingest.grpc.pb.h"
#include "smartbus/v1/operator.grpc.pb.h"
#include "smartbus/v1/passenger.grpc.pb.h"
#include "tests/core/gtfs/test_feed.h"
#include "tests/server/minimal_server.h"
#include "services/files/feed_files.h"

namespace smartbus::server {
namespace {

namespace pb = ::smartbus::v1;
namespace rt = ::transit_realtime;
using ::testing::HasSubstr;

constexpr int64_t kT0800 = 1767704400;  // 2026-01-06 (Tuesday) 08:00 America/New_York

pb::Fix MakeFix(int64_t t, double lat) {
  pb::Fix f;
  f.set_vehicle_id("bus1");
  f.set_timestamp(t);
  f.set_lat(lat);
  f.set_lon(-75.0);
  f.set_trip_id("T1");
  f.set_route_id("R1");
  f.set_occupancy(pb::OCCUPANCY_FEW_SEATS_AVAILABLE);
  return f;
}

// bus1 on T1 from S1 towards S2 (about 40 m per 10 s), last fix at 08:01.
pb::IngestRequest Bus1Fixes() {
  pb::IngestRequest req;
  int64_t t = kT0800 - 60;
  for (double lat = 40.0; lat <= 40.0008 + 1e-9; lat += 0.0004, t += 60)
    *req.add_fixes() = MakeFix(t, lat);
  return req;
}

// A started server with HTTP on `files` (a variant of the minimal feed), clock following fixes;
// *out stays empty when it cannot start.
void StartOnFeed(const smartbus::testing::TempDir& tmp, const smartbus::testing::FeedFiles& files,
                 std::unique_ptr<SmartbusServer>* out) {
  StartMinimalServer(tmp, out, [&](ServerOptions& opt) {
    opt.gtfs = {smartbus::testing::WriteFeedDir(tmp.path() + "/variant", files)};
    opt.shard.engine.clock_mode = ClockMode::kFixes;
    opt.shutdown_grace = absl::Milliseconds(200);
    opt.http.http.listen = "127.0.0.1:0";
  });
}

// GET `path` as JSON, expecting 200.
nlohmann::json GetJson(httplib::Client& http, const std::string& path) {
  auto r = http.Get(path.c_str());
  EXPECT_TRUE(r && r->status == 200) << path << ": " << (r ? r->body : "no answer");
  return r ? nlohmann::json::parse(r->body) : nlohmann::json();
}

// A Prometheus text-format (0.0.4) parser, enough to check what /metrics says: families with
// their TYPE, samples with labels and values. Fails (returns false with *error) on any line
// that is not a comment, blank, or `name{label="value",...} value`.
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};
bool ParsePrometheus(const std::string& text, std::map<std::string, std::string>* types,
                     std::vector<Sample>* samples, std::string* error) {
  static const std::regex kName("[a-zA-Z_:][a-zA-Z0-9_:]*");
  static const std::regex kLabel(R"re(([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)")re");
  std::istringstream in(text);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    if (line[0] == '#') {
      std::istringstream c(line.substr(1));
      std::string kind, name, rest;
      c >> kind >> name;
      std::getline(c, rest);
      if (kind == "TYPE") {
        rest = rest.substr(rest.find_first_not_of(' '));
        static const std::set<std::string> kTypes = {"counter", "gauge", "histogram",
                                                     "summary", "untyped"};
        if (!kTypes.count(rest)) return *error = "line " + std::to_string(n) + ": type " + rest, false;
        (*types)[name] = rest;
      }
      continue;
    }
    Sample s;
    size_t i = line.find_first_of("{ ");
    s.name = line.substr(0, i);
    if (!std::regex_match(s.name, kName)) return *error = "line " + std::to_string(n) + ": name", false;
    if (line[i] == '{') {
      const size_t close = line.find("} ", i);
      if (close == std::string::npos) return *error = "line " + std::to_string(n) + ": labels", false;
      std::string labels = line.substr(i + 1, close - i - 1);
      for (std::sregex_iterator it(labels.begin(), labels.end(), kLabel), end; it != end; ++it)
        s.labels[(*it)[1]] = (*it)[2];
      i = close + 1;
    }
    const std::string v = line.substr(i + 1);
    if (v == "+Inf") s.value = INFINITY;
    else if (v == "-Inf") s.value = -INFINITY;
    else if (v == "Nan" || v == "NaN") s.value = NAN;
    else {
      char* end = nullptr;
      s.value = std::strtod(v.c_str(), &end);
      if (end == v.c_str() || (*end != '\0' && *end != ' '))
        return *error = "line " + std::to_string(n) + ": value " + v, false;
    }
    samples->push_back(std::move(s));
  }
  return true;
}

class FakeChanges : public ServiceChangesView {
 public:
  std::vector<std::pair<std::string, int32_t>> CanceledTrips(int64_t) const override {
    return {{"T1", 20260107}};
  }
  bool StopSkipped(const std::string& trip, int32_t, const std::string& stop,
                   uint32_t seq) const override {
    return trip == "T1" && stop == "S3" && seq == 3;
  }
  void AppendAlerts(int64_t, rt::FeedMessage* feed) const override {
    auto* e = feed->add_entity();
    e->set_id("alert-1");
    e->mutable_alert()->add_informed_entity()->set_stop_id("S2");
    auto* t = e->mutable_alert()->mutable_header_text()->add_translation();
    t->set_text("Stop S2 closed");
    t->set_language("en");
  }
};

class HttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StartMinimalServer(tmp_, &server_, [&](ServerOptions& opt) {
      opt.shard.engine.clock_mode = ClockMode::kFixes;
      opt.shutdown_grace = absl::Milliseconds(200);
      opt.http.http.listen = "127.0.0.1:0";
      opt.http.http.max_body_bytes = 1000;
      opt.http.gtfs_rt_refresh_s = 3600;  // one build per test unless said otherwise
    });
    ASSERT_TRUE(server_);
    ASSERT_GT(server_->http_port(), 0);
    auto ch = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                  grpc::InsecureChannelCredentials());
    ingest_ = pb::IngestService::NewStub(ch);
    passenger_ = pb::PassengerService::NewStub(ch);
    http_ = std::make_unique<httplib::Client>("127.0.0.1", server_->http_port());
    http_->set_decompress(false);
  }

  // bus1 on T1 from S1 towards S2 (about 40 m per 10 s), last fix at 08:01.
  void Drive() {
    const pb::IngestRequest req = Bus1Fixes();
    pb::IngestResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(ingest_->IngestBatch(&ctx, req, &resp).ok());
    ASSERT_EQ(resp.accepted(), static_cast<uint32_t>(req.fixes_size()));
  }

  httplib::Result Get(const std::string& path, httplib::Headers h = {}) {
    return http_->Get(path.c_str(), h);
  }

  rt::FeedMessage Feed(const std::string& name) {
    rt::FeedMessage m;
    auto r = Get("/gtfs-rt/" + name);
    EXPECT_TRUE(r && r->status == 200);
    if (r) {
      EXPECT_TRUE(m.ParseFromString(r->body));
    }
    return m;
  }

  smartbus::testing::TempDir tmp_;
  std::unique_ptr<SmartbusServer> server_;
  std::unique_ptr<pb::IngestService::Stub> ingest_;
  std::unique_ptr<pb::PassengerService::Stub> passenger_;
  std::unique_ptr<httplib::Client> http_;
};

TEST_F(HttpTest, JsonArrivalsAreTheGrpcAnswerInProtobufJson) {
  Drive();
  pb::GetArrivalsRequest req;
  req.set_stop_id("S3");
  pb::ArrivalsBoard grpc_board;
  grpc::ClientContext ctx;
  ASSERT_TRUE(passenger_->GetArrivals(&ctx, req, &grpc_board).ok());
  auto r = Get("/api/v1/stops/S3/arrivals?limit=5");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  pb::ArrivalsBoard http_board;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r->body, &http_board).ok()) << r->body;
  ASSERT_EQ(http_board.arrivals_size(), grpc_board.arrivals_size());
  ASSERT_GE(http_board.arrivals_size(), 1);
  EXPECT_EQ(http_board.arrivals(0).trip_id(), "T1");
  EXPECT_TRUE(http_board.arrivals(0).live());
  EXPECT_EQ(http_board.arrivals(0).predicted_arrival(), grpc_board.arrivals(0).predicted_arrival());
  // Every field is printed, with the .proto names.
  auto j = nlohmann::json::parse(r->body);
  EXPECT_TRUE(j["arrivals"][0].contains("predicted_arrival_p90"));
  EXPECT_TRUE(j.contains("heartbeat"));
}

TEST_F(HttpTest, BadParametersAre400AndUnknownIds404NamingThem) {
  auto r = Get("/api/v1/stops/S3/arrivals?limit=abc");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_THAT(r->body, HasSubstr("limit=abc"));
  r = Get("/api/v1/stops/S3/arrivals?limt=3");
  EXPECT_EQ(r->status, 400);
  EXPECT_THAT(r->body, HasSubstr("unknown parameter \\\"limt\\\""));
  EXPECT_THAT(r->body, HasSubstr("limit"));  // lists what the call takes
  r = Get("/api/v1/stops/S3/arrivals?limit=500");  // the service's own validation
  EXPECT_EQ(r->status, 400);
  EXPECT_THAT(r->body, HasSubstr("limit=500"));
  r = Get("/api/v1/stops/NOPE/arrivals");
  EXPECT_EQ(r->status, 404);
  EXPECT_THAT(r->body, HasSubstr("NOPE"));
  r = Get("/api/v1/vehicles/ghost");
  EXPECT_EQ(r->status, 404);
  EXPECT_THAT(r->body, HasSubstr("ghost"));
  r = Get("/api/v1/stops/near?lat=north&lon=-75");
  EXPECT_EQ(r->status, 400);
  EXPECT_THAT(r->body, HasSubstr("lat=north"));
  r = Get("/no/such/path");
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(nlohmann::json::parse(r->body)["error"]["code"], 404);
  r = Get("/api/v1/plan?from_lat=north&to_stop=S3");  // nested field through an alias
  EXPECT_EQ(r->status, 400);
  EXPECT_THAT(r->body, HasSubstr("from_lat=north"));
  r = Get("/gtfs-rt/trip-updates?format=xml");
  EXPECT_EQ(r->status, 400);
  EXPECT_THAT(r->body, HasSubstr("format=xml"));
}

TEST_F(HttpTest, OtherCallsAnswerJson) {
  Drive();
  for (const char* path :
       {"/api/v1/stops/near?lat=40.001&lon=-75&radius_m=300", "/api/v1/stops?q=Sec",
        "/api/v1/stops/S2", "/api/v1/routes?include_shapes=true", "/api/v1/vehicles/bus1",
        "/api/v1/vehicles?route_id=R1", "/api/v1/vehicles?south=39&west=-76&north=41&east=-74",
        "/api/v1/fleet", "/api/v1/status", "/api/v1/analytics/fleet",
        "/api/v1/analytics/routes?route_id=R1", "/api/v1/analytics/bunching",
        "/api/v1/analytics/congestion?limit=5", "/api/v1/analytics/advice?route_id=R1",
        "/api/v1/analytics/accuracy?route_id=R1&today=true",
        "/api/v1/plan?from_stop=S1&to_stop=S3&local_time=2026-01-06%2008:02"}) {
    auto r = Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 200) << path << ": " << r->body;
    EXPECT_TRUE(nlohmann::json::accept(r->body)) << path << " is not JSON";
  }
  auto r = Get("/api/v1/vehicles?route_id=R1");
  EXPECT_EQ(nlohmann::json::parse(r->body)["vehicles"][0]["vehicle_id"], "bus1");
  r = Get("/api/v1/stops/near?lat=40.001&lon=-75&radius_m=300");
  EXPECT_EQ(nlohmann::json::parse(r->body)["stops"][0]["stop"]["stop_id"], "S2");
}

TEST_F(HttpTest, CorsGzipKeepAliveAndBodyLimit) {
  auto r = Get("/api/v1/routes", {{"Origin", "https://app.example"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->get_header_value("Access-Control-Allow-Origin"), "*");
  auto pre = http_->Options("/api/v1/routes");
  ASSERT_TRUE(pre);
  EXPECT_EQ(pre->status, 204);
  EXPECT_THAT(pre->get_header_value("Access-Control-Allow-Methods"), HasSubstr("GET"));
  r = Get("/api/v1/routes?include_shapes=true", {{"Accept-Encoding", "gzip"}});
  EXPECT_EQ(r->get_header_value("Content-Encoding"), "gzip");
  http_->set_keep_alive(true);
  r = Get("/gtfs-rt/vehicle-positions", {{"Accept-Encoding", "gzip"}});
  EXPECT_EQ(r->get_header_value("Content-Encoding"), "gzip");
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/x-protobuf");
  EXPECT_THAT(r->get_header_value("Keep-Alive"), HasSubstr("max="));
  auto big = http_->Post("/api/v1/routes", std::string(5000, 'x'), "text/plain");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
}

TEST_F(HttpTest, TripUpdatesFollowTheBestPractices) {
  {
    // bus2: newest fix 4 minutes before the clock: left out of the feeds (older than 90 s).
    pb::IngestRequest req;
    *req.add_fixes() = MakeFix(kT0800 - 180, 40.0);
    req.mutable_fixes(0)->set_vehicle_id("bus2");
    req.mutable_fixes(0)->clear_trip_id();
    pb::IngestResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(ingest_->IngestBatch(&ctx, req, &resp).ok());
  }
  Drive();
  rt::FeedMessage m = Feed("trip-updates");
  EXPECT_EQ(m.header().gtfs_realtime_version(), "2.0");
  EXPECT_EQ(m.header().incrementality(), rt::FeedHeader::FULL_DATASET);
  EXPECT_EQ(m.header().timestamp(), static_cast<uint64_t>(server_->Now()));
  ASSERT_EQ(m.entity_size(), 1);
  const rt::FeedEntity& e = m.entity(0);
  EXPECT_EQ(e.id(), "T1_20260106");
  const rt::TripUpdate& tu = e.trip_update();
  EXPECT_EQ(tu.trip().trip_id(), "T1");
  EXPECT_EQ(tu.trip().route_id(), "R1");
  EXPECT_EQ(tu.trip().start_date(), "20260106");
  EXPECT_EQ(tu.trip().start_time(), "08:00:00");
  EXPECT_EQ(tu.vehicle().id(), "bus1");
  EXPECT_EQ(tu.timestamp(), static_cast<uint64_t>(kT0800 + 60));
  EXPECT_TRUE(tu.has_delay());
  ASSERT_GE(tu.stop_time_update_size(), 1);
  uint32_t seq = 0;
  int64_t t = 0;
  for (const auto& u : tu.stop_time_update()) {
    EXPECT_GT(u.stop_sequence(), seq);
    seq = u.stop_sequence();
    EXPECT_FALSE(u.stop_id().empty());
    ASSERT_TRUE(u.has_arrival() && u.has_departure());
    EXPECT_GE(u.arrival().time(), t);
    EXPECT_GE(u.departure().time(), u.arrival().time());
    t = u.departure().time();
    EXPECT_TRUE(u.arrival().has_uncertainty());
  }
  // The same prediction as the arrivals board.
  auto r = Get("/api/v1/stops/S3/arrivals");
  const auto board = nlohmann::json::parse(r->body);
  EXPECT_EQ(std::to_string(tu.stop_time_update(tu.stop_time_update_size() - 1).arrival().time()),
            board["arrivals"][0]["predicted_arrival"].get<std::string>());

  rt::FeedMessage vp = Feed("vehicle-positions");
  ASSERT_EQ(vp.entity_size(), 1);
  EXPECT_EQ(vp.entity(0).id(), "bus1");
  EXPECT_EQ(vp.entity(0).vehicle().trip().trip_id(), "T1");
  EXPECT_NEAR(vp.entity(0).vehicle().position().latitude(), 40.0008, 1e-5);
  EXPECT_EQ(vp.entity(0).vehicle().occupancy_status(), rt::VehiclePosition::FEW_SEATS_AVAILABLE);
  EXPECT_EQ(vp.entity(0).vehicle().timestamp(), static_cast<uint64_t>(kT0800 + 60));
  rt::FeedMessage al = Feed("alerts");
  EXPECT_EQ(al.entity_size(), 0);
  EXPECT_EQ(al.header().gtfs_realtime_version(), "2.0");
}

TEST_F(HttpTest, FeedIsBuiltOncePerRefreshAndAnswers304WhenNotModified) {
  Drive();
  auto a = Get("/gtfs-rt/trip-updates");
  auto b = Get("/gtfs-rt/trip-updates");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->body, b->body);
  EXPECT_EQ(server_->http()->gtfs_rt().builds(), 1u);
  const std::string lm = a->get_header_value("Last-Modified");
  EXPECT_EQ(ParseHttpDate(lm), server_->Now());
  auto c = Get("/gtfs-rt/trip-updates", {{"If-Modified-Since", lm}});
  EXPECT_EQ(c->status, 304);
  EXPECT_TRUE(c->body.empty());
  auto d = Get("/gtfs-rt/trip-updates", {{"If-Modified-Since", HttpDate(server_->Now() - 10)}});
  EXPECT_EQ(d->status, 200);
  auto j = Get("/gtfs-rt/trip-updates?format=json");
  rt::FeedMessage m;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(j->body, &m).ok());
  EXPECT_EQ(m.entity(0).trip_update().trip().trip_id(), "T1");
}

TEST(GtfsRtBuild, HeaderTimestampNeverDecreasesAndRefreshZeroBuildsEveryTime) {
  smartbus::testing::TempDir tmp;
  ServerOptions opt;
  opt.gtfs = {smartbus::testing::WriteFeedDir(tmp.path() + "/feed",
                                              smartbus::testing::MinimalFeed())};
  opt.listen = "127.0.0.1:0";
  opt.clock_follows_fixes = true;
  opt.log = false;
  auto s = SmartbusServer::Create(opt);
  ASSERT_TRUE(s.ok());
  GtfsRtFeeds feeds(s->get(), /*refresh_s=*/0, /*max_age_s=*/90);
  // No vehicle yet: an empty, valid feed.
  auto a = feeds.Get(FeedKind::kTripUpdates);
  rt::FeedMessage m;
  ASSERT_TRUE(m.ParseFromString(a->pb));
  EXPECT_EQ(m.entity_size(), 0);
  auto b = feeds.Get(FeedKind::kTripUpdates);
  EXPECT_GE(b->timestamp, a->timestamp);
  EXPECT_EQ(feeds.builds(), 2u);  // refresh 0: a build per request
  EXPECT_EQ(GtfsTime(25 * 3600 + 61), "25:01:01");
}

// The builders on hand-made snapshots of a feed with a scheduled dwell (T1 waits 60 s at S2)
// and a frequency-based trip (F1 every 8 min from 10:00, exact_times=0); stops ~330 m apart.
class GtfsRtOutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    smartbus::testing::FeedFiles files = smartbus::testing::MinimalFeed();
    files["stops.txt"] =
        "stop_id,stop_name,stop_lat,stop_lon\n"
        "S1,First,40.0000,-75.0000\nS2,Second,40.0030,-75.0000\nS3,Third,40.0060,-75.0000\n";
    files["trips.txt"] = "route_id,service_id,trip_id,direction_id,shape_id\nR1,WK,T1,0,\nR1,WK,F1,0,\n";
    files["stop_times.txt"] =
        "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
        "T1,08:00:00,08:00:00,S1,1\nT1,08:05:00,08:06:00,S2,2\nT1,08:10:00,08:10:00,S3,3\n"
        "F1,10:00:00,10:00:00,S1,1\nF1,10:05:00,10:05:00,S2,2\nF1,10:10:00,10:10:00,S3,3\n";
    files["frequencies.txt"] =
        "trip_id,start_time,end_time,headway_secs,exact_times\nF1,10:00:00,12:00:00,480,0\n";
    auto feed = LoadGtfs({smartbus::testing::WriteFeedDir(tmp_.path() + "/feed", files)});
    ASSERT_TRUE(feed.ok()) << feed.status();
    auto net = Network::Build(*std::move(feed));
    ASSERT_TRUE(net.ok()) << net.status();
    net_ = *net;
    day0_ = absl::ToUnixSeconds(net_->ServiceDayStart(20260106));
  }

  // A vehicle on `trip` (run shifted by `shift` s), `before_m` metres before stop k, predicted
  // at stops k.. with `arrivals` (s after its day start).
  std::shared_ptr<const VehicleSnapshot> Bus(const std::string& id, const std::string& trip,
                                             int64_t shift, uint32_t k, double before_m,
                                             float speed, std::vector<int64_t> arrivals) {
    auto v = std::make_shared<VehicleSnapshot>();
    v->network = net_;
    VehicleState& st = v->state;
    st.vehicle_id = id;
    st.trip = *net_->FindTrip(trip);
    st.service_date = 20260106;
    st.day_start_s = day0_ + shift;
    st.state = MatchState::kInService;
    st.next_stop_index = k;
    st.dist_along_m = net_->pattern(net_->trip_pattern(st.trip)).stop_dist_m[k] - before_m;
    st.speed_mps = speed;
    st.delay_s = 30;
    st.timestamp_s = st.day_start_s + arrivals[0] - 60;
    for (size_t i = 0; i < arrivals.size(); ++i) {
      StopEta e;
      e.trip = st.trip;
      e.stop_index = static_cast<uint32_t>(k + i);
      e.stop = net_->pattern(net_->trip_pattern(st.trip)).stops[k + i];
      e.predicted_arrival_s = st.day_start_s + arrivals[i];
      v->etas.push_back(e);
    }
    return v;
  }

  rt::FeedMessage Build(FeedKind kind, std::vector<std::shared_ptr<const VehicleSnapshot>> vs) {
    GtfsRtInputs in;
    in.network = net_.get();
    in.vehicles = std::move(vs);
    in.max_age_s = 24 * 3600;  // the runs' fixes are minutes apart: keep them all
    in.now_s = 0;
    for (const auto& v : in.vehicles) in.now_s = std::max(in.now_s, v->state.timestamp_s);
    rt::FeedMessage m;
    if (kind == FeedKind::kTripUpdates) BuildTripUpdates(in, &m);
    else BuildVehiclePositions(in, &m);
    return m;
  }

  smartbus::testing::TempDir tmp_;
  std::shared_ptr<const Network> net_;
  int64_t day0_ = 0;
};

TEST_F(GtfsRtOutTest, DepartureKeepsTheScheduledDwellUpToTheNextArrival) {
  const int64_t arr2 = 8 * 3600 + 330, arr3 = 8 * 3600 + 640;
  rt::FeedMessage m = Build(FeedKind::kTripUpdates, {Bus("bus1", "T1", 0, 1, 100, 8, {arr2, arr3})});
  ASSERT_EQ(m.entity_size(), 1);
  const rt::TripUpdate& tu = m.entity(0).trip_update();
  EXPECT_EQ(tu.trip().schedule_relationship(), rt::TripDescriptor::SCHEDULED);
  ASSERT_EQ(tu.stop_time_update_size(), 2);
  const auto& s2 = tu.stop_time_update(0);
  EXPECT_EQ(s2.stop_id(), "S2");
  EXPECT_EQ(s2.arrival().time(), day0_ + arr2);
  EXPECT_EQ(s2.departure().time(), day0_ + arr2 + 60);  // the schedule's 60 s dwell
  EXPECT_FALSE(s2.arrival().has_scheduled_time());      // forbidden on SCHEDULED trips
  EXPECT_EQ(tu.stop_time_update(1).arrival().time(), day0_ + arr3);  // the engine's, unchanged
  EXPECT_EQ(tu.stop_time_update(1).departure().time(), day0_ + arr3);  // no dwell at S3
  EXPECT_EQ(tu.delay(), 30);
  // The next arrival 20 s after S2's: the dwell is cut there (times never decrease).
  m = Build(FeedKind::kTripUpdates, {Bus("bus1", "T1", 0, 1, 100, 8, {arr2, arr2 + 20})});
  EXPECT_EQ(m.entity(0).trip_update().stop_time_update(0).departure().time(), day0_ + arr2 + 20);
}

TEST_F(GtfsRtOutTest, StoppedAtIncomingAtAndInTransitTo) {
  auto status = [&](double before_m, float speed) {
    rt::FeedMessage m =
        Build(FeedKind::kVehiclePositions, {Bus("bus1", "T1", 0, 1, before_m, speed, {8 * 3600 + 330})});
    EXPECT_EQ(m.entity(0).vehicle().stop_id(), "S2");
    EXPECT_EQ(m.entity(0).vehicle().current_stop_sequence(), 2u);
    return m.entity(0).vehicle().current_status();
  };
  EXPECT_EQ(status(5, 0.2f), rt::VehiclePosition::STOPPED_AT);
  EXPECT_EQ(status(-5, 0.2f), rt::VehiclePosition::STOPPED_AT);  // past it, not yet left
  EXPECT_EQ(status(5, NAN), rt::VehiclePosition::STOPPED_AT);    // speed unknown
  EXPECT_EQ(status(5, 9.0f), rt::VehiclePosition::INCOMING_AT);  // driving in
  EXPECT_EQ(status(120, 9.0f), rt::VehiclePosition::INCOMING_AT);
  EXPECT_EQ(status(250, 0.0f), rt::VehiclePosition::IN_TRANSIT_TO);
  EXPECT_EQ(status(-20, 9.0f), rt::VehiclePosition::IN_TRANSIT_TO);  // driving off
}

TEST_F(GtfsRtOutTest, FrequencyBasedRunsAreUnscheduledWithTheirOwnIdsAndNoDelay) {
  // Two runs of F1: 10:16 (shift 960 s) and 10:24 (shift 1440 s).
  const int64_t a = 10 * 3600 + 300, b = 10 * 3600 + 600;
  rt::FeedMessage m = Build(FeedKind::kTripUpdates, {Bus("bus1", "F1", 960, 1, 50, 8, {a, b}),
                                                     Bus("bus2", "F1", 1440, 1, 200, 8, {a, b})});
  ASSERT_EQ(m.entity_size(), 2) << m.DebugString();
  EXPECT_EQ(m.entity(0).id(), "F1_20260106_10:16:00");
  EXPECT_EQ(m.entity(1).id(), "F1_20260106_10:24:00");
  for (const auto& e : m.entity()) {
    const rt::TripUpdate& tu = e.trip_update();
    EXPECT_EQ(tu.trip().schedule_relationship(), rt::TripDescriptor::UNSCHEDULED);
    EXPECT_FALSE(tu.has_delay());
    for (const auto& u : tu.stop_time_update()) {
      EXPECT_EQ(u.schedule_relationship(), rt::TripUpdate::StopTimeUpdate::UNSCHEDULED);
      EXPECT_FALSE(u.arrival().has_delay());
    }
  }
  EXPECT_EQ(m.entity(0).trip_update().trip().start_time(), "10:16:00");
  rt::FeedMessage vp = Build(FeedKind::kVehiclePositions, {Bus("bus2", "F1", 1440, 1, 200, 8, {a})});
  EXPECT_EQ(vp.entity(0).vehicle().trip().start_time(), "10:24:00");
  EXPECT_EQ(vp.entity(0).vehicle().trip().schedule_relationship(), rt::TripDescriptor::UNSCHEDULED);
  // T1 has fixed times: SCHEDULED, id without a run.
  m = Build(FeedKind::kTripUpdates, {Bus("bus1", "T1", 0, 1, 100, 8, {8 * 3600 + 330})});
  EXPECT_EQ(m.entity(0).id(), "T1_20260106");
}

TEST_F(HttpTest, CancelledTripsSkippedStopsAndAlertsComeFromTheServiceChangesView) {
  FakeChanges changes;
  server_->http()->gtfs_rt().set_changes(&changes);
  Drive();
  rt::FeedMessage m = Feed("trip-updates");
  ASSERT_EQ(m.entity_size(), 2);
  EXPECT_EQ(m.entity(0).id(), "T1_20260106");
  bool skipped = false;
  for (const auto& u : m.entity(0).trip_update().stop_time_update())
    if (u.stop_sequence() == 3) {
      skipped = u.schedule_relationship() == rt::TripUpdate::StopTimeUpdate::SKIPPED;
      EXPECT_FALSE(u.has_arrival());
    }
  EXPECT_TRUE(skipped);
  EXPECT_EQ(m.entity(1).id(), "T1_20260107");
  EXPECT_EQ(m.entity(1).trip_update().trip().schedule_relationship(),
            rt::TripDescriptor::CANCELED);
  rt::FeedMessage al = Feed("alerts");
  ASSERT_EQ(al.entity_size(), 1);
  EXPECT_EQ(al.entity(0).alert().informed_entity(0).stop_id(), "S2");
  server_->http()->gtfs_rt().set_changes(nullptr);
}

// The server's own view (service_changes_view.h), set in Start: operator calls show in the feeds.
TEST_F(HttpTest, OperatorCancellationsSkipsAndAlertsShowInTheFeeds) {
  auto op = pb::OperatorService::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials()));
  Drive();
  auto cancel = [&](const std::string& stop, uint32_t date) {
    pb::CancelTripRequest req;
    req.set_trip_id("T1");
    req.set_stop_id(stop);
    req.set_service_date(date);
    pb::TripChangeResponse resp;
    grpc::ClientContext ctx;
    grpc::Status st = op->CancelTrip(&ctx, req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
  };
  cancel("", 20260107);  // tomorrow's T1 as a whole
  cancel("S3", 0);       // S3 on every date, so on today's T1 too
  pb::PostAlertRequest req;
  pb::ServiceAlert* a = req.mutable_alert();
  a->set_alert_id("works");
  a->add_informed_entities()->set_stop_id("S2");
  auto* en = a->mutable_header_text()->add_translations();
  en->set_language("en");
  en->set_text("Stop S2 closed");
  a->set_effect(pb::DETOUR);
  pb::PostAlertResponse posted;
  grpc::ClientContext ctx;
  ASSERT_TRUE(op->PostAlert(&ctx, req, &posted).ok());

  rt::FeedMessage m = Feed("trip-updates");
  ASSERT_EQ(m.entity_size(), 2) << m.DebugString();
  EXPECT_EQ(m.entity(0).id(), "T1_20260106");
  int skipped = 0;
  for (const auto& u : m.entity(0).trip_update().stop_time_update())
    if (u.schedule_relationship() == rt::TripUpdate::StopTimeUpdate::SKIPPED) {
      ++skipped;
      EXPECT_EQ(u.stop_id(), "S3");
      EXPECT_FALSE(u.has_arrival());
    }
  EXPECT_EQ(skipped, 1);
  EXPECT_EQ(m.entity(1).id(), "T1_20260107");
  EXPECT_EQ(m.entity(1).trip_update().trip().schedule_relationship(),
            rt::TripDescriptor::CANCELED);
  rt::FeedMessage al = Feed("alerts");
  ASSERT_EQ(al.entity_size(), 1) << al.DebugString();
  EXPECT_EQ(al.entity(0).id(), "operator|works");
  const rt::Alert& alert = al.entity(0).alert();
  EXPECT_EQ(alert.informed_entity(0).stop_id(), "S2");
  EXPECT_EQ(alert.effect(), rt::Alert::DETOUR);
  ASSERT_EQ(alert.header_text().translation_size(), 1);
  EXPECT_EQ(alert.header_text().translation(0).text(), "Stop S2 closed");
  EXPECT_EQ(alert.header_text().translation(0).language(), "en");
}

// A stop's station and wheelchair boarding in the stop JSON; an alert on the station reaches
// the boards (JSON) and SIRI StopMonitoring of its stops; a route alert reaches SIRI
// VehicleMonitoring as the journey's SituationRef and a PtSituationElement.
TEST(HttpStationsAndSiriAlerts, StationBoardsAndSituationExchange) {
  smartbus::testing::TempDir tmp;
  smartbus::testing::FeedFiles files = smartbus::testing::MinimalFeed();
  files["stops.txt"] =
      "stop_id,stop_name,stop_lat,stop_lon,location_type,parent_station,wheelchair_boarding\n"
      "S1,First,40.0000,-75.0000,0,,1\n"
      "S2,Second,40.0010,-75.0000,0,ST,2\n"
      "S3,Third,40.0020,-75.0000,0,,\n"
      "ST,Second Station,40.0011,-75.0001,1,,\n";
  std::unique_ptr<SmartbusServer> server;
  StartOnFeed(tmp, files, &server);
  ASSERT_TRUE(server);
  httplib::Client http("127.0.0.1", server->http_port());
  auto json = [&](const std::string& path) { return GetJson(http, path); };
  nlohmann::json stop = json("/api/v1/stops/S2");
  EXPECT_EQ(stop["parent_station"], "ST");
  EXPECT_EQ(stop["wheelchair_boarding"], 2);
  EXPECT_EQ(json("/api/v1/stops/S1")["wheelchair_boarding"], 1);
  EXPECT_EQ(json("/api/v1/stops/S3")["parent_station"], "");  // every field is printed

  auto ch = grpc::CreateChannel("127.0.0.1:" + std::to_string(server->port()),
                                grpc::InsecureChannelCredentials());
  {
    pb::IngestResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(pb::IngestService::NewStub(ch)->IngestBatch(&ctx, Bus1Fixes(), &resp).ok());
  }
  auto op = pb::OperatorService::NewStub(ch);
  auto post = [&](const std::string& id, const std::string& stop_id, const std::string& route_id) {
    pb::PostAlertRequest req;
    pb::ServiceAlert* a = req.mutable_alert();
    a->set_alert_id(id);
    auto* e = a->add_informed_entities();
    e->set_stop_id(stop_id);
    e->set_route_id(route_id);
    for (const char* lang : {"es", "en"}) {
      auto* t = a->mutable_header_text()->add_translations();
      t->set_language(lang);
      t->set_text(absl::StrCat(id, " (", lang, ")"));
    }
    a->set_severity(pb::WARNING);
    pb::PostAlertResponse posted;
    grpc::ClientContext ctx;
    grpc::Status st = op->PostAlert(&ctx, req, &posted);
    ASSERT_TRUE(st.ok()) << st.error_message();
  };
  post("station", "ST", "");
  post("line", "", "R1");

  // The station's alert is on S2's board (its stop), not on S1's; the route alert on both.
  auto keys = [](const nlohmann::json& alerts) {
    std::set<std::string> out;
    for (const auto& a : alerts) out.insert(a["alert_id"].get<std::string>());
    return out;
  };
  EXPECT_EQ(keys(json("/api/v1/stops/S2/arrivals")["alerts"]),
            (std::set<std::string>{"station", "line"}));
  EXPECT_EQ(keys(json("/api/v1/stops/S1/arrivals")["alerts"]), (std::set<std::string>{"line"}));

  // SIRI StopMonitoring of S2: both situations; the bus's journey refers to the route's.
  nlohmann::json sm = json("/siri/stop-monitoring.json?MonitoringRef=S2")["Siri"]["ServiceDelivery"];
  const auto& sits = sm["SituationExchangeDelivery"][0]["Situations"]["PtSituationElement"];
  ASSERT_EQ(sits.size(), 2u) << sm.dump();
  std::map<std::string, nlohmann::json> by_number;
  for (const auto& x : sits) by_number[x["SituationNumber"].get<std::string>()] = x;
  ASSERT_TRUE(by_number.count("operator|station") && by_number.count("operator|line"));
  EXPECT_EQ(by_number["operator|station"]["Summary"], "station (en)");  // English first
  EXPECT_EQ(by_number["operator|station"]["Severity"], "normal");
  EXPECT_EQ(by_number["operator|station"]["Affects"]["StopPoints"]["AffectedStopPoint"][0]
                     ["StopPointRef"],
            "ST");
  EXPECT_EQ(by_number["operator|line"]["Affects"]["VehicleJourneys"]["AffectedVehicleJourney"][0]
                     ["LineRef"],
            "R1");
  const auto& visits = sm["StopMonitoringDelivery"][0]["MonitoredStopVisit"];
  ASSERT_EQ(visits.size(), 1u) << sm.dump();
  EXPECT_EQ(visits[0]["MonitoredVehicleJourney"]["SituationRef"],
            nlohmann::json::parse(R"([{"SituationSimpleRef":"operator|line"}])"));
  // S3 has no station: only the route's situation.
  sm = json("/siri/stop-monitoring.json?MonitoringRef=S3")["Siri"]["ServiceDelivery"];
  EXPECT_EQ(sm["SituationExchangeDelivery"][0]["Situations"]["PtSituationElement"].size(), 1u);

  // VehicleMonitoring: the route's situation, referred to by the journey.
  nlohmann::json vm = json("/siri/vehicle-monitoring.json?VehicleRef=bus1")["Siri"]["ServiceDelivery"];
  const auto& vsits = vm["SituationExchangeDelivery"][0]["Situations"]["PtSituationElement"];
  ASSERT_EQ(vsits.size(), 1u) << vm.dump();
  EXPECT_EQ(vsits[0]["SituationNumber"], "operator|line");
  EXPECT_EQ(vm["VehicleMonitoringDelivery"][0]["VehicleActivity"][0]["MonitoredVehicleJourney"]
              ["SituationRef"][0]["SituationSimpleRef"],
            "operator|line");
}

// A station's id on GetArrivals: the arrivals of all its stops merged (each row naming its stop),
// its stops' alerts; a frequency-based trip (F1 every 8 min, exact_times=0) listed run by run
// with its headway.
TEST(HttpStationsAndSiriAlerts, AStationBoardMergesItsStopsAndFrequencyRunsHaveTheirHeadway) {
  smartbus::testing::TempDir tmp;
  smartbus::testing::FeedFiles files = smartbus::testing::MinimalFeed();
  files["stops.txt"] =
      "stop_id,stop_name,stop_lat,stop_lon,location_type,parent_station\n"
      "S1,First,40.0000,-75.0000,0,\nS2,Second,40.0010,-75.0000,0,ST\n"
      "S2B,Second opposite,40.0010,-75.0001,0,ST\nS3,Third,40.0020,-75.0000,0,\n"
      "ST,Second Station,40.0011,-75.0001,1,\n";
  files["routes.txt"] += "R2,A,2,Back Street,3\n";
  files["trips.txt"] += "R2,WK,F1,1,\n";
  files["stop_times.txt"] +=
      "F1,08:00:00,08:00:00,S3,1\nF1,08:05:00,08:05:00,S2B,2\nF1,08:10:00,08:10:00,S1,3\n";
  files["frequencies.txt"] =
      "trip_id,start_time,end_time,headway_secs,exact_times\nF1,08:00:00,09:00:00,480,0\n";
  std::unique_ptr<SmartbusServer> server;
  StartOnFeed(tmp, files, &server);
  ASSERT_TRUE(server);
  auto ch = grpc::CreateChannel("127.0.0.1:" + std::to_string(server->port()),
                                grpc::InsecureChannelCredentials());
  {
    pb::IngestResponse resp;  // bus1 on T1 from S1 towards S2; clock 08:01
    grpc::ClientContext ctx;
    ASSERT_TRUE(pb::IngestService::NewStub(ch)->IngestBatch(&ctx, Bus1Fixes(), &resp).ok());
  }
  {
    pb::PostAlertRequest req;  // on the opposite stop only
    req.mutable_alert()->set_alert_id("works");
    req.mutable_alert()->add_informed_entities()->set_stop_id("S2B");
    req.mutable_alert()->mutable_header_text()->add_translations()->set_text("S2B closed");
    pb::PostAlertResponse posted;
    grpc::ClientContext ctx;
    ASSERT_TRUE(pb::OperatorService::NewStub(ch)->PostAlert(&ctx, req, &posted).ok());
  }
  httplib::Client http("127.0.0.1", server->http_port());
  auto json = [&](const std::string& path) { return GetJson(http, path); };
  const nlohmann::json st = json("/api/v1/stops/ST/arrivals?limit=50");
  EXPECT_EQ(st["stop_id"], "ST");
  std::vector<std::string> f1_times;
  int t1_rows = 0;
  for (const auto& a : st["arrivals"]) {
    if (a["trip_id"] == "T1") {
      ++t1_rows;
      EXPECT_EQ(a["stop_id"], "S2");
      EXPECT_TRUE(a["live"].get<bool>());
      EXPECT_EQ(a["headway_s"], 0);
    } else {
      EXPECT_EQ(a["trip_id"], "F1");
      EXPECT_EQ(a["stop_id"], "S2B");
      EXPECT_FALSE(a["live"].get<bool>());
      EXPECT_EQ(a["headway_s"], 480);
      f1_times.push_back(a["scheduled_arrival"].get<std::string>());
    }
  }
  EXPECT_EQ(t1_rows, 1) << st.dump();
  // Runs leave S3 at 08:00, 08:08, ... 08:56 and reach S2B 5 min later: those from 08:05 on
  // (the board's window starts a minute before its 08:01 clock), one row each.
  std::vector<std::string> want;
  for (int k = 0; k < 8; ++k) want.push_back(std::to_string(kT0800 + 300 + 480 * k));
  EXPECT_EQ(f1_times, want) << st.dump();
  ASSERT_EQ(st["alerts"].size(), 1u);
  EXPECT_EQ(st["alerts"][0]["alert_id"], "works");
  // A stop of the station alone: only its own arrivals and alerts.
  const nlohmann::json s2 = json("/api/v1/stops/S2/arrivals?limit=50");
  ASSERT_EQ(s2["arrivals"].size(), 1u) << s2.dump();
  EXPECT_EQ(s2["arrivals"][0]["stop_id"], "S2");
  EXPECT_EQ(s2["alerts"].size(), 0u);
  // The route filter applies across the station's stops; live_only drops the timetable runs.
  EXPECT_EQ(json("/api/v1/stops/ST/arrivals?route_id=R2&limit=50")["arrivals"].size(), 8u);
  EXPECT_EQ(json("/api/v1/stops/ST/arrivals?live_only=true")["arrivals"].size(), 1u);
}

TEST_F(HttpTest, MetricsParseAndCountWhatHappened) {
  Drive();
  (void)Get("/api/v1/stops/S3/arrivals");
  (void)Get("/gtfs-rt/trip-updates");
  {
    pb::IngestRequest req;
    *req.add_fixes() = MakeFix(kT0800 + 60, 40.0008);  // duplicate
    pb::IngestResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(ingest_->IngestBatch(&ctx, req, &resp).ok());
  }
  std::map<std::string, std::string> types;
  std::vector<Sample> samples;
  auto value = [&](const std::string& name, std::map<std::string, std::string> labels = {}) {
    for (const Sample& s : samples) {
      if (s.name != name) continue;
      bool ok = true;
      for (const auto& [k, v] : labels) ok = ok && s.labels.count(k) && s.labels.at(k) == v;
      if (ok) return s.value;
    }
    return -1.0;
  };
  // A request is counted once its response is written (cpp-httplib's logger), which may be just
  // after the client read it: scrape until the arrivals request shows (at most 2 s).
  for (int tries = 0; tries < 20; ++tries) {
    auto r = Get("/metrics");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    EXPECT_THAT(r->get_header_value("Content-Type"), HasSubstr("text/plain"));
    types.clear();
    samples.clear();
    std::string error;
    ASSERT_TRUE(ParsePrometheus(r->body, &types, &samples, &error)) << error << "\n" << r->body;
    if (value("smartbus_http_request_duration_seconds_count",
              {{"route", "api.GetArrivals"}, {"code", "200"}}) >= 1)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(value("smartbus_fixes_accepted_total"), 3);
  EXPECT_EQ(value("smartbus_fixes_rejected_total", {{"reason", "duplicate"}}), 1);
  EXPECT_EQ(value("smartbus_vehicles", {{"state", "in_service"}}) +
                value("smartbus_vehicles", {{"state", "layover"}}),
            1);
  EXPECT_GT(value("smartbus_predictions_total"), 0);
  EXPECT_EQ(value("smartbus_gtfs_rt_entities", {{"feed", "trip_updates"}}), 1);
  EXPECT_GE(value("smartbus_gtfs_rt_feed_age_seconds", {{"feed", "trip_updates"}}), 0);
  EXPECT_EQ(value("smartbus_store_up"), 1);
  EXPECT_GE(value("smartbus_http_request_duration_seconds_count",
                  {{"route", "api.GetArrivals"}, {"code", "200"}}),
            1);
  EXPECT_GE(value("smartbus_grpc_server_handling_seconds_count",
                  {{"method", "/smartbus.v1.IngestService/IngestBatch"}, {"code", "0"}}),
            2);
  EXPECT_EQ(value("smartbus_http_request_duration_seconds_bucket",
                  {{"route", "api.GetArrivals"}, {"le", "+Inf"}}),
            value("smartbus_http_request_duration_seconds_count", {{"route", "api.GetArrivals"}}));
  // Naming conventions: smartbus_ prefix; counters end in _total; histograms in a unit.
  for (const auto& [name, type] : types) {
    EXPECT_EQ(name.rfind("smartbus_", 0), 0u) << name;
    if (type == "counter") {
      EXPECT_THAT(name, ::testing::EndsWith("_total"));
    }
    if (type == "histogram") {
      EXPECT_THAT(name, ::testing::EndsWith("_seconds"));
    }
  }
}

TEST_F(HttpTest, SiriStopMonitoringIsBusTimeShaped) {
  Drive();
  auto r = Get("/siri/stop-monitoring.json?key=x&MonitoringRef=S3&LineRef=R1&MaximumStopVisits=3");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = nlohmann::json::parse(r->body);
  const auto& d = j["Siri"]["ServiceDelivery"]["StopMonitoringDelivery"][0];
  ASSERT_EQ(d["MonitoredStopVisit"].size(), 1u) << r->body;
  const auto& mvj = d["MonitoredStopVisit"][0]["MonitoredVehicleJourney"];
  EXPECT_EQ(mvj["VehicleRef"], "bus1");
  EXPECT_EQ(mvj["LineRef"], "R1");
  EXPECT_EQ(mvj["FramedVehicleJourneyRef"]["DatedVehicleJourneyRef"], "T1");
  EXPECT_EQ(mvj["FramedVehicleJourneyRef"]["DataFrameRef"], "2026-01-06");
  EXPECT_EQ(mvj["MonitoredCall"]["StopPointRef"], "S3");
  const auto& dist = mvj["MonitoredCall"]["Extensions"]["Distances"];
  EXPECT_EQ(dist["StopsFromCall"], 1);  // S2 first, then S3
  EXPECT_NEAR(dist["DistanceFromCall"].get<double>(), 133, 15);  // 0.0012 deg of latitude
  EXPECT_EQ(dist["PresentableDistance"], "1 stop away");
  EXPECT_THAT(mvj["MonitoredCall"]["ExpectedArrivalTime"].get<std::string>(),
              ::testing::EndsWith("-05:00"));
  r = Get("/siri/stop-monitoring.json?MonitoringRef=S3&StopMonitoringDetailLevel=calls");
  EXPECT_TRUE(nlohmann::json::parse(r->body)["Siri"]["ServiceDelivery"]["StopMonitoringDelivery"][0]
                  ["MonitoredStopVisit"][0]["MonitoredVehicleJourney"]["OnwardCalls"]
                      .contains("OnwardCall"));
  // Errors name the parameter (SIRI ErrorCondition), unknown ids are 404.
  r = Get("/siri/stop-monitoring.json?MonitoringRef=S3&MaximumStopVisits=many");
  EXPECT_EQ(r->status, 400);
  EXPECT_THAT(r->body, HasSubstr("MaximumStopVisits=many"));
  EXPECT_THAT(r->body, HasSubstr("ErrorCondition"));
  r = Get("/siri/stop-monitoring.json?MonitoringRef=S3&Foo=1");
  EXPECT_EQ(r->status, 400);
  EXPECT_THAT(r->body, HasSubstr("Foo"));
  r = Get("/siri/stop-monitoring.json");
  EXPECT_EQ(r->status, 400);
  EXPECT_THAT(r->body, HasSubstr("MonitoringRef"));
  r = Get("/siri/stop-monitoring.json?MonitoringRef=NOPE");
  EXPECT_EQ(r->status, 404);
  EXPECT_THAT(r->body, HasSubstr("NOPE"));
}

TEST_F(HttpTest, SiriVehicleMonitoring) {
  Drive();
  auto r = Get("/siri/vehicle-monitoring.json?VehicleRef=bus1&VehicleMonitoringDetailLevel=calls");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = nlohmann::json::parse(r->body);
  const auto& a = j["Siri"]["ServiceDelivery"]["VehicleMonitoringDelivery"][0]["VehicleActivity"];
  ASSERT_EQ(a.size(), 1u);
  const auto& mvj = a[0]["MonitoredVehicleJourney"];
  EXPECT_EQ(mvj["MonitoredCall"]["StopPointRef"], "S2");
  EXPECT_EQ(mvj["MonitoredCall"]["Extensions"]["Distances"]["StopsFromCall"], 0);
  EXPECT_EQ(mvj["OnwardCalls"]["OnwardCall"][0]["StopPointRef"], "S3");
  EXPECT_NEAR(mvj["VehicleLocation"]["Latitude"].get<double>(), 40.0008, 1e-6);
  r = Get("/siri/vehicle-monitoring.json?LineRef=R1");
  EXPECT_EQ(nlohmann::json::parse(r->body)["Siri"]["ServiceDelivery"]["VehicleMonitoringDelivery"][0]
                ["VehicleActivity"].size(),
            1u);
  r = Get("/siri/vehicle-monitoring.json?VehicleRef=ghost");
  EXPECT_EQ(r->status, 404);
  r = Get("/siri/vehicle-monitoring.json?VehicleMonitoringDetailLevel=everything");
  EXPECT_EQ(r->status, 400);
}

TEST(Siri, PresentableDistanceFollowsBusTime) {
  EXPECT_EQ(PresentableDistance(20, 0), "at stop");
  EXPECT_EQ(PresentableDistance(100, 0), "approaching");
  EXPECT_EQ(PresentableDistance(300, 0), "< 1 stop away");
  EXPECT_EQ(PresentableDistance(400, 1), "1 stop away");
  EXPECT_EQ(PresentableDistance(700, 3), "3 stops away");
  EXPECT_EQ(PresentableDistance(3000, 5), "1.9 miles away");
}

TEST_F(HttpTest, ArrivalsCarryServiceDateVehiclePositionAndBoarding) {
  Drive();
  auto r = Get("/api/v1/stops/S3/arrivals");
  ASSERT_EQ(r->status, 200) << r->body;
  const auto a = nlohmann::json::parse(r->body)["arrivals"][0];
  EXPECT_EQ(a["service_date"], 20260106);
  EXPECT_NEAR(a["vehicle_position"]["lat"].get<double>(), 40.0008, 1e-6);
  EXPECT_EQ(a["vehicle_on_previous_trip"], false);
  EXPECT_EQ(a["pickup_type"], 0);
}

TEST_F(HttpTest, TripDetailsListEveryStopWithThePredictionsAhead) {
  Drive();
  auto r = Get("/api/v1/trips/T1");
  ASSERT_EQ(r->status, 200) << r->body;
  const auto j = nlohmann::json::parse(r->body);
  EXPECT_EQ(j["service_date"], 20260106);
  EXPECT_EQ(j["vehicle"]["vehicle_id"], "bus1");
  ASSERT_EQ(j["stops"].size(), 3u);
  EXPECT_EQ(j["stops"][0]["passed"], true);
  EXPECT_EQ(j["stops"][0]["predicted_arrival"], "0");
  EXPECT_EQ(j["stops"][2]["passed"], false);
  EXPECT_NE(j["stops"][2]["predicted_arrival"], "0");
  EXPECT_EQ(j["stops"][2]["scheduled_arrival"], std::to_string(kT0800 + 600));
  // The same prediction as the board.
  auto b = Get("/api/v1/stops/S3/arrivals");
  EXPECT_EQ(j["stops"][2]["predicted_arrival"],
            nlohmann::json::parse(b->body)["arrivals"][0]["predicted_arrival"]);
  r = Get("/api/v1/trips/NOPE");
  EXPECT_EQ(r->status, 404);
  EXPECT_THAT(r->body, HasSubstr("NOPE"));
  r = Get("/api/v1/trips/T1?service_date=2026");
  EXPECT_EQ(r->status, 400);
  EXPECT_THAT(r->body, HasSubstr("service_date=2026"));
  // A trip no bus runs: the timetable of the requested day, no predictions.
  r = Get("/api/v1/trips/T1?service_date=20260107");
  ASSERT_EQ(r->status, 200);
  EXPECT_FALSE(nlohmann::json::parse(r->body).contains("vehicle") &&
               nlohmann::json::parse(r->body)["vehicle"]["vehicle_id"] != "");
}

TEST(EventLogTest, JsonLinesAndRateLimit) {
  LogOptions o;
  o.json = true;
  o.burst_per_minute = 3;
  EventLog log(o);
  ::testing::internal::CaptureStderr();
  log.Write(LogLevel::kWarn, "storage \"down\"\nnow");
  log.Write(LogLevel::kDebug, "not shown at info");
  for (int i = 0; i < 10; ++i) log.WriteLimited("flood", LogLevel::kError, "same again");
  const std::string out = ::testing::internal::GetCapturedStderr();
  std::istringstream in(out);
  std::string line;
  std::vector<nlohmann::json> lines;
  while (std::getline(in, line)) lines.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(lines.size(), 4u) << out;  // 1 warn + 3 of the flood
  EXPECT_EQ(lines[0]["msg"], "storage \"down\"\nnow");
  EXPECT_EQ(lines[0]["level"], "warning");
  EXPECT_EQ(lines[0]["logger"], "smartbusd");
  EXPECT_EQ(lines[3]["level"], "error");
  EXPECT_EQ(log.suppressed(), 7u);
  LogLevel l;
  EXPECT_TRUE(ParseLogLevel("warn", &l));
  EXPECT_EQ(l, LogLevel::kWarn);
  EXPECT_FALSE(ParseLogLevel("loud", &l));
}

TEST_F(HttpTest, HealthAndReadiness) {
  auto h = Get("/healthz");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  auto r = Get("/readyz");
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(nlohmann::json::parse(r->body)["storage"], "SERVING");
}

}  // namespace
}  // namespace smartbus::server

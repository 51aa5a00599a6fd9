// smartbus sim: the fleet simulator (services/core/sim) as a command. Writes a Positions CSV
// (and the truth behind it) for offline use, or streams the fixes to a running smartbusd over
// gRPC (IngestService.StreamFixes, one gateway-style stream) in scaled real time.
//
// smartbus demo-feed: writes the demo city GTFS feed (data/demo-city).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "services/cli/args.h"
#include "services/cli/client.h"
#include "services/cli/commands.h"
#include "services/cli/sim_jt808.h"
#include "services/core/common/status_macros.h"
#include "services/proto_util/fix_to_proto.h"
#include "services/core/gtfs/feed.h"
#include "services/core/network/network.h"
#include "services/core/sim/demo_city.h"
#include "services/core/sim/sim_csv.h"
#include "services/core/sim/simulator.h"
#include "services/core/tracking/csv_io.h"
#include "services/files/feed_files.h"
#include "services/files/files.h"
#include "smartbus/v1/ingest.grpc.pb.h"

namespace smartbus::cli {
namespace {

// Set by SIGINT/SIGTERM: the simulator stops streaming, closes the stream and exits 0.
std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

const char kSimUsage[] =
    "usage: smartbus sim --gtfs FEED... [--date YYYYMMDD|today] [--start HH:MM[:SS]|now|EPOCH]\n"
    "         [--end HH:MM[:SS]|EPOCH | --duration MIN] [--interval S] [--seed N]\n"
    "         [--routes R1,R2] [--no-trip-ids] [--no-passengers] [--gps-sigma M]\n"
    "         [--jam-probability P] [--signal-probability P] [--peak-slowdown F] [--demand X]\n"
    "         [--early-share F [--early-lead S] [--early-speedup X]]\n"
    "         [--congest FROM_STOP,TO_STOP,HH:MM,HH:MM,FACTOR]...\n"
    "         [--out POSITIONS.csv] [--truth TRUTH.csv] [--visits VISITS.csv]\n"
    "         [--server HOST:PORT [--speed X] [--fast-until T] [--batch N]] [--quiet]\n"
    "         [--jt808 HOST:PORT [--jt808-2019] [--jt808-overspeed-kmh K]\n"
    "          [--jt808-blind VEHICLE@HH:MM+MIN]] [--jt808-registry FILE]\n"
    "Drives buses along the feed's trips of one service day (default: today in the agency's\n"
    "time zone) from --start (default: first pull-out) to --end (default: last pull-in).\n"
    "  --congest   added congestion: buses from stop FROM_STOP to the next stop TO_STOP drive\n"
    "              at FACTOR (0.05..1) times their speed between the two times (repeatable).\n"
    "  --out       Positions CSV (../shared/FORMATS.md, with occupancy/boardings/alightings/\n"
    "              load/accuracy); '-' for stdout.\n"
    "  --truth     where each bus really was (trip, phase, distance, delay) at each fix.\n"
    "  --visits    true stop visits (Stop visits CSV).\n"
    "  --server    stream the fixes to smartbusd; --speed X runs X simulated seconds per\n"
    "              wall second (default 1; 0 = as fast as the server takes them);\n"
    "              --fast-until T sends everything before T as fast as the server takes it\n"
    "              (a warm-up: the server learns and locks on), then paces from T.\n"
    "              --token T ($SMARTBUS_TOKEN), --tls, --ca FILE: as for every client.\n"
    "  --early-share  share of buses that run early: never hold, leave terminals up to\n"
    "              --early-lead s (default 300) early, drive --early-speedup x (1.25) faster.\n"
    "  --jt808     drive the buses as JT/T 808 terminals through smartbus-jt808 at HOST:PORT\n"
    "              (one TCP connection each: register, authenticate, 0x0200 reports,\n"
    "              heartbeats; pacing as with --server). --jt808-2019: 2019 headers;\n"
    "              --jt808-overspeed-kmh K: overspeed alarm bit while faster than K;\n"
    "              --jt808-blind V@HH:MM+MIN: bus V loses its signal for MIN minutes and\n"
    "              uploads the stored reports (0x0704) after its first live report.\n"
    "  --jt808-registry FILE  writes the terminal registry (phone 138000000NN = bus NN) for\n"
    "              smartbus-jt808 --jt808_registry.\n"
    "GTFS times (--start 07:30) count from the service date's noon minus 12 h.\n";

absl::StatusOr<int32_t> ParseDate(const std::string& s, const Network& net) {
  if (s.empty() || s == "today") {
    absl::CivilDay d = absl::ToCivilDay(absl::Now(), net.time_zone());
    return static_cast<int32_t>(d.year() * 10000 + d.month() * 100 + d.day());
  }
  int32_t date;
  if (!ParseGtfsDate(s, &date)) {
    return absl::InvalidArgumentError(absl::StrCat("--date: not YYYYMMDD: '", s, "'"));
  }
  return date;
}

// HH:MM[:SS] (GTFS time on the service date), "now", or epoch seconds.
absl::StatusOr<int64_t> ParseWhen(const std::string& flag, const std::string& s,
                                  int64_t day_start_s) {
  if (s == "now") return absl::ToUnixSeconds(absl::Now());
  int64_t epoch;
  if (s.find(':') == std::string::npos && absl::SimpleAtoi(s, &epoch)) return epoch;
  std::string t = s;
  if (std::count(t.begin(), t.end(), ':') == 1) t += ":00";
  int32_t secs;
  if (!ParseGtfsTime(t, &secs)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": not HH:MM[:SS], 'now' or epoch seconds: '", s, "'"));
  }
  return day_start_s + secs;
}

// One gateway-style ingest stream, reopened when the server goes away.
class Streamer {
 public:
  Streamer(std::string addr, bool quiet) : addr_(std::move(addr)), quiet_(quiet) {
    channel_ = MakeChannel(addr_);  // --token / --tls / --ca
    stub_ = smartbus::v1::IngestService::NewStub(channel_);
  }
  ~Streamer() { Close(); }

  // Sends the fixes (in requests of at most `batch`); retries until sent or stopped.
  void Send(const std::vector<SimFix>& fixes, size_t begin, size_t end, int batch) {
    for (size_t i = begin; i < end && !g_stop.load(); i += batch) {
      smartbus::v1::IngestRequest req;
      req.set_sequence(++sequence_);
      for (size_t j = i; j < std::min(end, i + static_cast<size_t>(batch)); ++j) {
        FixToProto(fixes[j].fix, req.add_fixes());
      }
      while (!g_stop.load()) {
        if (!stream_ && !Open()) continue;
        if (stream_->Write(req)) {
          sent_ += req.fixes_size();
          break;
        }
        std::fprintf(stderr, "sim: stream to %s broke; reconnecting\n", addr_.c_str());
        Close();
      }
    }
  }

  void Close() {
    if (!stream_) return;
    stream_->WritesDone();
    if (reader_.joinable()) reader_.join();
    grpc::Status s = stream_->Finish();
    if (!s.ok() && !quiet_ && !g_stop.load()) {
      std::fprintf(stderr, "sim: stream ended: %s\n", s.error_message().c_str());
    }
    stream_.reset();
    ctx_.reset();
  }

  int64_t sent() const { return sent_; }
  int64_t accepted() const { return accepted_.load(); }
  int64_t rejected() const { return rejected_.load(); }

 private:
  bool Open() {
    if (!channel_->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(1))) {
      if (!waiting_reported_) {
        std::fprintf(stderr, "sim: waiting for smartbusd at %s ...\n", addr_.c_str());
        waiting_reported_ = true;
      }
      return false;
    }
    waiting_reported_ = false;
    ctx_ = std::make_unique<grpc::ClientContext>();
    stream_ = stub_->StreamFixes(ctx_.get());
    reader_ = std::thread([this] {
      smartbus::v1::IngestResponse r;
      while (stream_->Read(&r)) {
        accepted_ += r.accepted();
        rejected_ += r.rejections_size();
        if (r.status_code() != 0 && !quiet_) {
          std::fprintf(stderr, "sim: request %llu refused: %s\n",
                       static_cast<unsigned long long>(r.sequence()),
                       r.status_message().c_str());
        }
        if (r.rejections_size() > 0 && reported_rejections_ < 5 && !quiet_) {
          ++reported_rejections_;
          const auto& rj = r.rejections(0);
          std::fprintf(stderr, "sim: server rejected a fix of %s at %lld: %s\n",
                       rj.vehicle_id().c_str(), static_cast<long long>(rj.timestamp()),
                       rj.detail().c_str());
        }
      }
    });
    return true;
  }

  std::string addr_;
  bool quiet_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<smartbus::v1::IngestService::Stub> stub_;
  std::unique_ptr<grpc::ClientContext> ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<smartbus::v1::IngestRequest,
                                           smartbus::v1::IngestResponse>> stream_;
  std::thread reader_;
  uint64_t sequence_ = 0;
  int64_t sent_ = 0;
  std::atomic<int64_t> accepted_{0};
  std::atomic<int64_t> rejected_{0};
  int reported_rejections_ = 0;
  bool waiting_reported_ = false;
};

std::string LocalTime(int64_t t, const Network& net) {
  return absl::FormatTime("%H:%M:%S", absl::FromUnixSeconds(t), net.time_zone());
}

}  // namespace

// --jt808 ADDR (and its options): the fleet as JT/T 808 terminals; nullptr without --jt808.
// --jt808-registry FILE writes the registry smartbus-jt808 needs for these terminals.
absl::StatusOr<std::unique_ptr<Jt808Fleet>> MakeJt808Fleet(const Args& args,
                                                          const std::vector<SimVehicleInfo>& v,
                                                          int64_t day_start_s, bool quiet) {
  if (args.Has("jt808-registry")) {
    SB_RETURN_IF_ERROR(Jt808Fleet::WriteRegistry(args.Get("jt808-registry"), v));
  }
  if (!args.Has("jt808")) return std::unique_ptr<Jt808Fleet>();
  Jt808SimOptions o;
  o.gateway = args.Get("jt808");
  o.v2019 = args.Has("jt808-2019");
  o.quiet = quiet;
  SB_ASSIGN_OR_RETURN(o.overspeed_kmh, args.GetDouble("jt808-overspeed-kmh", 0));
  if (args.Has("jt808-blind")) {
    SB_RETURN_IF_ERROR(ParseBlind(args.Get("jt808-blind"), day_start_s, &o));
  }
  return Jt808Fleet::Create(o, v);
}

int RunDemoFeed(int argc, char** argv) {
  auto args = Args::Parse(argc, argv, {"help"});
  if (!args.ok() || args->Has("help") || !args->Has("out") || !args->positional().empty()) {
    if (!args.ok()) std::fprintf(stderr, "smartbus demo-feed: %s\n", args.status().message().data());
    std::fprintf(stderr, "usage: smartbus demo-feed --out DIR\n"
                         "Writes the demo city GTFS feed (see data/README.md) into DIR.\n");
    return args.ok() && args->Has("help") ? 0 : 2;
  }
  if (auto s = args->CheckKnown({"out", "help"}); !s.ok()) {
    std::fprintf(stderr, "smartbus demo-feed: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  DemoCityStats st;
  absl::Status s = WriteFilesToDirectory(args->Get("out"), DemoCityFeed({}, &st));
  if (!s.ok()) {
    std::fprintf(stderr, "smartbus demo-feed: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  std::printf("wrote %s: %d routes, %d stops, %d shapes, %d trips, %d stop_times, %d blocks\n",
              args->Get("out").c_str(), st.routes, st.stops, st.shapes, st.trips, st.stop_times,
              st.blocks);
  return 0;
}

namespace {

// The flags that shape the simulation: the simulator's options and how to stream.
struct SimFlags {
  SimOptions sim;
  double speed = 1.0;         // --speed: simulated seconds per wall second (0: unpaced)
  int batch = 1000;           // --batch: fixes per ingest request
  double duration_min = -1;   // --duration (minutes); < 0: not given
};

// --congest FROM_STOP,TO_STOP,HH:MM,HH:MM,FACTOR.
absl::StatusOr<SimOptions::Congestion> ParseCongestion(const std::string& c) {
  std::vector<std::string> f = absl::StrSplit(c, ',');
  SimOptions::Congestion jam;
  int h0, m0, h1, m1;
  if (f.size() != 5 || std::sscanf(f[2].c_str(), "%d:%d", &h0, &m0) != 2 ||
      std::sscanf(f[3].c_str(), "%d:%d", &h1, &m1) != 2 ||
      !absl::SimpleAtod(f[4], &jam.speed_factor))
    return absl::InvalidArgumentError(
        absl::StrCat("--congest takes FROM_STOP,TO_STOP,HH:MM,HH:MM,FACTOR, got '", c, "'"));
  jam.from_stop_id = f[0];
  jam.to_stop_id = f[1];
  jam.start_s = h0 * 3600 + m0 * 60;
  jam.end_s = h1 * 3600 + m1 * 60;
  return jam;
}

// The simulation flags (--date needs the network's time zone); each error names its flag.
absl::StatusOr<SimFlags> ParseSimFlags(const Args& args, const Network& net) {
  SimFlags flags;
  SimOptions& opt = flags.sim;
  SB_ASSIGN_OR_RETURN(opt.service_date, ParseDate(args.Get("date"), net));
  auto interval = args.GetInt("interval", opt.fix_interval_s);
  auto seed = args.GetInt("seed", 1);
  auto sigma = args.GetDouble("gps-sigma", opt.gps_sigma_m);
  auto jam = args.GetDouble("jam-probability", opt.jam_probability);
  auto signal = args.GetDouble("signal-probability", opt.signal_probability);
  auto peak = args.GetDouble("peak-slowdown", opt.peak_slowdown);
  auto demand = args.GetDouble("demand", opt.demand_scale);
  auto early_share = args.GetDouble("early-share", opt.early_share);
  auto early_lead = args.GetInt("early-lead", opt.early_lead_s);
  auto early_speedup = args.GetDouble("early-speedup", opt.early_speedup);
  auto speed = args.GetDouble("speed", 1.0);
  auto batch = args.GetInt("batch", 1000);
  auto duration = args.GetDouble("duration", -1);
  for (const absl::Status& s :
       {interval.status(), seed.status(), sigma.status(), jam.status(), signal.status(),
        peak.status(), demand.status(), early_share.status(), early_lead.status(),
        early_speedup.status(), speed.status(), batch.status(), duration.status()}) {
    SB_RETURN_IF_ERROR(s);
  }
  if (*speed < 0) return absl::InvalidArgumentError("--speed must be >= 0");
  if (*batch < 1 || *batch > 10000) return absl::InvalidArgumentError("--batch must be 1..10000");
  flags.speed = *speed;
  flags.batch = static_cast<int>(*batch);
  flags.duration_min = *duration;
  opt.fix_interval_s = static_cast<int>(*interval);
  opt.seed = static_cast<uint64_t>(*seed);
  opt.gps_sigma_m = *sigma;
  opt.jam_probability = *jam;
  opt.signal_probability = *signal;
  opt.peak_slowdown = *peak;
  opt.demand_scale = *demand;
  opt.early_share = *early_share;
  opt.early_lead_s = static_cast<int>(*early_lead);
  opt.early_speedup = *early_speedup;
  for (const std::string& c : args.GetAll("congest")) {
    SB_ASSIGN_OR_RETURN(SimOptions::Congestion congestion, ParseCongestion(c));
    opt.congestion.push_back(congestion);
  }
  opt.report_trip_id = !args.Has("no-trip-ids");
  opt.report_passengers = !args.Has("no-passengers");
  if (args.Has("routes")) {
    for (absl::string_view r : absl::StrSplit(args.Get("routes"), ',', absl::SkipEmpty())) {
      opt.route_ids.emplace_back(r);
    }
  }
  return flags;
}

// The simulated span (unix seconds).
struct SimWindow {
  int64_t start = 0;       // --start, default the first pull-out
  int64_t end = 0;         // --end or --start + --duration, default the last pull-in
  int64_t fast_until = 0;  // --fast-until within [start, end], default start
};

absl::StatusOr<SimWindow> ParseSimWindow(const Args& args, const SimFlags& flags,
                                         const FleetSimulator& fs, int64_t day_start) {
  SimWindow w;
  w.start = absl::ToUnixSeconds(fs.first_pullout());
  w.end = absl::ToUnixSeconds(fs.last_pullin());
  if (args.Has("start")) {
    SB_ASSIGN_OR_RETURN(w.start, ParseWhen("start", args.Get("start"), day_start));
  }
  if (args.Has("end")) {
    SB_ASSIGN_OR_RETURN(w.end, ParseWhen("end", args.Get("end"), day_start));
  } else if (flags.duration_min >= 0) {
    w.end = w.start + static_cast<int64_t>(flags.duration_min * 60);
  }
  if (w.end < w.start) return absl::InvalidArgumentError("--end is before --start");
  w.fast_until = w.start;
  if (args.Has("fast-until")) {
    SB_ASSIGN_OR_RETURN(const int64_t f,
                        ParseWhen("fast-until", args.Get("fast-until"), day_start));
    w.fast_until = std::clamp(f, w.start, w.end);
  }
  return w;
}

// The CSV files sim writes, each optional: --out (positions), --truth, --visits.
class SimFiles {
 public:
  absl::Status Open(const Args& args) {
    if (args.Has("out")) {
      SB_RETURN_IF_ERROR(out_.Open(args.Get("out"), PositionsCsvHeader()));
    }
    if (args.Has("truth")) {
      SB_RETURN_IF_ERROR(truth_.Open(args.Get("truth"), SimTruthCsvHeader()));
    }
    if (args.Has("visits")) {
      SB_RETURN_IF_ERROR(visits_.Open(args.Get("visits"), StopVisitsCsvHeader()));
    }
    return absl::OkStatus();
  }

  // Appends one step's fixes and visits to the open files and flushes them.
  absl::Status Write(const std::vector<SimFix>& fixes, const std::vector<StopVisit>& visits,
                     const GtfsFeed& feed) {
    if (out_.is_open()) {
      for (const SimFix& f : fixes) AppendPositionsRow(f.fix, out_.buffer());
      SB_RETURN_IF_ERROR(out_.Flush());
    }
    if (truth_.is_open()) {
      for (const SimFix& f : fixes) AppendSimTruthRow(f, feed, truth_.buffer());
      SB_RETURN_IF_ERROR(truth_.Flush());
    }
    if (visits_.is_open()) {
      for (const StopVisit& v : visits) AppendStopVisitRow(v, feed, visits_.buffer());
      SB_RETURN_IF_ERROR(visits_.Flush());
    }
    return absl::OkStatus();
  }

  absl::Status Close() {
    for (CsvFileWriter* f : {&out_, &truth_, &visits_}) SB_RETURN_IF_ERROR(f->Close());
    return absl::OkStatus();
  }

 private:
  CsvFileWriter out_, truth_, visits_;
};

// Where the simulated fixes go besides the files: a gRPC stream (--server) and/or JT/T 808
// terminals (--jt808); "live" when either is given.
struct SimLive {
  std::unique_ptr<Streamer> streamer;
  std::unique_ptr<Jt808Fleet> jt808;
  bool live() const { return streamer || jt808; }
};

// The simulation's steps: an hour at a time when only writing files, 10 s while sending live
// (as fast as the receiver takes them before --fast-until), and with --speed > 0 from
// --fast-until on the wall clock scaled by --speed.
class SimClock {
 public:
  SimClock(const SimWindow& w, double speed, bool live, bool quiet, const Network& net)
      : w_(w), speed_(speed), live_(live), quiet_(quiet), net_(net) {}

  // The simulated time to advance to after `t`; not after `t` while the wall clock has not
  // moved on (paced).
  int64_t Next(int64_t t) {
    if (live_ && speed_ > 0 && t + 1 >= w_.fast_until) {
      // Paced: simulated time follows the wall clock, scaled, from fast_until on.
      if (!paced_) {
        paced_ = true;
        wall0_ = absl::Now();
        if (!quiet_ && w_.fast_until > w_.start) {
          std::fprintf(stderr, "sim: warm-up sent up to %s; now %gx real time\n",
                       LocalTime(w_.fast_until, net_).c_str(), speed_);
        }
      }
      absl::SleepFor(absl::Milliseconds(200));
      double elapsed = absl::ToDoubleSeconds(absl::Now() - wall0_);
      return std::min(w_.end, w_.fast_until + static_cast<int64_t>(elapsed * speed_));
    }
    if (live_ && speed_ > 0) return std::min(w_.fast_until - 1, t + 10);
    return std::min(w_.end, t + (live_ ? 10 : 3600));
  }

 private:
  const SimWindow w_;
  const double speed_;
  const bool live_, quiet_;
  const Network& net_;
  bool paced_ = false;
  absl::Time wall0_;
};

// What a simulation run did, for the closing lines.
struct SimTotals {
  int64_t fixes = 0, visits = 0;
  int64_t until = 0;  // simulated until (unix s)
};

// Runs the fleet from the window's start to its end (or SIGINT/SIGTERM), writing and sending
// each step's fixes and visits; an error of a file stops it.
absl::Status DriveFleet(FleetSimulator& fs, const Network& net, const SimFlags& flags,
                        const SimWindow& w, SimFiles& files, SimLive& live, bool quiet,
                        SimTotals* totals) {
  // Warm up: buses already on the road at --start are where they would be.
  fs.AdvanceTo(absl::FromUnixSeconds(w.start - 1), nullptr, nullptr);
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  std::vector<SimFix> fixes;
  std::vector<StopVisit> visits;
  SimClock clock(w, flags.speed, live.live(), quiet, net);
  absl::Time last_report = absl::Now();
  int64_t& t = totals->until;
  t = w.start - 1;
  while (t < w.end && !g_stop.load()) {
    const int64_t next = clock.Next(t);
    if (next <= t) continue;
    fixes.clear();
    visits.clear();
    fs.AdvanceTo(absl::FromUnixSeconds(next), &fixes, &visits);
    t = next;
    totals->fixes += static_cast<int64_t>(fixes.size());
    totals->visits += static_cast<int64_t>(visits.size());
    SB_RETURN_IF_ERROR(files.Write(fixes, visits, net.feed()));
    if (live.jt808) live.jt808->Send(fixes);
    if (live.streamer) {
      live.streamer->Send(fixes, 0, fixes.size(), flags.batch);
      if (!quiet && absl::Now() - last_report > absl::Seconds(10)) {
        last_report = absl::Now();
        std::fprintf(stderr, "sim: %s  fixes sent %lld, accepted %lld, rejected %lld\n",
                     LocalTime(t, net).c_str(), static_cast<long long>(live.streamer->sent()),
                     static_cast<long long>(live.streamer->accepted()),
                     static_cast<long long>(live.streamer->rejected()));
      }
    }
  }
  return absl::OkStatus();
}

// Closes the live sinks and prints what was simulated, sent and accepted (unless quiet).
void FinishLive(SimLive& live, const SimTotals& totals, const Network& net, bool quiet) {
  if (live.streamer) live.streamer->Close();
  if (live.jt808) {
    live.jt808->Close(absl::Seconds(30));
    if (!quiet)
      std::fprintf(stderr, "sim: JT/T 808: sent %lld reports, answered success %lld, failed %lld\n",
                   static_cast<long long>(live.jt808->sent()),
                   static_cast<long long>(live.jt808->accepted()),
                   static_cast<long long>(live.jt808->failed()));
  }
  if (quiet) return;
  std::fprintf(stderr, "sim: %s%lld fixes, %lld stop visits, simulated until %s\n",
               g_stop.load() ? "stopped: " : "", static_cast<long long>(totals.fixes),
               static_cast<long long>(totals.visits), LocalTime(totals.until, net).c_str());
  if (live.streamer) {
    std::fprintf(stderr, "sim: sent %lld fixes, server accepted %lld, rejected %lld\n",
                 static_cast<long long>(live.streamer->sent()),
                 static_cast<long long>(live.streamer->accepted()),
                 static_cast<long long>(live.streamer->rejected()));
  }
}

}  // namespace

int RunSim(int argc, char** argv) {
  auto args = Args::Parse(argc, argv, {"help", "no-trip-ids", "no-passengers", "quiet", "tls"});
  auto fail = [](const std::string& msg, int code) {
    std::fprintf(stderr, "smartbus sim: %s\n", msg.c_str());
    return code;
  };
  if (!args.ok()) return fail(std::string(args.status().message()), 2);
  if (args->Has("help")) {
    std::fprintf(stdout, "%s", kSimUsage);
    return 0;
  }
  if (auto s = args->CheckKnown({"help", "gtfs", "date", "start", "end", "duration", "interval",
                                 "seed", "routes", "no-trip-ids", "no-passengers", "gps-sigma",
                                 "jam-probability", "signal-probability", "peak-slowdown",
                                 "demand", "early-share", "early-lead", "early-speedup", "congest", "out", "truth", "visits", "server", "speed", "batch", "fast-until",
                                 "quiet", "token", "tls", "ca", "jt808", "jt808-2019",
                                 "jt808-overspeed-kmh", "jt808-blind", "jt808-registry"});
      !s.ok()) {
    std::fprintf(stderr, "%s", kSimUsage);
    return fail(std::string(s.message()), 2);
  }
  if (auto s = SetClientSecurity(*args); !s.ok()) return fail(std::string(s.message()), 2);
  std::vector<std::string> feeds = args->GetAll("gtfs");
  if (feeds.empty()) {
    std::fprintf(stderr, "%s", kSimUsage);
    return fail("--gtfs FEED is required", 2);
  }
  if (!args->Has("out") && !args->Has("server") && !args->Has("truth") && !args->Has("visits") &&
      !args->Has("jt808") && !args->Has("jt808-registry")) {
    std::fprintf(stderr, "%s", kSimUsage);
    return fail("nothing to do: give --out, --truth, --visits, --server and/or --jt808", 2);
  }
  bool quiet = args->Has("quiet");

  auto built = LoadNetwork(feeds);
  if (!built.ok()) return fail(std::string(built.status().message()), 1);
  std::shared_ptr<const Network> net = *built;

  auto flags = ParseSimFlags(*args, *net);
  if (!flags.ok()) return fail(std::string(flags.status().message()), 2);
  const SimOptions& opt = flags->sim;
  auto sim = FleetSimulator::Create(net, opt);
  if (!sim.ok()) return fail(std::string(sim.status().message()), 1);
  FleetSimulator& fs = **sim;
  int64_t day_start = absl::ToUnixSeconds(net->ServiceDayStart(opt.service_date));
  auto window = ParseSimWindow(*args, *flags, fs, day_start);
  if (!window.ok()) return fail(std::string(window.status().message()), 2);

  SimFiles files;
  if (auto s = files.Open(*args); !s.ok()) return fail(std::string(s.message()), 1);
  SimLive live;
  if (args->Has("server")) live.streamer = std::make_unique<Streamer>(args->Get("server"), quiet);
  auto jt808 = MakeJt808Fleet(*args, fs.vehicles(), day_start, quiet);
  if (!jt808.ok()) return fail(std::string(jt808.status().message()), 2);
  live.jt808 = std::move(*jt808);

  if (!quiet) {
    std::fprintf(stderr,
                 "sim: service date %d, %zu buses, %s .. %s (%s)%s\n", opt.service_date,
                 fs.vehicles().size(), LocalTime(window->start, *net).c_str(),
                 LocalTime(window->end, *net).c_str(), net->time_zone().name().c_str(),
                 live.streamer ? absl::StrFormat(", streaming to %s at %gx", args->Get("server"),
                                                 flags->speed).c_str()
                               : "");
  }
  SimTotals totals;
  if (auto s = DriveFleet(fs, *net, *flags, *window, files, live, quiet, &totals); !s.ok())
    return fail(std::string(s.message()), 1);
  if (auto s = files.Close(); !s.ok()) return fail(std::string(s.message()), 1);
  FinishLive(live, totals, *net, quiet);
  return 0;
}

}  // namespace smartbus::cli

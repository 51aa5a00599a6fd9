#include "services/core/sim/demo_city.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "services/core/common/csv.h"
#include "absl/strings/str_format.h"

namespace smartbus {
namespace {

// --- The street grid -------------------------------------------------------------------------
// Avenues run north-south every kBlockM metres (x = kBlockM * i), streets east-west
// (y = kBlockM * j). Central Station sits at (0, 0), on Main St & 6th Ave.
constexpr double kBlockM = 500;
constexpr double kNearSideM = 20;  // stops sit this far before the intersection ...
constexpr double kKerbM = 8;       // ... on the right-hand kerb, this far from the centreline
constexpr double kShapeStepM = 100;

std::string Ordinal(int n) {
  const char* suffix = "th";
  if (n % 100 < 11 || n % 100 > 13) {
    if (n % 10 == 1) suffix = "st";
    if (n % 10 == 2) suffix = "nd";
    if (n % 10 == 3) suffix = "rd";
  }
  return absl::StrCat(n, suffix);
}

std::string AvenueName(int i) { return absl::StrCat(Ordinal(i + 6), " Ave"); }

std::string StreetName(int j) {
  static const char* kNorth[] = {"Main", "Oak", "Elm", "Pine", "Maple", "Cedar", "Birch"};
  static const char* kSouth[] = {"Main", "Lake", "River", "Mill", "Bridge", "Canal", "Harbor"};
  if (j >= 0 && j < 7) return absl::StrCat(kNorth[j], " St");
  if (j < 0 && j > -7) return absl::StrCat(kSouth[-j], " St");
  return absl::StrCat("Street ", j);
}

// Named places: stops shared by every route and direction that stops there, placed exactly on
// the point (terminals, the hub, the pier turnaround).
struct Place {
  const char* name;
  Vec2 xy;
};
const Place kPlaces[] = {
    {"Central Station", {0, 0}},           {"Northside Mall", {500, 2500}},
    {"Southgate Terminal", {0, -2000}},    {"Westgate Terminal", {-2500, 500}},
    {"Eastgate Terminal", {2500, 0}},      {"University", {-2000, 1000}},
    {"Riverside Station", {2000, -1000}},  {"Harbor Pier", {2000, -2500}},
    {"Airport Terminal", {5200, 1700}},
};

const Place* FindPlace(Vec2 p) {
  for (const Place& pl : kPlaces) {
    if (Dist(pl.xy, p) < 1) return &pl;
  }
  return nullptr;
}

// --- Routes ----------------------------------------------------------------------------------
struct Span {
  int from_min;  // first departure of the span, minutes after service-day start
  int to_min;    // departures strictly before this
  int headway_min;
};

struct RouteDef {
  const char* id;
  const char* short_name;
  const char* long_name;
  const char* color;
  std::vector<Vec2> path;  // direction 0, metres on the grid plane
  bool two_way;            // false: loop or out-and-back, direction 0 only
  bool express;            // stops only at named places
  double speed_factor;     // scheduled speed relative to a local route
  int offset_min[2];       // departure offset per direction
  std::vector<Span> weekday;
  std::vector<Span> weekend;
  const char* description;
};

std::vector<RouteDef> Routes() {
  const std::vector<Span> trunk_wd = {{330, 390, 30}, {390, 570, 15}, {570, 930, 20},
                                      {930, 1110, 15}, {1110, 1320, 30}};
  const std::vector<Span> trunk_we = {{420, 1320, 60}};
  return {
      {"1", "1", "Northside Mall - Southgate", "1F77B4",
       {{500, 2500}, {0, 2500}, {0, -2000}}, true, false, 1.0, {0, 7}, trunk_wd, trunk_we,
       "North-south trunk along 6th Ave through Central Station"},
      {"2", "2", "Westgate - Eastgate Crosstown", "D62728",
       {{-2500, 500}, {-2000, 500}, {-2000, 0}, {2500, 0}}, true, false, 1.0, {4, 11}, trunk_wd,
       trunk_we, "East-west trunk along Main St through Central Station"},
      {"3", "3", "University - Riverside", "2CA02C",
       {{-2000, 1000}, {0, 1000}, {0, -1000}, {2000, -1000}}, true, false, 1.0, {9, 2},
       {{360, 540, 20}, {540, 960, 30}, {960, 1110, 20}, {1110, 1290, 40}},
       {{480, 1200, 60}},
       "Shares the 6th Ave stops of route 1 between Oak St and River St"},
      {"4", "4", "Downtown Loop", "9467BD",
       {{0, 0}, {1000, 0}, {1000, 1000}, {-1000, 1000}, {-1000, 0}, {0, 0}}, false, false, 1.0,
       {2, 0}, {{390, 1200, 20}}, {{540, 1140, 30}},
       "Counter-clockwise loop from and back to Central Station"},
      {"5", "5", "Harbor Shuttle", "FF7F0E",
       {{2000, -1000}, {2000, -2500}, {2000, -1000}}, false, false, 1.0, {11, 0},
       {{360, 1260, 30}}, {{540, 1140, 60}},
       "Out-and-back from Riverside Station to Harbor Pier on 10th Ave (both kerbs)"},
      {"6X", "6X", "Airport Express", "17BECF",
       {{0, 0}, {2500, 0}, {3000, 0}, {4500, 1500}, {5200, 1700}}, true, true, 1.8, {0, 20},
       {{300, 1380, 30}}, {{360, 1380, 60}},
       "Limited stops: Central Station, Eastgate Terminal, Airport Terminal"},
  };
}

// --- Geometry of one direction ---------------------------------------------------------------
struct PathStop {
  std::string key;   // identity of the physical stop (shared across routes)
  std::string name;
  Vec2 xy;
  double dist_m;     // along the path
  bool timepoint;    // named place
};

struct DirGeometry {
  std::vector<Vec2> shape;        // shape points
  std::vector<double> shape_dist; // metres along
  std::vector<PathStop> stops;
};

Vec2 Unit(Vec2 v) {
  double n = Norm(v);
  return n > 0 ? v * (1 / n) : Vec2{};
}

// Heading letter of an axis-aligned unit direction.
char HeadingLetter(Vec2 u) {
  if (std::fabs(u.x) > std::fabs(u.y)) return u.x > 0 ? 'E' : 'W';
  return u.y > 0 ? 'N' : 'S';
}

DirGeometry BuildDirection(const std::vector<Vec2>& path, bool express) {
  DirGeometry g;
  double s = 0;
  auto add_place_stop = [&](Vec2 p, double at) {
    const Place* pl = FindPlace(p);
    if (pl == nullptr) return false;
    g.stops.push_back({pl->name, pl->name, pl->xy, at, true});
    return true;
  };
  add_place_stop(path.front(), 0);
  g.shape.push_back(path.front());
  g.shape_dist.push_back(0);
  for (size_t leg = 0; leg + 1 < path.size(); ++leg) {
    Vec2 a = path[leg], b = path[leg + 1];
    double len = Dist(a, b);
    Vec2 u = Unit(b - a);
    // Shape points every kShapeStepM, and the leg end.
    for (double d = kShapeStepM; d < len - 1e-6; d += kShapeStepM) {
      g.shape.push_back(a + u * d);
      g.shape_dist.push_back(s + d);
    }
    g.shape.push_back(b);
    g.shape_dist.push_back(s + len);
    // Intersections crossed by an axis-aligned leg (its start excluded: served by the previous
    // leg or the path start).
    bool axis = std::fabs(u.x) < 1e-9 || std::fabs(u.y) < 1e-9;
    if (axis) {
      for (double d = 0; d <= len + 1e-6; d += 1) {
        Vec2 p = a + u * d;
        if (d < 1) continue;
        double gx = p.x / kBlockM, gy = p.y / kBlockM;
        if (std::fabs(gx - std::round(gx)) > 1e-6 || std::fabs(gy - std::round(gy)) > 1e-6) {
          continue;
        }
        bool path_end = leg + 2 == path.size() && d > len - 1e-6;
        if (path_end) break;  // the terminal is added below
        if (add_place_stop(p, s + d)) continue;
        if (express) continue;
        int i = static_cast<int>(std::lround(gx)), j = static_cast<int>(std::lround(gy));
        char h = HeadingLetter(u);
        Vec2 right{u.y, -u.x};
        std::string along = (h == 'E' || h == 'W') ? StreetName(j) : AvenueName(i);
        std::string cross = (h == 'E' || h == 'W') ? AvenueName(i) : StreetName(j);
        g.stops.push_back({absl::StrCat(i, ",", j, ",", std::string(1, h)),
                           absl::StrCat(along, " & ", cross), p - u * kNearSideM + right * kKerbM,
                           s + d - kNearSideM, false});
      }
    }
    s += len;
  }
  add_place_stop(path.back(), s);
  return g;
}

// --- Schedule --------------------------------------------------------------------------------
// Scheduled running speed (m/s) of a local bus leaving a stop at `t_s` (seconds of the day):
// slower in the peaks, faster early and late.
double ScheduledSpeed(double t_s) {
  double h = t_s / 3600.0;
  if ((h >= 7 && h < 9) || (h >= 16 && h < 18.5)) return 5.0;
  if (h < 6.5 || h >= 19) return 7.0;
  return 6.0;
}
constexpr double kScheduledDwellS = 20;

std::string GtfsTime(int s) {
  return absl::StrFormat("%02d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
}

struct TripOut {
  std::string id;
  std::string route_id;
  std::string service_id;
  std::string headsign;
  int direction = 0;
  std::string shape_id;
  std::string block_id;
  std::vector<int> arr, dep;  // per stop
  const DirGeometry* geo = nullptr;
  std::string first_stop_key, last_stop_key;
};

void ScheduleTrip(const DirGeometry& g, double speed_factor, int dep0, TripOut* t) {
  double now = dep0;
  t->arr.push_back(dep0);
  t->dep.push_back(dep0);
  for (size_t k = 1; k < g.stops.size(); ++k) {
    double d = g.stops[k].dist_m - g.stops[k - 1].dist_m;
    double run = d / (ScheduledSpeed(now) * speed_factor);
    now += run + (k > 1 ? kScheduledDwellS : 0);
    int arr = static_cast<int>(std::lround(now));
    int dep = arr;
    if (g.stops[k].timepoint && k + 1 < g.stops.size()) {
      // Timepoints mid-trip: depart on a whole minute, at least 30 s after arriving.
      dep = (arr + 30 + 59) / 60 * 60;
      now = dep;
    }
    t->arr.push_back(arr);
    t->dep.push_back(dep);
  }
}

// Chains trips into blocks (one bus each): a bus arriving at a terminal takes the earliest
// departure from that terminal at least kMinLayoverS later; a bus idle for more than
// kMaxIdleS (90 min) pulls in and the next trip starts a new block.
void AssignBlocks(const std::string& prefix, std::vector<TripOut*> trips, int* num_blocks) {
  constexpr int kMinLayoverS = 5 * 60;
  constexpr int kMaxIdleS = 90 * 60;
  std::sort(trips.begin(), trips.end(),
            [](const TripOut* a, const TripOut* b) { return a->dep.front() < b->dep.front(); });
  struct Bus {
    std::string block;
    std::string at;  // terminal stop key
    int ready_s;     // arrival there
  };
  std::vector<Bus> buses;
  int n = 0;
  for (TripOut* t : trips) {
    Bus* best = nullptr;
    for (Bus& b : buses) {
      if (b.at != t->first_stop_key) continue;
      if (b.ready_s + kMinLayoverS > t->dep.front()) continue;
      if (t->dep.front() - b.ready_s > kMaxIdleS) continue;
      if (best == nullptr || b.ready_s < best->ready_s) best = &b;
    }
    if (best == nullptr) {
      buses.push_back({absl::StrFormat("%s-%02d", prefix, ++n), "", 0});
      best = &buses.back();
    }
    t->block_id = best->block;
    best->at = t->last_stop_key;
    best->ready_s = t->arr.back();
  }
  *num_blocks += n;
}

// --- Output ----------------------------------------------------------------------------------
std::string Csv(const std::string& s) {
  std::string out;
  AppendCsvField(s, &out);
  return out;
}

std::string LatLonText(const LocalProjection& proj, Vec2 p) {
  LatLon ll = proj.Reverse(p);
  return absl::StrFormat("%.6f,%.6f", ll.lat, ll.lon);
}

// The city's stops, numbered in first-seen order from 1000 (Central Station first), each with
// the row of one of its instances along a route.
struct CityStops {
  std::map<std::string, int> number;  // key -> id number
  std::vector<const PathStop*> rows;
};

// Geometry per route direction (the second direction of a two-way route reversed).
std::vector<std::vector<DirGeometry>> BuildGeometries(const std::vector<RouteDef>& routes) {
  std::vector<std::vector<DirGeometry>> geos(routes.size());
  for (size_t r = 0; r < routes.size(); ++r) {
    geos[r].push_back(BuildDirection(routes[r].path, routes[r].express));
    if (routes[r].two_way) {
      std::vector<Vec2> rev(routes[r].path.rbegin(), routes[r].path.rend());
      geos[r].push_back(BuildDirection(rev, routes[r].express));
    }
  }
  return geos;
}

CityStops NumberStops(const std::vector<std::vector<DirGeometry>>& geos) {
  CityStops stops;
  stops.number["Central Station"] = 1000;
  // Central Station's row (any route's instance of it will do).
  for (auto& gs : geos) {
    for (auto& g : gs) {
      for (const PathStop& s : g.stops) {
        if (s.key == "Central Station" && stops.rows.empty()) stops.rows.push_back(&s);
      }
    }
  }
  for (auto& gs : geos) {
    for (auto& g : gs) {
      for (const PathStop& s : g.stops) {
        if (stops.number.count(s.key)) continue;
        stops.number[s.key] = 1000 + static_cast<int>(stops.rows.size());
        stops.rows.push_back(&s);
      }
    }
  }
  return stops;
}

std::string RoutesTxt(const std::vector<RouteDef>& routes) {
  std::string routes_txt =
      "route_id,agency_id,route_short_name,route_long_name,route_desc,route_type,route_color,"
      "route_text_color\n";
  for (const RouteDef& r : routes) {
    absl::StrAppend(&routes_txt, r.id, ",DCT,", r.short_name, ",", Csv(r.long_name), ",",
                    Csv(r.description), ",3,", r.color, ",FFFFFF\n");
  }
  return routes_txt;
}

std::string StopsTxt(CityStops& stops, const LocalProjection& proj) {
  std::string stops_txt = "stop_id,stop_code,stop_name,stop_desc,stop_lat,stop_lon,location_type,"
                          "wheelchair_boarding\n";
  for (const PathStop* s : stops.rows) {
    int n = stops.number[s->key];
    std::string desc = s->timepoint ? "Transfer point / terminal" : "";
    absl::StrAppend(&stops_txt, n, ",", 20000 + n, ",", Csv(s->name), ",", Csv(desc), ",",
                    LatLonText(proj, s->xy), ",0,1\n");
  }
  return stops_txt;
}

// shapes.txt: one shape per route direction (ROUTE_DIRECTION); counts them in `shapes`.
std::string ShapesTxt(const std::vector<RouteDef>& routes,
                      const std::vector<std::vector<DirGeometry>>& geos,
                      const LocalProjection& proj, int* shapes) {
  std::string shapes_txt = "shape_id,shape_pt_lat,shape_pt_lon,shape_pt_sequence,"
                           "shape_dist_traveled\n";
  for (size_t r = 0; r < routes.size(); ++r) {
    for (size_t d = 0; d < geos[r].size(); ++d) {
      const DirGeometry& g = geos[r][d];
      std::string sid = absl::StrCat(routes[r].id, "_", d);
      for (size_t i = 0; i < g.shape.size(); ++i) {
        absl::StrAppend(&shapes_txt, sid, ",", LatLonText(proj, g.shape[i]), ",", i + 1, ",",
                        absl::StrFormat("%.1f", g.shape_dist[i]), "\n");
      }
      ++*shapes;
    }
  }
  return shapes_txt;
}

// Every trip of both services (weekday WD, weekend WE), scheduled and put into blocks per
// service and route; counts the blocks in `blocks`.
std::vector<TripOut> ScheduleTrips(const std::vector<RouteDef>& routes,
                                   const std::vector<std::vector<DirGeometry>>& geos,
                                   int* blocks) {
  struct Service {
    const char* id;
    bool weekday;
  };
  const Service services[] = {{"WD", true}, {"WE", false}};
  std::vector<TripOut> trips;
  for (const Service& sv : services) {
    for (size_t r = 0; r < routes.size(); ++r) {
      const RouteDef& rd = routes[r];
      std::vector<TripOut*> route_trips;
      for (size_t d = 0; d < geos[r].size(); ++d) {
        const DirGeometry& g = geos[r][d];
        for (const Span& sp : sv.weekday ? rd.weekday : rd.weekend) {
          for (int m = sp.from_min + rd.offset_min[d]; m < sp.to_min + rd.offset_min[d];
               m += sp.headway_min) {
            TripOut t;
            t.id = absl::StrFormat("%s-%s-%d-%02d%02d", sv.id, rd.id, d, m / 60, m % 60);
            t.route_id = rd.id;
            t.service_id = sv.id;
            t.headsign = g.stops.back().name;
            if (!rd.two_way) t.headsign = rd.long_name;
            t.direction = static_cast<int>(d);
            t.shape_id = absl::StrCat(rd.id, "_", d);
            t.geo = &g;
            t.first_stop_key = g.stops.front().key;
            t.last_stop_key = g.stops.back().key;
            ScheduleTrip(g, rd.speed_factor, m * 60, &t);
            trips.push_back(std::move(t));
          }
        }
      }
      // Pointers are taken after this route's trips are in place (reserve avoids moves).
      for (TripOut& t : trips) {
        if (t.route_id == rd.id && t.service_id == sv.id) route_trips.push_back(&t);
      }
      AssignBlocks(absl::StrCat(sv.id, "-", rd.id), route_trips, blocks);
    }
  }
  return trips;
}

// trips.txt and stop_times.txt of `trips`; counts the stop times in `stop_times`.
void TripsTxt(const std::vector<TripOut>& trips, CityStops& city_stops, std::string* trips_txt,
              std::string* stop_times_txt, int* stop_times) {
  *trips_txt = "route_id,service_id,trip_id,trip_headsign,direction_id,block_id,"
               "shape_id,wheelchair_accessible\n";
  *stop_times_txt = "trip_id,arrival_time,departure_time,stop_id,stop_sequence,"
                    "pickup_type,drop_off_type,shape_dist_traveled,timepoint\n";
  for (const TripOut& t : trips) {
    absl::StrAppend(trips_txt, t.route_id, ",", t.service_id, ",", t.id, ",", Csv(t.headsign),
                    ",", t.direction, ",", t.block_id, ",", t.shape_id, ",1\n");
    const auto& stops = t.geo->stops;
    for (size_t k = 0; k < stops.size(); ++k) {
      bool first = k == 0, last = k + 1 == stops.size();
      absl::StrAppend(stop_times_txt, t.id, ",", GtfsTime(t.arr[k]), ",", GtfsTime(t.dep[k]),
                      ",", city_stops.number[stops[k].key], ",", k + 1, ",", last ? 1 : 0, ",",
                      first ? 1 : 0, ",", absl::StrFormat("%.1f", stops[k].dist_m), ",",
                      stops[k].timepoint ? 1 : 0, "\n");
      ++*stop_times;
    }
  }
}

}  // namespace

std::vector<TextFile> DemoCityFeed(const DemoCityOptions& options, DemoCityStats* stats) {
  const LocalProjection proj(options.origin);
  DemoCityStats st;

  const std::vector<RouteDef> routes = Routes();
  const std::vector<std::vector<DirGeometry>> geos = BuildGeometries(routes);
  CityStops stops = NumberStops(geos);

  // agency.txt, feed_info.txt
  std::string agency =
      "agency_id,agency_name,agency_url,agency_timezone,agency_lang,agency_phone\n"
      "DCT,Demo City Transit,https://example.org/demo-city,America/New_York,en,555-0100\n";
  std::string feed_info = absl::StrCat(
      "feed_publisher_name,feed_publisher_url,feed_lang,feed_start_date,feed_end_date,"
      "feed_version\n",
      "SmartBus project (generated by smartbus demo-feed),https://example.org/smartbus,en,",
      options.start_date, ",", options.end_date, ",demo-city-1\n");
  const std::string routes_txt = RoutesTxt(routes);
  st.routes = static_cast<int>(routes.size());
  const std::string stops_txt = StopsTxt(stops, proj);
  st.stops = static_cast<int>(stops.rows.size());
  const std::string shapes_txt = ShapesTxt(routes, geos, proj, &st.shapes);
  const std::vector<TripOut> trips = ScheduleTrips(routes, geos, &st.blocks);
  std::string trips_txt, stop_times_txt;
  TripsTxt(trips, stops, &trips_txt, &stop_times_txt, &st.stop_times);
  st.trips = static_cast<int>(trips.size());

  // calendar.txt + calendar_dates.txt: holidays run the weekend timetable.
  std::string calendar = absl::StrCat(
      "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n",
      "WD,1,1,1,1,1,0,0,", options.start_date, ",", options.end_date, "\n", "WE,0,0,0,0,0,1,1,",
      options.start_date, ",", options.end_date, "\n");
  std::string calendar_dates = "service_id,date,exception_type\n";
  for (const char* date : {"20261126", "20261225", "20270101"}) {
    absl::StrAppend(&calendar_dates, "WD,", date, ",2\n", "WE,", date, ",1\n");
  }

  std::vector<TextFile> files = {
      {"agency.txt", std::move(agency)},
      {"routes.txt", routes_txt},
      {"stops.txt", stops_txt},
      {"shapes.txt", shapes_txt},
      {"trips.txt", std::move(trips_txt)},
      {"stop_times.txt", std::move(stop_times_txt)},
      {"calendar.txt", std::move(calendar)},
      {"calendar_dates.txt", std::move(calendar_dates)},
      {"feed_info.txt", std::move(feed_info)},
  };
  if (stats != nullptr) *stats = st;
  return files;
}

}  // namespace smartbus

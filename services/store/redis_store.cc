#include "services/store/redis_store.h"

#include <hiredis/hiredis.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cstdlib>
#include <cstring>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <type_traits>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "services/core/common/status_macros.h"
#include "services/store/codec.h"

namespace smartbus {

using store_codec::AppendNumber;
using store_codec::ParseNumber;

// ---------------------------------------------------------------------------------------------
// URL

std::string RedisAddress::ToString() const {
  const std::string who = user.empty() ? "" : absl::StrCat(user, "@");
  if (!unix_path.empty()) return absl::StrCat(who, "unix:", unix_path, "/", db);
  return absl::StrCat(who, host, ":", port, "/", db);
}

absl::StatusOr<RedisAddress> ParseRedisUrl(absl::string_view url) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "redis URL \"", url, "\": ", why, " (expected redis://host[:port][/db])"));
  };
  absl::string_view rest = url;
  RedisAddress a;
  if (const char* pw = std::getenv("SMARTBUS_REDIS_PASSWORD"); pw && *pw) a.password = pw;
  if (const char* u = std::getenv("SMARTBUS_REDIS_USER"); u && *u) a.user = u;
  if (absl::StartsWith(rest, "rediss://"))
    return bad("TLS (rediss://) is not supported by hiredis 0.14: put Redis on a private "
               "network or a unix socket");
  if (absl::ConsumePrefix(&rest, "unix://")) {
    absl::string_view path = rest, query;
    if (size_t q = rest.find('?'); q != absl::string_view::npos) {
      path = rest.substr(0, q);
      query = rest.substr(q + 1);
    }
    if (path.empty() || path.front() != '/') return bad("unix:// needs an absolute socket path");
    if (!query.empty() && (!absl::ConsumePrefix(&query, "db=") || !absl::SimpleAtoi(query, &a.db) ||
                           a.db < 0 || a.db > 65535))
      return bad("after the socket path only ?db=N is understood");
    a.unix_path = std::string(path);
    return a;
  }
  if (!absl::ConsumePrefix(&rest, "redis://"))
    return bad("must start with redis:// or unix://");
  if (size_t at = rest.rfind('@', rest.find('/')); at != absl::string_view::npos) {
    absl::string_view userinfo = rest.substr(0, at);
    rest.remove_prefix(at + 1);
    size_t colon = userinfo.find(':');
    if (colon == absl::string_view::npos) return bad("user:password@ needs a ':' (or :password@)");
    a.user = std::string(userinfo.substr(0, colon));
    a.password = std::string(userinfo.substr(colon + 1));
    if (a.password.empty()) return bad("empty password before '@'");
  }
  absl::string_view hostport = rest;
  size_t slash = rest.find('/');
  if (slash != absl::string_view::npos) {
    hostport = rest.substr(0, slash);
    absl::string_view db = rest.substr(slash + 1);
    if (!db.empty()) {
      if (!absl::SimpleAtoi(db, &a.db) || a.db < 0 || a.db > 65535) {
        return bad(absl::StrCat("database \"", db, "\" is not a number >= 0"));
      }
    }
  }
  if (hostport.empty()) return bad("no host");
  if (hostport.front() == '[') {  // [ipv6]:port
    size_t close = hostport.find(']');
    if (close == absl::string_view::npos) return bad("unterminated [ipv6] host");
    a.host = std::string(hostport.substr(1, close - 1));
    hostport = hostport.substr(close + 1);
    if (!hostport.empty() && hostport.front() != ':') return bad("junk after [ipv6] host");
    if (!hostport.empty()) hostport.remove_prefix(1);
    else hostport = {};
    if (!hostport.empty() && (!absl::SimpleAtoi(hostport, &a.port) || a.port <= 0 ||
                              a.port > 65535)) {
      return bad(absl::StrCat("port \"", hostport, "\" is not in 1..65535"));
    }
    return a;
  }
  size_t colon = hostport.rfind(':');
  if (colon != absl::string_view::npos) {
    absl::string_view port = hostport.substr(colon + 1);
    if (!absl::SimpleAtoi(port, &a.port) || a.port <= 0 || a.port > 65535) {
      return bad(absl::StrCat("port \"", port, "\" is not in 1..65535"));
    }
    hostport = hostport.substr(0, colon);
  }
  if (hostport.empty()) return bad("no host");
  a.host = std::string(hostport);
  return a;
}

// ---------------------------------------------------------------------------------------------
// Pipeline: commands encoded in RESP into one buffer, sent with one write.

class RedisPipeline {
 public:
  // Starts a command of `argc` arguments (the command name included).
  void Begin(int argc) {
    buf_.push_back('*');
    AppendNumber(&buf_, int64_t{argc});
    buf_.append("\r\n");
    ++count_;
  }
  void Arg(absl::string_view s) { Key(s, {}, {}); }
  // One argument made of up to three concatenated parts (prefix + kind + id).
  void Key(absl::string_view a, absl::string_view b, absl::string_view c = {}) {
    buf_.push_back('$');
    AppendNumber(&buf_, int64_t(a.size() + b.size() + c.size()));
    buf_.append("\r\n");
    buf_.append(a.data(), a.size());
    buf_.append(b.data(), b.size());
    buf_.append(c.data(), c.size());
    buf_.append("\r\n");
  }
  template <typename T>
  void Num(T v) {
    num_.clear();
    AppendNumber(&num_, v);
    Arg(num_);
  }
  void Clear() {
    buf_.clear();
    count_ = 0;
  }
  const std::string& buffer() const { return buf_; }
  int count() const { return count_; }

 private:
  std::string buf_;
  std::string num_;
  int count_ = 0;
};

namespace {

timeval ClampedTimeval(absl::Duration d) { return absl::ToTimeval(std::max(d, absl::Milliseconds(1))); }

absl::string_view Str(const redisReply* r) { return absl::string_view(r->str, r->len); }

bool IsStr(const redisReply* r) {
  return r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS;
}

int64_t NowUnixS() { return absl::ToUnixSeconds(absl::Now()); }

// Bit-for-bit equal (NaN == NaN, -0 != +0): a field is re-sent when its stored text would differ.
template <typename T>
bool Same(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    return std::memcmp(&a, &b, sizeof(T)) == 0;
  } else {
    return a == b;
  }
}

// HSET <prefix>veh:<id> + the field/value pairs that differ from `prev` (all 16 when `prev` is
// null). False (nothing added) when no field differs.
bool AddVehicle(RedisPipeline& p, absl::string_view prefix, const VehicleRecord& r,
                const VehicleRecord* prev) {
  const VehicleState& v = r.state;
  const VehicleState* o = prev != nullptr ? &prev->state : nullptr;
  const bool all = o == nullptr;
  const bool send[16] = {
      all || !Same(v.timestamp_s, o->timestamp_s),
      all || !Same(v.pos.lat, o->pos.lat),
      all || !Same(v.pos.lon, o->pos.lon),
      all || !Same(v.bearing_deg, o->bearing_deg),
      all || !Same(v.speed_mps, o->speed_mps),
      all || v.state != o->state,
      all || r.trip_id != prev->trip_id,
      all || r.route_id != prev->route_id,
      all || !Same(v.service_date, o->service_date),
      all || !Same(v.day_start_s, o->day_start_s),
      all || !Same(v.dist_along_m, o->dist_along_m),
      all || !Same(v.offset_m, o->offset_m),
      all || !Same(v.next_stop_index, o->next_stop_index),
      all || !Same(v.delay_s, o->delay_s),
      all || !Same(v.occupancy, o->occupancy),
      all || !Same(v.load, o->load),
  };
  int n = 0;
  for (bool b : send) n += b;
  if (n == 0) return false;
  p.Begin(2 + 2 * n);
  p.Arg("HSET");
  p.Key(prefix, "veh:", v.vehicle_id);
  int i = 0;
  if (send[i++]) p.Arg("t"), p.Num(v.timestamp_s);
  if (send[i++]) p.Arg("lat"), p.Num(v.pos.lat);
  if (send[i++]) p.Arg("lon"), p.Num(v.pos.lon);
  if (send[i++]) p.Arg("bearing"), p.Num(v.bearing_deg);
  if (send[i++]) p.Arg("speed"), p.Num(v.speed_mps);
  if (send[i++]) p.Arg("state"), p.Arg(MatchStateName(v.state));
  if (send[i++]) p.Arg("trip"), p.Arg(r.trip_id);
  if (send[i++]) p.Arg("route"), p.Arg(r.route_id);
  if (send[i++]) p.Arg("date"), p.Num(v.service_date);
  if (send[i++]) p.Arg("day_start"), p.Num(v.day_start_s);
  if (send[i++]) p.Arg("dist"), p.Num(v.dist_along_m);
  if (send[i++]) p.Arg("offset"), p.Num(v.offset_m);
  if (send[i++]) p.Arg("next_stop"), p.Num(v.next_stop_index);
  if (send[i++]) p.Arg("delay"), p.Num(v.delay_s);
  if (send[i++]) p.Arg("occ"), p.Num(v.occupancy);
  if (send[i++]) p.Arg("load"), p.Num(v.load);
  return true;
}

absl::StatusOr<VehicleRecord> DecodeVehicle(absl::string_view key, absl::string_view id,
                                            const redisReply* r) {
  VehicleRecord out;
  VehicleState& v = out.state;
  v.vehicle_id = std::string(id);
  if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0) {
    return absl::DataLossError(absl::StrCat("redis key ", key, ": not a hash of field/values"));
  }
  for (size_t i = 0; i + 1 < r->elements; i += 2) {
    absl::string_view f = Str(r->element[i]);
    absl::string_view x = Str(r->element[i + 1]);
    bool ok = true;
    if (f == "t") ok = ParseNumber(x, &v.timestamp_s);
    else if (f == "lat") ok = ParseNumber(x, &v.pos.lat);
    else if (f == "lon") ok = ParseNumber(x, &v.pos.lon);
    else if (f == "bearing") ok = ParseNumber(x, &v.bearing_deg);
    else if (f == "speed") ok = ParseNumber(x, &v.speed_mps);
    else if (f == "state") ok = store_codec::ParseState(x, &v.state);
    else if (f == "trip") out.trip_id = std::string(x);
    else if (f == "route") out.route_id = std::string(x);
    else if (f == "date") ok = ParseNumber(x, &v.service_date);
    else if (f == "day_start") ok = ParseNumber(x, &v.day_start_s);
    else if (f == "dist") ok = ParseNumber(x, &v.dist_along_m);
    else if (f == "offset") ok = ParseNumber(x, &v.offset_m);
    else if (f == "next_stop") ok = ParseNumber(x, &v.next_stop_index);
    else if (f == "delay") ok = ParseNumber(x, &v.delay_s);
    else if (f == "occ") ok = ParseNumber(x, &v.occupancy);
    else if (f == "load") ok = ParseNumber(x, &v.load);
    // Unknown fields (written by a newer version) are ignored.
    if (!ok) {
      return absl::DataLossError(
          absl::StrCat("redis key ", key, ": field ", f, " has bad value \"", x, "\""));
    }
  }
  v.trip = kNoIndex;
  v.route = kNoIndex;
  return out;
}

// A batch's fixes of one vehicle become one stream entry (up to kMaxFixesPerEntry, and at most
// positions_cap/10 so that trimming stays fine-grained): one XADD per vehicle per batch, and the
// StoreWriter holds a fast vehicle's fixes for StoreWriterOptions::position_window so that a
// batch has several. Entry layouts (deploy/REDIS_KEYS.md):
//   one fix:  XADD <prefix>pos:<id> * t <timestamp_s> d <packed>
//   several:  XADD <prefix>pos:<id> * m <timestamp_s>\t<packed>\n<timestamp_s>\t<packed>...
// Few fields keep Redis' parsing cost per fix low; the length cap is applied by a separate XTRIM
// every cap/10 fixes (cheaper than MAXLEN on every XADD). <packed> =
// store_codec::AppendPositionData.
constexpr size_t kMaxFixesPerEntry = 64;

void AddPosition(RedisPipeline& p, absl::string_view prefix, const Fix& f,
                 std::string* scratch) {
  p.Begin(7);
  p.Arg("XADD");
  p.Key(prefix, "pos:", f.vehicle_id);
  p.Arg("*");
  p.Arg("t");
  p.Num(f.timestamp_s);
  p.Arg("d");
  scratch->clear();
  store_codec::AppendPositionData(scratch, f);
  p.Arg(*scratch);
}

// One entry of several fixes (`packed`: store_codec::AppendPositionLine lines).
void AddPositions(RedisPipeline& p, absl::string_view prefix, absl::string_view vehicle_id,
                  absl::string_view packed) {
  p.Begin(5);
  p.Arg("XADD");
  p.Key(prefix, "pos:", vehicle_id);
  p.Arg("*");
  p.Arg("m");
  p.Arg(packed);
}

// Appends the fixes of one stream entry (a "t"/"d" entry or an "m" entry), in append order.
absl::Status DecodePositions(absl::string_view key, absl::string_view id,
                             const redisReply* entry, std::vector<Fix>* out) {
  // [entry-id, [field, value, ...]]
  if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 ||
      entry->element[1]->type != REDIS_REPLY_ARRAY) {
    return absl::DataLossError(absl::StrCat("redis stream ", key, ": malformed entry"));
  }
  const redisReply* kv = entry->element[1];
  Fix f;
  bool has_t = false, has_d = false;
  for (size_t i = 0; i + 1 < kv->elements; i += 2) {
    absl::string_view n = Str(kv->element[i]);
    absl::string_view x = Str(kv->element[i + 1]);
    if (n == "t") {
      has_t = ParseNumber(x, &f.timestamp_s);
    } else if (n == "d") {
      has_d = store_codec::ParsePositionData(x, &f);
    } else if (n == "m") {
      if (!store_codec::ParsePositionLines(x, id, out)) {
        return absl::DataLossError(absl::StrCat("redis stream ", key, " entry ",
                                                Str(entry->element[0]),
                                                ": bad field m (positions)"));
      }
      return absl::OkStatus();
    }
  }
  if (!has_t || !has_d) {
    return absl::DataLossError(absl::StrCat("redis stream ", key, " entry ",
                                            Str(entry->element[0]),
                                            ": missing or bad field t or d"));
  }
  f.vehicle_id = std::string(id);
  out->push_back(std::move(f));
  return absl::OkStatus();
}

// Redis error replies that go away by themselves (retry later) are UNAVAILABLE.
absl::Status ErrorReply(absl::string_view where, absl::string_view msg) {
  std::string text = absl::StrCat("redis ", where, ": ", msg);
  for (absl::string_view transient :
       {"LOADING", "BUSY", "OOM", "MISCONF", "READONLY", "MASTERDOWN", "TRYAGAIN", "NOREPLICAS"}) {
    if (absl::StartsWith(msg, transient)) return absl::UnavailableError(text);
  }
  return absl::InternalError(text);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Connection

void RedisStore::ReplyDeleter::operator()(redisReply* r) const {
  if (r != nullptr) freeReplyObject(r);
}

RedisStore::RedisStore(RedisAddress address, StoreOptions options)
    : address_(std::move(address)),
      options_(std::move(options)),
      pipeline_(std::make_unique<RedisPipeline>()) {}

RedisStore::~RedisStore() {
  if (ctx_ != nullptr) redisFree(ctx_);
}

std::string RedisStore::Describe() const {
  return absl::StrCat("redis ", address_.ToString(), " prefix \"", options_.key_prefix, "\"");
}

absl::Status RedisStore::IoErrorLocked(absl::string_view what) {
  std::string msg = absl::StrCat("redis ", address_.ToString(), ": ", what);
  if (ctx_ != nullptr) {
    if (ctx_->err != 0) absl::StrAppend(&msg, ": ", ctx_->errstr);
    redisFree(ctx_);
    ctx_ = nullptr;
  }
  last_error_ = msg;
  return absl::UnavailableError(msg);
}

absl::Status RedisStore::EnsureConnectedLocked() {
  if (ctx_ != nullptr) return absl::OkStatus();
  known_vehicles_.clear();
  veh_keys_.clear();
  pos_keys_.clear();
  ctx_ = address_.unix_path.empty()
             ? redisConnectWithTimeout(address_.host.c_str(), address_.port,
                                       ClampedTimeval(options_.connect_timeout))
             : redisConnectUnixWithTimeout(address_.unix_path.c_str(),
                                           ClampedTimeval(options_.connect_timeout));
  if (ctx_ == nullptr) return IoErrorLocked("cannot allocate a connection");
  if (ctx_->err != 0) return IoErrorLocked("connect");
  {
    // With nothing listening on a port inside the ephemeral range, Linux can connect a socket
    // to itself (TCP simultaneous open); our own commands would then read back as replies.
    sockaddr_storage local{}, peer{};
    socklen_t ll = sizeof(local), pl = sizeof(peer);
    if (getsockname(ctx_->fd, reinterpret_cast<sockaddr*>(&local), &ll) == 0 &&
        getpeername(ctx_->fd, reinterpret_cast<sockaddr*>(&peer), &pl) == 0 && ll == pl &&
        std::memcmp(&local, &peer, ll) == 0) {
      redisFree(ctx_);
      ctx_ = nullptr;
      last_error_ = absl::StrCat("redis ", address_.host, ":", address_.port,
                                 ": connect: Connection refused (no server)");
      return absl::UnavailableError(last_error_);
    }
  }
  if (redisSetTimeout(ctx_, ClampedTimeval(options_.command_timeout)) != REDIS_OK) {
    return IoErrorLocked("set timeout");
  }
  if (address_.unix_path.empty()) redisEnableKeepAlive(ctx_);
  if (!address_.password.empty()) {
    auto* r = static_cast<redisReply*>(
        address_.user.empty()
            ? redisCommand(ctx_, "AUTH %s", address_.password.c_str())
            : redisCommand(ctx_, "AUTH %s %s", address_.user.c_str(), address_.password.c_str()));
    if (r == nullptr) return IoErrorLocked("AUTH");
    Reply reply(r);
    if (r->type == REDIS_REPLY_ERROR) {  // the reply never holds the password
      absl::Status s = ErrorReply(absl::StrCat("AUTH", address_.user.empty() ? "" : " as ",
                                               address_.user),
                                  Str(r));
      redisFree(ctx_);
      ctx_ = nullptr;
      last_error_ = std::string(s.message());
      return s;
    }
  }
  {
    // A server still loading its AOF/RDB answers -LOADING to some commands of a pipeline and
    // executes the rest once loaded: wait until it answers PING before sending writes.
    auto* r = static_cast<redisReply*>(redisCommand(ctx_, "PING"));
    if (r == nullptr) return IoErrorLocked("PING");
    Reply reply(r);
    if (r->type == REDIS_REPLY_ERROR) {
      absl::Status s = ErrorReply("PING", Str(r));
      redisFree(ctx_);
      ctx_ = nullptr;
      last_error_ = std::string(s.message());
      return s;
    }
  }
  if (address_.db != 0) {
    std::string db = absl::StrCat(address_.db);
    auto* r = static_cast<redisReply*>(redisCommand(ctx_, "SELECT %s", db.c_str()));
    if (r == nullptr) return IoErrorLocked("SELECT");
    Reply reply(r);
    if (r->type == REDIS_REPLY_ERROR) {
      absl::Status s = ErrorReply(absl::StrCat("SELECT ", db), Str(r));
      redisFree(ctx_);
      ctx_ = nullptr;
      last_error_ = std::string(s.message());
      return s;
    }
  }
  switch (options_.redis_atomic_batches) {
    case StoreOptions::AtomicBatches::kAlways: atomic_batches_ = true; break;
    case StoreOptions::AtomicBatches::kNever: atomic_batches_ = false; break;
    case StoreOptions::AtomicBatches::kAuto: {
      atomic_batches_ = false;
      auto* r = static_cast<redisReply*>(redisCommand(ctx_, "CONFIG GET append*"));
      if (r == nullptr) return IoErrorLocked("CONFIG GET");
      Reply reply(r);
      bool aof = false, always = false;
      if (r->type == REDIS_REPLY_ARRAY) {  // CONFIG may be disabled: then no MULTI
        for (size_t i = 0; i + 1 < r->elements; i += 2) {
          absl::string_view k = Str(r->element[i]), v = Str(r->element[i + 1]);
          if (k == "appendonly") aof = v == "yes";
          if (k == "appendfsync") always = v == "always";
        }
      }
      atomic_batches_ = aof && always;
      break;
    }
  }
  return absl::OkStatus();
}

absl::Status RedisStore::RunLocked(RedisPipeline& p, std::vector<Reply>* replies) {
  if (p.count() == 0) return absl::OkStatus();
  SB_RETURN_IF_ERROR(EnsureConnectedLocked());
  if (redisAppendFormattedCommand(ctx_, p.buffer().data(), p.buffer().size()) != REDIS_OK) {
    return IoErrorLocked("append");
  }
  absl::Status first;
  for (int i = 0; i < p.count(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr) {
      return IoErrorLocked(absl::StrCat("reading reply ", i + 1, " of ", p.count()));
    }
    Reply r(static_cast<redisReply*>(raw));
    if (r->type == REDIS_REPLY_ERROR && first.ok()) first = ErrorReply("command", Str(r.get()));
    if (replies != nullptr) replies->push_back(std::move(r));
  }
  if (!first.ok()) last_error_ = std::string(first.message());
  return first;
}

absl::StatusOr<RedisStore::Reply> RedisStore::CommandLocked(
    std::initializer_list<absl::string_view> args) {
  RedisPipeline p;
  p.Begin(int(args.size()));
  for (absl::string_view a : args) p.Arg(a);
  std::vector<Reply> replies;
  SB_RETURN_IF_ERROR(RunLocked(p, &replies));
  return std::move(replies[0]);
}

StoreHealth RedisStore::Health() {
  MutexLock l(mu_);
  auto r = CommandLocked({"PING"});
  if (!r.ok()) return {false, std::string(r.status().message())};
  return {};
}

// ---------------------------------------------------------------------------------------------
// Writes

uint64_t RedisStore::PosKeyState::EntriesForNewest(uint64_t cap) const {
  // The newest checkpoint with at least `cap` fixes after it.
  for (int i = 1; i <= num_checkpoints; ++i) {
    const Checkpoint& c = checkpoints[(next_checkpoint - i + kCheckpoints) % kCheckpoints];
    if (fixes - c.fixes >= cap) return entries - c.entries;
  }
  // The start of the connection is a checkpoint too; entries before it hold >= 1 fix each.
  // (With kCheckpoints trims of >= cap/10 fixes each, the ring always reaches back far
  // enough once it has wrapped.)
  return fixes >= cap ? entries : entries + (cap - fixes);
}

namespace {

// Bus condition changes (the key layout is in deploy/REDIS_KEYS.md): an alarm event is a member
// of the vehicle's sorted set cond:<vehicle> scored by time (older than the retention trimmed
// as events arrive: they are rare); a driving day a field of the hash drive:<vehicle>. Returns
// false for other changes.
bool AddCondition(const StoreChange& c, absl::string_view prefix, int64_t retention_s,
                  RedisPipeline& p, absl::Status* invalid) {
  if (const auto* e = std::get_if<ConditionEvent>(&c)) {
    if (e->vehicle_id.empty()) {
      *invalid = absl::InvalidArgumentError("alarm event: empty vehicle_id");
      return true;
    }
    p.Begin(4);
    p.Arg("ZADD");
    p.Key(prefix, "cond:", e->vehicle_id);
    p.Num(e->time_s);
    p.Arg(store_codec::EncodeConditionEvent(*e));
    if (retention_s > 0) {
      p.Begin(4);
      p.Arg("ZREMRANGEBYSCORE");
      p.Key(prefix, "cond:", e->vehicle_id);
      p.Arg("-inf");
      p.Num(e->time_s - retention_s - 1);
      p.Begin(3);
      p.Arg("EXPIRE");
      p.Key(prefix, "cond:", e->vehicle_id);
      p.Num(retention_s);
    }
    return true;
  }
  if (const auto* d = std::get_if<DrivingDay>(&c)) {
    if (d->vehicle_id.empty()) {
      *invalid = absl::InvalidArgumentError("driving day: empty vehicle_id");
      return true;
    }
    p.Begin(4);
    p.Arg("HSET");
    p.Key(prefix, "drive:", d->vehicle_id);
    p.Num(d->day);
    p.Num(d->driving_s);
    return true;
  }
  return false;
}

}  // namespace

// What ApplyLocked gathers from one batch while planning it (the fix groups are members,
// reused from batch to batch).
struct RedisStore::BatchPlan {
  int64_t now_s = 0;
  absl::Status invalid;  // the batch's last invalid change (the valid ones are written)
  std::string scratch;
  // Latest state per vehicle: only the last record of each vehicle in the batch is written.
  absl::flat_hash_map<absl::string_view, const VehicleRecord*> last_state;
  std::vector<absl::string_view> new_vehicles;
  // Visit indices touched, with the newest arrival written to them (for retention).
  double newest_visit_s = -1e300;
  std::vector<std::string> visit_keys;  // due for a retention trim
  // Visits of the batch, and the sorted sets they go to: one ZADD per set per batch (the
  // global set gets every visit of the batch in one command).
  std::vector<std::string> visit_members;
  std::vector<double> visit_scores;
  struct ZSet {
    std::string key;
    std::vector<uint32_t> visits;
  };
  std::vector<ZSet> zsets;
  absl::flat_hash_map<std::string, uint32_t> zset_of;
};

absl::Status RedisStore::ApplyLocked(absl::Span<const StoreChange> changes) {
  if (changes.empty()) return absl::OkStatus();
  // Connect first: connecting resets the per-connection bookkeeping below and decides
  // atomic_batches_, both of which this batch uses.
  SB_RETURN_IF_ERROR(EnsureConnectedLocked());
  RedisPipeline& p = *pipeline_;
  p.Clear();
  const bool atomic = atomic_batches_;
  if (atomic) {
    p.Begin(1);
    p.Arg("MULTI");
  }
  BatchPlan b;
  b.now_s = NowUnixS();
  PlanBatchLocked(changes, &b);
  EncodeVisitsLocked(b);
  EncodePositionsLocked(&b);
  EncodeVehiclesLocked(&b);
  EncodeVisitTrimsLocked(b);
  if (atomic && p.count() == 1) return b.invalid;  // nothing but MULTI
  const absl::Status st = atomic ? RunTransactionLocked(p) : RunLocked(p, nullptr);
  if (!st.ok()) {
    // The TTL refresh, trim and vehicle-set bookkeeping above may not have reached Redis.
    veh_keys_.clear();
    pos_keys_.clear();
    for (const std::string& key : b.visit_keys) visit_trim_s_[key] = 0;
    return st;
  }
  for (absl::string_view id : b.new_vehicles) known_vehicles_.emplace(id);
  return b.invalid;
}

// Sorts the batch's changes: vehicle states (the last per vehicle), fixes (grouped per
// vehicle), visits (per sorted set); conditions and models are encoded right away, in order.
void RedisStore::PlanBatchLocked(absl::Span<const StoreChange> changes, BatchPlan* b) {
  RedisPipeline& p = *pipeline_;
  const absl::string_view prefix = options_.key_prefix;
  group_of_.clear();
  groups_.clear();
  batch_fixes_.clear();
  batch_next_.clear();
  for (const StoreChange& c : changes) {
    if (const auto* v = std::get_if<VehicleRecord>(&c)) {
      if (v->state.vehicle_id.empty()) {
        b->invalid = absl::InvalidArgumentError("PutVehicle: empty vehicle_id");
        continue;
      }
      b->last_state[v->state.vehicle_id] = v;
    } else if (const auto* f = std::get_if<Fix>(&c)) {
      if (f->vehicle_id.empty()) {
        b->invalid = absl::InvalidArgumentError("AppendPosition: empty vehicle_id");
        continue;
      }
      if (options_.positions_cap == 0) continue;
      GroupFixLocked(*f);
    } else if (const auto* sv = std::get_if<StopVisitRecord>(&c)) {
      if (sv->visit.vehicle_id.empty()) {
        b->invalid = absl::InvalidArgumentError("AppendStopVisit: empty vehicle_id");
        continue;
      }
      PlanVisitLocked(*sv, b);
    } else if (AddCondition(c, prefix, options_.visits_retention_s, p, &b->invalid)) {
      continue;
    } else if (const auto* m = std::get_if<ModelBlob>(&c)) {
      if (m->name.empty()) {
        b->invalid = absl::InvalidArgumentError("PutModel: empty model name");
        continue;
      }
      p.Begin(3);
      p.Arg("SET");
      p.Key(prefix, "model:", m->name);
      p.Arg(m->bytes);
    }
  }
}

// Adds a fix to its vehicle's group (in batch order); the groups are written after planning.
void RedisStore::GroupFixLocked(const Fix& f) {
  const uint32_t index = uint32_t(batch_fixes_.size());
  batch_fixes_.push_back(&f);
  batch_next_.push_back(0);
  auto [it, inserted] = group_of_.try_emplace(f.vehicle_id, uint32_t(groups_.size()));
  if (inserted) {
    groups_.push_back({&f, index, index, 1});
  } else {
    FixGroup& g = groups_[it->second];
    batch_next_[g.tail] = index;
    g.tail = index;
    ++g.count;
  }
}

// Encodes a visit and adds it to its sorted sets: all visits, its stop's, its route's.
void RedisStore::PlanVisitLocked(const StopVisitRecord& sv, BatchPlan* b) {
  const uint32_t vi = uint32_t(b->visit_members.size());
  b->visit_members.push_back(store_codec::EncodeStopVisit(sv));
  b->visit_scores.push_back(sv.visit.arrival_s);
  b->newest_visit_s = std::max(b->newest_visit_s, sv.visit.arrival_s);
  const absl::string_view prefix = options_.key_prefix;
  std::string& key = b->scratch;
  auto zadd = [&](absl::string_view kind,
                  absl::string_view id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    key.assign(prefix.data(), prefix.size());
    key.append(kind.data(), kind.size());
    key.append(id.data(), id.size());
    auto [g, new_key] = b->zset_of.try_emplace(key, uint32_t(b->zsets.size()));
    if (new_key) b->zsets.push_back({key, {}});
    b->zsets[g->second].visits.push_back(vi);
    if (options_.visits_retention_s <= 0) return;
    auto [it, inserted] = visit_trim_s_.try_emplace(key, 0);
    if (it->second != -1 && b->now_s - it->second >= options_.visits_trim_interval_s) {
      it->second = -1;  // in this batch
      b->visit_keys.push_back(key);
    }
  };
  zadd("visits", "");
  if (!sv.stop_id.empty()) zadd("visits:stop:", sv.stop_id);
  if (!sv.route_id.empty()) zadd("visits:route:", sv.route_id);
}

// One ZADD per sorted set the batch's visits go to.
void RedisStore::EncodeVisitsLocked(const BatchPlan& b) {
  RedisPipeline& p = *pipeline_;
  for (const BatchPlan::ZSet& z : b.zsets) {
    p.Begin(2 + 2 * int(z.visits.size()));
    p.Arg("ZADD");
    p.Arg(z.key);
    for (uint32_t vi : z.visits) {
      p.Num(b.visit_scores[vi]);
      p.Arg(b.visit_members[vi]);
    }
  }
}

// Positions: one stream entry per vehicle (up to max_per_entry fixes each), and the stream's
// trim and TTL refresh when due.
void RedisStore::EncodePositionsLocked(BatchPlan* b) {
  RedisPipeline& p = *pipeline_;
  const absl::string_view prefix = options_.key_prefix;
  std::string& scratch = b->scratch;
  const size_t trim_every = std::max<size_t>(1, options_.positions_cap / 10);
  const size_t max_per_entry = std::min(kMaxFixesPerEntry, trim_every);
  for (const FixGroup& g : groups_) {
    const absl::string_view id = g.first->vehicle_id;
    PosKeyState& k = pos_keys_[id];
    uint32_t i = g.head;
    for (uint32_t left = g.count; left > 0;) {
      const uint32_t n = uint32_t(std::min<size_t>(left, max_per_entry));
      if (n == 1) {
        AddPosition(p, prefix, *batch_fixes_[i], &scratch);
        i = batch_next_[i];
      } else {
        scratch.clear();
        for (uint32_t j = 0; j < n; ++j, i = batch_next_[i]) {
          if (j > 0) scratch.push_back('\n');
          store_codec::AppendPositionLine(&scratch, *batch_fixes_[i]);
        }
        AddPositions(p, prefix, id, scratch);
      }
      left -= n;
      k.entries += 1;
      k.fixes += n;
      k.since_trim += n;
    }
    if (k.since_trim >= trim_every) {
      k.since_trim = 0;
      p.Begin(5);
      p.Arg("XTRIM");
      p.Key(prefix, "pos:", id);
      p.Arg("MAXLEN");
      p.Arg("~");
      p.Num(int64_t(k.EntriesForNewest(options_.positions_cap)));
      k.checkpoints[k.next_checkpoint] = {k.entries, k.fixes};
      k.next_checkpoint = (k.next_checkpoint + 1) % PosKeyState::kCheckpoints;
      k.num_checkpoints = std::min(k.num_checkpoints + 1, PosKeyState::kCheckpoints);
    }
    if (options_.positions_ttl_s > 0 &&
        b->now_s - k.expire_s >= std::max<int64_t>(1, options_.positions_ttl_s / 4)) {
      k.expire_s = b->now_s;
      p.Begin(3);
      p.Arg("EXPIRE");
      p.Key(prefix, "pos:", id);
      p.Num(options_.positions_ttl_s);
    }
  }
}

// The vehicle hashes (only the changed fields, all of them every kFullStateEveryS), their TTL
// refresh when due, and the vehicles new to the vehicles set.
void RedisStore::EncodeVehiclesLocked(BatchPlan* b) {
  RedisPipeline& p = *pipeline_;
  const absl::string_view prefix = options_.key_prefix;
  const int64_t now_s = b->now_s;
  for (const auto& [id, rec] : b->last_state) {
    VehKeyState& k = veh_keys_[id];
    const bool full = !k.has_last || now_s - k.full_s >= VehKeyState::kFullStateEveryS;
    AddVehicle(p, prefix, *rec, full ? nullptr : &k.last);
    if (full) k.full_s = now_s;
    k.last = *rec;
    k.has_last = true;
    if (!known_vehicles_.contains(id)) b->new_vehicles.push_back(id);
    if (options_.vehicle_ttl_s > 0) {
      if (now_s - k.expire_s >= std::max<int64_t>(1, options_.vehicle_ttl_s / 4)) {
        k.expire_s = now_s;
        p.Begin(3);
        p.Arg("EXPIRE");
        p.Key(prefix, "veh:", id);
        p.Num(options_.vehicle_ttl_s);
      }
    }
  }
  if (!b->new_vehicles.empty()) {
    p.Begin(2 + int(b->new_vehicles.size()));
    p.Arg("SADD");
    p.Key(prefix, "vehicles");
    for (absl::string_view id : b->new_vehicles) p.Arg(id);
  }
}

// Retention: the visit sets due for a trim lose what is older than the batch's newest visit
// minus visits_retention_s.
void RedisStore::EncodeVisitTrimsLocked(const BatchPlan& b) {
  if (options_.visits_retention_s <= 0) return;
  RedisPipeline& p = *pipeline_;
  const double cutoff = b.newest_visit_s - double(options_.visits_retention_s);
  std::string max = "(";
  AppendNumber(&max, cutoff);
  for (const std::string& key : b.visit_keys) {
    p.Begin(4);
    p.Arg("ZREMRANGEBYSCORE");
    p.Arg(key);
    p.Arg("-inf");
    p.Arg(max);
    visit_trim_s_[key] = b.now_s;
  }
}

// Closes the MULTI of `p` with EXEC and runs it; an aborted transaction or an error reply of
// any command fails it.
absl::Status RedisStore::RunTransactionLocked(RedisPipeline& p) {
  p.Begin(1);
  p.Arg("EXEC");
  std::vector<Reply> replies;
  replies.reserve(p.count());
  SB_RETURN_IF_ERROR(RunLocked(p, &replies));
  absl::Status st;
  const redisReply* exec = replies.back().get();
  if (exec->type != REDIS_REPLY_ARRAY) {
    st = absl::UnavailableError(absl::StrCat("redis ", address_.ToString(), ": transaction of ",
                                             p.count() - 2, " commands was aborted"));
  } else {
    for (size_t i = 0; i < exec->elements; ++i) {
      if (exec->element[i]->type == REDIS_REPLY_ERROR) {
        st = ErrorReply("command in batch", Str(exec->element[i]));
        break;
      }
    }
  }
  if (!st.ok()) last_error_ = std::string(st.message());
  return st;
}

absl::Status RedisStore::Apply(absl::Span<const StoreChange> changes) {
  MutexLock l(mu_);
  return ApplyLocked(changes);
}

absl::Status RedisStore::PutVehicle(const VehicleRecord& v) {
  StoreChange c = v;
  return Apply(absl::MakeConstSpan(&c, 1));
}

absl::Status RedisStore::AppendPosition(const Fix& fix) {
  StoreChange c = fix;
  return Apply(absl::MakeConstSpan(&c, 1));
}

absl::Status RedisStore::AppendStopVisit(const StopVisitRecord& v) {
  StoreChange c = v;
  return Apply(absl::MakeConstSpan(&c, 1));
}

absl::Status RedisStore::PutModel(absl::string_view name, absl::string_view bytes) {
  StoreChange c = ModelBlob{std::string(name), std::string(bytes)};
  return Apply(absl::MakeConstSpan(&c, 1));
}

// ---------------------------------------------------------------------------------------------
// Reads

absl::StatusOr<VehicleRecord> RedisStore::GetVehicle(absl::string_view vehicle_id) {
  MutexLock l(mu_);
  std::string key = absl::StrCat(options_.key_prefix, "veh:", vehicle_id);
  SB_ASSIGN_OR_RETURN(Reply r, CommandLocked({"HGETALL", key}));
  if (r->type == REDIS_REPLY_ARRAY && r->elements == 0) {
    return absl::NotFoundError(absl::StrCat("no stored state for vehicle \"", vehicle_id, "\""));
  }
  return DecodeVehicle(key, vehicle_id, r.get());
}

absl::StatusOr<std::vector<std::string>> RedisStore::ListPositionVehicles() {
  MutexLock l(mu_);
  const std::string prefix = absl::StrCat(options_.key_prefix, "pos:");
  const std::string match = absl::StrCat(prefix, "*");  // ids with * ? [ match themselves too
  std::vector<std::string> ids;
  std::string cursor = "0";
  do {
    SB_ASSIGN_OR_RETURN(Reply r, CommandLocked({"SCAN", cursor, "MATCH", match, "COUNT", "1000",
                                                "TYPE", "stream"}));
    const redisReply* rep = r.get();
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 || !IsStr(rep->element[0]) ||
        rep->element[1]->type != REDIS_REPLY_ARRAY)
      return absl::DataLossError("SCAN: unexpected reply");
    cursor = std::string(Str(rep->element[0]));
    const redisReply* keys = rep->element[1];
    for (size_t i = 0; i < keys->elements; ++i) {
      absl::string_view k = Str(keys->element[i]);
      if (absl::StartsWith(k, prefix)) ids.emplace_back(k.substr(prefix.size()));
    }
  } while (cursor != "0");
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

absl::StatusOr<std::vector<VehicleRecord>> RedisStore::ListVehicles() {
  MutexLock l(mu_);
  const std::string set_key = absl::StrCat(options_.key_prefix, "vehicles");
  SB_ASSIGN_OR_RETURN(Reply members, CommandLocked({"SMEMBERS", set_key}));
  std::vector<std::string> ids;
  for (size_t i = 0; i < members->elements; ++i) {
    ids.emplace_back(Str(members->element[i]));
  }
  std::sort(ids.begin(), ids.end());
  std::vector<VehicleRecord> out;
  out.reserve(ids.size());
  std::vector<std::string> gone;
  constexpr size_t kChunk = 512;
  for (size_t start = 0; start < ids.size(); start += kChunk) {
    const size_t end = std::min(ids.size(), start + kChunk);
    RedisPipeline p;
    for (size_t i = start; i < end; ++i) {
      p.Begin(2);
      p.Arg("HGETALL");
      p.Key(options_.key_prefix, "veh:", ids[i]);
    }
    std::vector<Reply> replies;
    SB_RETURN_IF_ERROR(RunLocked(p, &replies));
    for (size_t i = start; i < end; ++i) {
      const redisReply* r = replies[i - start].get();
      if (r->type == REDIS_REPLY_ARRAY && r->elements == 0) {
        gone.push_back(ids[i]);  // expired
        continue;
      }
      SB_ASSIGN_OR_RETURN(VehicleRecord v, DecodeVehicle(absl::StrCat(options_.key_prefix,
                                                                       "veh:", ids[i]),
                                                          ids[i], r));
      out.push_back(std::move(v));
    }
  }
  if (!gone.empty()) {
    RedisPipeline p;
    p.Begin(2 + int(gone.size()));
    p.Arg("SREM");
    p.Arg(set_key);
    for (const std::string& id : gone) p.Arg(id);
    SB_RETURN_IF_ERROR(RunLocked(p, nullptr));
    for (const std::string& id : gone) {
      known_vehicles_.erase(id);
      veh_keys_.erase(id);  // its hash expired: the next write sends every field
    }
  }
  return out;
}

absl::StatusOr<std::vector<Fix>> RedisStore::ReadPositions(absl::string_view vehicle_id,
                                                           int64_t since_s) {
  MutexLock l(mu_);
  std::vector<Fix> out;
  if (options_.positions_cap == 0) return out;
  const std::string key = absl::StrCat(options_.key_prefix, "pos:", vehicle_id);
  // The newest `cap` distinct fixes are in the newest `cap` entries (an entry holds >= 1 fix)
  // unless a retried batch appended some twice (a write that timed out after Redis ran it is
  // sent again): then read further back, a page of `cap` entries at a time, until `cap`
  // distinct timestamps are in hand or the stream ends.
  const size_t cap = options_.positions_cap;
  const std::string count = absl::StrCat(cap);
  std::vector<Fix> entry;
  std::vector<Fix> newest_first;                 // one per timestamp, newest appended first
  absl::flat_hash_map<int64_t, size_t> slot_of;  // timestamp -> its index in newest_first
  std::string end = "+";
  while (newest_first.size() < cap) {
    auto r = CommandLocked({"XREVRANGE", key, end, "-", "COUNT", count});
    if (!r.ok()) return r.status();
    const redisReply* arr = r->get();
    if (arr->type != REDIS_REPLY_ARRAY) {
      return absl::DataLossError(absl::StrCat("redis key ", key, ": not a stream"));
    }
    // Entries newest first; each entry's fixes in append order.
    for (size_t i = 0; i < arr->elements && newest_first.size() < cap; ++i) {
      entry.clear();
      absl::Status st = DecodePositions(key, vehicle_id, arr->element[i], &entry);
      if (!st.ok()) return st;
      for (size_t j = entry.size(); j-- > 0 && newest_first.size() < cap;) {
        auto [it, fresh] = slot_of.try_emplace(entry[j].timestamp_s, newest_first.size());
        if (fresh) {
          newest_first.push_back(std::move(entry[j]));
        } else {
          newest_first[it->second] = std::move(entry[j]);  // the first appended wins
        }
      }
    }
    if (arr->elements < cap) break;  // the stream's oldest entry was read
    end = absl::StrCat("(", Str(arr->element[arr->elements - 1]->element[0]));
  }
  out.reserve(newest_first.size());
  for (size_t i = newest_first.size(); i-- > 0;) {
    if (newest_first[i].timestamp_s < since_s) continue;
    out.push_back(std::move(newest_first[i]));
  }
  store_codec::SortAndDedupePositions(&out);
  return out;
}

absl::StatusOr<std::vector<ConditionEvent>> RedisStore::ReadConditionEvents(
    absl::string_view vehicle_id, int64_t from_s, int64_t to_s) {
  MutexLock l(mu_);
  const std::string key = absl::StrCat(options_.key_prefix, "cond:", vehicle_id);
  RedisPipeline p;
  p.Begin(4);
  p.Arg("ZRANGEBYSCORE");
  p.Arg(key);
  p.Num(from_s);
  p.Num(to_s);
  std::vector<Reply> replies;
  SB_RETURN_IF_ERROR(RunLocked(p, &replies));
  const redisReply* arr = replies[0].get();
  if (arr->type != REDIS_REPLY_ARRAY)
    return absl::DataLossError(absl::StrCat("redis key ", key, ": not a sorted set"));
  std::vector<ConditionEvent> out;
  for (size_t i = 0; i < arr->elements; ++i) {
    if (!IsStr(arr->element[i])) continue;
    auto e = store_codec::DecodeConditionEvent(Str(arr->element[i]), vehicle_id);
    if (!e.ok()) return absl::DataLossError(absl::StrCat("redis key ", key, ": ", e.status().message()));
    out.push_back(*std::move(e));
  }
  return out;
}

absl::StatusOr<std::vector<DrivingDay>> RedisStore::ReadDrivingDays(absl::string_view vehicle_id) {
  MutexLock l(mu_);
  const std::string key = absl::StrCat(options_.key_prefix, "drive:", vehicle_id);
  RedisPipeline p;
  p.Begin(2);
  p.Arg("HGETALL");
  p.Arg(key);
  std::vector<Reply> replies;
  SB_RETURN_IF_ERROR(RunLocked(p, &replies));
  const redisReply* arr = replies[0].get();
  if (arr->type != REDIS_REPLY_ARRAY)
    return absl::DataLossError(absl::StrCat("redis key ", key, ": not a hash"));
  std::vector<DrivingDay> out;
  for (size_t i = 0; i + 1 < arr->elements; i += 2) {
    DrivingDay d{std::string(vehicle_id), 0, 0};
    if (!IsStr(arr->element[i]) || !IsStr(arr->element[i + 1]) ||
        !ParseNumber(Str(arr->element[i]), &d.day) ||
        !ParseNumber(Str(arr->element[i + 1]), &d.driving_s))
      return absl::DataLossError(absl::StrCat("redis key ", key, ": field ", i / 2,
                                              " is not day -> seconds"));
    out.push_back(d);
  }
  std::sort(out.begin(), out.end(),
            [](const DrivingDay& a, const DrivingDay& b) { return a.day < b.day; });
  return out;
}

absl::StatusOr<std::vector<StopVisitRecord>> RedisStore::ReadStopVisits(
    const StopVisitQuery& q) {
  MutexLock l(mu_);
  const absl::string_view prefix = options_.key_prefix;
  std::string key = !q.stop_id.empty()    ? absl::StrCat(prefix, "visits:stop:", q.stop_id)
                    : !q.route_id.empty() ? absl::StrCat(prefix, "visits:route:", q.route_id)
                                          : absl::StrCat(prefix, "visits");
  RedisPipeline p;
  std::string from, to;
  AppendNumber(&from, q.from_s);
  AppendNumber(&to, q.to_s);
  p.Begin(4);
  p.Arg("ZRANGEBYSCORE");
  p.Arg(key);
  p.Arg(from);
  p.Arg(to);
  p.Begin(5);
  p.Arg("ZREVRANGE");
  p.Key(prefix, "visits");
  p.Arg("0");
  p.Arg("0");
  p.Arg("WITHSCORES");
  std::vector<Reply> replies;
  SB_RETURN_IF_ERROR(RunLocked(p, &replies));
  double cutoff = -1e300;
  const redisReply* newest = replies[1].get();
  if (options_.visits_retention_s > 0 && newest->type == REDIS_REPLY_ARRAY &&
      newest->elements == 2) {
    double n = 0;
    if (ParseNumber(Str(newest->element[1]), &n)) cutoff = n - double(options_.visits_retention_s);
  }
  const redisReply* arr = replies[0].get();
  std::vector<StopVisitRecord> out;
  if (arr->type != REDIS_REPLY_ARRAY) {
    return absl::DataLossError(absl::StrCat("redis key ", key, ": not a sorted set"));
  }
  for (size_t i = 0; i < arr->elements; ++i) {
    if (!IsStr(arr->element[i])) continue;
    auto v = store_codec::DecodeStopVisit(Str(arr->element[i]));
    if (!v.ok()) {
      return absl::DataLossError(absl::StrCat("redis key ", key, ": ", v.status().message()));
    }
    if (v->visit.arrival_s < cutoff) continue;
    if (!store_codec::StopVisitMatches(*v, q)) continue;
    out.push_back(*std::move(v));
  }
  std::sort(out.begin(), out.end(), store_codec::StopVisitLess);
  if (out.size() > q.limit) out.resize(q.limit);
  return out;
}

absl::StatusOr<std::string> RedisStore::GetModel(absl::string_view name) {
  MutexLock l(mu_);
  SB_ASSIGN_OR_RETURN(Reply r,
                      CommandLocked({"GET", absl::StrCat(options_.key_prefix, "model:", name)}));
  if (r->type == REDIS_REPLY_NIL) {
    return absl::NotFoundError(absl::StrCat("no stored model named \"", name, "\""));
  }
  if (!IsStr(r.get())) {
    return absl::DataLossError(absl::StrCat("redis key ", options_.key_prefix, "model:", name,
                                            ": not a string"));
  }
  return std::string(Str(r.get()));
}

absl::Status RedisStore::PutLearnedPath(const LearnedPath& path) {
  if (path.key.empty()) return absl::InvalidArgumentError("PutLearnedPath: empty key");
  MutexLock l(mu_);
  const std::string value = store_codec::EncodeLearnedPath(path);
  SB_RETURN_IF_ERROR(
      CommandLocked({"SET", absl::StrCat(options_.key_prefix, "path:", path.key), value}).status());
  auto a = CommandLocked({"SADD", absl::StrCat(options_.key_prefix, "paths"), path.key});
  return a.ok() ? absl::OkStatus() : a.status();
}

absl::StatusOr<std::vector<LearnedPath>> RedisStore::ListLearnedPaths() {
  MutexLock l(mu_);
  SB_ASSIGN_OR_RETURN(Reply members,
                      CommandLocked({"SMEMBERS", absl::StrCat(options_.key_prefix, "paths")}));
  std::vector<std::string> keys;
  for (size_t i = 0; i < members->elements; ++i) keys.emplace_back(Str(members->element[i]));
  std::sort(keys.begin(), keys.end());
  std::vector<LearnedPath> out;
  for (const std::string& k : keys) {
    const std::string key = absl::StrCat(options_.key_prefix, "path:", k);
    SB_ASSIGN_OR_RETURN(Reply r, CommandLocked({"GET", key}));
    if (r->type == REDIS_REPLY_NIL) continue;  // deleted by hand: the index is stale
    if (!IsStr(r.get())) return absl::DataLossError(absl::StrCat("redis key ", key, ": not a string"));
    SB_ASSIGN_OR_RETURN(LearnedPath p, store_codec::DecodeLearnedPath(
                                           Str(r.get()), absl::StrCat("redis key ", key)));
    out.push_back(std::move(p));
  }
  return out;
}

absl::Status RedisStore::DeleteAllKeys() {
  MutexLock l(mu_);
  const std::string pattern = absl::StrCat(options_.key_prefix, "*");
  std::string cursor = "0";
  do {
    SB_ASSIGN_OR_RETURN(Reply r,
                        CommandLocked({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"}));
    const redisReply* arr = r.get();
    if (arr->type != REDIS_REPLY_ARRAY || arr->elements != 2) {
      return absl::InternalError("redis SCAN: unexpected reply");
    }
    cursor = std::string(Str(arr->element[0]));
    const redisReply* keys = arr->element[1];
    if (keys->elements > 0) {
      RedisPipeline p;
      p.Begin(1 + int(keys->elements));
      p.Arg("UNLINK");
      for (size_t i = 0; i < keys->elements; ++i) p.Arg(Str(keys->element[i]));
      SB_RETURN_IF_ERROR(RunLocked(p, nullptr));
    }
  } while (cursor != "0");
  known_vehicles_.clear();
  veh_keys_.clear();
  pos_keys_.clear();
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Service changes: two hashes, "<prefix>trip_changes" and "<prefix>alerts", field = the
// record's key (TripChange::Key / Alert::Key), value = its encoding (codec.h).

absl::Status RedisStore::ApplyServiceChanges(const ServiceChangeDiff& diff) {
  if (diff.empty()) return absl::OkStatus();
  const std::string trips_key = absl::StrCat(options_.key_prefix, "trip_changes");
  const std::string alerts_key = absl::StrCat(options_.key_prefix, "alerts");
  RedisPipeline p;
  for (const TripChange& t : diff.put_trips) {
    p.Begin(4);
    p.Arg("HSET");
    p.Arg(trips_key);
    p.Arg(t.Key());
    p.Arg(store_codec::EncodeTripChange(t));
  }
  for (const Alert& a : diff.put_alerts) {
    p.Begin(4);
    p.Arg("HSET");
    p.Arg(alerts_key);
    p.Arg(a.Key());
    p.Arg(store_codec::EncodeAlert(a));
  }
  for (const auto& [key, fields] : {std::pair{&trips_key, &diff.delete_trips},
                                    std::pair{&alerts_key, &diff.delete_alerts}}) {
    if (fields->empty()) continue;
    p.Begin(2 + int(fields->size()));
    p.Arg("HDEL");
    p.Arg(*key);
    for (const std::string& f : *fields) p.Arg(f);
  }
  MutexLock l(mu_);
  return RunLocked(p, nullptr);
}

absl::StatusOr<StoredServiceChanges> RedisStore::ListServiceChanges() {
  StoredServiceChanges out;
  MutexLock l(mu_);
  for (const char* kind : {"trip_changes", "alerts"}) {
    const std::string key = absl::StrCat(options_.key_prefix, kind);
    SB_ASSIGN_OR_RETURN(Reply r, CommandLocked({"HGETALL", key}));
    const redisReply* arr = r.get();
    if (arr->type != REDIS_REPLY_ARRAY)
      return absl::DataLossError(absl::StrCat("redis key ", key, ": not a hash"));
    for (size_t i = 0; i + 1 < arr->elements; i += 2) {
      const absl::string_view field = Str(arr->element[i]);
      const absl::string_view value = Str(arr->element[i + 1]);
      absl::Status bad;
      if (kind[0] == 't') {
        auto t = store_codec::DecodeTripChange(value);
        if (t.ok()) out.trips.push_back(*std::move(t)); else bad = t.status();
      } else {
        auto a = store_codec::DecodeAlert(value);
        if (a.ok()) out.alerts.push_back(*std::move(a)); else bad = a.status();
      }
      if (!bad.ok())
        out.undecodable.push_back(absl::StrCat("redis ", key, " field \"", field, "\": ",
                                               bad.message()));
    }
  }
  std::sort(out.trips.begin(), out.trips.end(),
            [](const TripChange& a, const TripChange& b) { return a.Key() < b.Key(); });
  std::sort(out.alerts.begin(), out.alerts.end(),
            [](const Alert& a, const Alert& b) { return a.Key() < b.Key(); });
  return out;
}

}  // namespace smartbus

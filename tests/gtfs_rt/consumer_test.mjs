// A real GTFS-Realtime consumer reads smartbusd's feeds: the npm `gtfs-realtime-bindings` package
// (MobilityData's JavaScript bindings) decodes /gtfs-rt/trip-updates, /gtfs-rt/vehicle-positions
// and /gtfs-rt/alerts while a recorded day is pushed into smartbusd, and checks the GTFS-Realtime
// best practices; the TripUpdates are compared with `smartbus replay --predictions` at the same
// instants (each bus's newest predictions made at or before the instant).
//
//   node tests/gtfs_rt/consumer_test.mjs --build BUILD --case demo|wmata [--instants N]
//
// demo:  the demo city, a simulated weekday 06:30-08:30 (seed 7), data/demo-city (always runs).
// wmata: the WMATA day of ../shared/data/wmata-2026-02-16 (exit 77 = skipped when absent).
// Exit 0 on success, 1 on a failed check (each failure printed), 77 when skipped.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const SKIP = 77;

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
}
const build = path.resolve(arg('build', path.join(root, 'build')));
const kase = arg('case', 'demo');
const instants = Number(arg('instants', '6'));
const shared = process.env.SMARTBUS_SHARED_DATA || path.join(root, '../shared/data');

let bindings;
try {
  bindings = require(path.join(root, 'node_modules/gtfs-realtime-bindings'));
} catch (e) {
  console.log('SKIP: npm package gtfs-realtime-bindings not installed (run deploy/install-deps.sh)');
  process.exit(SKIP);
}
const { FeedMessage, FeedHeader, TripUpdate } = bindings.transit_realtime;

const smartbusd = path.join(build, 'services/server/smartbusd');
const smartbus = path.join(build, 'services/cli/smartbus');
for (const b of [smartbusd, smartbus])
  if (!fs.existsSync(b)) { console.log(`FAIL: ${b} not built`); process.exit(1); }

const failures = [];
function check(ok, what) {
  if (!ok) failures.push(what);
  return ok;
}
const num = (v) => (v === null || v === undefined ? 0 : Number(v));  // Long -> number

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${path.basename(cmd)} ${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
  return r.stdout;
}

// CSV with a header -> {header, rows (arrays of strings)}.
function readCsv(file) {
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.length);
  return { header: lines[0].split(','), rows: lines.slice(1).map((l) => l.split(',')) };
}

function startServer(gtfs, tmp) {
  return new Promise((resolve, reject) => {
    const p = spawn(smartbusd, [`--gtfs=${gtfs}`, '--listen=127.0.0.1:0', '--http_listen=127.0.0.1:0',
      '--clock=fixes', '--shards=1', '--gtfs_rt_refresh_s=0'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    let http = 0, grpc = 0;
    p.stderr.on('data', (d) => {
      log += d;
      const h = log.match(/HTTP on \S+ \(port (\d+)\)/);
      const g = log.match(/serving on \S+ \(port (\d+)[,)]/);
      if (h) http = Number(h[1]);
      if (g) grpc = Number(g[1]);
      if (http && grpc) resolve({ proc: p, http, grpc, log: () => log });
    });
    p.on('exit', (code) => reject(new Error(`smartbusd exited ${code}:\n${log}`)));
    // unref: a pending timer keeps node alive, and this one would hold the finished test for the
    // rest of its 60 s (it did: 55 s of each run's 60 were this wait).
    setTimeout(() => reject(new Error(`smartbusd did not start:\n${log}`)), 60000).unref();
  });
}

async function fetchFeed(port, name, headers = {}) {
  const r = await fetch(`http://127.0.0.1:${port}/gtfs-rt/${name}`, { headers });
  const body = Buffer.from(await r.arrayBuffer());
  return { status: r.status, headers: r.headers, feed: r.status === 200 ? FeedMessage.decode(body) : null };
}

// Best-practice checks of one set of feeds; returns the TripUpdates by entity id.
function checkFeeds(tu, vp, al, where, prevTimestamp) {
  for (const [name, f] of [['trip-updates', tu], ['vehicle-positions', vp], ['alerts', al]]) {
    check(f.header.gtfsRealtimeVersion === '2.0', `${where} ${name}: gtfs_realtime_version ${f.header.gtfsRealtimeVersion}`);
    check(f.header.incrementality === FeedHeader.Incrementality.FULL_DATASET, `${where} ${name}: not FULL_DATASET`);
    check(num(f.header.timestamp) >= prevTimestamp, `${where} ${name}: header timestamp ${num(f.header.timestamp)} went back from ${prevTimestamp}`);
    const ids = new Set();
    for (const e of f.entity) {
      check(!ids.has(e.id), `${where} ${name}: entity id ${e.id} twice`);
      ids.add(e.id);
    }
  }
  const now = num(tu.header.timestamp);
  const perVehicle = new Map();
  let uncertain = 0, stus = 0;
  for (const e of tu.entity) {
    const u = e.tripUpdate;
    if (!check(u, `${where}: entity ${e.id} without trip_update`)) continue;
    const t = u.trip;
    check(/^\d{8}$/.test(t.startDate), `${where}: ${e.id} start_date "${t.startDate}"`);
    check(e.id === `${t.tripId}_${t.startDate}`, `${where}: entity id ${e.id} is not trip_id_start_date`);
    if (t.scheduleRelationship === 3 /* CANCELED */) continue;
    check(/^\d\d:\d\d:\d\d$/.test(t.startTime), `${where}: ${e.id} start_time "${t.startTime}"`);
    check(u.vehicle && u.vehicle.id, `${where}: ${e.id} has no vehicle descriptor`);
    check(now - num(u.timestamp) <= 90 && num(u.timestamp) <= now,
      `${where}: ${e.id} data ${now - num(u.timestamp)} s old (best practice: <= 90 s)`);
    check(u.stopTimeUpdate.length > 0, `${where}: ${e.id} has no stop_time_update`);
    let seq = -1, last = 0;
    for (const s of u.stopTimeUpdate) {
      check(s.stopSequence > seq, `${where}: ${e.id} stop_sequence ${s.stopSequence} after ${seq}`);
      seq = s.stopSequence;
      check(s.stopId, `${where}: ${e.id} stop_time_update without stop_id`);
      if (s.scheduleRelationship === TripUpdate.StopTimeUpdate.ScheduleRelationship.SKIPPED) continue;
      const a = num(s.arrival && s.arrival.time), d = num(s.departure && s.departure.time);
      check(a > 0 && d >= a && a >= last, `${where}: ${e.id} seq ${seq}: arrival ${a} departure ${d} after ${last}`);
      last = d;
      ++stus;
      if (s.arrival && s.arrival.uncertainty !== null && s.arrival.uncertainty !== undefined) ++uncertain;
    }
    const v = u.vehicle.id;
    perVehicle.set(v, (perVehicle.get(v) || 0) + 1);
  }
  check(stus === 0 || uncertain / stus > 0.99, `${where}: uncertainty on ${uncertain} of ${stus} stop time updates`);
  const continued = [...perVehicle.values()].filter((n) => n > 1).length;
  for (const e of vp.entity) {
    const v = e.vehicle;
    check(v && v.vehicle && v.vehicle.id === e.id, `${where}: vehicle entity ${e.id} without its vehicle descriptor`);
    check(v.position && Math.abs(v.position.latitude) <= 90 && Math.abs(v.position.longitude) <= 180 &&
      !(v.position.latitude === 0 && v.position.longitude === 0), `${where}: vehicle ${e.id} position`);
    check(now - num(v.timestamp) <= 90, `${where}: vehicle ${e.id} position ${now - num(v.timestamp)} s old`);
  }
  return { continued, vehicles: perVehicle.size, stus };
}

// Replay predictions: per vehicle, rows grouped by made_at (ascending).
function loadReplay(file) {
  const { header, rows } = readCsv(file);
  const c = Object.fromEntries(header.map((h, i) => [h, i]));
  const byVehicle = new Map();
  for (const r of rows) {
    const v = r[c.vehicle_id];
    if (!byVehicle.has(v)) byVehicle.set(v, []);
    byVehicle.get(v).push({ made: Number(r[c.made_at]), trip: r[c.trip_id], seq: Number(r[c.stop_sequence]),
      stop: r[c.stop_id], arr: Number(r[c.predicted_arrival]) });
  }
  return byVehicle;
}

// Compares the TripUpdates with the replay's newest predictions (made at or before `now`) of
// each bus in the feed. Returns {compared, within1s, worst}.
function compareWithReplay(tu, replay, now) {
  const feed = new Map();
  for (const e of tu.entity) {
    const u = e.tripUpdate;
    if (!u || !u.vehicle) continue;
    for (const s of u.stopTimeUpdate)
      if (s.arrival) feed.set(`${u.vehicle.id}|${u.trip.tripId}|${s.stopSequence}`, num(s.arrival.time));
  }
  let compared = 0, within = 0, worst = 0, missing = 0;
  const examples = [];
  const vehicles = new Set([...feed.keys()].map((k) => k.split('|')[0]));
  for (const v of vehicles) {
    const rows = replay.get(v) || [];
    let made = -1;
    for (const r of rows) if (r.made <= now && r.made > made) made = r.made;
    for (const r of rows) {
      if (r.made !== made) continue;
      const k = `${v}|${r.trip}|${r.seq}`;
      if (!feed.has(k)) { ++missing; continue; }
      ++compared;
      const d = Math.abs(feed.get(k) - r.arr);
      worst = Math.max(worst, d);
      if (d <= 1) ++within;
      else if (examples.length < 5) examples.push(`${k}: feed ${feed.get(k)} replay ${r.arr}`);
    }
  }
  return { compared, within, worst, missing, feedRows: feed.size, examples };
}

async function main() {
  let gtfs, positions;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sb_gtfsrt_'));
  if (kase === 'wmata') {
    const dir = path.join(shared, 'wmata-2026-02-16');
    if (!fs.existsSync(path.join(dir, 'positions.csv'))) {
      console.log(`SKIP: ${dir} not found (the shared data sets are absent)`);
      process.exit(SKIP);
    }
    gtfs = path.join(dir, 'gtfs');
    positions = path.join(dir, 'positions.csv');
  } else {
    gtfs = path.join(root, 'data/demo-city');
    positions = path.join(tmp, 'fixes.csv');
    run(smartbus, ['sim', '--gtfs', gtfs, '--date', '20261123', '--start', '06:30', '--end', '08:30',
      '--seed', '7', '--out', positions, '--quiet']);
  }
  const { header, rows } = readCsv(positions);
  const tcol = header.indexOf('timestamp');
  rows.sort((a, b) => Number(a[tcol]) - Number(b[tcol]));
  const t0 = Number(rows[0][tcol]), t1 = Number(rows[rows.length - 1][tcol]);
  // Replay the whole file once: predictions carry made_at, so every instant can be looked up.
  const predictions = path.join(tmp, 'predictions.csv');
  run(smartbus, ['replay', '--arrival-order', '--gtfs', gtfs, '--positions', positions, '--predictions', predictions]);
  const replay = loadReplay(predictions);

  const server = await startServer(gtfs, tmp);
  const summary = [];
  let prevTs = 0, lastModified = null, sent = 0;
  let compared = 0, within = 0, worst = 0, continued = 0;
  try {
    for (let k = 1; k <= instants; ++k) {
      // The instants: evenly spread over the second half of the day (the first half warms up).
      const until = Math.round(t0 + (t1 - t0) * (0.5 + 0.5 * k / instants));
      let end = sent;
      while (end < rows.length && Number(rows[end][tcol]) <= until) ++end;
      const chunk = path.join(tmp, `chunk${k}.csv`);
      fs.writeFileSync(chunk, [header.join(','), ...rows.slice(sent, end).map((r) => r.join(','))].join('\n') + '\n');
      sent = end;
      // One ordered stream, one request in flight: the server sees the fixes in the replay's order.
      run(smartbus, ['push', '--positions', chunk, '--speed', '0', '--max-streams', '1', '--window', '1', '--batch', '500',
        '--server', `127.0.0.1:${server.grpc}`, '--quiet']);
      const [tu, vp, al] = await Promise.all(['trip-updates', 'vehicle-positions', 'alerts'].map((n) => fetchFeed(server.http, n)));
      if (!check(tu.status === 200 && vp.status === 200 && al.status === 200, `instant ${k}: HTTP ${tu.status}/${vp.status}/${al.status}`)) continue;
      const now = num(tu.feed.header.timestamp);
      const r = checkFeeds(tu.feed, vp.feed, al.feed, `instant ${k} (${now})`, prevTs);
      prevTs = now;
      lastModified = tu.headers.get('last-modified');
      continued += r.continued;
      const cmp = compareWithReplay(tu.feed, replay, now);
      compared += cmp.compared; within += cmp.within; worst = Math.max(worst, cmp.worst);
      if (cmp.examples.length) console.log(`instant ${k}: ${cmp.examples.join('; ')}`);
      summary.push(`instant ${k} t=${now}: ${tu.feed.entity.length} trip updates (${r.vehicles} buses, ` +
        `${r.continued} with next trips of their block, ${r.stus} stop times), ${vp.feed.entity.length} positions, ` +
        `${al.feed.entity.length} alerts; vs replay: ${cmp.within}/${cmp.compared} within 1 s (worst ${cmp.worst} s), ` +
        `${cmp.missing} replay rows not in the feed`);
    }
    // If-Modified-Since with the last Last-Modified: nothing newer -> 304.
    const nm = await fetchFeed(server.http, 'trip-updates', { 'If-Modified-Since': lastModified });
    check(nm.status === 304, `If-Modified-Since ${lastModified}: HTTP ${nm.status}, expected 304`);
  } finally {
    server.proc.kill('SIGTERM');
  }
  check(compared > 0, 'no prediction compared with the replay');
  check(within === compared, `TripUpdates vs replay: ${compared - within} of ${compared} arrival times differ by more than 1 s (worst ${worst} s)`);
  check(continued > 0, 'no bus with the next trip of its block in the TripUpdates');
  for (const s of summary) console.log(s);
  console.log(`${kase}: ${within}/${compared} TripUpdate arrival times within 1 s of smartbus replay --predictions`);
  fs.rmSync(tmp, { recursive: true, force: true });
  if (failures.length) {
    for (const f of failures.slice(0, 50)) console.log(`FAIL: ${f}`);
    console.log(`${failures.length} failed checks`);
    process.exit(1);
  }
  console.log('OK');
}

main().catch((e) => { console.log(`FAIL: ${e.stack || e}`); process.exit(1); });

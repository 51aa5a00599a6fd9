// TLS on smartbusd's gRPC port with clients that are not ours (issue 15): the npm @grpc/grpc-js
// client (with @grpc/proto-loader reading proto/) and the `smartbus` CLI, against a smartbusd
// started here with --tls_cert/--tls_key (a self-signed certificate for localhost/127.0.0.1 made
// by the openssl command, as tls_test.cc does) and --tokens, on a tiny feed written here.
//
//   node tests/server/grpcjs_tls_test.mjs --build build
//
// Checks, over TLS trusting the server's certificate: IngestBatch with an ingest token accepts a
// fix, GetVehicle (no token) returns it at the position sent, GetServerStatus with a viewer token
// answers, IngestBatch without a token is UNAUTHENTICATED; `smartbus vehicle --ca` reads the same
// bus. Refused: grpc-js in plaintext (createInsecure) and grpc-js trusting another CA
// (UNAVAILABLE), and `smartbus vehicle` without --tls/--ca (UNAVAILABLE, non-zero exit).
// Exit 0 on success, 1 on a failed check, 77 when skipped (npm packages not installed by
// deploy/install-deps.sh, or no openssl command).
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { freePort, waitHttp } from '../web/support.mjs';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SKIP = 77;
const arg = (name, def) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : def; };
const build = path.resolve(arg('build', 'build'));
const SBD = path.join(build, 'services/server/smartbusd');
const CLI = path.join(build, 'services/cli/smartbus');
// A call to a live local server answers in milliseconds; a refused one fails at the handshake.
const CALL_DEADLINE_MS = 5000;

let grpc, protoLoader;
try {
  grpc = require(path.join(root, 'node_modules/@grpc/grpc-js'));
  protoLoader = require(path.join(root, 'node_modules/@grpc/proto-loader'));
} catch {
  console.log('SKIP grpcjs_tls_test: npm packages @grpc/grpc-js and @grpc/proto-loader not installed (run deploy/install-deps.sh)');
  process.exit(SKIP);
}
if (spawnSync('openssl', ['version']).status !== 0) {
  console.log('SKIP grpcjs_tls_test: the openssl command is not available to make a test certificate');
  process.exit(SKIP);
}

const FEED = {
  'agency.txt': 'agency_id,agency_name,agency_url,agency_timezone\nA,Test Transit,https://example.org,America/New_York\n',
  'routes.txt': 'route_id,agency_id,route_short_name,route_long_name,route_type\nR1,A,1,Main Street,3\n',
  'stops.txt': 'stop_id,stop_name,stop_lat,stop_lon\nS1,First,40.0000,-75.0000\nS2,Second,40.0010,-75.0000\nS3,Third,40.0020,-75.0000\n',
  'calendar.txt': 'service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\nALL,1,1,1,1,1,1,1,20200101,20391231\n',
  'trips.txt': 'route_id,service_id,trip_id,direction_id,trip_headsign\nR1,ALL,T1,0,Third\n',
  'stop_times.txt': 'trip_id,arrival_time,departure_time,stop_id,stop_sequence\n'
    + 'T1,00:00:00,00:00:00,S1,1\nT1,00:05:00,00:05:00,S2,2\nT1,00:10:00,00:10:00,S3,3\n',
};
const INGEST_TOKEN = 'tls-test-ingest-secret';
const VIEWER_TOKEN = 'tls-test-viewer-secret';

let passed = 0, failed = 0;
function check(label, ok, detail) {
  if (ok) passed++; else failed++;
  console.log(`${ok ? 'PASS' : 'FAIL'} ${label}${detail ? `: ${detail}` : ''}`);
}
// A self-signed certificate for localhost/127.0.0.1 in dir/<name>.crt, .key.
function makeCert(dir, name) {
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', path.join(dir, `${name}.key`),
    '-out', path.join(dir, `${name}.crt`)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl req (${name}): exit ${r.status}\n${r.stderr}`);
  return path.join(dir, `${name}.crt`);
}
// One unary call; resolves {err, res} (never rejects) so refusals can be checked.
function call(client, method, req, token) {
  const md = new grpc.Metadata();
  if (token) md.set('authorization', `Bearer ${token}`);
  return new Promise((resolve) => {
    client[method](req, md, { deadline: Date.now() + CALL_DEADLINE_MS }, (err, res) => resolve({ err, res }));
  });
}
const codeName = (err) => (err ? Object.keys(grpc.status).find((k) => grpc.status[k] === err.code) : 'OK');

async function main() {
  for (const f of [SBD, CLI]) if (!fs.existsSync(f)) throw new Error(`${f} missing: build smartbusd and smartbus`);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-grpcjs-tls-'));
  const feed = path.join(work, 'feed');
  fs.mkdirSync(feed);
  for (const [f, text] of Object.entries(FEED)) fs.writeFileSync(path.join(feed, f), text);
  const serverCa = makeCert(work, 'server');
  const otherCa = makeCert(work, 'other');
  const sha = (t) => crypto.createHash('sha256').update(t).digest('hex');
  fs.writeFileSync(path.join(work, 'tokens'), `sha256:${sha(INGEST_TOKEN)} ingest vehicles=TLS* name=tls-device\n`
    + `sha256:${sha(VIEWER_TOKEN)} viewer name=tls-viewer\n`);

  const pkg = protoLoader.loadSync(['smartbus/v1/ingest.proto', 'smartbus/v1/passenger.proto', 'smartbus/v1/operator.proto'],
    { includeDirs: [path.join(root, 'proto')], keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
  const v1 = grpc.loadPackageDefinition(pkg).smartbus.v1;

  const [gport, hport] = [await freePort(), await freePort()];
  const addr = `127.0.0.1:${gport}`;
  const logFile = path.join(work, 'smartbusd.log');
  // --http_plaintext: the HTTP port (only /readyz here) stays plain; HTTPS is http_security_test's.
  const server = spawn(SBD, [`--gtfs=${feed}`, `--listen=${addr}`, `--http_listen=127.0.0.1:${hport}`, '--clock=wall',
    `--tls_cert=${serverCa}`, `--tls_key=${path.join(work, 'server.key')}`, `--tokens=${path.join(work, 'tokens')}`,
    '--http_plaintext'],
  { stdio: ['ignore', 'ignore', fs.openSync(logFile, 'w')] });
  const clients = [];
  // The certificate names localhost (and 127.0.0.1, which the CLI checks); grpc-js is given the
  // name, as Node's TLS does not take an IP address as the server name (RFC 6066).
  const client = (Service, creds) => {
    const c = new Service(addr, creds, { 'grpc.ssl_target_name_override': 'localhost' });
    clients.push(c);
    return c;
  };
  try {
    if (!await waitHttp(`http://127.0.0.1:${hport}/readyz`, 30000, server)) {
      const tail = fs.readFileSync(logFile, 'utf8').trim().split('\n').slice(-5).join('\n');
      throw new Error(`smartbusd did not become ready (exit ${server.exitCode}; ${logFile}):\n${tail}`);
    }
    const tls = grpc.credentials.createSsl(fs.readFileSync(serverCa));

    // TLS trusting the server's certificate: a fix in, the bus out.
    const now = Math.floor(Date.now() / 1000);
    const fix = { vehicle_id: 'TLS1', timestamp: String(now), lat: 40.0005, lon: -75.0 };
    const ing = await call(client(v1.IngestService, tls), 'IngestBatch', { sequence: '7', fixes: [fix] }, INGEST_TOKEN);
    check('grpc-js over TLS: IngestBatch with the ingest token accepts the fix',
      !ing.err && ing.res.accepted === 1 && ing.res.sequence === '7', ing.err ? `${codeName(ing.err)} ${ing.err.details}` : JSON.stringify(ing.res));
    const veh = await call(client(v1.PassengerService, tls), 'GetVehicle', { vehicle_id: 'TLS1' });
    check('grpc-js over TLS: GetVehicle (no token) returns the bus at the position sent',
      !veh.err && veh.res.vehicle_id === 'TLS1' && veh.res.last_seen === String(now)
      && Math.abs(veh.res.position.lat - fix.lat) < 1e-9 && Math.abs(veh.res.position.lon - fix.lon) < 1e-9,
      veh.err ? `${codeName(veh.err)} ${veh.err.details}` : `last_seen ${veh.res.last_seen}, ${JSON.stringify(veh.res.position)}`);
    const st = await call(client(v1.OperatorService, tls), 'GetServerStatus', {}, VIEWER_TOKEN);
    check('grpc-js over TLS: GetServerStatus with the viewer token answers', !st.err, st.err ? `${codeName(st.err)} ${st.err.details}` : '');
    const anon = await call(client(v1.IngestService, tls), 'IngestBatch', { sequence: '8', fixes: [{ ...fix, timestamp: String(now + 1) }] });
    check('grpc-js over TLS: IngestBatch without a token is UNAUTHENTICATED', codeName(anon.err) === 'UNAUTHENTICATED',
      anon.err ? `${codeName(anon.err)} ${anon.err.details}` : 'answered OK');

    // Refused: plaintext to the TLS port, and TLS trusting another CA.
    const plain = await call(client(v1.PassengerService, grpc.credentials.createInsecure()), 'GetVehicle', { vehicle_id: 'TLS1' });
    check('grpc-js plaintext (createInsecure) to the TLS port is refused: UNAVAILABLE', codeName(plain.err) === 'UNAVAILABLE',
      plain.err ? `${codeName(plain.err)} ${plain.err.details}` : 'answered OK');
    const wrong = await call(client(v1.PassengerService, grpc.credentials.createSsl(fs.readFileSync(otherCa))), 'GetVehicle', { vehicle_id: 'TLS1' });
    check('grpc-js over TLS trusting another CA is refused: UNAVAILABLE', codeName(wrong.err) === 'UNAVAILABLE',
      wrong.err ? `${codeName(wrong.err)} ${wrong.err.details}` : 'answered OK');

    // The CLI: with --ca it reads the same bus; without TLS it is refused.
    const cli = (extra) => spawnSync(CLI, ['vehicle', 'TLS1', `--server=${addr}`, '--timeout=5', '--json', ...extra], { encoding: 'utf8' });
    const c1 = cli([`--ca=${serverCa}`]);
    let cv = {};
    try { cv = JSON.parse(c1.stdout); } catch { /* checked below */ }
    check('smartbus vehicle --ca over TLS returns the bus', c1.status === 0 && cv.vehicle_id === 'TLS1' && String(cv.last_seen) === String(now),
      `exit ${c1.status} ${c1.status === 0 ? `vehicle_id ${cv.vehicle_id}, last_seen ${cv.last_seen}` : c1.stderr.trim()}`);
    const c2 = cli([]);
    check('smartbus vehicle in plaintext to the TLS port is refused: UNAVAILABLE', c2.status !== 0 && /UNAVAILABLE/.test(c2.stderr),
      `exit ${c2.status} ${c2.stderr.trim().split('\n')[0]}`);
    check('smartbusd still running after the refused clients', server.exitCode === null, `exit ${server.exitCode}`);
  } finally {
    for (const c of clients) c.close();
    if (server.exitCode === null) server.kill('SIGKILL');
  }
  if (!failed) fs.rmSync(work, { recursive: true, force: true });
  else console.log(`kept ${work} (smartbusd.log)`);
  console.log(`${passed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

main().then((rc) => process.exit(rc), (e) => { console.log(`FAIL grpcjs_tls_test: ${e.stack || e}`); console.log(`${passed} passed, ${failed + 1} failed`); process.exit(1); });

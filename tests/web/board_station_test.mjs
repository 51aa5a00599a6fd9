// Browser test of a station's display board (issues 12/13): Debian chromium driven by npm
// playwright-core against smartbusd (wall clock, no bus) on a tiny feed written here:
// station ST with two stops, S2 (trip T1, a headway-defined schedule: every hour, exact_times=1)
// and S2B (trip F1, frequency-based: every 8 min, exact_times=0), running every day all day.
//
//   node tests/web/board_station_test.mjs --build build
//
// Checks: GetArrivals on the station merges both stops (Arrival.stop_id) and lists every run of
// F1 with headway_s 480; the board /board/ST shows F1 once, as "every 8 min", T1 with its time,
// each row naming its stop; ?lang=zh-CN says it in Chinese; no page error.
//
//   node tests/web/board_station_test.mjs --build build --https
//
// runs it all over HTTPS (ctest web_board_station_https): smartbusd with --http_tls_cert/key
// from a CA made here with openssl; node trusts that CA (NODE_EXTRA_CA_CERTS: the test runs
// itself again with it, as node reads it only at start), chromium the server key's pin
// (--ignore-certificate-errors-spki-list: any other certificate is still refused); one more
// check: plain HTTP to the HTTPS port is answered 400 naming HTTPS.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, launchChromium, sleep, waitHttp } from './support.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const arg = (name, def) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : def; };
const build = path.resolve(arg('build', 'build'));
const SBD = path.join(build, 'services/server/smartbusd');

const FEED = {
  'agency.txt': 'agency_id,agency_name,agency_url,agency_timezone\nA,Test Transit,https://example.org,America/New_York\n',
  'routes.txt': 'route_id,agency_id,route_short_name,route_long_name,route_type\nR1,A,1,Main Street,3\nR2,A,2,Back Street,3\n',
  'stops.txt': 'stop_id,stop_name,stop_lat,stop_lon,location_type,parent_station\n'
    + 'S1,First,40.0000,-75.0000,0,\nS2,Second,40.0010,-75.0000,0,ST\nS2B,Second opposite,40.0010,-75.0001,0,ST\n'
    + 'S3,Third,40.0020,-75.0000,0,\nST,Second Station,40.0011,-75.0001,1,\n',
  'calendar.txt': 'service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\nALL,1,1,1,1,1,1,1,20200101,20391231\n',
  'trips.txt': 'route_id,service_id,trip_id,direction_id,trip_headsign\nR1,ALL,T1,0,Third\nR2,ALL,F1,1,First\n',
  'stop_times.txt': 'trip_id,arrival_time,departure_time,stop_id,stop_sequence\n'
    + 'T1,00:00:00,00:00:00,S1,1\nT1,00:05:00,00:05:00,S2,2\nT1,00:10:00,00:10:00,S3,3\n'
    + 'F1,00:00:00,00:00:00,S3,1\nF1,00:05:00,00:05:00,S2B,2\nF1,00:10:00,00:10:00,S1,3\n',
  'frequencies.txt': 'trip_id,start_time,end_time,headway_secs,exact_times\nT1,00:00:00,24:00:00,3600,1\nF1,00:00:00,24:00:00,480,0\n',
};

let passed = 0, failed = 0;
function check(label, ok, detail) {
  if (ok) passed++; else failed++;
  console.log(`${ok ? 'PASS' : 'FAIL'} ${label}${detail ? `: ${detail}` : ''}`);
}

// --https: a CA and a server certificate it signs for 127.0.0.1 in `dir`.
function makeCerts(dir) {
  const ssl = (...a) => execFileSync('openssl', a, { stdio: 'ignore' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl('req', '-x509', ...ec, '-days', '2', '-subj', '/CN=board-test-ca', '-keyout', `${dir}/ca.key`, '-out', `${dir}/ca.crt`);
  ssl('req', ...ec, '-subj', '/CN=127.0.0.1', '-keyout', `${dir}/server.key`, '-out', `${dir}/server.csr`);
  fs.writeFileSync(`${dir}/server.ext`, 'subjectAltName=IP:127.0.0.1\n');
  ssl('x509', '-req', '-in', `${dir}/server.csr`, '-CA', `${dir}/ca.crt`, '-CAkey', `${dir}/ca.key`, '-CAcreateserial',
    '-days', '2', '-extfile', `${dir}/server.ext`, '-out', `${dir}/server.crt`);
}

async function main() {
  for (const f of [SBD, '/usr/bin/chromium']) if (!fs.existsSync(f)) throw new Error(`${f} missing: build smartbusd, install chromium (deploy/install-deps.sh)`);
  const https = process.argv.includes('--https');
  let certs = arg('certs', '');
  if (https && !certs) {  // make the certificates, then run again trusting the CA
    certs = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-board-https-'));
    makeCerts(certs);
    const r = spawnSync(process.execPath, [...process.argv.slice(1), '--certs', certs],
      { stdio: 'inherit', env: { ...process.env, NODE_EXTRA_CA_CERTS: `${certs}/ca.crt` } });
    return r.status ?? 1;
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-board-station-'));
  const feed = path.join(work, 'feed');
  fs.mkdirSync(feed);
  for (const [f, text] of Object.entries(FEED)) fs.writeFileSync(path.join(feed, f), text);
  const [gport, hport] = [await freePort(), await freePort()];
  const http = `${https ? 'https' : 'http'}://127.0.0.1:${hport}`;
  const tls = https ? [`--http_tls_cert=${certs}/server.crt`, `--http_tls_key=${certs}/server.key`] : [];
  const server = spawn(SBD, [`--gtfs=${feed}`, `--listen=127.0.0.1:${gport}`, `--http_listen=127.0.0.1:${hport}`,
    '--clock=wall', `--web_dir=${path.join(root, 'web')}`, ...tls], { stdio: ['ignore', 'ignore', fs.openSync(path.join(work, 'smartbusd.log'), 'w')] });
  let browser;
  try {
    if (!await waitHttp(`${http}/readyz`, 60000)) throw new Error(`smartbusd did not serve HTTP (log: ${work}/smartbusd.log)`);
    const b = await (await fetch(`${http}/api/v1/stops/ST/arrivals?limit=100`)).json();
    const rows = b.arrivals || [];
    const f1 = rows.filter((a) => a.trip_id === 'F1'), t1 = rows.filter((a) => a.trip_id === 'T1');
    const now = Number(b.now);
    // F1 reaches S2B 5 min after each run's start: every 8 min in [now - 60 s, now + 1 h].
    check('API: the station merges its stops; every run of F1 (every 8 min) with headway_s 480',
      f1.length >= 7 && f1.length <= 9 && f1.every((a) => a.stop_id === 'S2B' && a.headway_s === 480)
      && t1.length >= 1 && t1.every((a) => a.stop_id === 'S2' && a.headway_s === 0)
      && f1.every((a, i) => i === 0 || Number(a.scheduled_arrival) - Number(f1[i - 1].scheduled_arrival) === 480),
      `${f1.length} F1 runs, ${t1.length} T1 runs, now ${now}`);

    let chromiumArgs = [];
    if (https) {
      const plain = await fetch(`http://127.0.0.1:${hport}/readyz`).then(async (r) => [r.status, await r.text()], (e) => [0, String(e)]);
      check('HTTPS: plain HTTP to the port is answered 400 naming HTTPS', plain[0] === 400 && /HTTPS only/.test(plain[1]), plain.join(' '));
      const spki = crypto.createHash('sha256').update(crypto.createPublicKey(fs.readFileSync(`${certs}/server.key`))
        .export({ type: 'spki', format: 'der' })).digest('base64');
      chromiumArgs = [`--ignore-certificate-errors-spki-list=${spki}`];
    }
    browser = await launchChromium(chromiumArgs);
    const errors = [];
    const page = await browser.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${http}/board/ST`);
    await page.waitForSelector('#rows tr.arrival', { timeout: 15000 });
    await page.waitForFunction(() => [...document.querySelectorAll('#rows .tag.stop')].some((t) => t.textContent === 'Second opposite'), null, { timeout: 5000 }).catch(() => {});
    const shown = await page.$$eval('#rows tr.arrival', (l) => l.map((r) => ({
      trip: r.dataset.trip, stop: r.dataset.stop, headway: r.dataset.headway,
      when: r.querySelector('.eta').textContent, tag: (r.querySelector('.tag.stop') || {}).textContent || '' })));
    const f1Rows = shown.filter((r) => r.trip === 'F1'), t1Rows = shown.filter((r) => r.trip === 'T1');
    check('board /board/ST: F1 once, as "every 8 min", at the opposite stop',
      f1Rows.length === 1 && f1Rows[0].when === 'every 8 min' && f1Rows[0].headway === '480' && f1Rows[0].tag === 'Second opposite',
      JSON.stringify(f1Rows));
    check('board /board/ST: T1 with its time (not a headway), at the other stop',
      t1Rows.length >= 1 && t1Rows.every((r) => r.headway === '' && !/every/.test(r.when) && r.tag === 'Second'), JSON.stringify(t1Rows));
    const title = await page.$eval('#stop-name', (e) => e.textContent);
    check('board /board/ST: titled with the station', title === 'Second Station', title);
    const zh = await browser.newPage();
    zh.on('pageerror', (e) => errors.push(`zh: ${e.message}`));
    await zh.goto(`${http}/board/ST?lang=zh-CN`);
    await zh.waitForSelector('#rows tr.arrival[data-trip="F1"]', { timeout: 15000 });
    const zhWhen = await zh.$eval('#rows tr.arrival[data-trip="F1"] .eta', (e) => e.textContent);
    check('board /board/ST?lang=zh-CN: the headway in Chinese', zhWhen === '每 8 分钟一班', zhWhen);
    check('no page error', errors.length === 0, errors.join(' | '));
    if (https) {
      const scheme = await page.evaluate(() => location.protocol);
      check('HTTPS: the board was served over https', scheme === 'https:', scheme);
    }
  } finally {
    if (browser) await browser.close();
    if (server.exitCode === null) server.kill('SIGKILL');
  }
  console.log(`${passed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

main().then((rc) => process.exit(rc), (e) => { console.log(`FAIL board_station_test: ${e.stack || e}`); console.log(`${passed} passed, ${failed + 1} failed`); process.exit(1); });

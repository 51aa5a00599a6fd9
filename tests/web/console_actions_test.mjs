// Browser test of the console's operator actions (issue 13): Debian chromium driven by npm
// playwright-core against a real smartbusd with --tokens, the demo city and a simulated half
// hour pushed into it.
//
//   node tests/web/console_actions_test.mjs --build build
//
// Checks (each a named test, "N passed, N failed"):
//   auth      the JSON mirror's POST routes answer 401 without a token and 403 with a viewer
//             token (the roles of services/server/auth.h), operator reads 401 without one;
//   cancel    from the console with a viewer token: refused, said so on the page; with a
//             dispatcher token: the trip is cancelled, listed as in force, its board row struck
//             through within 3 s without reload, gone from live arrivals, CANCELED in
//             /gtfs-rt/trip-updates;
//   alert     posted from the console: in the list, on the board's ticker within 3 s, in
//             /gtfs-rt/alerts; "End" removes it from all three;
//   restore   "Restore" brings the trip back (not cancelled on the board API, nothing in force);
//   clean     no page error on the console and the board.
// Screenshot: BUILD/screenshots/console-actions.png (the service-changes panel).
import { spawn, execFileSync } from 'node:child_process';
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
const SB = path.join(build, 'services/cli/smartbus');
const shots = path.join(build, 'screenshots');
const BOARD_LIMIT_MS = 3000;  // a change shows on an open board within this (SSE push)
const FEED_REFRESH_MS = 6000;  // smartbusd's default --gtfs_rt_refresh_s (5) and a second
const STOP = '1000';          // demo city: Central Station
const TOKENS = { ingest: 'ingest-secret', viewer: 'viewer-secret', dispatcher: 'dispatcher-secret' };

let passed = 0, failed = 0;
function check(label, ok, detail) {
  if (ok) passed++; else failed++;
  console.log(`${ok ? 'PASS' : 'FAIL'} ${label}${detail ? `: ${detail}` : ''}`);
}
// Polls `f` (async, truthy when done) every 100 ms for up to `ms`; returns its last value.
async function until(f, ms) {
  const end = Date.now() + ms;
  let v;
  do { v = await f(); if (v) return v; await sleep(100); } while (Date.now() < end);
  return v;
}

async function main() {
  for (const f of [SBD, SB, '/usr/bin/chromium']) if (!fs.existsSync(f)) throw new Error(`${f} missing: build smartbusd and smartbus, install chromium (deploy/install-deps.sh)`);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-console-actions-'));
  fs.mkdirSync(shots, { recursive: true });
  const feed = path.join(root, 'data/demo-city');
  const fixes = path.join(work, 'fixes.csv');
  execFileSync(SB, ['sim', '--gtfs', feed, '--date', '20261123', '--start', '06:50', '--end', '07:20', '--out', fixes], { stdio: ['ignore', 'ignore', 'inherit'] });
  const tokensFile = path.join(work, 'tokens');
  fs.writeFileSync(tokensFile, Object.entries(TOKENS).map(([role, t]) =>
    `sha256:${crypto.createHash('sha256').update(t).digest('hex')} ${role} name=${role}`).join('\n') + '\n');
  const [gport, hport] = [await freePort(), await freePort()];
  const grpc = `127.0.0.1:${gport}`, http = `http://127.0.0.1:${hport}`;
  const server = spawn(SBD, [`--gtfs=${feed}`, `--listen=${grpc}`, `--http_listen=127.0.0.1:${hport}`, '--clock=fixes',
    '--http_threads=16', `--tokens=${tokensFile}`, `--web_dir=${path.join(root, 'web')}`],
  { stdio: ['ignore', 'ignore', fs.openSync(path.join(work, 'smartbusd.log'), 'w')] });
  let browser;
  try {
    if (!await waitHttp(`${http}/readyz`, 60000)) throw new Error(`smartbusd did not serve HTTP (log: ${work}/smartbusd.log)`);
    execFileSync(SB, ['push', '--server', grpc, '--token', TOKENS.ingest, '--positions', fixes, '--speed', '0', '--max-streams', '1', '--window', '1'], { stdio: ['ignore', 'ignore', 'inherit'] });
    await sleep(1000);

    // --- Auth of the JSON mirror ---
    const api = (p, { token, body } = {}) => fetch(`${http}${p}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const board0 = await (await api(`/api/v1/stops/${STOP}/arrivals?limit=30`)).json();
    const now = Number(board0.now);
    // The soonest live arrival whose scheduled time is still ahead: once cancelled, its
    // timetable row (at the scheduled time) is on the board.
    const target = (board0.arrivals || []).filter((a) => a.live && Number(a.scheduled_arrival) >= now)
      .sort((x, y) => Number(x.scheduled_arrival) - Number(y.scheduled_arrival))[0];
    if (!target) throw new Error(`no live arrival at stop ${STOP} to cancel: ${JSON.stringify(board0).slice(0, 300)}`);
    const trip = target.trip_id;
    const r401 = await api(`/api/v1/trips/${trip}/cancel`, { body: {} });
    const r403 = await api(`/api/v1/trips/${trip}/cancel`, { token: TOKENS.viewer, body: {} });
    const read401 = await api('/api/v1/fleet');
    const read200 = await api('/api/v1/fleet', { token: TOKENS.viewer });
    const bad400 = await api(`/api/v1/trips/${trip}/cancel`, { token: TOKENS.dispatcher, body: { no_such_field: 1 } });
    check('auth: POST without a token 401, viewer 403; fleet 401 without, 200 with a viewer token; a bad body 400',
      r401.status === 401 && r403.status === 403 && read401.status === 401 && read200.status === 200 && bad400.status === 400,
      `${r401.status} ${r403.status} ${read401.status} ${read200.status} ${bad400.status}`);
    const msg403 = ((await r403.json()).error || {}).message || '';
    check('auth: the refusal names the role it needs', /dispatcher/i.test(msg403), msg403);

    browser = await launchChromium();
    const ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const errors = [];
    const board = await ctx.newPage();
    board.on('pageerror', (e) => errors.push(`board: ${e.message}`));
    await board.goto(`${http}/board/${STOP}`);
    await board.waitForSelector(`#rows tr.arrival.live[data-trip="${trip}"]`, { timeout: 15000 });
    const con = await ctx.newPage();
    con.on('pageerror', (e) => errors.push(`console: ${e.message}`));
    await con.goto(`${http}/console`);
    await con.waitForSelector('#cancel-form', { timeout: 15000 });
    const msg = () => con.$eval('#changes-msg', (e) => ({ text: e.textContent, ok: e.classList.contains('ok') }));
    const waitMsg = async (re) => until(async () => { const m = await msg(); return re.test(m.text) ? m : null; }, 5000) || msg();

    // --- Cancel: refused with a viewer token, done with a dispatcher token ---
    await con.fill('#token', TOKENS.viewer);
    await con.click('#token-form button');
    await con.fill('#cancel-trip', trip);
    await con.fill('#cancel-reason', 'no driver');
    await con.click('#cancel-form button');
    const refused = await waitMsg(/Not allowed/);
    check('cancel: a viewer token is refused and the page says so', !refused.ok && /Not allowed/.test(refused.text), refused.text);
    await con.fill('#token', TOKENS.dispatcher);
    await con.click('#token-form button');
    const t0 = Date.now();
    await con.click('#cancel-form button');
    const done = await waitMsg(/cancelled/);
    const listed = await con.waitForSelector(`#changes-list li[data-trip="${trip}"]`, { timeout: 5000 }).then(() => true, () => false);
    check(`cancel: trip ${trip} cancelled from the console and listed in force`, done.ok && listed, done.text);
    const struck = await board.waitForSelector(`#rows tr.cancelled[data-trip="${trip}"]`, { timeout: BOARD_LIMIT_MS }).then(() => true, () => false);
    const liveLeft = await board.$(`#rows tr.live[data-trip="${trip}"]`);
    check(`cancel: the open board strikes ${trip} through without reload (${Date.now() - t0} ms)`, struck && !liveLeft);
    const liveNow = await (await api(`/api/v1/stops/${STOP}/arrivals?live_only=true&limit=50`)).json();
    const tu = await (await api('/gtfs-rt/trip-updates?format=json')).json();
    const canceledEnt = (tu.entity || []).find((e) => e.trip_update && e.trip_update.trip.trip_id === trip);
    check('cancel: gone from live arrivals, CANCELED in /gtfs-rt/trip-updates',
      !(liveNow.arrivals || []).some((a) => a.trip_id === trip) && canceledEnt && canceledEnt.trip_update.trip.schedule_relationship === 'CANCELED',
      JSON.stringify(canceledEnt || null).slice(0, 200));

    // --- Alert: posted, shown, ended ---
    const header = `Stop ${STOP} closed for works`;
    await con.fill('#alert-header', header);
    await con.fill('#alert-stops', STOP);
    await con.selectOption('#alert-effect', 'DETOUR');
    await con.click('#alert-form button');
    const posted = await waitMsg(/Alert posted/);
    const alertLi = await con.waitForSelector('#changes-list li[data-alert]', { timeout: 5000 }).catch(() => null);
    const ticker = await board.waitForFunction((h) => document.getElementById('ticker').textContent.includes(h), header, { timeout: BOARD_LIMIT_MS }).then(() => true, () => false);
    const feedAlerts = await (await api('/gtfs-rt/alerts?format=json')).json();
    const inFeed = (feedAlerts.entity || []).some((e) => JSON.stringify(e.alert || {}).includes(header) && e.alert.effect === 'DETOUR');
    check('alert: posted from the console, listed, on the board\'s ticker and in /gtfs-rt/alerts',
      posted.ok && alertLi !== null && ticker && inFeed, `${posted.text}; ticker ${ticker}; feed ${inFeed}`);
    await con.$eval('#changes', (e) => e.scrollIntoView());
    await con.screenshot({ path: path.join(shots, 'console-actions.png') });
    await con.click('#changes-list li[data-alert] button');
    const ended = await waitMsg(/ended/);
    const tickerGone = await board.waitForFunction((h) => !document.getElementById('ticker').textContent.includes(h), header, { timeout: BOARD_LIMIT_MS }).then(() => true, () => false);
    // The feeds are rebuilt at most once per --gtfs_rt_refresh_s (default 5 s).
    const feedEmpty = await until(async () => !((await (await api('/gtfs-rt/alerts?format=json')).json()).entity || []).length, FEED_REFRESH_MS);
    const listGone = await until(async () => !(await con.$('#changes-list li[data-alert]')), 2000);
    check('alert: "End" removes it from the list, the board and (within a feed refresh) /gtfs-rt/alerts',
      ended.ok && listGone && tickerGone && feedEmpty, `${ended.text}; list gone ${listGone}, ticker gone ${tickerGone}, feed empty ${feedEmpty}`);

    // --- Restore ---
    await con.click(`#changes-list li[data-trip="${trip}"] button`);
    const restored = await waitMsg(/restored/);
    const back = await until(async () => {
      const b = await (await api(`/api/v1/stops/${STOP}/arrivals?limit=50`)).json();
      const row = (b.arrivals || []).find((a) => a.trip_id === trip);
      return row && row.status === 'ARRIVAL_STATUS_SCHEDULED' ? row : null;
    }, 5000);
    const unstruck = await board.waitForFunction((t) => !document.querySelector(`#rows tr.cancelled[data-trip="${t}"]`), trip, { timeout: BOARD_LIMIT_MS }).then(() => true, () => false);
    const stillListed = !await until(async () => !(await con.$(`#changes-list li[data-trip="${trip}"]`)), 2000);
    check(`restore: ${trip} is scheduled again on the board API and the open board, nothing in force`,
      restored.ok && back && unstruck && !stillListed,
      `${restored.text}; board API ${back ? back.status : 'no row'}, unstruck ${unstruck}, still listed ${stillListed}`);

    check('clean: no page error on the console and the board', errors.length === 0, errors.slice(0, 5).join(' | '));
  } finally {
    if (browser) await browser.close();
    if (server.exitCode === null) server.kill('SIGKILL');
  }
  console.log(`${passed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

main().then((rc) => process.exit(rc), (e) => { console.log(`FAIL console_actions_test: ${e.stack || e}`); console.log(`${passed} passed, ${failed + 1} failed`); process.exit(1); });

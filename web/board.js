// Station display board: /board/{stop_id} (a station's id shows all its stops: the server
// merges them, each row naming its stop), or /board/{id},{id},... for stops shown together.
// Frequency-based trips (no timetable, a bus every N minutes) show "every N min" until a bus is
// tracked: their scheduled runs collapse into one row per route and destination. Live through Server-Sent Events (/api/v1/stops/{id}/arrivals/events: one board per
// change of the stop, a heartbeat every HEARTBEAT_S otherwise), reconnecting by itself; says so
// when the connection is lost or the data stops moving instead of showing old minutes as live.
'use strict';

const HEARTBEAT_S = 5;           // the server sends at least one board this often
const SILENT_AFTER_MS = 3 * HEARTBEAT_S * 1000;  // three missed heartbeats: connection is lost
const FROZEN_AFTER_MS = 60000;   // server clock (newest data) not moving for a minute: stale
const RECONNECT_MS = 3000;       // after the server refused or the stream ended
const ROWS = 12;

const stopIds = decodeURIComponent(location.pathname.replace(/^\/board\//, ''))
  .split(',').map((s) => s.trim()).filter(Boolean);
const boards = new Map();        // stop id -> {board, at (ms when received)}
const streams = new Map();       // stop id -> EventSource
let lastEventMs = 0;
let nowAdvancedMs = Date.now();
let lastNow = 0;
let fatal = '';
const stopLabels = new Map();    // stop id -> its code or name (rows of a station's stops)

function setHeaders() {
  const t = SB.t;
  document.getElementById('h-route').textContent = t.route;
  document.getElementById('h-dest').textContent = t.destination;
  document.getElementById('h-when').textContent = t.arrives;
  document.getElementById('h-dist').textContent = t.distance;
  document.getElementById('h-crowd').textContent = t.crowding;
  document.querySelector('.ticker').setAttribute('aria-label', t.alerts);
}

function connect(id) {
  const q = new URLSearchParams({ limit: String(ROWS), heartbeat_s: String(HEARTBEAT_S) });
  const es = new EventSource(`/api/v1/stops/${encodeURIComponent(id)}/arrivals/events?${q}`);
  streams.set(id, es);
  es.addEventListener('board', (ev) => {
    const board = JSON.parse(ev.data);
    boards.set(id, { board, at: Date.now() });
    lastEventMs = Date.now();
    fatal = '';
    render();
  });
  es.addEventListener('error', (ev) => {
    if (ev.data) {  // the server's own error event: the watch ended (shutdown, bad stop)
      const e = JSON.parse(ev.data);
      if (e.code === 5) fatal = e.message;  // NOT_FOUND: say which stop is unknown
    }
    if (es.readyState === EventSource.CLOSED) {  // refused (HTTP error) or ended: retry later
      es.close();
      setTimeout(() => connect(id), RECONNECT_MS);
      if (!ev.data) explainRefusal(id);
    }
    render();
  });
}

// Why the stream was refused: the same query on the plain JSON mirror gives the message.
async function explainRefusal(id) {
  try {
    await SB.get(`/api/v1/stops/${encodeURIComponent(id)}/arrivals?limit=1`);
  } catch (e) {
    if (/no stop|not found|NOT_FOUND/i.test(e.message)) fatal = e.message;
  }
}

function staleReason() {
  const open = [...streams.values()].every((es) => es.readyState === EventSource.OPEN);
  if (!open || Date.now() - lastEventMs > SILENT_AFTER_MS) return SB.t.stale_conn;
  if (Date.now() - nowAdvancedMs > FROZEN_AFTER_MS) return SB.t.stale_data;
  return '';
}

function merged() {
  const all = [];
  let now = 0, tz = '', names = [], codes = [], alerts = new Map();
  for (const id of stopIds) {
    const b = boards.get(id);
    if (!b) continue;
    now = Math.max(now, SB.num(b.board.now));
    tz = tz || b.board.time_zone;
    names.push(b.board.stop_name);
    if (b.board.stop_code) codes.push(b.board.stop_code);
    for (const a of b.board.arrivals || []) all.push(a);
    for (const al of b.board.alerts || []) alerts.set(`${al.source}/${al.alert_id}`, al);
  }
  all.sort((x, y) => SB.num(x.predicted_arrival) - SB.num(y.predicted_arrival));
  // Frequency-based runs without a bus: one "every N min" row per route, destination, headway.
  const seen = new Set();
  const rows = all.filter((a) => {
    if (a.live || !SB.num(a.headway_s)) return true;
    const k = `${a.route_id}|${a.headsign}|${a.headway_s}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  return { now, tz, names: [...new Set(names)], codes, arrivals: rows.slice(0, ROWS), alerts: [...alerts.values()] };
}

function row(a, now, tz) {
  const status = a.status || 'ARRIVAL_STATUS_SCHEDULED';
  const cancelled = status === 'ARRIVAL_STATUS_CANCELLED';
  const skipped = status === 'ARRIVAL_STATUS_SKIPPED';
  const eta = SB.num(a.predicted_arrival);
  const cls = ['arrival', a.live ? 'live' : 'sched', cancelled ? 'cancelled' : '', skipped ? 'skipped' : ''];
  const headway = !a.live ? SB.num(a.headway_s) : 0;
  const when = cancelled ? SB.t.cancelled : skipped ? SB.t.skipped
    : headway ? SB.t.every(Math.round(headway / 60)) : SB.whenText(eta, now, tz);
  const level = SB.occupancyLevel(a.occupancy);
  return SB.el('tr', {
    class: cls.filter(Boolean).join(' '), 'data-trip': a.trip_id, 'data-eta': eta,
    'data-vehicle': a.vehicle_id || '', 'data-seen': a.vehicle_last_seen || '0',
    'data-stop': a.stop_id || '', 'data-headway': headway || '',
  },
  SB.el('td', {}, SB.badge(a)),
  SB.el('td', { class: 'dest' }, SB.el('span', { class: 'headsign' }, a.headsign || ''),
    !a.live && !cancelled ? SB.el('span', { class: 'tag' }, SB.t.scheduled) : '',
    a.stop_id && !boards.has(a.stop_id) ? SB.el('span', { class: 'tag stop' }, stopLabel(a.stop_id)) : ''),
  SB.el('td', { class: 'num when' },
    SB.el(cancelled ? 's' : 'span', { class: 'eta' }, cancelled ? SB.clock(eta, tz) : when),
    cancelled ? SB.el('span', { class: 'tag cancel' }, SB.t.cancelled) : '',
    a.live && !cancelled ? SB.el('span', { class: 'range' }, SB.rangeText(a, now)) : ''),
  SB.el('td', { class: 'dist' }, SB.distanceText(a)),
  SB.el('td', { class: 'crowd' }, level
    ? SB.el('span', { class: `gauge g${level}`, title: SB.occupancyText(a.occupancy) },
      SB.el('span', { class: 'gauge-label' }, SB.occupancyText(a.occupancy)))
    : ''));
}

// The code (else name) of a station's stop, fetched once; the id until it comes.
function stopLabel(id) {
  if (!stopLabels.has(id)) {
    stopLabels.set(id, id);
    SB.get(`/api/v1/stops/${encodeURIComponent(id)}`)
      .then((s) => { stopLabels.set(id, s.stop_code || s.name || id); render(); }).catch(() => {});
  }
  return stopLabels.get(id);
}

function render() {
  const m = merged();
  if (m.now !== lastNow) { lastNow = m.now; nowAdvancedMs = Date.now(); }
  if (m.names.length) {
    document.getElementById('stop-name').textContent = m.names.join(' / ');
    document.getElementById('stop-code').textContent = m.codes.length ? `${SB.t.stop} ${m.codes.join(', ')}` : '';
    document.title = `${m.names.join(' / ')} — SmartBus`;
  }
  const rows = document.getElementById('rows');
  rows.replaceChildren();
  if (fatal) rows.append(SB.el('tr', {}, SB.el('td', { colspan: 5, class: 'error' }, fatal)));
  else if (!boards.size) rows.append(SB.el('tr', {}, SB.el('td', { colspan: 5, class: 'quiet' }, SB.t.loading)));
  else if (!m.arrivals.length) rows.append(SB.el('tr', {}, SB.el('td', { colspan: 5, class: 'quiet' }, SB.t.no_arrivals)));
  for (const a of m.arrivals) rows.append(row(a, m.now, m.tz));
  const ticker = document.getElementById('ticker');
  const text = m.alerts.map((al) => SB.translated(al.header_text)).filter(Boolean).join('   •   ');
  ticker.textContent = text;
  ticker.parentElement.hidden = !text;
  document.body.dataset.version = stopIds.map((id) => (boards.get(id) || { board: {} }).board.version || 0).join(',');
  tick(m);
}

function tick(m) {
  m = m || merged();
  if (m.now) {
    // The agency's clock: the server clock of the newest board plus the time since it came.
    const newest = Math.max(0, ...[...boards.values()].map((b) => b.at));
    const clockS = m.now + Math.max(0, Math.floor((Date.now() - newest) / 1000));
    document.getElementById('clock').textContent = SB.clock(clockS, m.tz, true);
  }
  const reason = fatal ? '' : staleReason();
  const banner = document.getElementById('stale');
  banner.textContent = reason;
  banner.hidden = !reason || !lastEventMs && !boards.size && reason === SB.t.stale_conn && Date.now() - started < 2000;
  document.body.classList.toggle('is-stale', !banner.hidden);
}

const started = Date.now();
setHeaders();
if (!stopIds.length) fatal = 'No stop in the address: open /board/STOP_ID';
else SB.loadColors().then(() => stopIds.forEach(connect));
render();
setInterval(() => tick(), 1000);

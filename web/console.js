// Operator console (/console): the live fleet on a map of the GTFS shapes, a vehicle's details,
// route load / on-time / headway charts, jams, the citizen heat map (/api/v1/heatmap), and the
// operator's service changes: cancel / restore a trip or one stop of it, post / end an alert
// (POST /api/v1/trips/{id}/cancel|restore, /api/v1/alerts, /api/v1/alerts/{id}/end; a
// dispatcher token when smartbusd has --tokens).
'use strict';

const $ = (id) => document.getElementById(id);
const FLEET_REFRESH_MS = 5000;
const ANALYTICS_REFRESH_MS = 30000;
const ON_TIME_LATE_S = 300, ON_TIME_EARLY_S = -60;  // the server's default on-time window

// Vehicle colours: by state, then by delay within the on-time window; stale ones grey.
const COLORS = {
  stale: '#9aa3ab', off_route: '#8e44ad', unassigned: '#5d6d7e', layover: '#2e86de',
  early: '#0e9aa7', on_time: '#1e9e52', late: '#e08e0b', very_late: '#d63031',
};
function vehicleColor(v) {
  if (v.stale) return COLORS.stale;
  if (v.status === 'VEHICLE_STATUS_OFF_ROUTE') return COLORS.off_route;
  if (v.status === 'VEHICLE_STATUS_UNASSIGNED') return COLORS.unassigned;
  if (v.status === 'VEHICLE_STATUS_LAYOVER') return COLORS.layover;
  const d = v.delay_s;
  if (d === undefined) return COLORS.on_time;
  if (d < ON_TIME_EARLY_S) return COLORS.early;
  if (d <= ON_TIME_LATE_S) return COLORS.on_time;
  return d <= 2 * ON_TIME_LATE_S ? COLORS.late : COLORS.very_late;
}
const STATE = { VEHICLE_STATUS_IN_SERVICE: 'in service', VEHICLE_STATUS_LAYOVER: 'layover',
  VEHICLE_STATUS_OFF_ROUTE: 'off route', VEHICLE_STATUS_UNASSIGNED: 'unassigned' };

let map, vehicleLayer, jamLayer, heatLayer, selected = '', fleet = { vehicles: [] }, tz = '';
const markers = new Map();
const charts = {};

function legend(position, html) {
  const c = L.control({ position });
  c.onAdd = () => { const d = L.DomUtil.create('div', 'legend'); d.innerHTML = html; return d; };
  c.addTo(map);
  return c;
}

async function initMap() {
  map = await SB.map('map');
  const routes = await SB.loadRoutes();
  const bounds = L.latLngBounds([]);
  const lines = L.layerGroup().addTo(map);
  for (const r of routes.list)
    for (const p of r.patterns || []) {
      if (!p.latlngs.length) continue;
      L.polyline(p.latlngs, { color: r.color, weight: 3, opacity: 0.55 }).addTo(lines).bindTooltip(`Route ${r.short_name || r.route_id}`);
      bounds.extend(p.latlngs);
    }
  if (bounds.isValid()) map.fitBounds(bounds); else map.setView([0, 0], 2);
  jamLayer = L.layerGroup().addTo(map);
  vehicleLayer = L.layerGroup().addTo(map);
  const dot = (c, t) => `<i style="background:${c}"></i>${t}<br>`;
  legend('bottomleft', `<b>Buses</b><br>${dot(COLORS.on_time, 'on time (−1…+5 min)')}${dot(COLORS.early, 'early (> 1 min)')}`
    + `${dot(COLORS.late, 'late 5–10 min')}${dot(COLORS.very_late, 'late > 10 min')}${dot(COLORS.layover, 'layover')}`
    + `${dot(COLORS.off_route, 'off route')}${dot(COLORS.unassigned, 'no trip')}${dot(COLORS.stale, 'stale (no recent fix)')}`
    + '<b>Jams</b> (speed now / usual)<br><i class="sq" style="background:#d63031"></i>&lt; 0.5 <i class="sq" style="background:#e08e0b"></i>&lt; 0.8');
}

async function refreshFleet() {
  try {
    fleet = await SB.get('/api/v1/fleet');
  } catch (e) { $('summary').textContent = `Fleet not available: ${e.message}`; return; }
  const vs = fleet.vehicles || [];
  const seen = new Set();
  for (const v of vs) {
    seen.add(v.vehicle_id);
    const pos = [v.position.lat, v.position.lon];
    let m = markers.get(v.vehicle_id);
    const style = { radius: 7, color: '#111', weight: 1, fillColor: vehicleColor(v), fillOpacity: v.stale ? 0.5 : 0.95 };
    if (!m) {
      m = L.circleMarker(pos, style).addTo(vehicleLayer).on('click', () => select(v.vehicle_id));
      markers.set(v.vehicle_id, m);
    } else { m.setLatLng(pos); m.setStyle(style); }
    m.bindTooltip(`${v.vehicle_id} · ${v.route_short_name || v.route_id || 'no route'} · ${SB.delayText(v.delay_s) || STATE[v.status] || ''}`);
  }
  for (const [id, m] of markers) if (!seen.has(id)) { m.remove(); markers.delete(id); }
  document.body.dataset.vehicleMarkers = String(markers.size);
  $('summary').textContent = `${vs.length} vehicles · ${fleet.in_service || 0} in service · ${fleet.layover || 0} layover · `
    + `${fleet.off_route || 0} off route · ${fleet.unassigned || 0} no trip · ${fleet.stale || 0} stale`
    + (tz && fleet.now ? ` · ${SB.clock(SB.num(fleet.now), tz, true)} (${tz})` : '');
  const now = SB.num(fleet.now);
  $('fleet-table').tBodies[0].replaceChildren(...vs.map((v) => SB.el('tr', {
    'data-vehicle': v.vehicle_id, class: v.vehicle_id === selected ? 'selected' : '', onclick: () => select(v.vehicle_id),
  }, SB.el('td', {}, v.vehicle_id), SB.el('td', {}, v.route_short_name || v.route_id || '—'),
  SB.el('td', {}, (STATE[v.status] || '?') + (v.stale ? ' (stale)' : '')),
  SB.el('td', {}, v.delay_s !== undefined ? `${Math.round(v.delay_s / 60)} min` : '—'),
  SB.el('td', {}, v.speed_mps !== undefined ? String(Math.round(v.speed_mps * 3.6)) : '—'),
  SB.el('td', {}, String(Math.max(0, now - SB.num(v.last_seen)))),
  SB.el('td', {}, SB.occupancyText(v.occupancy) || '—'))));
  if (selected) showVehicle(selected);
}

function select(id) { selected = id; showVehicle(id); }

async function showVehicle(id) {
  const panel = $('vehicle');
  let v;
  try { v = await SB.get(`/api/v1/vehicles/${encodeURIComponent(id)}`); } catch (e) {
    panel.replaceChildren(SB.el('h2', {}, `Vehicle ${id}`), SB.el('p', { class: 'error' }, e.message)); return;
  }
  const kv = (k, val) => [SB.el('dt', {}, k), SB.el('dd', {}, val || '—')];
  const ahead = SB.el('ol', { class: 'small', id: 'next-stops' });
  panel.replaceChildren(SB.el('h2', {}, `Vehicle ${v.vehicle_id}`), SB.el('dl', { class: 'kv' },
    kv('Route', `${v.route_short_name || v.route_id || ''} ${v.headsign ? `→ ${v.headsign}` : ''}`),
    kv('Trip', v.trip_id), kv('State', (STATE[v.status] || '') + (v.stale ? ' (stale)' : '')),
    kv('Delay', SB.delayText(v.delay_s)), kv('Speed', v.speed_mps !== undefined ? `${Math.round(v.speed_mps * 3.6)} km/h` : ''),
    kv('Last seen', `${v.age_s || 0} s ago${tz ? ` (${SB.clock(SB.num(v.last_seen), tz, true)})` : ''}`),
    kv('Occupancy', [SB.occupancyText(v.occupancy), v.load !== undefined ? `${v.load} on board` : ''].filter(Boolean).join(', '))),
  v.trip_id ? SB.el('button', { type: 'button', class: 'secondary', id: 'cancel-this',
    onclick: () => { $('cancel-trip').value = v.trip_id; $('cancel-trip').focus(); } }, 'Cancel this trip…') : '',
  SB.el('h3', {}, 'Next stops (predicted)'), ahead);
  const p = SB.patternOf(v);
  if (!p || !v.next_stop_id) return;
  const ids = p.stop_ids.slice(p.stop_ids.indexOf(v.next_stop_id)).slice(0, 6);
  const rows = await Promise.all(ids.map(async (sid) => {
    const b = await SB.get(`/api/v1/stops/${encodeURIComponent(sid)}/arrivals?route_id=${encodeURIComponent(v.route_id)}&live_only=true&limit=20`).catch(() => null);
    const a = b && (b.arrivals || []).find((x) => x.vehicle_id === v.vehicle_id);
    return SB.el('li', {}, `${b ? b.stop_name : sid}: `, a ? `${SB.clock(SB.num(a.predicted_arrival), b.time_zone)} (${SB.rangeText(a, SB.num(b.now)) || 'P10–P90 n/a'})` : '—');
  }));
  ahead.replaceChildren(...rows);
}

function pct(x) { return x === undefined ? '—' : x.toFixed(1); }
function chart(id, config) {
  if (charts[id]) { charts[id].data = config.data; charts[id].update('none'); return; }
  if (typeof Chart === 'undefined') return;
  charts[id] = new Chart($(id), config);
}

async function refreshAnalytics() {
  let r, bunch, cong;
  try {
    [r, bunch, cong] = await Promise.all([SB.get('/api/v1/analytics/routes'), SB.get('/api/v1/analytics/bunching'),
      SB.get('/api/v1/analytics/congestion?limit=15')]);
  } catch (e) { $('routes-note').textContent = `Analytics not available: ${e.message}`; return; }
  const routes = (r.routes || []).slice();
  const name = (id) => { const x = SB.routes && SB.routes.byId.get(id); return x ? (x.short_name || id) : id; };
  $('routes-note').textContent = `${r.visits_held || 0} stop visits held; on time = ${r.on_time_early_s}…+${r.on_time_late_s} s of schedule.`;
  const bunchedNow = new Map();
  for (const b of bunch.pairs || []) bunchedNow.set(b.route_id, (bunchedNow.get(b.route_id) || 0) + 1);
  $('routes-table').tBodies[0].replaceChildren(...routes.map((x) => {
    const ps = x.passengers || {}, ot = x.on_time || {}, hw = x.headways || {};
    return SB.el('tr', { 'data-route': x.route_id, 'data-visits': x.visits, 'data-boardings': ps.boardings ?? '',
      'data-on-time-pct': ot.on_time_pct ?? '' },
    SB.el('td', {}, name(x.route_id)), SB.el('td', {}, String(x.visits)), SB.el('td', {}, ps.boardings ?? '—'),
    SB.el('td', {}, ps.alightings ?? '—'), SB.el('td', {}, ps.max_load ?? '—'), SB.el('td', {}, pct(ps.crowded_pct)),
    SB.el('td', {}, pct(ot.on_time_pct)), SB.el('td', {}, pct(ot.early_pct)), SB.el('td', {}, pct(ot.late_pct)),
    SB.el('td', {}, hw.cv !== undefined ? hw.cv.toFixed(2) : '—'),
    SB.el('td', {}, x.excess_wait_s !== undefined ? String(Math.round(x.excess_wait_s)) : '—'),
    SB.el('td', {}, String(x.bunched_gaps || 0)), SB.el('td', {}, String(bunchedNow.get(x.route_id) || 0)));
  }));
  const byLoad = routes.slice().sort((a, b) => SB.num((b.passengers || {}).boardings) - SB.num((a.passengers || {}).boardings)).slice(0, 15);
  const labels = (list) => list.map((x) => name(x.route_id));
  const axis = (title) => ({ title: { display: true, text: title } });
  chart('chart-load', { type: 'bar', data: { labels: labels(byLoad), datasets: [
    { label: 'boardings', data: byLoad.map((x) => SB.num((x.passengers || {}).boardings)), backgroundColor: '#2e86de' },
    { label: 'max load', data: byLoad.map((x) => SB.num((x.passengers || {}).max_load)), backgroundColor: '#e08e0b' }] },
  options: { animation: false, scales: { y: axis('passengers'), x: axis('route') } } });
  const top = routes.slice().sort((a, b) => b.visits - a.visits).slice(0, 15);
  chart('chart-ontime', { type: 'bar', data: { labels: labels(top), datasets: [
    { label: 'on time', data: top.map((x) => (x.on_time || {}).on_time_pct ?? 0), backgroundColor: '#1e9e52' },
    { label: 'early', data: top.map((x) => (x.on_time || {}).early_pct ?? 0), backgroundColor: '#0e9aa7' },
    { label: 'late', data: top.map((x) => (x.on_time || {}).late_pct ?? 0), backgroundColor: '#d63031' }] },
  options: { animation: false, scales: { x: { stacked: true, ...axis('route') }, y: { stacked: true, max: 100, ...axis('% of visits') } } } });
  chart('chart-headway', { type: 'bar', data: { labels: labels(top), datasets: [
    { label: 'headway CV', data: top.map((x) => (x.headways || {}).cv ?? 0), backgroundColor: '#8e44ad', yAxisID: 'y' },
    { label: 'bunched gaps', data: top.map((x) => SB.num(x.bunched_gaps)), backgroundColor: '#e08e0b', yAxisID: 'y1' }] },
  options: { animation: false, scales: { y: axis('CV (sd / mean)'), y1: { position: 'right', ...axis('gaps'), grid: { drawOnChartArea: false } }, x: axis('route') } } });
  await showJams(cong, name);
}

// Live prediction accuracy by horizon (/api/v1/analytics/accuracy = smartbus analytics accuracy).
async function refreshAccuracy() {
  let a;
  try { a = await SB.get('/api/v1/analytics/accuracy'); } catch (e) { $('accuracy-note').textContent = `Accuracy not available: ${e.message}`; return; }
  const all = a.all || {};
  const rows = [...(all.buckets || []), ...(all.overall ? [all.overall] : [])];
  const sec = (x) => (x === undefined ? '—' : String(Math.round(x)));
  $('accuracy-table').tBodies[0].replaceChildren(...rows.map((b) => SB.el('tr', {
    'data-bucket': b.label, 'data-n': SB.num(b.n), 'data-mae': b.mae_s ?? '', 'data-mbta': b.mbta_pct ?? '',
    'data-transitapp': b.transitapp_pct ?? '', 'data-p10-p90': b.p10_p90_pct ?? '' },
  SB.el('th', { scope: 'row' }, b.label === '0-30' ? 'all (0–30)' : b.label), SB.el('td', {}, String(SB.num(b.n))),
  SB.el('td', {}, sec(b.mae_s)), SB.el('td', {}, sec(b.rmse_s)), SB.el('td', {}, sec(b.bias_s)),
  SB.el('td', {}, pct(b.mbta_pct)), SB.el('td', {}, pct(b.transitapp_pct)), SB.el('td', {}, pct(b.p10_p90_pct)))));
  const since = SB.num(a.held_since) ? new Date(SB.num(a.held_since) * 1000).toLocaleString([], tz ? { timeZone: tz } : {}) : '—';
  $('accuracy-note').textContent = `${SB.num(all.scored)} predictions scored since ${since} (kept in memory; a server restart starts again); ` +
    `MBTA pooled ${pct(all.mbta_pooled_pct)} %, Transit app score ${pct(all.transitapp_score_pct)} %, ` +
    `${pct(all.coverage_pct)} % of observed arrivals had a prediction 1–30 min before; ${SB.num(all.pending)} waiting for their stop.`;
}

function segLine(from, to) {
  const a = SB.routes.stopPos.get(from), b = SB.routes.stopPos.get(to);
  return a && b ? [a, b] : null;
}

const stopNames = new Map();  // stop id -> name (fetched once per stop)
async function nameStops(ids) {
  await Promise.all([...new Set(ids)].filter((id) => !stopNames.has(id)).map(async (id) => {
    const s = await SB.get(`/api/v1/stops/${encodeURIComponent(id)}`).catch(() => ({ name: id }));
    stopNames.set(id, s.name || id);
  }));
}

async function showJams(cong, name) {
  await nameStops([...(cong.now_segments || []), ...(cong.usual_jams || [])].flatMap((s) => [s.from_stop_id, s.to_stop_id]));
  jamLayer.clearLayers();
  const sname = (id) => stopNames.get(id) || id;
  const now = (cong.now_segments || []).filter((s) => s.ratio !== undefined);
  $('jams-now').replaceChildren(...(now.length ? now.map((s) => SB.el('li', {},
    `Route ${name(s.route_id)}, ${sname(s.from_stop_id)} → ${sname(s.to_stop_id)}: ${s.now_speed_kmh.toFixed(1)} km/h vs usual ${s.usual_speed_kmh.toFixed(1)} (×${s.ratio.toFixed(2)})`))
    : [SB.el('li', { class: 'quiet' }, 'No segment slower than usual right now (or not enough history).')]));
  for (const s of now) {
    const line = segLine(s.from_stop_id, s.to_stop_id);
    if (!line || s.ratio >= 0.8) continue;
    L.polyline(line, { color: s.ratio < 0.5 ? '#d63031' : '#e08e0b', weight: 7, opacity: 0.9 }).addTo(jamLayer)
      .bindTooltip(`${s.now_speed_kmh.toFixed(1)} km/h now, usual ${s.usual_speed_kmh.toFixed(1)} km/h`);
  }
  const hhmm = (s) => `${String(Math.floor(s / 3600)).padStart(2, '0')}:${String(Math.floor(s / 60) % 60).padStart(2, '0')}`;
  const usual = cong.usual_jams || [];
  $('jams-usual').replaceChildren(...(usual.length ? usual.map((j) => SB.el('li', {},
    `Route ${name(j.route_id)}, ${sname(j.from_stop_id)} → ${sname(j.to_stop_id)} at ${hhmm(j.bin_start_s)}: ${j.speed_kmh.toFixed(1)} km/h (fastest ${j.reference_speed_kmh.toFixed(1)})`))
    : [SB.el('li', { class: 'quiet' }, 'Not enough history yet.')]));
}

// --- Heat map -------------------------------------------------------------------------------
function localMidnight(nowS) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-GB', { timeZone: tz || undefined, hour12: false,
    hour: '2-digit', minute: '2-digit', second: '2-digit' }).formatToParts(new Date(nowS * 1000)).map((p) => [p.type, p.value]));
  return nowS - ((Number(parts.hour) % 24) * 3600 + Number(parts.minute) * 60 + Number(parts.second));
}
let heatLegend = null;
async function refreshHeat() {
  if (heatLayer) { heatLayer.remove(); heatLayer = null; }
  if (!$('show-heat').checked) { if (heatLegend) { heatLegend.remove(); heatLegend = null; } return; }
  const hour = Number($('heat-hour').value), metric = $('heat-metric').value;
  let q = '';
  if (hour < 24 && fleet.now) { const from = localMidnight(SB.num(fleet.now)) + hour * 3600; q = `?from=${from}&to=${from + 3600}`; }
  let g;
  try { g = await SB.get(`/api/v1/heatmap${q}`); } catch (e) { $('summary').textContent = `Heat map: ${e.message}`; return; }
  const max = (g.max || {})[metric] || 1;
  const speed = metric === 'mean_speed_kmh';
  const color = (f) => { const t = Math.min(1, f / max); const h = speed ? 120 * t : 60 * (1 - t); return `hsl(${h}, 90%, 45%)`; };
  heatLayer = L.geoJSON(g, {
    filter: (f) => f.properties[metric] !== undefined,
    style: (f) => ({ weight: 0, fillColor: color(f.properties[metric]), fillOpacity: 0.55 }),
    onEachFeature: (f, l) => l.bindTooltip(`${metric.replace(/_/g, ' ')}: ${Number(f.properties[metric]).toFixed(metric.endsWith('pct') || speed ? 1 : 0)} · ${f.properties.visits} visits`),
  }).addTo(map);
  heatLayer.getPane().dataset.features = String(g.features.length);
  document.body.dataset.heatFeatures = String(g.features.length);
  if (heatLegend) heatLegend.remove();
  const unit = { boardings: 'passengers boarding', alightings: 'passengers alighting', late_pct: '% of visits late', mean_speed_kmh: 'km/h (red = slow)' }[metric];
  heatLegend = legend('bottomright', `<b>Heat map</b>: ${unit}, ${g.cell_m} m cells<br>`
    + `<i class="sq" style="background:${color(0)}"></i>0 … <i class="sq" style="background:${color(max)}"></i>${Number(max).toFixed(0)}<br>${hour < 24 ? `${hour}:00–${hour + 1}:00` : 'all day'}`);
}

// --- Service changes ---
function changesMessage(text, ok) {
  const m = $('changes-msg');
  m.textContent = text;
  m.className = ok ? 'ok' : 'error';
}

const csv = (id) => $(id).value.split(',').map((x) => x.trim()).filter(Boolean);

let changesSeq = 0;  // a periodic refresh answered after an action's own is older: dropped
async function refreshChanges() {
  const seq = ++changesSeq;
  let c;
  try { c = await SB.get('/api/v1/service-changes'); } catch (e) {
    if (seq !== changesSeq) return;
    $('changes-list').replaceChildren(SB.el('li', { class: 'error' }, `Service changes not available: ${e.message}`));
    return;
  }
  if (seq !== changesSeq) return;
  const items = [];
  for (const t of c.trips || []) {
    const what = t.cancelled ? 'cancelled' : `skips ${(t.skipped_stops || []).map((s) => s.stop_id || `#${s.stop_sequence}`).join(', ')}`;
    const date = t.service_date ? ` on ${t.service_date}` : ' (every date)';
    const restore = t.source === 'operator'
      ? SB.el('button', { type: 'button', class: 'secondary', 'data-restore': t.trip_id,
        onclick: () => act(`/api/v1/trips/${encodeURIComponent(t.trip_id)}/restore`, { service_date: t.service_date }, `Trip ${t.trip_id} restored`) }, 'Restore')
      : '';
    items.push(SB.el('li', { 'data-trip': t.trip_id }, `Trip ${t.trip_id}${date} ${what}${t.reason ? ` (${t.reason})` : ''} — ${t.source} `, restore));
  }
  for (const a of c.alerts || []) {
    const end = a.source === 'operator'
      ? SB.el('button', { type: 'button', class: 'secondary', 'data-end': a.alert_id,
        onclick: () => act(`/api/v1/alerts/${encodeURIComponent(a.alert_id)}/end`, {}, `Alert ${a.alert_id} ended`) }, 'End')
      : '';
    const where = (a.informed_entities || []).map((e) => e.stop_id || e.route_id || e.trip_id || e.agency_id).join(', ');
    items.push(SB.el('li', { 'data-alert': a.alert_id }, `Alert "${SB.translated(a.header_text)}" on ${where} — ${a.source} `, end));
  }
  if (!items.length) items.push(SB.el('li', { class: 'quiet' }, 'No cancellation or alert in force.'));
  $('changes-list').replaceChildren(...items);
}

// One operator write; its answer (or the server's refusal, e.g. "needs a dispatcher token")
// in the status line, then the list again.
async function act(path, body, done) {
  try {
    await SB.post(path, body);
    changesMessage(done, true);
  } catch (e) {
    changesMessage(`${e.status === 401 || e.status === 403 ? 'Not allowed: ' : ''}${e.message}`, false);
  }
  await refreshChanges();
}

function initChanges() {
  $('token').value = SB.token();
  $('token-state').textContent = SB.token() ? 'a token is in use' : '';
  $('token-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    SB.setToken($('token').value.trim());
    $('token-state').textContent = SB.token() ? 'a token is in use' : 'no token';
    refreshChanges();
  });
  $('cancel-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const trip = $('cancel-trip').value.trim();
    const body = { stop_id: $('cancel-stop').value.trim(), reason: $('cancel-reason').value.trim() };
    if ($('cancel-date').value) body.service_date = Number($('cancel-date').value);
    act(`/api/v1/trips/${encodeURIComponent(trip)}/cancel`, body,
      body.stop_id ? `Trip ${trip} skips stop ${body.stop_id}` : `Trip ${trip} cancelled`);
  });
  $('alert-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = (t) => ({ translations: [{ text: t, language: SB.lang }] });
    const entities = [...csv('alert-stops').map((s) => ({ stop_id: s })), ...csv('alert-routes').map((r) => ({ route_id: r }))];
    const alert = { header_text: text($('alert-header').value.trim()), informed_entities: entities, effect: $('alert-effect').value };
    if ($('alert-description').value.trim()) alert.description_text = text($('alert-description').value.trim());
    act('/api/v1/alerts', { alert }, 'Alert posted');
  });
}

async function findTimeZone() {
  // The agency's zone: every arrivals board carries it; any stop will do.
  const first = SB.routes && SB.routes.list.flatMap((r) => (r.patterns || []).flatMap((p) => p.stop_ids || []))[0];
  if (!first) return;
  const b = await SB.get(`/api/v1/stops/${encodeURIComponent(first)}/arrivals?limit=1`).catch(() => ({}));
  tz = b.time_zone || '';
}

async function main() {
  initChanges();
  await initMap();
  await findTimeZone();
  await refreshFleet();
  await refreshAnalytics();
  await refreshAccuracy();
  await refreshChanges();
  setInterval(refreshFleet, FLEET_REFRESH_MS);
  setInterval(refreshChanges, FLEET_REFRESH_MS);
  setInterval(refreshAnalytics, ANALYTICS_REFRESH_MS);
  setInterval(refreshAccuracy, ANALYTICS_REFRESH_MS);
  $('show-jams').addEventListener('change', (e) => (e.target.checked ? jamLayer.addTo(map) : jamLayer.remove()));
  for (const id of ['show-heat', 'heat-metric']) $(id).addEventListener('change', refreshHeat);
  $('heat-hour').addEventListener('input', (e) => {
    const h = Number(e.target.value), text = h < 24 ? `${h}:00–${h + 1}:00` : 'all day';
    $('heat-hour-label').textContent = text; e.target.setAttribute('aria-valuetext', text);
  });
  $('heat-hour').addEventListener('change', refreshHeat);
  document.body.dataset.ready = '1';
}
main().catch((e) => { $('summary').textContent = `Console failed to start: ${e.message}`; });

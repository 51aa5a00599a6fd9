// Passenger page (/): stops near me (browser geolocation, or ?lat=..&lon=..) or by name/code,
// a stop's next arrivals with how far each bus is, a bus: where it is on its route and its
// stops ahead with their predicted times, and journeys from one stop or place to another
// (PlanJourney: buses already running count with their predicted times).
'use strict';

const $ = (id) => document.getElementById(id);
const status = (text) => { $('status').textContent = text; };
let busMap = null, busLayer = null;

function stopItem(s, distance) {
  const stop = s.stop || s;
  const sub = [stop.stop_code ? `#${stop.stop_code}` : '', distance !== undefined ? `${Math.round(distance)} m` : '',
    (stop.route_ids || []).length ? `${stop.route_ids.length} route${stop.route_ids.length === 1 ? '' : 's'}` : '']
    .filter(Boolean).join(' · ');
  return SB.el('li', { 'data-stop': stop.stop_id },
    SB.el('button', { class: 'item', type: 'button', onclick: () => showStop(stop) },
      SB.el('span', { class: 'main' }, stop.name, SB.el('span', { class: 'sub' }, sub))));
}

function showStops(list, withDistance) {
  $('stops').replaceChildren(...list.map((s) => stopItem(s, withDistance ? Number(s.distance_m) : undefined)));
  $('stops-h').hidden = !list.length;
  status(list.length ? '' : 'No stop found.');
}

async function near(lat, lon) {
  status('Looking for stops near you…');
  try {
    const r = await SB.get(`/api/v1/stops/near?lat=${lat}&lon=${lon}&radius_m=800&limit=10`);
    showStops(r.stops || [], true);
  } catch (e) { status(e.message); }
}

async function search(q) {
  if (!q.trim()) return;
  status('Searching…');
  try {
    const r = await SB.get(`/api/v1/stops?q=${encodeURIComponent(q.trim())}&limit=15`);
    showStops(r.stops || [], false);
  } catch (e) { status(e.message); }
}

let shownStop = null;
async function showStop(stop) {
  shownStop = stop;
  $('arrivals-sec').hidden = false;
  $('arr-h').textContent = `${stop.name}${stop.stop_code ? ` (#${stop.stop_code})` : ''}`;
  $('board-link').href = `/board/${encodeURIComponent(stop.stop_id)}`;
  $('arrivals').replaceChildren(SB.el('li', { class: 'quiet' }, SB.t.loading));
  try {
    const b = await SB.get(`/api/v1/stops/${encodeURIComponent(stop.stop_id)}/arrivals?limit=10`);
    const now = SB.num(b.now);
    const items = (b.arrivals || []).map((a) => {
      const cancelled = a.status === 'ARRIVAL_STATUS_CANCELLED';
      const body = [SB.badge(a), SB.el('span', { class: 'main' }, a.headsign || '',
        SB.el('span', { class: 'sub' }, a.live ? [SB.distanceText(a), SB.occupancyText(a.occupancy), SB.delayText(a.delay_s)].filter(Boolean).join(' · ') : SB.t.scheduled)),
      SB.el('span', { class: 'eta' }, cancelled ? SB.t.cancelled : SB.whenText(SB.num(a.predicted_arrival), now, b.time_zone))];
      const li = SB.el('li', { 'data-trip': a.trip_id, class: cancelled ? 'cancelled' : '' });
      li.append(a.live && a.vehicle_id
        ? SB.el('button', { class: 'item', type: 'button', 'aria-label': `${a.route_short_name} ${a.headsign}: show the bus`, onclick: () => showBus(a.vehicle_id) }, body)
        : SB.el('div', { class: 'item' }, body));
      return li;
    });
    $('arrivals').replaceChildren(...(items.length ? items : [SB.el('li', { class: 'quiet' }, SB.t.no_arrivals)]));
  } catch (e) { $('arrivals').replaceChildren(SB.el('li', { class: 'error' }, e.message)); }
}

async function showBus(vehicleId) {
  $('bus-sec').hidden = false;
  try {
    const [v] = await Promise.all([SB.get(`/api/v1/vehicles/${encodeURIComponent(vehicleId)}`), SB.loadRoutes()]);
    $('bus-h').textContent = `${v.route_short_name || v.route_id} → ${v.headsign || ''}`;
    $('bus-info').textContent = [`Bus ${v.vehicle_id}`, SB.delayText(v.delay_s),
      v.speed_mps !== undefined ? `${Math.round(v.speed_mps * 3.6)} km/h` : '', SB.occupancyText(v.occupancy)]
      .filter(Boolean).join(' · ');
    const p = SB.patternOf(v);
    if (!busMap) busMap = await SB.map('bus-map');
    if (busLayer) busLayer.remove();
    busLayer = L.layerGroup().addTo(busMap);
    const pos = [v.position.lat, v.position.lon];
    if (p) L.polyline(p.latlngs, { color: SB.routes.byId.get(v.route_id).color, weight: 5 }).addTo(busLayer);
    const ids = p ? p.stop_ids.slice(Math.max(0, p.stop_ids.indexOf(v.next_stop_id))) : [];
    ids.forEach((id) => { const sp = SB.routes.stopPos.get(id); if (sp) L.circleMarker(sp, { radius: 4, color: '#333' }).addTo(busLayer); });
    L.circleMarker(pos, { radius: 9, color: '#000', fillColor: '#ffd23f', fillOpacity: 1 }).addTo(busLayer).bindTooltip(`Bus ${v.vehicle_id}`);
    busMap.fitBounds(p ? L.latLngBounds(p.latlngs) : L.latLngBounds([pos, pos]), { maxZoom: 16 });
    await showAhead(v, ids.slice(0, 8));
  } catch (e) { $('bus-info').textContent = e.message; }
}

// The bus's next stops with its predicted time at each (from that stop's arrivals).
async function showAhead(v, ids) {
  const rows = await Promise.all(ids.map(async (id) => {
    const [stop, board] = await Promise.all([
      SB.get(`/api/v1/stops/${encodeURIComponent(id)}`).catch(() => ({ name: id })),
      SB.get(`/api/v1/stops/${encodeURIComponent(id)}/arrivals?route_id=${encodeURIComponent(v.route_id)}&live_only=true&limit=20`).catch(() => ({ arrivals: [] }))]);
    const a = (board.arrivals || []).find((x) => x.vehicle_id === v.vehicle_id && x.trip_id === v.trip_id);
    return SB.el('li', { 'data-stop': id }, SB.el('span', {}, stop.name || id),
      SB.el('span', { class: 'eta' }, a ? SB.whenText(SB.num(a.predicted_arrival), SB.num(board.now), board.time_zone) : '—'));
  }));
  $('ahead').replaceChildren(...rows);
}

// --- Journeys ---
// A place typed in the plan form: "lat,lon", else the first stop the name/code/id search finds.
// A stop picked with "Journey from/to here" is kept in the input's data-stop.
const LATLON = /^\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*$/;
async function placeParams(input, side) {
  const text = input.value.trim();
  if (input.dataset.stop && input.dataset.name === text) return `${side}_stop=${encodeURIComponent(input.dataset.stop)}`;
  const m = LATLON.exec(text);
  if (m) return `${side}_lat=${m[1]}&${side}_lon=${m[2]}`;
  const r = await SB.get(`/api/v1/stops?q=${encodeURIComponent(text)}&limit=1`);
  const hit = (r.stops || [])[0];
  if (!hit) throw new Error(`No stop matches "${text}".`);
  const stop = hit.stop || hit;
  setPlace(input, stop);
  return `${side}_stop=${encodeURIComponent(stop.stop_id)}`;
}
function setPlace(input, stop) {
  input.value = stop.name;
  input.dataset.stop = stop.stop_id;
  input.dataset.name = stop.name;
}

function legItem(leg, tz) {
  const time = SB.el('span', { class: 'time' }, SB.clock(SB.num(leg.depart_s), tz));
  if (leg.kind === 'LEG_KIND_WALK') {
    const to = leg.to_stop_name || 'your destination';
    return SB.el('li', { class: 'walk' }, time, SB.el('span', {}, `Walk ${Math.round(Number(leg.walk_m || 0) / 10) * 10} m to ${to}`));
  }
  const live = leg.live ? ` (${SB.t.live})` : '';
  return SB.el('li', { class: 'ride', 'data-trip': leg.trip_id }, time, SB.badge(leg),
    SB.el('span', {}, `${leg.headsign || ''}: ${leg.from_stop_name} → ${leg.to_stop_name}, ` +
      `${leg.stops} stop${Number(leg.stops) === 1 ? '' : 's'}, arrive ${SB.clock(SB.num(leg.arrive_s), tz)}${live}`,
    leg.risky ? SB.el('span', { class: 'risky' }, ' · tight transfer') : ''));
}

function journeyItem(j, tz, nowS) {
  const dep = SB.num(j.depart_s), arr = SB.num(j.arrive_s);
  const transfers = SB.num(j.transfers);
  const summary = [`${Math.round((arr - dep) / 60)} ${SB.t.min}`,
    SB.num(j.rides) === 0 ? 'walk only' : transfers === 0 ? 'direct' : `${transfers} transfer${transfers === 1 ? '' : 's'}`,
    j.live ? SB.t.live : SB.t.scheduled].join(' · ');
  return SB.el('li', { 'data-depart': String(dep), 'data-arrive': String(arr) },
    SB.el('div', { class: 'head' }, SB.el('span', {}, `${SB.clock(dep, tz)} → ${SB.clock(arr, tz)}`),
      SB.el('span', { class: 'quiet' }, summary)),
    SB.el('div', { class: 'quiet' }, `leave ${SB.whenText(dep, nowS, tz)}`),
    SB.el('ol', { class: 'legs' }, (j.legs || []).map((l) => legItem(l, tz))));
}

async function plan() {
  const planStatus = (t) => { $('plan-status').textContent = t; };
  planStatus('Planning…');
  $('journeys').replaceChildren();
  try {
    const [from, to] = await Promise.all([placeParams($('from'), 'from'), placeParams($('to'), 'to')]);
    let q = `/api/v1/plan?${from}&${to}`;
    if ($('when').value) q += `&local_time=${encodeURIComponent($('when').value)}`;
    if ($('when-kind').value === 'arrive') q += '&arrive_by=true';
    const r = await SB.get(q);
    const list = r.journeys || [];
    $('journeys').replaceChildren(...list.map((j) => journeyItem(j, r.time_zone, SB.num(r.time_s))));
    planStatus(list.length ? `${list.length} journey${list.length === 1 ? '' : 's'}` : 'No journey found in the next hours.');
  } catch (e) { planStatus(e.message); }
}

$('plan').addEventListener('submit', (ev) => { ev.preventDefault(); plan(); });
$('plan-from').addEventListener('click', () => { if (shownStop) { setPlace($('from'), shownStop); $('to').focus(); } });
$('plan-to').addEventListener('click', () => { if (shownStop) { setPlace($('to'), shownStop); $('from').focus(); } });

$('search').addEventListener('submit', (ev) => { ev.preventDefault(); search($('q').value); });
$('locate').addEventListener('click', () => {
  if (!navigator.geolocation) return status('This browser cannot tell where you are: search by name instead.');
  status('Finding where you are…');
  navigator.geolocation.getCurrentPosition((p) => near(p.coords.latitude, p.coords.longitude),
    (e) => status(`Location not available (${e.message}): search by stop name or code.`), { timeout: 10000 });
});
SB.loadColors();
const params = new URLSearchParams(location.search);
if (params.get('lat') && params.get('lon')) near(Number(params.get('lat')), Number(params.get('lon')));
else if (params.get('q')) { $('q').value = params.get('q'); search(params.get('q')); }

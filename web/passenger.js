// Passenger page (/): stops near me (browser geolocation, or ?lat=..&lon=..) or by name/code,
// a stop's next arrivals with how far each bus is, and a bus: where it is on its route and its
// stops ahead with their predicted times.
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

async function showStop(stop) {
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

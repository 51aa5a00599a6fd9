// Shared by the pages (board, passenger page, console): plain JavaScript, no build step.
// Data comes from smartbusd's JSON mirror (/api/v1/..., the proto messages of
// proto/smartbus/v1 with their .proto field names; int64 fields arrive as strings).
'use strict';

const SB = {};

// Strings of every page, per language. A page picks its language with ?lang=zh-CN.
SB.strings = {
  en: {
    due: 'due', min: 'min', scheduled: 'scheduled', cancelled: 'cancelled',
    every: (n) => `every ${n} min`,
    skipped: 'does not stop here', stops_away: (n) => (n === 0 ? 'next stop' : `${n} stop${n === 1 ? '' : 's'} away`),
    km: 'km', m: 'm', at_stop: 'at the stop', route: 'Route', destination: 'Destination', arrives: 'Arrives',
    range: 'Likely', distance: 'Bus is', crowding: 'Crowding',
    stale_conn: 'Connection lost — reconnecting. Times below may be out of date.',
    stale_data: 'No new data from the buses — times below may be out of date.',
    no_arrivals: 'No buses in the next hour.', loading: 'Loading…', stop: 'Stop',
    late: 'late', early: 'early', on_time: 'on time', live: 'live',
    occupancy: {
      OCCUPANCY_EMPTY: 'empty', OCCUPANCY_MANY_SEATS_AVAILABLE: 'many seats',
      OCCUPANCY_FEW_SEATS_AVAILABLE: 'few seats', OCCUPANCY_STANDING_ROOM_ONLY: 'standing',
      OCCUPANCY_CRUSHED_STANDING_ROOM_ONLY: 'crowded', OCCUPANCY_FULL: 'full',
      OCCUPANCY_NOT_ACCEPTING_PASSENGERS: 'not boarding', OCCUPANCY_NOT_BOARDABLE: 'not boarding',
    },
    updated: 'updated', alerts: 'Service alerts',
  },
  'zh-CN': {
    due: '即将到站', min: '分钟', scheduled: '时刻表', cancelled: '已取消',
    every: (n) => `每 ${n} 分钟一班`,
    skipped: '本站不停', stops_away: (n) => (n === 0 ? '下一站' : `还有 ${n} 站`),
    km: '公里', m: '米', at_stop: '已到站', route: '线路', destination: '开往', arrives: '到站',
    range: '可能', distance: '车辆位置', crowding: '拥挤度',
    stale_conn: '连接中断，正在重连。以下时间可能已过时。',
    stale_data: '暂无车辆新数据，以下时间可能已过时。',
    no_arrivals: '一小时内没有车辆到站。', loading: '加载中…', stop: '站点',
    late: '晚点', early: '早到', on_time: '准点', live: '实时',
    occupancy: {
      OCCUPANCY_EMPTY: '空车', OCCUPANCY_MANY_SEATS_AVAILABLE: '座位充足',
      OCCUPANCY_FEW_SEATS_AVAILABLE: '座位较少', OCCUPANCY_STANDING_ROOM_ONLY: '需站立',
      OCCUPANCY_CRUSHED_STANDING_ROOM_ONLY: '拥挤', OCCUPANCY_FULL: '满载',
      OCCUPANCY_NOT_ACCEPTING_PASSENGERS: '不载客', OCCUPANCY_NOT_BOARDABLE: '不载客',
    },
    updated: '更新于', alerts: '服务通告',
  },
};

SB.lang = (() => {
  const l = new URLSearchParams(location.search).get('lang');
  return l && SB.strings[l] ? l : 'en';
})();
SB.t = SB.strings[SB.lang];
document.documentElement.lang = SB.lang;

// The operator's bearer token (console: "Dispatcher token"), kept for this tab only; sent with
// every API call when set (smartbusd with --tokens: operator reads need a viewer token, writes
// a dispatcher token; see services/server/auth.h).
SB.token = () => sessionStorage.getItem('smartbus-token') || '';
SB.setToken = (t) => (t ? sessionStorage.setItem('smartbus-token', t) : sessionStorage.removeItem('smartbus-token'));

// Calls a JSON mirror path; throws an Error with the server's message (and .status) on a
// non-2xx answer.
SB.request = async (path, method, body) => {
  const headers = { Accept: 'application/json' };
  if (SB.token()) headers.Authorization = `Bearer ${SB.token()}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const answer = await res.json().catch(() => ({}));
  if (!res.ok) {
    const e = new Error((answer.error && answer.error.message) || `${res.status} ${res.statusText}`);
    e.status = res.status;
    throw e;
  }
  return answer;
};
SB.get = (path) => SB.request(path, 'GET');
// POST an operator write (the request message as JSON).
SB.post = (path, body) => SB.request(path, 'POST', body || {});

SB.num = (v) => (v === undefined || v === null || v === '' ? 0 : Number(v));

// Route colours of the feed (GTFS route_color / route_text_color), by route id.
SB.colors = new Map();
SB.loadColors = async () => {
  const r = await SB.get('/api/v1/routes').catch(() => ({ routes: [] }));
  for (const x of r.routes || []) SB.colors.set(x.route_id, { color: x.color, text: x.text_color });
};

// A colour for a route: the feed's route_color when it has one, else a stable hue from the
// route id (so a route keeps its colour across pages and reloads).
SB.routeColor = (routeId, given) => {
  given = given || (SB.colors.get(routeId) || {}).color;
  if (given) return `#${given}`;
  let h = 2166136261;  // FNV-1a, spread over the hue circle by the golden angle
  for (const ch of String(routeId)) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
  return `hsl(${Math.round((h % 1000) * 137.508) % 360}, 65%, 34%)`;  // dark enough for white text (WCAG AA)
};

// Clock time of an epoch second in the agency's time zone.
SB.clock = (epochS, tz, withSeconds) => new Intl.DateTimeFormat(SB.lang, {
  hour: '2-digit', minute: '2-digit', second: withSeconds ? '2-digit' : undefined,
  hour12: false, timeZone: tz || undefined,
}).format(new Date(epochS * 1000));

// "due", "3 min", then the clock time past an hour.
SB.whenText = (epochS, nowS, tz) => {
  const s = epochS - nowS;
  if (s < 60) return SB.t.due;
  if (s < 3600) return `${Math.floor(s / 60)} ${SB.t.min}`;
  return SB.clock(epochS, tz);
};

// P10-P90 as minutes from now ("2–6 min"); "" when the range is empty.
SB.rangeText = (a, nowS) => {
  const lo = SB.num(a.predicted_arrival_p10), hi = SB.num(a.predicted_arrival_p90);
  if (!lo || !hi || hi <= lo) return '';
  const mlo = Math.max(0, Math.floor((lo - nowS) / 60)), mhi = Math.max(0, Math.ceil((hi - nowS) / 60));
  return mlo === mhi ? '' : `${mlo}–${mhi} ${SB.t.min}`;
};

const AT_STOP_M = 30;  // closer than this along the route: the bus is at the stop (GPS noise ~10 m)
SB.distanceText = (a) => {
  if (!a.live || SB.num(a.stops_away) < 0) return '';
  const d = Number(a.distance_m);
  const dist = !Number.isFinite(d) ? '' : d >= 1000 ? `${(d / 1000).toFixed(1)} ${SB.t.km}` : `${Math.round(d / 10) * 10} ${SB.t.m}`;
  if (SB.num(a.stops_away) === 0 && d < AT_STOP_M) return SB.t.at_stop;
  return [SB.t.stops_away(SB.num(a.stops_away)), dist].filter(Boolean).join(' · ');
};

SB.occupancyText = (o) => (o && SB.t.occupancy[o]) || '';
// 0 (unknown) .. 3 (crowded): how many filled figures a crowding gauge shows.
SB.occupancyLevel = (o) => ({
  OCCUPANCY_EMPTY: 1, OCCUPANCY_MANY_SEATS_AVAILABLE: 1, OCCUPANCY_FEW_SEATS_AVAILABLE: 2,
  OCCUPANCY_STANDING_ROOM_ONLY: 3, OCCUPANCY_CRUSHED_STANDING_ROOM_ONLY: 3, OCCUPANCY_FULL: 3,
  OCCUPANCY_NOT_ACCEPTING_PASSENGERS: 3, OCCUPANCY_NOT_BOARDABLE: 3,
}[o] || 0);

SB.delayText = (s) => {
  if (s === undefined || s === null || !Number.isFinite(Number(s))) return '';
  const m = Math.round(Number(s) / 60);
  if (m === 0) return SB.t.on_time;
  return m > 0 ? `+${m} ${SB.t.min} ${SB.t.late}` : `${-m} ${SB.t.min} ${SB.t.early}`;
};

// The text of a TranslatedString in the page's language (or the first one).
SB.translated = (ts) => {
  const list = (ts && ts.translations) || [];
  const want = SB.lang.toLowerCase();
  const hit = list.find((x) => (x.language || '').toLowerCase() === want)
    || list.find((x) => (x.language || '').toLowerCase().startsWith(want.slice(0, 2)))
    || list.find((x) => !x.language) || list[0];
  return hit ? hit.text : '';
};

SB.el = (tag, attrs, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'style') e.style.cssText = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== undefined && c !== null && c !== '') e.append(c);
  return e;
};

// WCAG 2 contrast ratio of two "RRGGBB" colours.
SB.contrast = (x, y) => {
  const lum = (hex) => {
    const c = [0, 2, 4].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255)
      .map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  const [a, b] = [lum(x), lum(y)].sort((p, q) => q - p);
  return (a + 0.05) / (b + 0.05);
};
const MIN_TEXT_CONTRAST = 4.5;  // WCAG AA for normal text

// A route badge: the route's colour; its text in the feed's route_text_color when that reads
// (WCAG AA), else in black or white, whichever reads better on the colour.
SB.badge = (a) => {
  const c = SB.colors.get(a.route_id) || {};
  let text = c.text || 'FFFFFF';
  if (c.color && SB.contrast(c.color, text) < MIN_TEXT_CONTRAST)
    text = SB.contrast(c.color, '000000') > SB.contrast(c.color, 'FFFFFF') ? '000000' : 'FFFFFF';
  return SB.el('span', {
    class: 'badge', style: `background:${SB.routeColor(a.route_id)};color:#${text}`,
  }, a.route_short_name || a.route_id);
};

// The network's routes with their shapes (/api/v1/routes?include_shapes=true), loaded once, and
// the position of every pattern stop (interpolated along the shape at its stop_dist_m, so the
// pages need no call per stop).
'use strict';

SB.routes = null;
SB.loadRoutes = async () => {
  if (SB.routes) return SB.routes;
  const r = await SB.get('/api/v1/routes?include_shapes=true');
  const byId = new Map();
  const stopPos = new Map();  // stop id -> [lat, lon]
  for (const route of r.routes || []) {
    SB.colors.set(route.route_id, { color: route.color, text: route.text_color });
    route.color = SB.routeColor(route.route_id);
    for (const p of route.patterns || []) {
      p.latlngs = (p.points || []).map((x) => [x.lat, x.lon]);
      const cum = [0];
      for (let i = 1; i < p.latlngs.length; i++) cum.push(cum[i - 1] + SB.metres(p.latlngs[i - 1], p.latlngs[i]));
      p.cum = cum;
      (p.stop_ids || []).forEach((id, k) => {
        if (!stopPos.has(id)) stopPos.set(id, SB.along(p, Number(p.stop_dist_m[k])));
      });
    }
    byId.set(route.route_id, route);
  }
  SB.routes = { list: r.routes || [], byId, stopPos };
  return SB.routes;
};

SB.metres = (a, b) => {
  const R = 6371008.8, rad = Math.PI / 180;
  const dlat = (b[0] - a[0]) * rad, dlon = (b[1] - a[1]) * rad;
  const h = Math.sin(dlat / 2) ** 2 + Math.cos(a[0] * rad) * Math.cos(b[0] * rad) * Math.sin(dlon / 2) ** 2;
  return 2 * R * Math.asin(Math.sqrt(h));
};

// The point `d` metres along a pattern's shape.
SB.along = (p, d) => {
  const pts = p.latlngs, cum = p.cum;
  if (!pts.length) return null;
  if (!(d > 0)) return pts[0];
  for (let i = 1; i < pts.length; i++) {
    if (cum[i] >= d) {
      const f = cum[i] > cum[i - 1] ? (d - cum[i - 1]) / (cum[i] - cum[i - 1]) : 0;
      return [pts[i - 1][0] + f * (pts[i][0] - pts[i - 1][0]), pts[i - 1][1] + f * (pts[i][1] - pts[i - 1][1])];
    }
  }
  return pts[pts.length - 1];
};

// The pattern a vehicle drives: of its route, the one holding its next stop, in its direction.
SB.patternOf = (v) => {
  const route = SB.routes && SB.routes.byId.get(v.route_id);
  if (!route) return null;
  const ps = route.patterns || [];
  return ps.find((p) => p.direction_id === v.direction_id && p.headsign === v.headsign && (p.stop_ids || []).includes(v.next_stop_id))
    || ps.find((p) => p.direction_id === v.direction_id && (p.stop_ids || []).includes(v.next_stop_id))
    || ps.find((p) => (p.stop_ids || []).includes(v.next_stop_id)) || ps[0] || null;
};

// A Leaflet map with no tile layer unless the server configured one (works with no internet).
SB.map = async (elementId) => {
  const map = L.map(elementId, { preferCanvas: true, attributionControl: true });
  const cfg = await SB.get('/api/v1/pages/config').catch(() => ({}));
  if (cfg.map_tiles_url) L.tileLayer(cfg.map_tiles_url, { attribution: cfg.map_tiles_attribution || '' }).addTo(map);
  return map;
};

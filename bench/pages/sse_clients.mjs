// N display boards for D seconds: each opens /api/v1/stops/{stop}/arrivals/events (Server-Sent
// Events) like web/board.js and counts the boards it receives. Prints one JSON line: clients
// connected, events, per-client events (min/median), the longest gap between two events of a
// client (ms), and clients that lost their stream.
//   node bench/pages/sse_clients.mjs http://127.0.0.1:8080 STOP[,STOP...] N SECONDS
const [base, stopsArg, nArg, secArg] = process.argv.slice(2);
const stops = stopsArg.split(','), n = Number(nArg), seconds = Number(secArg);
const stats = [];
const ac = new AbortController();
async function client(i) {
  const s = { events: 0, maxGapMs: 0, last: 0, lost: false, connected: false, firstMs: -1 };
  stats.push(s);
  const stop = stops[i % stops.length];
  try {
    const res = await fetch(`${base}/api/v1/stops/${encodeURIComponent(stop)}/arrivals/events?limit=12&heartbeat_s=5`, { signal: ac.signal });
    if (!res.ok) { s.lost = true; return; }
    s.connected = true;
    const dec = new TextDecoder();
    let buf = '';
    for await (const chunk of res.body) {
      buf += dec.decode(chunk, { stream: true });
      let k;
      while ((k = buf.indexOf('\n\n')) >= 0) {
        const ev = buf.slice(0, k); buf = buf.slice(k + 2);
        if (!ev.startsWith('event: board')) continue;
        const now = Date.now();
        if (s.last) s.maxGapMs = Math.max(s.maxGapMs, now - s.last);
        else s.firstMs = now - t0;
        s.last = now; s.events++;
      }
    }
    s.lost = !ac.signal.aborted;
  } catch (e) { if (!ac.signal.aborted) s.lost = true; }
}
const all = [];
const t0 = Date.now();
for (let i = 0; i < n; i++) all.push(client(i));
setTimeout(() => ac.abort(), seconds * 1000);
await Promise.allSettled(all);
const ev = stats.map((s) => s.events).sort((a, b) => a - b);
console.log(JSON.stringify({
  clients: n, connected: stats.filter((s) => s.connected).length, lost: stats.filter((s) => s.lost).length,
  events: ev.reduce((a, b) => a + b, 0), events_min: ev[0], events_median: ev[Math.floor(ev.length / 2)],
  max_gap_ms: Math.max(...stats.map((s) => s.maxGapMs)),
  first_event_ms_max: Math.max(...stats.map((s) => s.firstMs)),
}));

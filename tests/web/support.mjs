// Shared by the browser tests (tests/web/*_test.mjs): Debian chromium's flags, a free port, a
// wait for smartbusd's HTTP side, and the playwright-core loader; tests/server/grpcjs_tls_test.mjs
// uses the port and the wait too.
import net from 'node:net';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function freePort() {
  return new Promise((resolve) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); }); });
}

// True once `url` answers 2xx, false after `ms` (or as soon as the child process `proc`, when
// given, has exited).
export async function waitHttp(url, ms, proc) {
  const end = Date.now() + ms;
  while (Date.now() < end && (!proc || proc.exitCode === null)) {
    try { const r = await fetch(url); if (r.ok) return true; } catch { /* not up yet */ }
    await sleep(100);
  }
  return false;
}

// Debian's chromium through npm playwright-core (installed by deploy/install-deps.sh); `extra`:
// more command-line flags (the HTTPS board test's certificate pin).
export async function launchChromium(extra = []) {
  let chromium;
  try { ({ chromium } = require('playwright-core')); } catch {
    throw new Error('npm package playwright-core missing: run deploy/install-deps.sh (npm ci into node_modules/)');
  }
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: [...CHROMIUM_FLAGS, ...extra] });
}

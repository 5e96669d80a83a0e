'use strict';
/**
 * What one heartbeat round costs the event loop: N idle sockets held on a gateway build, the loop's
 * worst lag over whole heartbeat rounds (prom-client's `nodejs_eventloop_lag_max_seconds` on
 * /metrics, reset by each scrape), beside the same with the heartbeat out of the way. Pinging every
 * socket in one tick used to stall the loop ~200–380 ms every 25 s with 10,000 sockets.
 *
 *   node bench/heartbeat-stall.js [--main dist/main.js] [--sockets 10000] [--rounds 2] [--interval-ms 25000]
 *
 * Loopback only, unpinned; the gateway as lib/relays.js starts every gateway. Prints JSON.
 */
const path = require('node:path');
const WebSocket = require('ws');
const { startRelay } = require('./lib/relays');
const { BENCH_CLIENT_HEADERS } = require('./lib/gateway-launch');
const { stopProcess, ROOT } = require('./lib/children');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const LAG = 'holysheep_gateway_nodejs_eventloop_lag_max_seconds';

function parseArgs(argv) {
  const o = { main: path.join(ROOT, 'dist', 'main.js'), sockets: 10_000, rounds: 2, intervalMs: 25_000 };
  const keys = { '--main': 'main', '--sockets': 'sockets', '--rounds': 'rounds', '--interval-ms': 'intervalMs' };
  for (let i = 0; i < argv.length; i += 2) {
    if (!keys[argv[i]]) throw new Error(`unknown option ${argv[i]}`);
    o[keys[argv[i]]] = argv[i] === '--main' ? path.resolve(argv[i + 1]) : Number(argv[i + 1]);
  }
  return o;
}

const lagMs = async (port) => Number((new RegExp(`^${LAG} ([0-9.e+-]+)`, 'm').exec(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()) || [])[1]) * 1000;

/** One gateway holding `sockets` idle sockets: its worst loop lag over each of `rounds` windows. */
async function measure({ main, sockets, rounds, heartbeatMs, windowMs }) {
  const relay = await startRelay({ name: 'gateway', kind: 'gateway', main, env: { HEARTBEAT_INTERVAL_MS: String(heartbeatMs) } }, 9, null);
  const clients = [];
  let pings = 0;
  try {
    for (let i = 0; i < sockets; i += 200) {
      const batch = Array.from({ length: Math.min(200, sockets - i) }, () => {
        const ws = new WebSocket(relay.url, { headers: BENCH_CLIENT_HEADERS });
        ws.on('ping', () => pings++); // ws answers with a pong by itself
        clients.push(ws);
        return new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      });
      await Promise.all(batch);
    }
    await sleep(1_000);
    const windows = [];
    for (let round = 0; round < rounds; round++) {
      await lagMs(relay.port);
      const before = pings;
      await sleep(windowMs);
      windows.push({ lagMaxMs: Math.round((await lagMs(relay.port)) * 10) / 10, pings: pings - before });
    }
    return windows;
  } finally {
    for (const ws of clients) ws.terminate();
    await stopProcess(relay);
  }
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  // A window a little longer than a round, so that each holds one whole round.
  const windowMs = o.intervalMs + 1_000;
  const withHeartbeat = await measure({ ...o, heartbeatMs: o.intervalMs, windowMs });
  const heartbeatOutOfTheWay = await measure({ ...o, heartbeatMs: 3_600_000, windowMs });
  process.stdout.write(`${JSON.stringify({ main: path.relative(process.cwd(), o.main), sockets: o.sockets, intervalMs: o.intervalMs, windowMs, withHeartbeat, heartbeatOutOfTheWay }, null, 2)}\n`);
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`heartbeat-stall: ${error.message}\n`);
    process.exit(1);
  },
);

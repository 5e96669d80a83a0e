'use strict';
/**
 * What one heartbeat round costs the event loop: N idle sockets held on a gateway build, the
 * loop's worst lag over whole heartbeat rounds (prom-client's `nodejs_eventloop_lag_max_seconds`
 * on /metrics, reset by each scrape), beside the same with the heartbeat out of the way (an
 * interval longer than the window). Issue 13: pinging every socket in one tick stalled the loop
 * ~200–250 ms every 25 s with 10,000 sockets.
 *
 *   node bench/heartbeat-stall.js [--main dist/main.js] [--sockets 10000] [--rounds 2] [--interval-ms 25000]
 *
 * Loopback only; the gateway runs with the image's V8 flags, AUTH_MODE=none and an upstream nobody
 * calls. Prints JSON.
 */
const { spawn } = require('node:child_process');
const path = require('node:path');
const WebSocket = require('ws');
const { GATEWAY_NODE_FLAGS, freePort } = require('./lib/gateway-launch');

const HOST = '127.0.0.1';
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function parseArgs(argv) {
  const o = { main: path.join(__dirname, '..', 'dist', 'main.js'), sockets: 10_000, rounds: 2, intervalMs: 25_000 };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--main') o.main = path.resolve(value);
    else if (flag === '--sockets') o.sockets = Number(value);
    else if (flag === '--rounds') o.rounds = Number(value);
    else if (flag === '--interval-ms') o.intervalMs = Number(value);
    else throw new Error(`unknown option ${flag}`);
  }
  return o;
}

async function metric(port, name) {
  const text = await (await fetch(`http://${HOST}:${port}/metrics`)).text();
  const match = text.match(new RegExp(`^${name} ([0-9.e+-]+)`, 'm'));
  return match ? Number(match[1]) : null;
}

/** One gateway with `sockets` idle sockets; the loop's worst lag over each of `rounds` windows. */
async function measure({ main, sockets, rounds, heartbeatMs, windowMs }) {
  const port = await freePort(HOST);
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    PORT: String(port),
    HOST,
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    HOLYSHEEP_BASE_URL: `http://${HOST}:9/v1`,
    HOLYSHEEP_API_KEY: 'bench-not-a-secret',
    AUTH_MODE: 'none',
    MAX_CONNECTIONS: '20000',
    MAX_CONNECTIONS_PER_PRINCIPAL: '20000',
    HEARTBEAT_INTERVAL_MS: String(heartbeatMs),
  };
  const child = spawn(process.execPath, [...GATEWAY_NODE_FLAGS, main], { env, stdio: ['ignore', 'ignore', 'inherit'], cwd: path.join(__dirname, '..') });
  const clients = [];
  try {
    for (let ready = false; !ready; ) {
      if (child.exitCode !== null) throw new Error(`${main} exited with ${child.exitCode}`);
      ready = await fetch(`http://${HOST}:${port}/health/ready`).then((r) => r.ok, () => false);
      if (!ready) await sleep(100);
    }
    let pings = 0;
    for (let i = 0; i < sockets; i += 200) {
      const batch = Array.from({ length: Math.min(200, sockets - i) }, () => {
        const ws = new WebSocket(`ws://${HOST}:${port}/v1/ws`);
        ws.on('ping', () => pings++); // ws answers with a pong by itself
        clients.push(ws);
        return new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      });
      await Promise.all(batch);
    }
    await sleep(1_000);
    const windows = [];
    for (let round = 0; round < rounds; round++) {
      await metric(port, 'holysheep_gateway_nodejs_eventloop_lag_max_seconds');
      const before = pings;
      await sleep(windowMs);
      const lagMax = await metric(port, 'holysheep_gateway_nodejs_eventloop_lag_max_seconds');
      windows.push({ lagMaxMs: Math.round(lagMax * 1000 * 10) / 10, pings: pings - before });
    }
    return windows;
  } finally {
    for (const ws of clients) ws.terminate();
    child.kill('SIGTERM');
  }
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  // A window a little longer than a round, so that each holds one whole round.
  const windowMs = o.intervalMs + 1_000;
  const withHeartbeat = await measure({ ...o, heartbeatMs: o.intervalMs, windowMs });
  const without = await measure({ ...o, heartbeatMs: 3_600_000, windowMs });
  process.stdout.write(`${JSON.stringify({ main: path.relative(process.cwd(), o.main), sockets: o.sockets, intervalMs: o.intervalMs, windowMs, withHeartbeat, heartbeatOutOfTheWay: without }, null, 2)}\n`);
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`heartbeat-stall: ${error.message}\n`);
    process.exit(1);
  },
);

'use strict';
/**
 * The relays under test, started alike: pinned to the relay CPU, `--expose-gc` with
 * lib/relay-probe.js preloaded (a GC on SIGUSR2, its pauses and loop delay on SIGWINCH), and ready
 * once they listen (the gateway: once GET /health/ready answers 200).
 *
 * A relay definition: { name, kind: 'control' | 'bare' | 'gateway', main?, env?, redis? }.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startNode, startServer, stopProcess, tailText, pin } = require('./children');
const { GATEWAY_NODE_FLAGS, BENCH_AUTH_ENV, freePort } = require('./gateway-launch');
const { readMem } = require('./proc');

const HOST = '127.0.0.1';
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
/** Where the relays' probes write their reports: one directory per run, removed when it ends. */
const PROBE_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-probe-'));
process.on('exit', () => fs.rmSync(PROBE_DIR, { recursive: true, force: true }));
const RELAY_NODE_ARGS = ['--expose-gc', '-r', path.join(__dirname, 'relay-probe.js')];

/** The gateway as production runs it (the image's V8 flags, NODE_ENV=production), limits raised for load. */
function gatewayEnv(port, upstreamPort, extra) {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    LANG: process.env.LANG || 'C.UTF-8',
    PORT: String(port),
    HOST,
    NODE_ENV: 'production',
    HOLYSHEEP_BASE_URL: `http://${HOST}:${upstreamPort}/v1`,
    HOLYSHEEP_API_KEY: 'bench-not-a-secret',
    LOG_LEVEL: 'warn',
    MAX_CONNECTIONS: '20000',
    MAX_CONNECTIONS_PER_PRINCIPAL: '20000',
    MAX_STREAMS_PER_CONNECTION: '1000',
    RATE_LIMIT_REQUESTS_PER_MINUTE: '1000000',
    // The per-socket inbound frame cap would drop a multiplexed socket's stream starts as a flood.
    MAX_FRAMES_PER_SECOND: '100000',
    UPSTREAM_MAX_RETRIES: '0',
    ...BENCH_AUTH_ENV,
    BENCH_PROBE_DIR: PROBE_DIR,
    ...extra,
  };
}

async function startGateway(def, upstreamPort, cpu) {
  const port = await freePort(HOST);
  const env = gatewayEnv(port, upstreamPort, { ...def.env, ...(def.redis ? def.redis.env : {}) });
  // NODE_FLAGS (a variant's): V8 flags NODE_OPTIONS refuses, passed on node's command line.
  const flags = (env.NODE_FLAGS || '').split(/\s+/).filter(Boolean);
  delete env.NODE_FLAGS;
  const child = startNode(def.name, [def.main], { env, nodeArgs: [...GATEWAY_NODE_FLAGS, ...flags, ...RELAY_NODE_ARGS], cpu });
  child.stdout.resume();
  child.port = port;
  for (const deadline = Date.now() + 30_000; ; await sleep(100)) {
    if (child.exitInfo) throw new Error(`${def.name} exited during startup (${JSON.stringify(child.exitInfo)})${tailText(child)}`);
    const status = await fetch(`http://${HOST}:${port}/health/ready`, { signal: AbortSignal.timeout(1000) }).then((r) => r.status, () => 0);
    if (status === 200) break;
    if (Date.now() > deadline) {
      await stopProcess(child, 500);
      throw new Error(`${def.name} did not answer 200 on GET /health/ready within 30 s${tailText(child)}`);
    }
  }
  if (cpu !== null) pin(child.pid, cpu);
  return child;
}

/** Starts a relay; `cpu` null leaves it on the harness's CPU (--no-pin). */
async function startRelay(def, upstreamPort, cpu) {
  const child =
    def.kind === 'gateway'
      ? await startGateway(def, upstreamPort, cpu)
      : await startServer(def.name, `${def.kind}-relay.js`, {
          env: { UPSTREAM_BASE_URL: `http://${HOST}:${upstreamPort}/v1`, UPSTREAM_API_KEY: 'bench-not-a-secret', BENCH_PROBE_DIR: PROBE_DIR },
          nodeArgs: RELAY_NODE_ARGS,
          cpu,
        });
  child.def = def;
  child.url = def.kind === 'gateway' ? `ws://${HOST}:${child.port}/v1/ws` : `ws://${HOST}:${child.port}`;
  return child;
}

/**
 * The relay's GC pauses and event-loop delay since the previous call (lib/relay-probe.js), or null
 * when it is gone or its probe did not answer within 5 s: a missing report fails the smoke test.
 */
async function probe(pid) {
  const file = path.join(PROBE_DIR, `${pid}.json`);
  const read = () => {
    try {
      return JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch {
      return null;
    }
  };
  const before = read();
  try {
    process.kill(pid, 'SIGWINCH');
  } catch {
    return null;
  }
  for (const deadline = Date.now() + 5_000; Date.now() < deadline; ) {
    await sleep(10);
    const report = read();
    if (report && (!before || report.seq > before.seq)) return report;
  }
  return null;
}

/** RSS after a full GC in the relay (SIGUSR2, lib/relay-probe.js): live memory, not pending garbage. */
async function rssAfterGc(pid) {
  process.kill(pid, 'SIGUSR2');
  await sleep(400);
  return readMem(pid).rssKiB;
}

module.exports = { HOST, gatewayEnv, startRelay, probe, rssAfterGc };

'use strict';
/**
 * A private redis-server for the run (no persistence, on the harness's CPU, under the guard), so
 * that INFO commandstats counts the gateway's commands only and INFO's CPU figures are the Redis
 * log's own; and a private Redis Cluster of three primaries (issue 26), whose figures are the sums
 * over its nodes. Either is `{ env, ports, children }`: the gateway's environment to reach it, the
 * ports to sample, the processes to stop.
 */
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const Redis = require('ioredis');
const { startGuarded, tailText } = require('./children');
const { freePort } = require('./gateway-launch');

const HOST = '127.0.0.1';
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** One command on a connection of its own (never queued behind anything), then closed. */
async function command(port, args) {
  const client = new Redis({ host: HOST, port, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 3000 });
  client.on('error', () => undefined); // the awaited command rejects with it
  try {
    await client.connect();
    return await client.call(...args);
  } finally {
    client.disconnect();
  }
}

const hasRedisServer = () => {
  const r = spawnSync('redis-server', ['--version']);
  return !r.error && r.status === 0;
};

/** One redis-server on a free port, answering PING; `extra` are more of its options. */
async function startServer(name, extra = []) {
  const port = await freePort(HOST);
  const child = startGuarded(name, 'redis-server', ['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning', ...extra]);
  for (const deadline = Date.now() + 10_000; ; await sleep(50)) {
    if (child.exitInfo) throw new Error(`${name} exited during startup${tailText(child)}`);
    if ((await command(port, ['PING']).catch(() => null)) === 'PONG') break;
    if (Date.now() > deadline) throw new Error(`${name} did not answer PING within 10 s${tailText(child)}`);
  }
  return { port, child };
}

async function startRedis() {
  if (!hasRedisServer()) throw new Error('redis-server is not installed: the gateway+redis target needs a private one (or pass --no-redis)');
  const { port, child } = await startServer('redis');
  return { env: { REDIS_URL: `redis://${HOST}:${port}` }, ports: [port], children: [child] };
}

/**
 * Three primaries, no replicas (replication would add the replicas' own work, which a sizing per
 * primary does not count), slots spread by `redis-cli --cluster create`; ready when every node
 * says `cluster_state:ok`. Cluster bus ports are the nodes' + 10000: a free port's bus port is
 * checked free too.
 */
async function startRedisCluster() {
  if (!hasRedisServer()) throw new Error('redis-server is not installed: the gateway+cluster target needs one (or pass --no-cluster)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-redis-cluster-'));
  const nodes = [];
  while (nodes.length < 3) {
    const node = await startServer(`redis-cluster-${nodes.length}`, ['--cluster-enabled', 'yes', '--cluster-config-file', path.join(dir, `nodes-${nodes.length}.conf`), '--cluster-node-timeout', '5000']);
    nodes.push(node);
  }
  const ports = nodes.map((n) => n.port);
  const create = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `${HOST}:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8', timeout: 30_000 });
  if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
  for (const deadline = Date.now() + 20_000; ; await sleep(100)) {
    const states = await Promise.all(ports.map((p) => command(p, ['CLUSTER', 'INFO']).catch(() => '')));
    if (states.every((text) => /cluster_state:ok/.test(text))) break;
    if (Date.now() > deadline) throw new Error('the bench Redis Cluster did not reach cluster_state:ok within 20 s');
  }
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return { env: { REDIS_CLUSTER_NODES: ports.map((p) => `${HOST}:${p}`).join(',') }, ports, children: nodes.map((n) => n.child) };
}

/**
 * { calls: {command: n}, cpuSec }: calls per command since the server started (INFO commandstats,
 * without this probe's own INFO and HELLO) and the server's CPU (used_cpu_sys + used_cpu_user).
 */
async function sample(redis) {
  const calls = {};
  let cpuSec = 0;
  for (const port of redis.ports) {
    const text = await command(port, ['INFO', 'all']);
    // A cluster's own traffic between nodes is not commands; the gateway's CLUSTER SLOTS refreshes are.
    for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) if (m[1] !== 'info' && m[1] !== 'hello') calls[m[1]] = (calls[m[1]] || 0) + Number(m[2]);
    const cpu = (name) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(text)[1]);
    cpuSec += cpu('used_cpu_sys') + cpu('used_cpu_user');
  }
  return { calls, cpuSec };
}

/** What the server did between two samples: { commands, calls, cpuSec }. */
function delta(before, after) {
  const calls = {};
  for (const [k, v] of Object.entries(after.calls)) if (v > (before.calls[k] || 0)) calls[k] = v - (before.calls[k] || 0);
  return { commands: Object.values(calls).reduce((a, b) => a + b, 0), calls, cpuSec: after.cpuSec - before.cpuSec };
}

module.exports = { startRedis, startRedisCluster, sample, delta };

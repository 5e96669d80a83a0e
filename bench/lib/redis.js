'use strict';
/**
 * A private redis-server for the run (no persistence, on the harness's CPU, under the guard), so
 * that INFO commandstats counts the gateway's commands only and INFO's CPU figures are the Redis
 * log's own.
 */
const { spawnSync } = require('node:child_process');
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

async function startRedis() {
  if (!hasRedisServer()) throw new Error('redis-server is not installed: the gateway+redis target needs a private one (or pass --no-redis)');
  const port = await freePort(HOST);
  const child = startGuarded('redis', 'redis-server', ['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning']);
  for (const deadline = Date.now() + 10_000; ; await sleep(50)) {
    if (child.exitInfo) throw new Error(`redis-server exited during startup${tailText(child)}`);
    if ((await command(port, ['PING']).catch(() => null)) === 'PONG') break;
    if (Date.now() > deadline) throw new Error(`redis-server did not answer PING within 10 s${tailText(child)}`);
  }
  return { url: `redis://${HOST}:${port}`, port, child };
}

/**
 * { calls: {command: n}, cpuSec }: calls per command since the server started (INFO commandstats,
 * without this probe's own INFO and HELLO) and the server's CPU (used_cpu_sys + used_cpu_user).
 */
async function sample(redis) {
  const text = await command(redis.port, ['INFO', 'all']);
  const calls = {};
  for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) if (m[1] !== 'info' && m[1] !== 'hello') calls[m[1]] = Number(m[2]);
  const cpu = (name) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(text)[1]);
  return { calls, cpuSec: cpu('used_cpu_sys') + cpu('used_cpu_user') };
}

/** What the server did between two samples: { commands, calls, cpuSec }. */
function delta(before, after) {
  const calls = {};
  for (const [k, v] of Object.entries(after.calls)) if (v > (before.calls[k] || 0)) calls[k] = v - (before.calls[k] || 0);
  return { commands: Object.values(calls).reduce((a, b) => a + b, 0), calls, cpuSec: after.cpuSec - before.cpuSec };
}

module.exports = { startRedis, sample, delta };

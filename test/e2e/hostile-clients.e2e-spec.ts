/**
 * One authenticated principal attacks the built service (`dist/main.js`, a process of its own, as in
 * a pod) from another process, at the rates the gateway allows, while an innocent bystander streams
 * an answer and a probe polls liveness (issue #8). What the attack may cost everybody else is
 * bounded: the bystander's chunks and the probe stay prompt, its socket is never taken for dead,
 * and the gateway's memory stays within what its limits promise.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chunk, FakeUpstream, type UpstreamCall } from '../support/fake-upstream';
import { TEST_API_KEY } from '../support/gateway-app';
import { listeningPort, runService, type ServiceProcess } from '../support/service-process';
import { gatewayMetric } from '../support/metrics';
import { TestClient } from '../support/ws-client';

const ALICE = 'alice-0123456789abcdef-secret';
const MALLORY = 'mallory-0123456789abcdef-secret';
const HOSTILE_CLIENT = join(__dirname, '..', 'support', 'hostile-client.js');
/** The bystander's upstream writes a chunk this often. */
const CHUNK_EVERY_MS = 20;
/** What the attack may add to the bystander's inter-chunk gaps and to a liveness probe (issue #8). */
const ALLOWED_ADDED_MS = 50;

interface Attack {
  sockets: number;
  framesPerSecond: number;
  durationMs: number;
  frames: string[];
  pauseReading?: boolean;
}

/** Runs the hostile client to completion in its own process. */
function attack(port: number, options: Attack): Promise<{ sent: number; closes: Record<string, number> }> {
  const child = spawn(process.execPath, [HOSTILE_CLIENT, JSON.stringify({ url: `ws://127.0.0.1:${port}/v1/ws`, apiKey: MALLORY, ...options })], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (data: Buffer) => (out += data.toString()));
  return new Promise((resolve, reject) =>
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`hostile client exited with ${code}`)))),
  );
}

/** Resident memory of a process, in bytes. */
function rss(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error('no VmRSS');
  return Number(match[1]) * 1024;
}

/** Polls `url` every 25 ms until stopped; returns when each request ended and how long it took. */
function probe(url: string): { stop(): Promise<Array<{ at: number; added: number }>> } {
  const durations: Array<{ at: number; added: number }> = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const started = performance.now();
      const response = await fetch(url);
      await response.text();
      if (response.status !== 200) throw new Error(`liveness answered ${response.status}`);
      const at = performance.now();
      durations.push({ at, added: at - started });
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return durations;
    },
  };
}

/** Bytes the gateway holds for its sockets, unsent (its own gauge). */
async function sendBufferBytes(port: number): Promise<number> {
  const bytes = await gatewayMetric(port, 'send_buffer_bytes');
  if (bytes === undefined) throw new Error('no send-buffer metric');
  return bytes;
}

/** The largest and the count of a series of measurements. */
function worst(samples: Array<{ added: number }>): { max: number; count: number } {
  return { max: Math.round(Math.max(...samples.map((s) => s.added))), count: samples.length };
}

/** The gateway's largest event-loop delay since the previous scrape (prom-client resets it on each). */
async function eventLoopLagMaxMs(port: number): Promise<number> {
  const seconds = await gatewayMetric(port, 'nodejs_eventloop_lag_max_seconds');
  if (seconds === undefined) throw new Error('no event-loop lag metric');
  return Math.round(seconds * 1000);
}

/** Streams chunks carrying their send time every CHUNK_EVERY_MS until stopped. */
function pace(call: UpstreamCall): { stop(): void } {
  call.startSse();
  let n = 0;
  const timer = setInterval(() => {
    call.res.write(`data: ${JSON.stringify(chunk({ content: `${n++}@${performance.now()};` }))}\n\n`);
  }, CHUNK_EVERY_MS);
  return {
    stop: () => {
      clearInterval(timer);
      call.res.write(`data: ${JSON.stringify(chunk({}, 'stop'))}\n\ndata: [DONE]\n\n`);
      call.res.end();
    },
  };
}

describe('hostile clients against the built service (e2e, real processes)', () => {
  // Each attack runs for seconds of real time, after a quiet phase of its own.
  jest.setTimeout(60_000);
  // The bounds compare worst cases timed on a shared 2-core machine: one stall of the host alone
  // (another tenant taking the cores for tens of ms) in the attack phase fails a run (seen about
  // once in 20 full-suite runs). Such a run is measured once more; a gateway that really holds up a
  // bystander or the liveness probe fails both.
  jest.retryTimes(1, { logErrorsBeforeRetry: true });
  let upstream: FakeUpstream;
  let service: (ServiceProcess & { port: number }) | undefined;

  beforeEach(async () => {
    upstream = await FakeUpstream.start();
  });
  afterEach(async () => {
    if (service && service.child.exitCode === null) service.child.kill('SIGKILL');
    await upstream.close();
  });

  async function start(env: Record<string, string> = {}) {
    const proc = runService({
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: '0',
      HOLYSHEEP_API_KEY: TEST_API_KEY,
      HOLYSHEEP_BASE_URL: upstream.baseUrl,
      AUTH_MODE: 'api_key',
      AUTH_API_KEYS: `alice:${ALICE},mallory:${MALLORY}`,
      ...env,
    });
    service = { ...proc, port: await listeningPort(proc) };
    return service;
  }

  it('costly frames at the allowed rates, on many sockets, add under 50 ms to another stream and to liveness', async () => {
    // A short heartbeat: a stalled loop would have the bystander's pongs read late and close it 4001.
    const { port } = await start({ HEARTBEAT_INTERVAL_MS: '300' });
    const { client: bystander } = await TestClient.ready(`ws://127.0.0.1:${port}/v1/ws`, { headers: { authorization: `Bearer ${ALICE}` } });
    bystander.send({ type: 'chat.request', id: 'innocent', messages: [{ role: 'user', content: 'hi' }] });
    const upstreamStream = pace(await upstream.nextCall());
    const liveness = probe(`http://127.0.0.1:${port}/health/live`);
    const chunks = (n: number) => bystander.next((f) => f.type === 'chat.chunk' && f.chunk.choices[0].delta.content?.startsWith(`${n}@`), 10_000);

    // A quiet phase first, as the control: the same measurements without the attack.
    await chunks(25);
    await eventLoopLagMaxMs(port); // the gateway's own lag histogram restarts at each scrape
    const quietFrom = performance.now();
    await chunks(175);
    const attackFrom = performance.now();
    const quietLagMs = await eventLoopLagMaxMs(port);
    const result = await attack(port, { sockets: 10, framesPerSecond: 50, durationMs: 5_000, frames: ['ones', 'many', 'deep', 'bigping'] });
    const attackTo = performance.now();
    const gatewayLagMs = await eventLoopLagMaxMs(port);
    const probes = await liveness.stop();
    upstreamStream.stop();
    const frames = await bystander.collectStream('innocent', 10_000);

    expect(result.sent).toBeGreaterThan(40);
    // Every chunk arrived, in order; how much later than its pace did each one come?
    const chunkFrames = frames.filter((f) => f.type === 'chat.chunk' && f.chunk.choices[0].delta.content);
    const texts = chunkFrames.map((f) => f.chunk.choices[0].delta.content as string);
    texts.forEach((text, i) => expect(text.startsWith(`${i}@`)).toBe(true));
    const sentAt = texts.map((text) => Number(text.slice(text.indexOf('@') + 1, -1)));
    const arrivals = chunkFrames.map((f) => bystander.receivedAt.get(f)!);
    const gaps = arrivals.slice(1).map((at, i) => ({ at, added: at - arrivals[i]! - (sentAt[i + 1]! - sentAt[i]!) }));
    const quiet = worst(gaps.filter((g) => g.at >= quietFrom && g.at < attackFrom));
    const attacked = worst(gaps.filter((g) => g.at >= attackFrom && g.at < attackTo));
    const quietProbes = worst(probes.filter((p) => p.at >= quietFrom && p.at < attackFrom));
    const attackedProbes = worst(probes.filter((p) => p.at >= attackFrom && p.at < attackTo));
    const report = { quietLagMs, gatewayLagMs, quiet, attacked, quietProbes, attackedProbes };

    // The gateway's own event loop, what the bystander saw and what the probe saw each grew by less
    // than the bound over the quiet phase (the control absorbs this shared machine's own noise —
    // other processes taking the cores — which both phases see alike).
    expect({
      gatewayLoopWithinBound: gatewayLagMs <= quietLagMs + ALLOWED_ADDED_MS,
      bystanderWithinBound: attacked.max <= quiet.max + ALLOWED_ADDED_MS,
      livenessWithinBound: attackedProbes.max <= quietProbes.max + ALLOWED_ADDED_MS,
      report,
    }).toEqual({ gatewayLoopWithinBound: true, bystanderWithinBound: true, livenessWithinBound: true, report });
    expect(attacked.count).toBeGreaterThan(200);
    expect(attackedProbes.count).toBeGreaterThan(50);
    expect(frames.at(-1)).toMatchObject({ type: 'chat.done', finish_reason: 'stop' });
    expect(bystander.ws.readyState).toBe(bystander.ws.OPEN);
    bystander.ws.terminate();
  });

  it('a client that never reads cannot make the gateway buffer: memory stays within the mark, and 4008 closes it', async () => {
    const highWater = 256 * 1024;
    const sockets = 4;
    // Generous other limits (64 KB pongs, 16 MiB/s in), so that the send-buffer mark is what bounds.
    const { port, child } = await start({
      SEND_BUFFER_HIGH_WATER_BYTES: String(highWater),
      SLOW_CLIENT_TIMEOUT_MS: '4000',
      MAX_PING_TS_BYTES: '65536',
      INBOUND_BYTES_PER_SECOND: String(16 * 1024 * 1024),
    });
    const samples: Array<{ at: number; rss: number; queued: number }> = [];
    const startedAt = performance.now();
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        samples.push({ at: performance.now() - startedAt, rss: rss(child.pid!), queued: await sendBufferBytes(port) });
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    await attack(port, { sockets, framesPerSecond: 50, durationMs: 9_000, frames: ['bigping', 'ping64k'], pauseReading: true });
    sampling = false;
    await sampler;

    // What waits for each socket never passes the mark by more than one frame already read…
    const maxQueued = Math.max(...samples.map((s) => s.queued));
    expect(maxQueued).toBeGreaterThan(0);
    expect(maxQueued).toBeLessThanOrEqual(sockets * (highWater + 256 * 1024));
    // …so memory stays flat however long the client keeps sending. Before the fix every pong was
    // queued: the same attack grew the process by ~170 MB in 9 s. The room left here is for the
    // garbage collector, which this attack keeps busy (64 KB frames at 12 MB/s).
    const growth = Math.max(...samples.map((s) => s.rss)) - samples[0]!.rss;
    expect(growth).toBeLessThan(96 * 1024 * 1024);
    const closes = service!.output
      .join('')
      .split('\n')
      .filter((line) => line.includes('"socket_closed"') && line.includes('"principal":"mallory"'))
      .map((line) => JSON.parse(line) as { closed_by: string });
    // The slow-client timer closed them, not the heartbeat (their pongs were never read).
    expect(closes.filter((c) => c.closed_by === 'slow')).toHaveLength(sockets);
  });
});

/**
 * Graceful shutdown on a real SIGTERM: the built service (`dist/main.js`) runs as a child process,
 * as in a Kubernetes pod, against the fake upstream.
 */
import { once } from 'node:events';
import { WebSocket } from 'ws';
import { chunk, FakeUpstream } from '../support/fake-upstream';
import { TEST_API_KEY } from '../support/gateway-app';
import { listeningPort, outputIncludes, runService, type ServiceProcess } from '../support/service-process';
import { startStreaming } from '../support/stream-script';
import { TestClient } from '../support/ws-client';

type Service = ServiceProcess & { port: number };

async function startService(env: Record<string, string>): Promise<Service> {
  const service = runService({ NODE_ENV: 'production', AUTH_MODE: 'none', HOST: '127.0.0.1', PORT: '0', HOLYSHEEP_API_KEY: TEST_API_KEY, ...env });
  return { ...service, port: await listeningPort(service) };
}

describe('drain on SIGTERM (e2e, real process)', () => {
  let upstream: FakeUpstream;
  let service: Service | undefined;

  beforeEach(async () => {
    upstream = await FakeUpstream.start();
  });
  afterEach(async () => {
    if (service && service.child.exitCode === null) service.child.kill('SIGKILL');
    await upstream.close();
    expect(service?.output.join('')).not.toContain(TEST_API_KEY);
  });

  it('stops accepting, lets the stream finish, closes with 1012 and exits 0', async () => {
    service = await startService({ HOLYSHEEP_BASE_URL: upstream.baseUrl, DRAIN_TIMEOUT_MS: '10000' });
    const base = `127.0.0.1:${service.port}`;
    expect((await fetch(`http://${base}/health/ready`)).status).toBe(200);

    const { client } = await TestClient.ready(`ws://${base}/v1/ws`);
    const { client: idle } = await TestClient.ready(`ws://${base}/v1/ws`);
    client.send({ type: 'chat.request', id: 'inflight', messages: [{ role: 'user', content: 'hi' }] });
    const call = await upstream.nextCall();
    call.startSse();
    await call.event(chunk({ content: 'before ' }));
    await client.nextOfType('chat.chunk', 'inflight');

    service.child.kill('SIGTERM');
    const draining = await client.nextOfType('session.draining');
    expect(draining.reconnect_after_ms).toEqual(expect.any(Number));
    // A socket with nothing in flight is told, then closed at once.
    await idle.nextOfType('session.draining');
    expect((await idle.closed).code).toBe(1012);

    // Readiness fails and new sockets are refused while the old stream goes on.
    expect((await fetch(`http://${base}/health/ready`)).status).toBe(503);
    expect((await fetch(`http://${base}/health/live`)).status).toBe(200);
    const refused = new WebSocket(`ws://${base}/v1/ws`);
    const [, response] = await once(refused, 'unexpected-response');
    expect(response.statusCode).toBe(503);
    refused.on('error', () => undefined);
    refused.terminate();
    client.send({ type: 'chat.request', id: 'late', messages: [{ role: 'user', content: 'hi' }] });
    expect(await client.nextOfType('error', 'late')).toMatchObject({ code: 'shutting_down' });

    await call.event(chunk({ content: 'after' }, 'stop'));
    await call.event('[DONE]');
    call.res.end();
    const done = await client.nextOfType('chat.done', 'inflight');
    expect(done.finish_reason).toBe('stop');
    expect((await client.closed).code).toBe(1012);
    expect(await service.exit).toEqual({ code: 0, signal: null });
  });

  it('ends streams still running at DRAIN_TIMEOUT_MS with shutting_down and aborts their upstream', async () => {
    service = await startService({ HOLYSHEEP_BASE_URL: upstream.baseUrl, DRAIN_TIMEOUT_MS: '300' });
    const { client } = await TestClient.ready(`ws://127.0.0.1:${service.port}/v1/ws`);
    const { call } = await startStreaming(client, upstream, 'slow', ['never finishes']);

    service.child.kill('SIGTERM');
    const frames = await client.collectStream('slow');
    expect(frames.at(-1)).toMatchObject({ type: 'chat.error', code: 'shutting_down', retryable: true, seq: 3 });
    await call.aborted;
    expect((await client.closed).code).toBe(1012);
    expect(await service.exit).toEqual({ code: 0, signal: null });
  });

  it('a second SIGTERM waits for the drain under way instead of killing it', async () => {
    service = await startService({ HOLYSHEEP_BASE_URL: upstream.baseUrl, DRAIN_TIMEOUT_MS: '10000' });
    const { client } = await TestClient.ready(`ws://127.0.0.1:${service.port}/v1/ws`);
    const { call } = await startStreaming(client, upstream, 'inflight', ['before ']);

    service.child.kill('SIGTERM');
    await client.nextOfType('session.draining');
    service.child.kill('SIGTERM');
    // The second signal is logged once the process has handled it; the stream is still running.
    await outputIncludes(service, 'received again');
    await call.event(chunk({ content: 'after' }, 'stop'));
    await call.event('[DONE]');
    call.res.end();
    expect(await client.nextOfType('chat.done', 'inflight')).toMatchObject({ finish_reason: 'stop' });
    expect((await client.closed).code).toBe(1012);
    expect(await service.exit).toEqual({ code: 0, signal: null });
  });

  it.each([
    ['has stopped reading', false],
    ['has stopped reading, then died', true],
  ])('exits within DRAIN_TIMEOUT_MS plus a few seconds even when its log collector %s', async (_how, dies) => {
    // At trace level every request is logged with its prompt: 15 × 150 KB of log lines.
    service = await startService({ HOLYSHEEP_BASE_URL: upstream.baseUrl, DRAIN_TIMEOUT_MS: '500', LOG_LEVEL: 'trace' });
    // The log collector stops reading: the pipe fills and log lines wait in the process.
    service.child.stdout!.pause();
    const { client } = await TestClient.ready(`ws://127.0.0.1:${service.port}/v1/ws`);
    for (let i = 0; i < 15; i++) {
      client.send({ type: 'chat.request', id: `r${i}`, messages: [{ role: 'user', content: 'x'.repeat(150_000) }] });
      await upstream.nextCall();
    }
    const signalledAt = Date.now();
    service.child.kill('SIGTERM');
    // Every write now fails with EPIPE.
    if (dies) service.child.stdout!.destroy();
    const exited = await Promise.race([service.exit, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 10_000).unref())]);
    expect(exited).not.toBe('hung');
    expect(Date.now() - signalledAt).toBeLessThan(500 + 5_000 + 1_000);
  });
});


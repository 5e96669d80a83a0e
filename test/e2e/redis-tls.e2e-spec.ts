/**
 * Redis over TLS against a real server (`rediss://`): a redis-server that speaks only TLS, with a
 * password, its certificate signed by a private CA that the gateway trusts through Node's own
 * `NODE_EXTRA_CA_CERTS` (docs/operations.md, "Redis"). Until now TLS was configuration only,
 * never exercised. Real processes (the built service), loopback only.
 */
import { until } from '../support/real-redis-cluster';
import { RealRedisTls } from '../support/real-redis-tls';
import { ALICE, useTopologyGateways } from '../support/topology-gateways';
import { finishStream, startStreaming } from '../support/stream-script';
import { outputIncludes, startGatewayProcess } from '../support/service-process';
import { TEST_API_KEY } from '../support/gateway-app';
import { gatewayMetric } from '../support/metrics';
import { assertStreamInvariants, streamText, TestClient } from '../support/ws-client';

describe('Redis over TLS (e2e, real processes)', () => {
  jest.setTimeout(60_000);
  let redis: RealRedisTls | undefined;
  beforeAll(async () => {
    redis = await RealRedisTls.start();
  }, 60_000);
  afterAll(async () => {
    await redis?.stop();
  });
  const gateways = useTopologyGateways((): Record<string, string> => (redis ? { REDIS_URL: redis.url, NODE_EXTRA_CA_CERTS: redis.caFile } : {}));

  it('a stream started on A is resumed on B whole, through a Redis reached only over TLS; the password never shows', async () => {
    if (!redis) return;
    const a = await gateways.instance();
    const b = await gateways.instance();
    const onA = await gateways.open(a);
    const { call, streamId } = await startStreaming(onA, gateways.upstream, 'q1', ['over ']);
    await finishStream(call, ['tls']);
    await onA.collectStream('q1');
    const onB = await gateways.open(b);
    onB.send({ type: 'stream.resume', stream_id: streamId, after_seq: 0, id: 'again' });
    const frames = await onB.collectStream('again');
    assertStreamInvariants(frames);
    expect(streamText(frames)).toBe('over tls');
    // The server has no plain port: every connection it holds (3 per gateway) came over TLS.
    expect(Number(/connected_clients:(\d+)/.exec(String(await redis.call('INFO', 'clients')))?.[1])).toBeGreaterThanOrEqual(6);
    for (const gateway of [a, b]) {
      expect(await gatewayMetric(gateway.port, 'redis_up')).toBe(1);
      expect(gateway.output.join('')).not.toContain(redis.password);
    }
  });

  it('a certificate the gateway does not trust: it says why once, keeps serving from memory and stays ready, and never shows the password', async () => {
    if (!redis) return;
    // The same URL without the private CA: the handshake fails on every retry.
    const accepted = async () => Number(/total_connections_received:(\d+)/.exec(String(await redis!.call('INFO', 'stats')))?.[1]);
    const before = await accepted();
    const gateway = await startGatewayProcess({
      HOLYSHEEP_API_KEY: TEST_API_KEY,
      HOLYSHEEP_BASE_URL: gateways.upstream.baseUrl,
      AUTH_MODE: 'api_key',
      AUTH_API_KEYS: `alice:${ALICE}`,
      REDIS_URL: redis.url,
    });
    try {
      await outputIncludes(gateway, '"event":"redis_unreachable"');
      const line = gateway.output.join('').split('\n').find((l) => l.includes('"event":"redis_unreachable"'))!;
      expect(JSON.parse(line).err.message).toMatch(/certificate/i);
      expect((await fetch(`http://127.0.0.1:${gateway.port}/health/ready`)).status).toBe(200);
      expect(await gatewayMetric(gateway.port, 'redis_up')).toBe(0);
      const { client } = await TestClient.ready(gateway.url, { headers: { authorization: `Bearer ${ALICE}` } });
      try {
        const { call } = await startStreaming(client, gateways.upstream, 'q2', ['from ']);
        await finishStream(call, ['memory']);
        expect(streamText(await client.collectStream('q2'))).toBe('from memory');
      } finally {
        client.ws.terminate();
      }
      // ioredis reconnects with backoff: once each of its 3 connections has tried again, still one line.
      await until(async () => (await accepted()) - before >= 6, 'the gateway to retry');
      expect(gateway.output.join('').split('"event":"redis_unreachable"').length - 1).toBe(1);
      expect(gateway.output.join('')).not.toContain(redis.password);
    } finally {
      gateway.child.kill('SIGKILL');
    }
  });
});

/**
 * What operators see: Prometheus metrics, structured log lines (one per socket, one per stream,
 * none per chunk at info, secrets redacted), and W3C trace context reaching the upstream. The
 * OTLP export itself runs in the built service as a child process (the OTLP exporter loads its
 * transport with a dynamic import() that jest's CommonJS runtime cannot run,
 * open-telemetry/opentelemetry-js#6035).
 */
import { once } from 'node:events';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { chunk, FakeUpstream } from '../support/fake-upstream';
import { startGateway, TEST_API_KEY, type RunningGateway } from '../support/gateway-app';
import { listeningPort, runService } from '../support/service-process';
import { anonymousPrincipal } from '../../src/identity/principal';
import { sample } from '../support/metrics';
import { TEST_ANONYMOUS_KEY, TestClient } from '../support/ws-client';

/** The test clients' principal: the hash of their anonymous key, never the key itself (AUTH_MODE=none). */
const TEST_PRINCIPAL = anonymousPrincipal(TEST_ANONYMOUS_KEY);

const CLIENT_TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_TRACEPARENT = `00-${CLIENT_TRACE_ID}-00f067aa0ba902b7-01`;

describe('observability (e2e)', () => {
  let upstream: FakeUpstream;
  let gateway: RunningGateway;

  beforeEach(async () => {
    upstream = await FakeUpstream.start();
    gateway = await startGateway({ HOLYSHEEP_BASE_URL: upstream.baseUrl, LOG_LEVEL: 'info', UPSTREAM_MAX_RETRIES: '1', UPSTREAM_RETRY_BASE_DELAY_MS: '1' });
  });
  afterEach(async () => {
    await gateway.close();
    await upstream.close();
  });

  async function runStream(client: TestClient, id: string, pieces: string[], extra: Record<string, unknown> = {}) {
    client.send({ type: 'chat.request', id, messages: [{ role: 'user', content: 'secret prompt text' }], ...extra });
    const call = await upstream.nextCall();
    await call.streamText(pieces);
    await client.collectStream(id);
    return call;
  }

  it('exposes Prometheus metrics under one prefix with base units', async () => {
    const { client } = await TestClient.ready(gateway.wsUrl);
    await runStream(client, 'm1', ['a', 'b', 'c']);
    client.send({ type: 'chat.request', id: 'm2', messages: [{ role: 'user', content: 'x' }] });
    (await upstream.nextCall()).json(503, { error: { message: 'busy' } });
    (await upstream.nextCall()).json(400, { error: { message: 'no' } });
    await client.collectStream('m2');
    await client.close();
    await gateway.logs.next('socket_closed');

    const response = await fetch(`${gateway.httpUrl}/metrics`);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const text = await response.text();
    const p = 'holysheep_gateway_';
    expect(sample(text, `${p}streams_total{outcome="stop"}`)).toBe(1);
    expect(sample(text, `${p}streams_total{outcome="upstream_error"}`)).toBe(1);
    // The role chunk, three content chunks, the finish chunk and the usage chunk.
    expect(sample(text, `${p}chunks_relayed_total`)).toBe(6);
    expect(sample(text, `${p}sent_bytes_total`)).toBeGreaterThan(500);
    expect(sample(text, `${p}upstream_retries_total{kind="retry"}`)).toBe(1);
    expect(sample(text, `${p}time_to_first_chunk_seconds_count`)).toBe(1);
    expect(sample(text, `${p}stream_duration_seconds_count`)).toBe(2);
    expect(sample(text, `${p}upstream_response_header_seconds_count`)).toBe(3);
    expect(sample(text, `${p}active_streams`)).toBe(0);
    expect(sample(text, `${p}open_connections`)).toBe(0);
    expect(sample(text, `${p}sockets_closed_total{reason="client"}`)).toBe(1);
    // Node's default metrics, same prefix.
    expect(text).toContain(`${p}nodejs_eventloop_lag_seconds`);
    expect(text).toContain(`${p}process_cpu_seconds_total`);
    for (const name of text.matchAll(/^# TYPE (\S+) (\S+)/gm)) {
      expect(name[1]).toMatch(/^holysheep_gateway_/);
      if (name[2] === 'counter') expect(name[1]).toMatch(/_total$/);
    }
  });

  it('writes one structured line per stream and per socket, none per chunk, and never the prompt', async () => {
    const { client } = await TestClient.ready(gateway.wsUrl);
    const before = gateway.logs.lines.length;
    await runStream(client, 'long', Array.from({ length: 50 }, (_, i) => `t${i} `));
    await client.close();
    await gateway.logs.next('socket_closed');
    const records = gateway.logs.records();
    const streamEnded = gateway.logs.records('stream_ended');
    expect(streamEnded).toHaveLength(1);
    expect(streamEnded[0]).toMatchObject({
      level: 'info',
      id: 'long',
      stream_id: expect.stringMatching(/^str_/),
      principal: TEST_PRINCIPAL,
      model: 'gpt-4.1',
      chunks: 53,
      ttfc_ms: expect.any(Number),
      duration_ms: expect.any(Number),
      finish_reason: 'stop',
      usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 },
    });
    const closed = gateway.logs.records('socket_closed');
    expect(closed).toHaveLength(1);
    expect(closed[0]).toMatchObject({
      connection_id: expect.any(String),
      principal: TEST_PRINCIPAL,
      remote_address: '127.0.0.1',
      duration_ms: expect.any(Number),
      close_code: 1005,
      closed_by: 'client',
      frames_in: 1,
      frames_out: 56,
    });
    // 53 chunks relayed, yet only a handful of info lines in all.
    expect(gateway.logs.lines.length - before).toBeLessThan(10);
    expect(records.every((r) => typeof r.time === 'string' && typeof r.level === 'string')).toBe(true);
    expect(gateway.logs.lines.join('\n')).not.toContain('secret prompt text');
  });

  it('redacts access_token from logged request URLs', async () => {
    const token = 'tok-should-never-be-logged-123';
    await fetch(`${gateway.httpUrl}/?access_token=${token}`);
    await fetch(`${gateway.httpUrl}/`, { headers: { authorization: `Bearer ${token}` } });
    const logs = gateway.logs.lines.join('\n');
    expect(logs).not.toContain(token);
    expect(gateway.logs.records().some((r) => r.req?.url === '/?access_token=[redacted]')).toBe(true);
  });

  it("passes a client's traceparent upstream even with tracing off", async () => {
    const { client } = await TestClient.ready(gateway.wsUrl);
    const call = await runStream(client, 't', ['x'], { traceparent: CLIENT_TRACEPARENT });
    expect(call.headers.traceparent).toBe(CLIENT_TRACEPARENT);
    const other = await runStream(client, 'u', ['y'], { traceparent: 'not-a-traceparent' });
    expect(other.headers.traceparent).toBeUndefined();
    client.ws.terminate();
  });
});

describe('OpenTelemetry export (e2e, built service)', () => {
  it('exports one span per stream and one per upstream call, in the client’s trace, and sends traceparent upstream', async () => {
    const upstream = await FakeUpstream.start();
    const bodies: any[] = [];
    const collector = http.createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (b: Buffer) => parts.push(b));
      req.on('end', () => {
        bodies.push(JSON.parse(Buffer.concat(parts).toString()));
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        collector.emit('spans');
      });
    });
    collector.listen(0, '127.0.0.1');
    await once(collector, 'listening');
    const service = runService({
      NODE_ENV: 'production',
      AUTH_MODE: 'none',
      HOST: '127.0.0.1',
      PORT: '0',
      HOLYSHEEP_BASE_URL: upstream.baseUrl,
      HOLYSHEEP_API_KEY: TEST_API_KEY,
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as AddressInfo).port}`,
      OTEL_BSP_SCHEDULE_DELAY: '50',
    });
    try {
      const port = await listeningPort(service);
      const { client } = await TestClient.ready(`ws://127.0.0.1:${port}/v1/ws`);
      client.send({ type: 'chat.request', id: 'traced', messages: [{ role: 'user', content: 'hi' }], traceparent: CLIENT_TRACEPARENT });
      const call = await upstream.nextCall();
      const upstreamTraceparent = String(call.headers.traceparent);
      expect(upstreamTraceparent).toMatch(new RegExp(`^00-${CLIENT_TRACE_ID}-[0-9a-f]{16}-01$`));
      expect(upstreamTraceparent).not.toBe(CLIENT_TRACEPARENT);
      await call.streamText(['traced answer']);
      await client.collectStream('traced');
      client.ws.terminate();

      const spans = () => bodies.flatMap((b) => b.resourceSpans.flatMap((r: any) => r.scopeSpans.flatMap((s: any) => s.spans)));
      while (spans().length < 2) await once(collector, 'spans');
      const stream = spans().find((s: any) => s.name === 'chat.stream');
      const attempt = spans().find((s: any) => s.name === 'chat.upstream');
      expect(stream.traceId).toBe(CLIENT_TRACE_ID);
      expect(stream.parentSpanId).toBe('00f067aa0ba902b7');
      expect(attempt.traceId).toBe(CLIENT_TRACE_ID);
      expect(attempt.parentSpanId).toBe(stream.spanId);
      expect(upstreamTraceparent.split('-')[2]).toBe(attempt.spanId);
      const attributes = Object.fromEntries(stream.attributes.map((a: any) => [a.key, Object.values(a.value)[0]]));
      expect(attributes).toMatchObject({ 'gateway.request_id': 'traced', 'gen_ai.request.model': 'gpt-4.1', 'enduser.id': TEST_PRINCIPAL });
      expect(JSON.stringify(bodies)).not.toContain(TEST_API_KEY);
    } finally {
      service.child.kill('SIGTERM');
      await service.exit;
      collector.close();
      await upstream.close();
    }
  });
});

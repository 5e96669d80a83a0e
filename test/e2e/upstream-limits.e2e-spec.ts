/**
 * What the gateway will not take from its upstream: an error body without end is not read past
 * 64 KiB, and an upstream that echoes the API key back (base64-encoded, or a slice of it) does
 * not get it into a client frame or a log line.
 */
import { chunk, FakeUpstream, type UpstreamCall } from '../support/fake-upstream';
import { startGateway, TEST_API_KEY, type RunningGateway } from '../support/gateway-app';
import { TestClient } from '../support/ws-client';

const ask = (client: TestClient, id: string) => client.send({ type: 'chat.request', id, messages: [{ role: 'user', content: 'hi' }] });

/**
 * Answers `status` with an error body that never ends: 16 KiB at a time, each handed to the socket
 * before the next, so what was written when the gateway hangs up is close to what it read.
 */
function endlessErrorBody(call: UpstreamCall, status: number): { written: () => number; closed: Promise<number> } {
  let written = 0;
  const closed = new Promise<number>((resolve) => call.res.on('close', () => resolve(written)));
  call.res.writeHead(status, { 'content-type': 'application/json' });
  const block = Buffer.alloc(16 * 1024, 'x');
  void (async () => {
    await call.write('{"error":{"message":"');
    // Not "until 'close'": a destroyed response writes nothing, and this loop must not spin on it.
    while (!call.res.destroyed) {
      written += block.length;
      await Promise.race([call.write(block), closed]);
    }
  })();
  return { written: () => written, closed };
}

describe('upstream limits (e2e)', () => {
  let upstream: FakeUpstream;
  let gateway: RunningGateway;
  let client: TestClient;

  beforeEach(async () => {
    upstream = await FakeUpstream.start();
    gateway = await startGateway({
      HOLYSHEEP_BASE_URL: upstream.baseUrl,
      UPSTREAM_MAX_RETRIES: '0',
      // Far beyond what these tests wait: any bound they see is not this timer.
      UPSTREAM_FIRST_CHUNK_TIMEOUT_MS: '20000',
    });
    ({ client } = await TestClient.ready(gateway.wsUrl));
  });
  afterEach(async () => {
    for (const call of upstream.calls) call.res.destroy();
    client.ws.terminate();
    await gateway.close();
    await upstream.close();
  });

  it('reads at most 64 KiB of an endless error body, then closes that upstream connection and answers at once', async () => {
    ask(client, 'endless');
    const call = await upstream.nextCall();
    const startedAt = Date.now();
    const body = endlessErrorBody(call, 500);

    const error = await client.nextOfType('chat.error', 'endless', 5_000);
    expect(error).toMatchObject({ code: 'upstream_unavailable', retryable: true, message: expect.stringMatching(/^Upstream answered 500: \{"error":\{"message":"x+$/) });
    expect(error.stream_id).toBeUndefined();
    expect(Date.now() - startedAt).toBeLessThan(5_000);

    // The gateway dropped the connection: the fake saw it close, mid-body.
    const writtenBeforeClose = await body.closed;
    await call.aborted;
    // 64 KiB read, plus what was in flight: bounded, where today's code reads on until the timeout.
    expect(writtenBeforeClose).toBeGreaterThan(64 * 1024);
    expect(writtenBeforeClose).toBeLessThan(1024 * 1024);
    expect(body.written()).toBe(writtenBeforeClose);
  });

  it('redacts the API key an upstream 401 echoes base64-encoded or in part, from the frame and every log line', async () => {
    const base64Key = Buffer.from(TEST_API_KEY, 'utf8').toString('base64');
    const basicAuth = Buffer.from(`gateway:${TEST_API_KEY}`, 'utf8').toString('base64url');
    const middle = TEST_API_KEY.slice(10, 20);
    ask(client, 'echo');
    (await upstream.nextCall()).json(401, {
      error: {
        message: `Incorrect API key provided: ${base64Key} (basic ${basicAuth}); key fragment "${middle}" is not valid`,
        type: 'invalid_request_error',
        code: 'invalid_api_key',
      },
    });

    const error = await client.nextOfType('chat.error', 'echo');
    expect(error).toMatchObject({ code: 'upstream_error', retryable: false });
    expect(error.message).toMatch(/^Upstream answered 401: Incorrect API key provided: \[redacted\] \(basic .*\[redacted\].*\); key fragment "\[redacted\]" is not valid$/);

    // The stream's log line is written as it ends; wait for it before reading them all.
    await gateway.logs.next('stream_ended');
    const everything = [JSON.stringify(client.frames), ...gateway.logs.lines].join('\n');
    for (const leak of [TEST_API_KEY, base64Key, basicAuth.slice(12, 40), middle]) expect(everything).not.toContain(leak);
  });

  it('still relays a normal stream in full (the limits cut only error bodies)', async () => {
    ask(client, 'normal');
    const call = await upstream.nextCall();
    const big = 'y'.repeat(200 * 1024);
    call.startSse();
    await call.event(chunk({ content: big }));
    await call.event(chunk({}, 'stop'));
    await call.event('[DONE]');
    call.res.end();
    const chunkFrame = await client.nextOfType('chat.chunk', 'normal');
    expect(chunkFrame.chunk.choices[0].delta.content).toBe(big);
    await client.nextOfType('chat.done', 'normal');
  });
});

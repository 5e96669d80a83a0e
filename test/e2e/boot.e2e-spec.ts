/**
 * Boot behaviour as a new user meets it: configuration errors, the production guard, and the
 * embedded simulated upstream that `npm start` uses on a fresh clone.
 */
import { UPSTREAM_TARGET, type UpstreamTarget } from '../../src/upstream/upstream-target';
import { startGateway, type RunningGateway } from '../support/gateway-app';
import { listeningPort, runService } from '../support/service-process';
import { assertStreamInvariants, streamText, TestClient } from '../support/ws-client';

describe('boot (e2e)', () => {
  it('reports every invalid variable at once and exits non-zero', async () => {
    const service = runService({ PORT: 'http', HEARTBEAT_INTERVAL_MS: '0', HOLYSHEEP_BASE_URL: 'wss://api.holysheep.ai/v1', MAX_FRAME_BYTES: '1e6' });
    const { code } = await service.exit;
    const output = service.output.join('');
    expect(code).toBe(1);
    expect(output).toContain('Invalid configuration:');
    for (const name of ['PORT', 'HEARTBEAT_INTERVAL_MS', 'HOLYSHEEP_BASE_URL', 'MAX_FRAME_BYTES']) expect(output).toMatch(new RegExp(`- ${name}: `));
    expect(output).toContain('(the upstream speaks HTTPS + Server-Sent Events)');
    // A plain message, not a stack trace.
    expect(output).not.toMatch(/\n\s+at /);
  });

  it('refuses to start in production without HOLYSHEEP_API_KEY', async () => {
    const service = runService({ NODE_ENV: 'production' });
    expect((await service.exit).code).toBe(1);
    expect(service.output.join('')).toContain('HOLYSHEEP_API_KEY: is required when NODE_ENV=production');
  });

  it('starts the built service with no configuration at all on the simulated upstream, and says so', async () => {
    const service = runService({ PORT: '0', HOST: '127.0.0.1' });
    try {
      const port = await listeningPort(service);
      expect(service.output.join('')).toMatch(/HOLYSHEEP_API_KEY is not set: answering with the built-in SIMULATED upstream/);
      expect((await fetch(`http://127.0.0.1:${port}/health/live`)).status).toBe(200);
      const page = await fetch(`http://127.0.0.1:${port}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('id="prompt"');
    } finally {
      service.child.kill('SIGTERM');
      expect(await service.exit).toEqual({ code: 0, signal: null });
    }
  });

  describe('simulated upstream through the real code path', () => {
    let gateway: RunningGateway;
    beforeAll(async () => {
      gateway = await startGateway({ NODE_ENV: 'development', HOLYSHEEP_API_KEY: '', SIMULATOR_TOKENS_PER_SECOND: '2000' });
    });
    afterAll(() => gateway.close());

    it('streams a realistic answer that ends with done and usage', async () => {
      const { client } = await TestClient.ready(gateway.wsUrl);
      client.send({ type: 'chat.request', id: 'sim', messages: [{ role: 'user', content: 'What is streaming?' }] });
      const frames = await client.collectStream('sim', 15_000);
      assertStreamInvariants(frames);
      expect(streamText(frames).length).toBeGreaterThan(100);
      expect(frames.at(-1)).toMatchObject({ type: 'chat.done', finish_reason: 'stop', usage: { completion_tokens: expect.any(Number) } });
      client.ws.terminate();
    });

    it('honours max_tokens with finish_reason length', async () => {
      const { client } = await TestClient.ready(gateway.wsUrl);
      client.send({ type: 'chat.request', id: 'short', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 5 });
      const frames = await client.collectStream('short');
      expect(frames.at(-1)).toMatchObject({ type: 'chat.done', finish_reason: 'length', usage: { completion_tokens: 5 } });
      client.ws.terminate();
    });
  });

  it('stops the simulated upstream with the app, leaving nothing listening', async () => {
    const gateway = await startGateway({ NODE_ENV: 'development', HOLYSHEEP_API_KEY: '' });
    const { baseUrl, simulated } = gateway.app.get<UpstreamTarget>(UPSTREAM_TARGET);
    expect(simulated).toBe(true);
    expect((await fetch(`${baseUrl}/chat/completions`, { method: 'POST', body: '{}' })).status).toBe(400);
    await gateway.close();
    await expect(fetch(`${baseUrl}/chat/completions`, { method: 'POST', body: '{}' })).rejects.toThrow();
  });
});

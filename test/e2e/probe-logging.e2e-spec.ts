/**
 * Probes and scrapes do not enter nestjs-pino's request context (src/logging/logging.module.ts):
 * on Node 20 its first AsyncLocalStorage `run` turns async hooks on for the process, which every
 * relayed chunk then pays for (issue 23). Other HTTP requests still get their request logger.
 */
import { storage } from 'nestjs-pino/storage';
import { startGateway, type RunningGateway } from '../support/gateway-app';

describe('probe requests and the request context (e2e)', () => {
  let gateway: RunningGateway;
  afterEach(async () => {
    jest.restoreAllMocks();
    await gateway.close();
  });

  it('GET /health/live, /health/ready and /metrics run outside it; the playground page inside it', async () => {
    gateway = await startGateway();
    const run = jest.spyOn(storage, 'run');
    for (const path of ['/health/live', '/health/ready', '/metrics']) {
      const res = await fetch(`${gateway.httpUrl}${path}`);
      expect(res.status).toBe(200);
      await res.text();
    }
    expect(run).not.toHaveBeenCalled();

    const page = await fetch(`${gateway.httpUrl}/`);
    expect(page.status).toBe(200);
    await page.text();
    expect(run).toHaveBeenCalledTimes(1);
  });
});

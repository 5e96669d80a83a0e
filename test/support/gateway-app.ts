import type { INestApplication } from '@nestjs/common';
import type { AddressInfo } from 'node:net';
import { __resetOutOfContextForTests } from 'nestjs-pino/PinoLogger';
import { createGatewayApp } from '../../src/bootstrap';
import { parseConfig } from '../../src/config/config.schema';

/** Collects every log line (pino JSON) so tests can assert on them, e.g. that no secret is logged. */
export class CapturedLogs {
  readonly lines: string[] = [];
  private waiters: Array<() => void> = [];

  /** A pino destination: pino calls write() with one serialised line at a time. */
  readonly destination = {
    write: (line: string) => {
      this.lines.push(line);
      const waiters = this.waiters;
      this.waiters = [];
      for (const wake of waiters) wake();
    },
  };

  /** Resolves with the first record of `event` (waiting for it to be written if need be). */
  async next(event: string, timeoutMs = 5_000): Promise<Record<string, any>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.records(event)[0];
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no "${event}" log record`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - Date.now());
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Parsed log records, optionally only those with `event` equal to the given name. */
  records(event?: string): Array<Record<string, any>> {
    const all = this.lines.map((line) => JSON.parse(line) as Record<string, any>);
    return event === undefined ? all : all.filter((r) => r.event === event);
  }
}

// Random-looking, as real keys are: no run of eight characters that also appears in ordinary messages.
export const TEST_API_KEY = 'sk-test-Q7vX2mK9pL4wZ8nB3cR6tY1j';

export interface RunningGateway {
  app: INestApplication;
  port: number;
  wsUrl: string;
  httpUrl: string;
  logs: CapturedLogs;
  close(): Promise<void>;
}

/** Boots the real Nest app on 127.0.0.1:0 with test settings layered over `env`. */
export async function startGateway(env: Record<string, string> = {}): Promise<RunningGateway> {
  const config = parseConfig({
    NODE_ENV: 'test',
    PORT: '0',
    HOST: '127.0.0.1',
    HOLYSHEEP_API_KEY: TEST_API_KEY,
    DRAIN_TIMEOUT_MS: '1000',
    LOG_LEVEL: 'debug',
    ...env,
  });
  const logs = new CapturedLogs();
  // nestjs-pino keeps one process-wide logger (the first app's); each test app needs its own.
  __resetOutOfContextForTests();
  const app = await createGatewayApp(config, { logDestination: logs.destination });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return {
    app,
    port,
    wsUrl: `ws://127.0.0.1:${port}/v1/ws`,
    httpUrl: `http://127.0.0.1:${port}`,
    logs,
    close: () => app.close(),
  };
}

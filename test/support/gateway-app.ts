import type { INestApplication, LoggerService } from '@nestjs/common';
import type { AddressInfo } from 'node:net';
import { createGatewayApp } from '../../src/bootstrap';
import { parseConfig } from '../../src/config/config.schema';

/** Collects every log line so tests can assert on them (e.g. that no secret is ever logged). */
export class CapturingLogger implements LoggerService {
  readonly lines: string[] = [];
  private record(level: string, message: unknown, rest: unknown[]) {
    this.lines.push(`${level} ${[message, ...rest].map((m) => (m instanceof Error ? `${m.message} ${m.stack}` : typeof m === 'string' ? m : JSON.stringify(m))).join(' ')}`);
  }
  log(message: unknown, ...rest: unknown[]) { this.record('log', message, rest); }
  error(message: unknown, ...rest: unknown[]) { this.record('error', message, rest); }
  warn(message: unknown, ...rest: unknown[]) { this.record('warn', message, rest); }
  debug(message: unknown, ...rest: unknown[]) { this.record('debug', message, rest); }
  verbose(message: unknown, ...rest: unknown[]) { this.record('verbose', message, rest); }
  fatal(message: unknown, ...rest: unknown[]) { this.record('fatal', message, rest); }
}

export const TEST_API_KEY = 'sk-test-upstream-key-0123456789';

export interface RunningGateway {
  app: INestApplication;
  port: number;
  wsUrl: string;
  httpUrl: string;
  logs: CapturingLogger;
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
  const logs = new CapturingLogger();
  const app = await createGatewayApp(config, { logger: logs });
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

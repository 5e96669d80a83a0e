import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createGatewayApp } from './bootstrap';
import { ConfigValidationError, parseConfig, type GatewayConfig } from './config/config.schema';
import { PRETTY_LOG_SINK, stdoutLogSink } from './logging/log-sink';

/**
 * Past the drain, how long the process may take to exit: the drain's own close handshakes
 * (2.5 s) and the log flush (1 s), with room to spare. After SIGTERM the process is gone within
 * `DRAIN_TIMEOUT_MS` plus this, whatever hangs.
 */
const EXIT_WATCHDOG_EXTRA_MS = 5_000;

async function main(): Promise<void> {
  // A local .env is a development convenience; real environment variables win over it.
  if (existsSync('.env')) process.loadEnvFile('.env');
  let config: GatewayConfig;
  try {
    config = parseConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigValidationError) {
      process.stderr.write(`${error.message}\nSee .env.example for every variable, its default and meaning.\n`);
      process.exit(1);
    }
    throw error;
  }

  const sink = config.env === 'development' ? PRETTY_LOG_SINK : stdoutLogSink();
  const app = await createGatewayApp(config, { logDestination: sink.destination });
  const logger = new Logger('Main');

  let exiting = false;
  const exit = (code: number) => {
    if (exiting) return;
    exiting = true;
    void sink.close().then(() => process.exit(code));
  };

  // Nest's enableShutdownHooks() re-raises the signal after closing, so the process would die
  // "killed by SIGTERM" (exit 143). Kubernetes expects a drained pod to exit 0. Kubernetes and
  // operators may signal twice: later signals wait for the drain already running (issue #8).
  let draining = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (draining) return logger.log(`${signal} received again: the drain already under way continues`);
    draining = true;
    logger.log(`${signal} received: draining (up to ${config.drain.timeoutMs} ms)`);
    setTimeout(() => {
      logger.error(`shutdown did not finish within ${config.drain.timeoutMs + EXIT_WATCHDOG_EXTRA_MS} ms: exiting anyway`);
      exit(1);
    }, config.drain.timeoutMs + EXIT_WATCHDOG_EXTRA_MS);
    app.close().then(
      () => exit(0),
      (error: Error) => {
        logger.error(`shutdown failed: ${error.stack ?? error.message}`);
        exit(1);
      },
    );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);

  await app.listen(config.http.port, config.http.host);
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : config.http.port;
  // The release this process is (package.json sits beside dist/ in the image): the first thing to
  // know when reading a pod's log during a rollout.
  const { version } = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };
  logger.log(`holysheep-stream-gateway ${version} listening on http://${config.http.host}:${port} (WebSocket ws://${config.http.host}:${port}/v1/ws)`);
}

main().catch((error: Error) => {
  process.stderr.write(`Failed to start: ${error.stack ?? error.message}\n`);
  process.exit(1);
});

import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { existsSync } from 'node:fs';
import { createGatewayApp } from './bootstrap';
import { ConfigValidationError, parseConfig } from './config/config.schema';

async function main(): Promise<void> {
  // A local .env is a development convenience; real environment variables win over it.
  if (existsSync('.env')) process.loadEnvFile('.env');
  let config;
  try {
    config = parseConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigValidationError) {
      process.stderr.write(`${error.message}\nSee .env.example for every variable, its default and meaning.\n`);
      process.exit(1);
    }
    throw error;
  }

  const app = await createGatewayApp(config);
  const logger = new Logger('Main');

  // Nest's enableShutdownHooks() re-raises the signal after closing, so the process would die
  // "killed by SIGTERM" (exit 143). Kubernetes expects a drained pod to exit 0.
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.log(`${signal} received: draining (up to ${config.drain.timeoutMs} ms)`);
    app.close().then(
      () => process.exit(0),
      (error: Error) => {
        logger.error(`shutdown failed: ${error.stack ?? error.message}`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);

  await app.listen(config.http.port, config.http.host);
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : config.http.port;
  logger.log(`listening on http://${config.http.host}:${port} (WebSocket ws://${config.http.host}:${port}/v1/ws)`);
}

main().catch((error: Error) => {
  process.stderr.write(`Failed to start: ${error.stack ?? error.message}\n`);
  process.exit(1);
});

import type { INestApplication, LoggerService, LogLevel as NestLogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module';
import type { GatewayConfig, LogLevel } from './config/config.schema';
import { GatewayWsAdapter } from './gateway/gateway-ws.adapter';
import { AdmissionService } from './gateway/admission.service';

const NEST_LEVELS: Record<LogLevel, NestLogLevel[]> = {
  fatal: ['fatal'],
  error: ['fatal', 'error'],
  warn: ['fatal', 'error', 'warn'],
  info: ['fatal', 'error', 'warn', 'log'],
  debug: ['fatal', 'error', 'warn', 'log', 'debug'],
  trace: ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'],
};

/**
 * Builds the gateway app from a validated config; `main.ts` and the e2e tests share it, so tests
 * boot exactly what production runs. The caller listens.
 */
export async function createGatewayApp(config: GatewayConfig, options: { logger?: LoggerService | false } = {}): Promise<INestApplication> {
  const app = await NestFactory.create(AppModule.forRoot(config), {
    abortOnError: false,
    // Keep-alive HTTP connections (probes, scrapes) must not hold shutdown open.
    forceCloseConnections: true,
    logger: options.logger ?? NEST_LEVELS[config.log.level],
  });
  const admission = app.get(AdmissionService);
  app.useWebSocketAdapter(
    new GatewayWsAdapter(app, { maxPayload: config.socket.maxFrameBytes, verifyUpgrade: (request) => admission.verifyUpgrade(request) }),
  );
  return app;
}

import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Logger } from 'nestjs-pino';
import type { DestinationStream } from 'pino';
import { AppModule } from './app.module';
import type { GatewayConfig } from './config/config.schema';
import { GatewayWsAdapter } from './gateway/gateway-ws.adapter';
import { AdmissionService } from './gateway/admission.service';

/**
 * Builds the gateway app from a validated config; `main.ts` and the e2e tests share it, so tests
 * boot exactly what production runs. The caller listens.
 */
export async function createGatewayApp(config: GatewayConfig, options: { logDestination?: DestinationStream } = {}): Promise<INestApplication> {
  const app = await NestFactory.create(AppModule.forRoot(config, options), {
    abortOnError: false,
    // Keep-alive HTTP connections (probes, scrapes) must not hold shutdown open.
    forceCloseConnections: true,
    // Nest's own boot lines go through pino too, once it exists.
    bufferLogs: true,
  });
  app.useLogger(app.get(Logger));
  app.flushLogs();
  const admission = app.get(AdmissionService);
  app.useWebSocketAdapter(
    new GatewayWsAdapter(app, { maxPayload: config.socket.maxFrameBytes, verifyUpgrade: (request) => admission.verifyUpgrade(request) }),
  );
  return app;
}

import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { Server } from 'node:http';
import { Logger } from 'nestjs-pino';
import type { DestinationStream } from 'pino';
import { AppModule } from './app.module';
import { NotFoundFilter } from './not-found.filter';
import type { GatewayConfig } from './config/config.schema';
import { AdmissionService } from './gateway/admission.service';
import { GatewayWsAdapter } from './gateway/gateway-ws.adapter';
import { deflateOptions } from './gateway/deflate-options';
import { OperatorLogger } from './logging/operator-logger';

/**
 * Builds the gateway app from a validated config; `main.ts` and the e2e tests share it, so tests
 * boot exactly what production runs. The caller listens.
 */
export async function createGatewayApp(config: GatewayConfig, options: { logDestination?: DestinationStream } = {}): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config, options), {
    abortOnError: false,
    // Keep-alive HTTP connections (probes, scrapes) must not hold shutdown open.
    forceCloseConnections: true,
    // Nest's own boot lines go through pino too, once it exists.
    bufferLogs: true,
  });
  // At info, a boot says what an operator needs (warnings, `listening on …`); routes at debug.
  app.useLogger(new OperatorLogger(app.get(Logger)));
  app.flushLogs();
  app.disable('x-powered-by');
  app.useGlobalFilters(new NotFoundFilter());
  limitSlowRequests(app.getHttpServer(), config.http);
  const admission = app.get(AdmissionService);
  app.useWebSocketAdapter(
    new GatewayWsAdapter(app, {
      maxPayload: config.socket.maxFrameBytes,
      perMessageDeflate: deflateOptions(config.socket.permessageDeflate, config.socket.deflateThresholdBytes),
      verifyUpgrade: (request) => admission.verifyUpgrade(request),
    }),
  );
  return app;
}

/**
 * Request headers (an upgrade's included) get a few seconds, not Node's 60 s, so a half-sent
 * request costs nothing (slowloris). Node checks those deadlines every `connectionsCheckingInterval`
 * (30 s by default, read when the server starts listening; it is a constructor option, and Nest
 * builds the server itself), so it is shortened to match.
 */
function limitSlowRequests(server: Server, http: GatewayConfig['http']): void {
  server.headersTimeout = http.headersTimeoutMs;
  server.requestTimeout = Math.max(http.requestTimeoutMs, http.headersTimeoutMs);
  (server as Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval = Math.min(1_000, Math.ceil(http.headersTimeoutMs / 4));
}

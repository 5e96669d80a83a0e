import type { DynamicModule } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import { LoggerModule } from 'nestjs-pino';
import pino, { type DestinationStream } from 'pino';
import { redactUrl } from '../auth/credentials';
import type { GatewayConfig } from '../config/config.schema';

/**
 * Paths pino censors wherever they appear in a log object: credentials in request headers, and
 * any field a developer might name after a secret. (Query tokens are handled by the URL
 * serializer; message contents are only ever logged at `trace`.)
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["sec-websocket-protocol"]',
  'req.headers["x-api-key"]',
  '*.authorization',
  '*.apiKey',
  '*.api_key',
  '*.token',
  '*.access_token',
  '*.secret',
];

/** Probes and scrapes every few seconds would drown everything else at `info`. */
const QUIET_PATHS = /^\/(health\/|metrics)/;

/**
 * Probes and scrapes skip nestjs-pino's middleware altogether (they are never logged anyway). It
 * runs each request in an AsyncLocalStorage, and on Node 20 the first `run` turns async hooks on
 * for the life of the process: from then on every socket write, tick and timer of every relayed
 * chunk pays an init hook: a few percent of the gateway's instructions per chunk (issue 23,
 * bench/profile-chunk.js), and garbage. A process that serves nothing but its probes and scrapes
 * keeps them off. (Node 24 carries the context without hooks.)
 */
const PROBE_ROUTES = ['health/live', 'health/ready', 'metrics'];

/**
 * Structured JSON logs through pino (one object per line, ISO time, `level` as a word), or
 * pino-pretty when running in development; tests pass their own destination to read the lines.
 */
export function loggingModule(config: GatewayConfig, destination?: DestinationStream): DynamicModule {
  const pretty = config.env === 'development' && destination === undefined;
  const options: import('pino-http').Options = {
    level: config.log.level,
    base: { service: 'holysheep-stream-gateway' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: {
      req: (req: IncomingMessage & { id?: unknown }) => ({
        id: req.id,
        method: req.method,
        url: redactUrl(req.url),
        remoteAddress: req.socket?.remoteAddress,
        headers: { 'user-agent': req.headers?.['user-agent'], authorization: req.headers?.authorization },
      }),
    },
    autoLogging: { ignore: (req) => QUIET_PATHS.test(req.url ?? '') },
    ...(pretty
      ? { transport: { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname,service', singleLine: true } } }
      : { formatters: { level: (label: string) => ({ level: label }) } }),
  };
  return LoggerModule.forRoot({ pinoHttp: destination ? [options, destination] : options, exclude: PROBE_ROUTES });
}

import type { LoggerService } from '@nestjs/common';

/**
 * Contexts of Nest's own start-up lines: one per module ("… dependencies initialized"), one per
 * controller and route ("Mapped {/health/live, GET} route"), "Starting Nest application…". About
 * thirty lines at every boot that tell an operator nothing the `listening on …` line does not, and
 * push the lines that matter (a warning about the simulated upstream, Redis) out of sight. They
 * stay available at `LOG_LEVEL=debug`, for whoever is checking which routes exist.
 */
const NEST_BOOT_CONTEXTS = new Set(['NestFactory', 'InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestApplication', 'WebSocketsController']);

/** Nest passes the context as the last argument of `log(message, …, context)`. */
function isNestBootLine(optionalParams: unknown[]): boolean {
  const context = optionalParams[optionalParams.length - 1];
  return typeof context === 'string' && NEST_BOOT_CONTEXTS.has(context);
}

/**
 * The application's logger (nestjs-pino's) with Nest's start-up chatter moved from `info` to
 * `debug`; everything else, at every level, passes through unchanged.
 */
export class OperatorLogger implements LoggerService {
  constructor(private readonly inner: LoggerService) {}

  log(message: unknown, ...optionalParams: unknown[]): void {
    if (isNestBootLine(optionalParams)) this.inner.debug?.(message, ...optionalParams);
    else this.inner.log(message, ...optionalParams);
  }

  error(message: unknown, ...optionalParams: unknown[]): void {
    this.inner.error(message, ...optionalParams);
  }

  warn(message: unknown, ...optionalParams: unknown[]): void {
    this.inner.warn(message, ...optionalParams);
  }

  debug(message: unknown, ...optionalParams: unknown[]): void {
    this.inner.debug?.(message, ...optionalParams);
  }

  verbose(message: unknown, ...optionalParams: unknown[]): void {
    this.inner.verbose?.(message, ...optionalParams);
  }

  fatal(message: unknown, ...optionalParams: unknown[]): void {
    (this.inner.fatal ?? this.inner.error).call(this.inner, message, ...optionalParams);
  }
}

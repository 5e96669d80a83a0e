import { Controller, Get, Header } from '@nestjs/common';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { ConnectionRegistryService } from '../connections/connection-registry.service';
import { DrainService } from './drain.service';

/**
 * Kubernetes probes. Liveness never looks at the upstream: an upstream outage must not get every
 * replica restarted. Readiness is "accepting new sockets".
 */
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly drain: DrainService,
    private readonly registry: ConnectionRegistryService,
  ) {}

  @Get('live')
  @Header('Cache-Control', 'no-store')
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('ready')
  @Header('Cache-Control', 'no-store')
  @HealthCheck()
  ready() {
    return this.health.check([
      () => {
        const gateway = this.indicators.check('gateway');
        const details = { connections: this.registry.size };
        return this.drain.isDraining ? gateway.down({ ...details, reason: 'draining' }) : gateway.up(details);
      },
    ]);
  }
}

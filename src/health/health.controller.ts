import { Controller, Get, Header } from '@nestjs/common';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import type { GatewayConfig } from '../config/config.schema';
import { InjectConfig } from '../config/gateway-config.module';
import { ConnectionRegistryService } from '../connections/connection-registry.service';
import { DrainService } from '../drain/drain.service';

/**
 * Kubernetes probes. Liveness never looks at the upstream: an upstream outage must not get every
 * replica restarted. Readiness is "accepting new sockets": not draining, not at MAX_CONNECTIONS.
 */
@Controller('health')
export class HealthController {
  private readonly maxConnections: number;

  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly drain: DrainService,
    private readonly registry: ConnectionRegistryService,
    @InjectConfig() config: GatewayConfig,
  ) {
    this.maxConnections = config.limits.maxConnections;
  }

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
        const details = { connections: this.registry.size, max_connections: this.maxConnections };
        if (this.drain.isDraining) return gateway.down({ ...details, reason: 'draining' });
        if (this.registry.size >= this.maxConnections) return gateway.down({ ...details, reason: 'at capacity' });
        return gateway.up(details);
      },
    ]);
  }
}

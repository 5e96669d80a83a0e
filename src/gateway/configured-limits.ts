import { Injectable } from '@nestjs/common';
import type { GatewayConfig } from '../config/config.schema';
import { InjectConfig } from '../config/gateway-config.module';
import { MetricsService } from '../metrics/metrics.service';

/**
 * The caps the gateway enforces (admission: sockets per instance and per principal; the request
 * policy: streams per socket), published as constant gauges by their owner, so alerts and
 * dashboards compare usage with the configured value instead of a copy of the ConfigMap.
 */
@Injectable()
export class ConfiguredLimits {
  constructor(metrics: MetricsService, @InjectConfig() config: GatewayConfig) {
    metrics.constant('config_max_connections', 'MAX_CONNECTIONS: open sockets this instance accepts (readiness turns 503 at this count)', config.limits.maxConnections);
    metrics.constant(
      'config_max_connections_per_principal',
      'MAX_CONNECTIONS_PER_PRINCIPAL: open sockets one principal may hold on this instance',
      config.limits.maxConnectionsPerPrincipal,
    );
    metrics.constant('config_max_streams_per_connection', 'MAX_STREAMS_PER_CONNECTION: concurrent streams one socket may run', config.socket.maxStreamsPerConnection);
  }
}

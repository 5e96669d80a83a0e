import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { ConnectionRegistryService } from '../connections/connection-registry.service';
import { StreamManagerService } from '../streams/stream-manager.service';

export const METRIC_PREFIX = 'holysheep_gateway_';

/**
 * Prometheus metrics on a registry of this app's own (not prom-client's global one), so several
 * app instances in one test process never collide.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  readonly streamsEnded = new Counter({
    name: `${METRIC_PREFIX}streams_total`,
    help: 'Streams ended, by outcome (finish_reason, error code, or abandoned)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  constructor(registry: ConnectionRegistryService, streams: StreamManagerService) {
    collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX });
    new Gauge({
      name: `${METRIC_PREFIX}open_connections`,
      help: 'Open client WebSocket connections',
      registers: [this.registry],
      collect() {
        this.set(registry.size);
      },
    });
    new Gauge({
      name: `${METRIC_PREFIX}active_streams`,
      help: 'Streams currently relaying',
      registers: [this.registry],
      collect() {
        this.set(streams.activeCount);
      },
    });
    streams.onStreamEnd((stream) => {
      const outcome = stream.outcome;
      if (!outcome) return;
      this.streamsEnded.inc({ outcome: outcome.kind === 'done' ? outcome.finishReason : outcome.kind === 'error' ? outcome.code : 'abandoned' });
    });
  }
}

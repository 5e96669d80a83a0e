import { Injectable } from '@nestjs/common';
import { MetricsService } from '../metrics/metrics.service';
import { ConnectionRegistryService } from './connection-registry.service';

/**
 * The connections' figures on `/metrics`, registered by their owner and read only at scrape time:
 * the per-frame totals stay plain integer adds in `RelayTotals`, and nothing here runs per chunk.
 */
@Injectable()
export class ConnectionMetrics {
  constructor(registry: ConnectionRegistryService, metrics: MetricsService) {
    const totals = registry.totals;
    metrics.gauge('open_connections', 'Open client WebSocket connections', () => registry.size);
    metrics.gauge(
      'send_buffer_bytes',
      'Bytes queued for client sockets and not yet written, all sockets together (each is bounded by SEND_BUFFER_HIGH_WATER_BYTES plus what was already read for its streams)',
      () => {
        let queued = 0;
        for (const connection of registry.all()) queued += connection.transport.bufferedAmount;
        return queued;
      },
    );
    metrics.runningTotal('sent_bytes_total', 'Bytes of frame payload sent to clients (all frame types)', () => totals.bytesOut);
  }
}

import { Module, type FactoryProvider } from '@nestjs/common';
import { ConnectionRegistryService } from '../connections/connection-registry.service';
import { ConnectionsModule } from '../connections/connections.module';
import { MetricsModule } from '../metrics/metrics.module';
import { RedisModule } from '../redis/redis.module';
import { TracingModule } from '../tracing/tracing.module';
import { UpstreamModule } from '../upstream/upstream.module';
import { streamLogProvider } from './stream-log.provider';
import { StreamManagerService } from './stream-manager.service';
import { STREAM_RUNTIME, type StreamRuntime } from './stream-runtime';

/**
 * The instance's clock and relay totals, as the streams need them. The connection registry keeps
 * both today (its clock is the one tests drive); this wiring is the only place in `streams/` that
 * knows it: when the totals move (to `metrics/`, say), only this provider changes.
 */
const runtimeProvider: FactoryProvider<StreamRuntime> = {
  provide: STREAM_RUNTIME,
  inject: [ConnectionRegistryService],
  useFactory: (registry: ConnectionRegistryService): StreamRuntime => ({ now: () => registry.now(), totals: registry.totals }),
};

@Module({
  imports: [UpstreamModule, ConnectionsModule, MetricsModule, TracingModule, RedisModule],
  providers: [runtimeProvider, streamLogProvider, StreamManagerService],
  exports: [StreamManagerService],
})
export class StreamsModule {}

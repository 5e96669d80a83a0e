import { Module, type FactoryProvider } from '@nestjs/common';
import { MetricsModule } from '../metrics/metrics.module';
import { MetricsService } from '../metrics/metrics.service';
import { RedisModule } from '../redis/redis.module';
import { TracingModule } from '../tracing/tracing.module';
import { UpstreamModule } from '../upstream/upstream.module';
import { streamLogProvider } from './stream-log.provider';
import { StreamManagerService } from './stream-manager.service';
import { STREAM_RUNTIME, type StreamRuntime } from './stream-runtime';

/**
 * The streams' clock and their count of relayed chunks. The count is the streams' own (a chunk is
 * relayed when a stream logs it), so they register its metric here, as every owner does.
 */
const runtimeProvider: FactoryProvider<StreamRuntime> = {
  provide: STREAM_RUNTIME,
  inject: [MetricsService],
  useFactory: (metrics: MetricsService): StreamRuntime => {
    const totals = { chunks: 0 };
    metrics.runningTotal('chunks_relayed_total', 'Upstream chunks relayed to clients as chat.chunk frames', () => totals.chunks);
    return { now: Date.now, totals };
  },
};

@Module({
  imports: [UpstreamModule, MetricsModule, TracingModule, RedisModule],
  providers: [runtimeProvider, streamLogProvider, StreamManagerService],
  exports: [StreamManagerService],
})
export class StreamsModule {}

import type { FactoryProvider } from '@nestjs/common';
import type { GatewayConfig } from '../config/config.schema';
import { GATEWAY_CONFIG } from '../config/gateway-config.module';
import { MetricsService } from '../metrics/metrics.service';
import { RedisService } from '../redis/redis.service';
import { MemoryStreamLog } from './memory-stream-log';
import { ReplicatedStreamLog } from './redis/replicated-stream-log';
import { StreamOwnership } from './redis/stream-ownership';
import { STREAM_LOG, type StreamLog } from './stream-log';
import { STREAM_RUNTIME, type StreamRuntime } from './stream-runtime';

/** Without a bound on stream duration, how long a running stream's Redis keys live between renewals. */
const UNBOUNDED_STREAM_TTL_MS = 3_600_000;

/**
 * The instance's {@link StreamLog}, chosen by configuration: in memory, or — with `REDIS_URL` —
 * replicated to Redis for every replica. The only place that knows which.
 */
export const streamLogProvider: FactoryProvider<StreamLog> = {
  provide: STREAM_LOG,
  inject: [GATEWAY_CONFIG, RedisService, MetricsService, STREAM_RUNTIME],
  useFactory: (config: GatewayConfig, redis: RedisService, metrics: MetricsService, runtime: StreamRuntime): StreamLog => {
    const { resume } = config;
    const memory = { maxStreamBytes: resume.maxStreamBytes, maxTotalBytes: resume.maxTotalBytes, retentionMs: resume.retentionMs, now: () => runtime.now() };
    if (!config.redis || !redis.enabled) {
      const log = new MemoryStreamLog(memory);
      metrics.gauge('stream_log_bytes', 'Bytes of stream frames kept in memory for resume on this instance', () => log.totalBytes);
      return log;
    }
    const ownership = new StreamOwnership(redis, config.redis.leaseMs, resume.retentionMs);
    const runningTtlMs = (config.limits.maxStreamDurationMs || UNBOUNDED_STREAM_TTL_MS) + resume.graceMs;
    const log = new ReplicatedStreamLog(
      redis,
      ownership,
      {
        memory,
        redis: { batchMs: config.redis.batchMs, retentionMs: resume.retentionMs, maxStreamBytes: resume.maxStreamBytes, runningTtlMs, leaseMs: config.redis.leaseMs, graceMs: resume.graceMs, format: config.redis.logFormat },
      },
      (entries, frames) => metrics.logBatch(entries, frames),
    );
    metrics.gauge('stream_log_bytes', 'Bytes of stream frames kept in memory for resume on this instance', () => log.totalBytes);
    metrics.gauge('stream_replay_bytes', 'Bytes of frames read from Redis for resumes on this instance and not yet sent', () => log.replayBytes);
    void log.start();
    return log;
  },
};

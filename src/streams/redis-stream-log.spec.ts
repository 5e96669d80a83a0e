import { parseConfig } from '../config/config.schema';
import { ConnectionRegistryService } from '../connections/connection-registry.service';
import { MetricsService } from '../metrics/metrics.service';
import { RedisService } from '../redis/redis.service';
import { TestRedis } from '../../test/support/redis-server';
import { MemoryStreamLog } from './memory-stream-log';
import { RedisStreamLog } from './redis-stream-log';
import { describeStreamLog } from './stream-log.contract';
import { StreamOwnership } from './stream-ownership';

const RETENTION_MS = 300;
const quiet = { info: () => undefined, warn: () => undefined } as never;

/** A real Redis (a private redis-server); the records a producing instance would keep, replicated. */
describeStreamLog('RedisStreamLog', async () => {
  const server = await TestRedis.start();
  if (!server) return undefined;
  const config = parseConfig({ REDIS_URL: server.url });
  const redis = new RedisService(config, new MetricsService(new ConnectionRegistryService(), config), quiet);
  await new Promise<void>((resolve) => redis.onUp(resolve));
  const ownership = new StreamOwnership(redis, 5_000);
  ownership.start(() => undefined);
  await new Promise((resolve) => setTimeout(resolve, 50));
  const log = new RedisStreamLog(redis, ownership, { batchMs: 5, retentionMs: RETENTION_MS, maxStreamBytes: 16 * 1024, runningTtlMs: 60_000 }, () => undefined);
  // The producing side keeps its frames in memory, as an instance does; Redis copies them.
  const local = new MemoryStreamLog({ maxStreamBytes: 1 << 20, maxTotalBytes: 1 << 30, retentionMs: 60_000, now: Date.now });
  return {
    log,
    produce: (meta) => {
      const record = local.create({ ...meta, owner: ownership.instance });
      log.replicate(record, () => undefined);
      return record;
    },
    settle: () => log.flushNow(),
    expire: async () => {
      await log.flushNow();
      await new Promise((resolve) => setTimeout(resolve, RETENTION_MS + 50));
    },
    close: async () => {
      log.close();
      local.close();
      await ownership.stop();
      await redis.onApplicationShutdown();
      await server.down();
    },
  };
});

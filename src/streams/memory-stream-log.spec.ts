import { MemoryStreamLog } from './memory-stream-log';
import { restOf } from './record-frame';
import { describeStreamLog, IDLE_PRODUCER } from './stream-log.contract';

const RETENTION_MS = 60_000;

describeStreamLog('MemoryStreamLog', async () => {
  let now = Date.now();
  const log = new MemoryStreamLog({ maxStreamBytes: 16 * 1024, maxTotalBytes: 1 << 30, retentionMs: RETENTION_MS, now: () => now });
  return {
    log,
    produce: (meta) => log.open(meta, IDLE_PRODUCER),
    settle: () => Promise.resolve(),
    expire: async () => {
      // Records end at Date.now() (contract: `append(done, Date.now())`), which may be past `now` by then.
      now = Math.max(now, Date.now()) + RETENTION_MS;
      log.sweep();
    },
    close: async () => log.close(),
  };
});

describe('MemoryStreamLog bounds', () => {
  const meta = (streamId: string) => ({ streamId, principal: 'p', requestId: streamId, model: 'm', startedAt: 0, owner: 'local' });
  const frame = (seq: number) => ({ seq, type: 'chat.chunk' as const, rest: restOf({ seq, text: 'y'.repeat(1_000) }) });

  it('past its total, drops the longest-ended streams first, then trims running ones', () => {
    let now = 0;
    const log = new MemoryStreamLog({ maxStreamBytes: 1 << 20, maxTotalBytes: 30_000, retentionMs: 1 << 30, now: () => now });
    const ended = log.open(meta('ended'));
    for (let seq = 1; seq <= 10; seq++) ended.append(frame(seq));
    ended.append({ seq: 11, type: 'chat.done', rest: '}' }, ++now);
    const running = log.open(meta('running'));
    for (let seq = 1; seq <= 35; seq++) running.append(frame(seq));
    log.sweep();
    expect(log.get('ended')).toBeUndefined();
    expect(log.totalBytes).toBeLessThanOrEqual(30_000);
    expect(running.oldestSeq).toBeGreaterThan(1);
    expect(running.lastSeq).toBe(35);
    log.close();
  });

  it('drops ended streams in the order they ended (not created), skipping ones deleted meanwhile, each after its retention', () => {
    let now = 0;
    const log = new MemoryStreamLog({ maxStreamBytes: 1 << 20, maxTotalBytes: 1 << 30, retentionMs: 1_000, now: () => now });
    const [first, second, third] = ['first', 'second', 'third'].map((id) => log.open(meta(id)));
    const end = (record: typeof first, at: number) => record!.append({ seq: 1, type: 'chat.done', rest: '}' }, at);
    end(second, 100);
    end(first, 200);
    end(third, 300);
    log.delete('first');
    now = 1_150;
    log.sweep();
    expect(['first', 'second', 'third'].map((id) => log.get(id) !== undefined)).toEqual([false, false, true]);
    now = 1_300;
    log.sweep();
    expect(log.streamCount).toBe(0);
    log.close();
  });

  it('pauses the producer while a reader still needs frames at the bound, and resumes it when the reader catches up', () => {
    const log = new MemoryStreamLog({ maxStreamBytes: 8_000, maxTotalBytes: 1 << 30, retentionMs: 1_000, now: () => 0 });
    const producer = { ...IDLE_PRODUCER, paused: false, pause() { this.paused = true; }, resume() { this.paused = false; } };
    const record = log.open(meta('slow'), producer);
    const seen: number[] = [];
    const subscription = record.follow(0, { id: 'slow', frame: (f) => seen.push(f.seq), lost: () => undefined })!;
    subscription.resume();
    subscription.pause();
    for (let seq = 1; seq <= 20; seq++) record.append(frame(seq));
    expect(producer.paused).toBe(true);
    expect(record.oldestSeq).toBe(1);
    subscription.resume();
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(producer.paused).toBe(false);
    expect(record.size).toBeLessThanOrEqual(8_000);
    log.close();
  });
});

import { textFramePayload } from '../wire/ws-text-frame';
import { FramePrefixes, restOf, type RecordFrame } from './record-frame';
import type { LogReader, LogSubscription, StreamLog, StreamMeta, StreamProducer } from './stream-log';
import type { StreamRecord } from './stream-record';

/** What the contract needs from one implementation of {@link StreamLog}. */
export interface StreamLogHarness {
  /** The log read from (replicated: another replica than the one producing). */
  log: StreamLog;
  /** A stream produced "here" (`open`ed on the producing log), whose frames the log must keep (within `maxStreamBytes`). */
  produce(meta: StreamMeta): StreamRecord;
  /** Resolves once what was appended is readable from the log (Redis: written). */
  settle(): Promise<void>;
  /** Lets retention pass. */
  expire(): Promise<void>;
  close(): Promise<void>;
}

let sequence = 0;
const meta = (principal = 'alice'): StreamMeta => ({
  streamId: `str_contract_${process.pid}_${++sequence}`,
  principal,
  requestId: `req-${sequence}`,
  model: 'gpt-4.1',
  startedAt: Date.now(),
  owner: 'contract-owner',
});

/** A producer nobody pauses, cancels or fences in these tests. */
export const IDLE_PRODUCER: StreamProducer = { pause: () => undefined, resume: () => undefined, cancel: () => undefined, fenced: () => undefined };

const chunk = (streamId: string, seq: number, text: string): RecordFrame => ({ seq, type: 'chat.chunk', rest: `,"stream_id":"${streamId}","seq":${seq},"chunk":{"text":${JSON.stringify(text)}}}` });
const started = (streamId: string): RecordFrame => ({ seq: 1, type: 'chat.started', rest: restOf({ stream_id: streamId, seq: 1, model: 'gpt-4.1' }) });
const done = (streamId: string, seq: number): RecordFrame => ({ seq, type: 'chat.done', rest: restOf({ stream_id: streamId, seq, finish_reason: 'stop', usage: null }) });

/** A reader (knowing the stream by `id`) that collects what it is given, and can wait for a seq. */
class Collector implements LogReader {
  readonly frames: RecordFrame[] = [];
  /** The encoded frame handed with each frame, if any. */
  readonly wires: Array<Buffer | undefined> = [];
  lostWith: string | undefined;
  private waiters: Array<() => void> = [];
  constructor(readonly id = 'reader') {}
  frame(frame: RecordFrame, wire?: Buffer): void {
    this.frames.push(frame);
    this.wires.push(wire);
    this.wake();
  }
  lost(reason: string): void {
    this.lostWith = reason;
    this.wake();
  }
  get seqs(): number[] {
    return this.frames.map((f) => f.seq);
  }
  async until(seq: number): Promise<void> {
    while (!this.frames.some((f) => f.seq >= seq)) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }
  private wake(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }
}

/**
 * The behaviour every stream log must have (STYLE: one interface, an in-memory and a Redis
 * implementation passing the same spec): append, read after seq, follow live, expire, list.
 */
export function describeStreamLog(name: string, makeHarness: () => Promise<StreamLogHarness | undefined>): void {
  describe(`${name} (StreamLog contract)`, () => {
    let harness: StreamLogHarness | undefined;
    const subscriptions: LogSubscription[] = [];
    beforeEach(async () => {
      harness = await makeHarness();
    });
    afterEach(async () => {
      for (const subscription of subscriptions.splice(0)) subscription.close();
      await harness?.close();
    });
    const follow = async (streamId: string, afterSeq: number, reader: LogReader) => {
      const subscription = await harness!.log.follow(streamId, afterSeq, reader);
      if (subscription) subscriptions.push(subscription);
      return subscription;
    };

    it('finds a stream only for its principal, with its state and last seq', async () => {
      if (!harness) return;
      const m = meta();
      const record = harness.produce(m);
      await harness.settle();
      expect(await harness.log.find(m.streamId, 'alice')).toMatchObject({ meta: { streamId: m.streamId, requestId: m.requestId }, state: 'pending', lastSeq: 0 });
      record.append(started(m.streamId));
      record.append(chunk(m.streamId, 2, 'a'));
      await harness.settle();
      expect(await harness.log.find(m.streamId, 'alice')).toMatchObject({ state: 'streaming', lastSeq: 2 });
      expect(await harness.log.find(m.streamId, 'mallory')).toBeUndefined();
      expect(await harness.log.find('str_unknown', 'alice')).toBeUndefined();
    });

    it('replays after any seq, then delivers live frames in order, each once, up to the terminal', async () => {
      if (!harness) return;
      const m = meta();
      const record = harness.produce(m);
      record.append(started(m.streamId));
      for (let seq = 2; seq <= 4; seq++) record.append(chunk(m.streamId, seq, `t${seq}`));
      await harness.settle();
      // One reader knows the stream by the id it was requested with, the other by an id of its own.
      const fromStart = new Collector(m.requestId);
      const fromThree = new Collector('renamed');
      (await follow(m.streamId, 0, fromStart))!.resume();
      (await follow(m.streamId, 3, fromThree))!.resume();
      await fromStart.until(4);
      await fromThree.until(4);
      record.append(chunk(m.streamId, 5, 't5'));
      record.append(done(m.streamId, 6));
      await harness.settle();
      await fromStart.until(6);
      await fromThree.until(6);
      expect(fromStart.seqs).toEqual([1, 2, 3, 4, 5, 6]);
      expect(fromThree.seqs).toEqual([4, 5, 6]);
      const { seq, type, rest } = fromStart.frames[4]!;
      expect({ seq, type, rest }).toEqual(chunk(m.streamId, 5, 't5'));
      // A log may hand out the frames encoded, as the socket that requested the stream gets them...
      const payload = (frame: Buffer) => textFramePayload(frame).toString();
      fromStart.frames.forEach((frame, i) => {
        const encoded = fromStart.wires[i];
        if (encoded) expect(payload(encoded)).toBe(new FramePrefixes(m.requestId).render(frame));
      });
      const wire = fromStart.wires[4];
      if (wire) expect(JSON.parse(payload(wire))).toMatchObject({ type: 'chat.chunk', id: m.requestId, seq: 5, chunk: { text: 't5' } });
      // ...but never to a reader that knows the stream by another id: those bytes are not its frames.
      expect(fromThree.wires.filter((w) => w !== undefined)).toEqual([]);
      expect(await harness.log.find(m.streamId, 'alice')).toMatchObject({ state: 'done', lastSeq: 6 });
    });

    it('delivers nothing before resume(): a subscription starts paused', async () => {
      if (!harness) return;
      const m = meta();
      const record = harness.produce(m);
      record.append(started(m.streamId));
      await harness.settle();
      const reader = new Collector();
      const subscription = (await follow(m.streamId, 0, reader))!;
      await harness.settle();
      expect(reader.frames).toEqual([]);
      subscription.resume();
      await reader.until(1);
      expect(reader.seqs).toEqual([1]);
    });

    it('lists the principal’s streams, newest first', async () => {
      if (!harness) return;
      const older = { ...meta('lister'), startedAt: Date.now() - 1_000 };
      const newer = meta('lister');
      harness.produce(older).append(started(older.streamId));
      harness.produce(newer);
      harness.produce(meta('someone-else'));
      await harness.settle();
      const { streams: listed } = await harness.log.list('lister');
      expect(listed.map((s) => s.stream_id)).toEqual([newer.streamId, older.streamId]);
      expect(listed[1]).toMatchObject({ id: older.requestId, model: 'gpt-4.1', state: 'streaming', last_seq: 1 });
      expect(listed[0]).toMatchObject({ state: 'pending', last_seq: 0 });
      expect(Date.parse(listed[0]!.started_at)).toBe(newer.startedAt);
    });

    it('forgets an ended stream once its retention is over', async () => {
      if (!harness) return;
      const m = meta();
      const record = harness.produce(m);
      record.append(started(m.streamId));
      record.append(done(m.streamId, 2), Date.now());
      await harness.settle();
      expect(await harness.log.find(m.streamId, 'alice')).toBeDefined();
      await harness.expire();
      expect(await harness.log.find(m.streamId, 'alice')).toBeUndefined();
    });

    it('refuses to replay from below frames its bound already dropped', async () => {
      if (!harness) return;
      const m = meta();
      const record = harness.produce(m);
      record.append(started(m.streamId));
      // Well over the harness's 16 KiB per stream, with nobody reading.
      for (let seq = 2; seq <= 80; seq++) record.append(chunk(m.streamId, seq, 'x'.repeat(500)));
      await harness.settle();
      expect(await follow(m.streamId, 0, new Collector())).toBeUndefined();
      const recent = new Collector();
      (await follow(m.streamId, 78, recent))!.resume();
      await recent.until(80);
      expect(recent.seqs).toEqual([79, 80]);
    });
  });
}

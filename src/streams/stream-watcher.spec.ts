import { FlowGate } from '../backpressure/flow-gate';
import type { ServerFrame } from '@holysheep/protocol';
import { textFramePayload } from '../wire/ws-text-frame';
import { MemoryStreamLog } from './memory-stream-log';
import { restOf } from './record-frame';
import { REPLAY_PAGE_BYTES, ReplayPacer } from './replay-pacer';
import { IDLE_PRODUCER } from './stream-log.contract';
import type { StreamSocket } from './stream-socket';
import { StreamWatcher } from './stream-watcher';

/** A socket as the streams see it, recording each write: `wire` (ready bytes, one write) or `text`. */
function socket(): StreamSocket & { flow: FlowGate; writes: Array<{ how: 'wire' | 'text'; json: string; bytes?: Buffer }> } {
  const writes: Array<{ how: 'wire' | 'text'; json: string; bytes?: Buffer }> = [];
  return {
    writes,
    id: 'conn',
    principal: 'p',
    transport: { isOpen: true },
    flow: new FlowGate(),
    send: (frame: ServerFrame) => writes.push({ how: 'text', json: JSON.stringify(frame) }),
    reply: (frame: ServerFrame) => writes.push({ how: 'text', json: JSON.stringify(frame) }),
    sendText: (text) => writes.push({ how: 'text', json: text }),
    sendWire: (bytes) => writes.push({ how: 'wire', json: textFramePayload(bytes).toString(), bytes }),
    streamStarted: () => undefined,
    streamEnded: () => undefined,
    hasStream: () => false,
    streamIdOf: () => undefined,
  };
}

describe('StreamWatcher on the memory log', () => {
  const turn = () => new Promise((resolve) => setImmediate(resolve));
  const chunk = (seq: number) => ({ seq, type: 'chat.chunk' as const, rest: restOf({ stream_id: 's', seq, chunk: { text: `t${seq}` } }) });

  it('the socket that requested the stream writes each frame as the log holds it (one write of ready bytes); another id gets text', async () => {
    const log = new MemoryStreamLog({ maxStreamBytes: 1 << 20, maxTotalBytes: 1 << 30, retentionMs: 1_000, now: () => 0 });
    const record = log.open({ streamId: 's', principal: 'p', requestId: 'req-1', model: 'm', startedAt: 0 }, IDLE_PRODUCER);
    record.append({ seq: 1, type: 'chat.started', rest: restOf({ stream_id: 's', seq: 1, model: 'm' }) });
    const asked = socket();
    const resumed = socket();
    const requester = new StreamWatcher(asked, 's', 'req-1', 0, new ReplayPacer(), () => undefined);
    const renamed = new StreamWatcher(resumed, 's', 'mine', 0, new ReplayPacer(), () => undefined);
    requester.attach(record.follow(0, requester)!);
    renamed.attach(record.follow(0, renamed)!);
    record.append(chunk(2));
    // Paused by its socket's backpressure, then caught up from the log: still the held bytes.
    asked.flow.pause();
    record.append(chunk(3));
    asked.flow.resume();
    // Caught up in a pacer turn, not from the drain callback (see the test below).
    expect(asked.writes).toHaveLength(2);
    await turn();
    record.append({ seq: 4, type: 'chat.done', rest: restOf({ stream_id: 's', seq: 4, finish_reason: 'stop', usage: null }) }, 1);

    expect(asked.writes.map((w) => w.how)).toEqual(['wire', 'wire', 'wire', 'wire']);
    asked.writes.forEach((write, i) => expect(write.bytes!.equals(record.wireOf(i + 1)!)).toBe(true));
    expect(asked.writes.map((w) => JSON.parse(w.json))).toMatchObject([{ id: 'req-1', seq: 1 }, { id: 'req-1', seq: 2 }, { id: 'req-1', seq: 3 }, { id: 'req-1', seq: 4 }]);
    expect(resumed.writes.map((w) => w.how)).toEqual(['text', 'text', 'text', 'text']);
    expect(resumed.writes.map((w) => JSON.parse(w.json))).toMatchObject([{ id: 'mine', seq: 1 }, { id: 'mine', seq: 2 }, { id: 'mine', seq: 3 }, { id: 'mine', type: 'chat.done' }]);
    log.close();
  });

  it('a text-format socket gets each content delta as a ready compact frame (one write, byte for byte the compact JSON), anything more as the held bytes; a text resumer under another id gets its own', async () => {
    const log = new MemoryStreamLog({ maxStreamBytes: 1 << 20, maxTotalBytes: 1 << 30, retentionMs: 1_000, now: () => 0 });
    const record = log.open({ streamId: 's', principal: 'p', requestId: 'req-1', model: 'm', startedAt: 0 }, IDLE_PRODUCER);
    const asked = socket();
    const requester = new StreamWatcher(asked, 's', 'req-1', 0, new ReplayPacer(), () => undefined, 'text');
    requester.attach(record.follow(0, requester)!);
    record.append({ seq: 1, type: 'chat.started', rest: restOf({ stream_id: 's', seq: 1, model: 'm' }) });
    const texts = [
      'plain',
      'quote " backslash \\ slash /',
      '\b\f\n\r\t \u0000\u0001\u001f\u007f',
      'U+2028 \u2028 U+2029 \u2029',
      '你好，世界',
      'é ß 🙂 👍🏽 👨‍👩‍👧',
      'lone \ud800 and \udfff, reversed \udc00\ud800',
      '',
      'x'.repeat(5_000) + '🙂',
    ];
    const envelope = { id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm' };
    const chunkOf = (delta: Record<string, unknown>) => ({ ...envelope, choices: [{ index: 0, delta, finish_reason: null }] });
    // The first chunk carries a role: more than a content delta, so it goes out whole.
    record.append({ seq: 2, type: 'chat.chunk', rest: restOf({ stream_id: 's', seq: 2, chunk: chunkOf({ role: 'assistant', content: '' }) }) });
    texts.forEach((text, i) => {
      const seq = i + 3;
      // As the producer appends them for a text requester: the delta rides along (live frames).
      record.append({ seq, type: 'chat.chunk', rest: restOf({ stream_id: 's', seq, chunk: chunkOf({ content: text }) }), text });
    });
    const last = texts.length + 3;
    record.append({ seq: last, type: 'chat.done', rest: restOf({ stream_id: 's', seq: last, finish_reason: 'stop', usage: null }) }, 1);

    const compactFrames = (id: string) => texts.map((text, i) => `{"t":"d","id":${JSON.stringify(id)},"s":${i + 3},"x":${JSON.stringify(text)}}`);
    expect(asked.writes.map((w) => w.how)).toEqual(Array(last).fill('wire'));
    for (const seq of [1, 2, last]) expect(asked.writes[seq - 1]!.bytes!.equals(record.wireOf(seq)!)).toBe(true);
    const compact = asked.writes.slice(2, -1);
    expect(compact.map((w) => w.json)).toEqual(compactFrames('req-1'));
    compact.forEach((write, i) => {
      expect(textFramePayload(write.bytes!).equals(Buffer.from(compactFrames('req-1')[i]!))).toBe(true);
      expect(write.bytes![0]).toBe(0x81);
      expect(JSON.parse(write.json)).toEqual({ t: 'd', id: 'req-1', s: i + 3, x: texts[i] });
    });

    // Read back from the log (no delta rides along): parsed, and rendered under the resumer's id.
    const resumed = socket();
    const renamed = new StreamWatcher(resumed, 's', 'mine "2"', 0, new ReplayPacer(), () => undefined, 'text');
    renamed.attach(record.follow(0, renamed)!);
    while (resumed.writes.length < last) await turn();
    expect(resumed.writes.slice(2, -1).map((w) => w.json)).toEqual(compactFrames('mine "2"'));
    expect(resumed.writes.map((w) => JSON.parse(w.json))).toMatchObject([{ id: 'mine "2"', seq: 1 }, { id: 'mine "2"', seq: 2 }, ...texts.map(() => ({ id: 'mine "2"' })), { id: 'mine "2"', type: 'chat.done' }]);
    // The earlier frames' bytes were not written over by the later ones (pooled bytes are written once).
    expect(compact.map((w) => textFramePayload(w.bytes!).toString())).toEqual(compactFrames('req-1'));
    log.close();
  });

  const done = (seq: number) => ({ seq, type: 'chat.done' as const, rest: restOf({ stream_id: 's', seq, finish_reason: 'stop', usage: null }) });
  const newLog = (maxStreamBytes = 1 << 24) => new MemoryStreamLog({ maxStreamBytes, maxTotalBytes: 1 << 30, retentionMs: 1_000, now: () => 0 });
  const bigChunk = (seq: number) => ({ seq, type: 'chat.chunk' as const, rest: restOf({ stream_id: 's', seq, chunk: { text: 'x'.repeat(4_000) } }) });

  it('a replay goes out a page per event-loop turn, starting in a pacer turn, whole and in order', async () => {
    const log = newLog();
    const record = log.open({ streamId: 's', principal: 'p', requestId: 'req', model: 'm', startedAt: 0 }, IDLE_PRODUCER);
    for (let seq = 1; seq <= 100; seq++) record.append(bigChunk(seq));
    record.append(done(101), 1);
    const resumed = socket();
    let ended = false;
    const watcher = new StreamWatcher(resumed, 's', 'again', 0, new ReplayPacer(), () => (ended = true));
    watcher.attach(record.follow(0, watcher)!, true);
    expect(resumed.writes).toHaveLength(0);
    const perTurn: number[] = [];
    while (!ended) {
      const before = resumed.writes.length;
      await turn();
      perTurn.push(resumed.writes.reduce((n, w, i) => n + (i >= before ? w.json.length : 0), 0));
    }
    expect(Math.max(...perTurn)).toBeLessThan(REPLAY_PAGE_BYTES + 4_200);
    expect(resumed.writes.map((w) => JSON.parse(w.json).seq)).toEqual(Array.from({ length: 101 }, (_, i) => i + 1));
    log.close();
  });

  it('live frames ask the pacer for no turn until they add up to a page; a live burst still yields, within two pages a turn, whole and in order', async () => {
    const log = newLog();
    const record = log.open({ streamId: 's', principal: 'p', requestId: 'req', model: 'm', startedAt: 0 }, IDLE_PRODUCER);
    const live = socket();
    let ended = false;
    const pacer = new ReplayPacer();
    const turnLookups = jest.spyOn(pacer, 'turn', 'get');
    const watcher = new StreamWatcher(live, 's', 'req', 0, pacer, () => (ended = true));
    watcher.attach(record.follow(0, watcher)!);
    // A chunk per turn, as a paced upstream delivers them: far below a page in all.
    for (let seq = 1; seq <= 10; seq++) {
      record.append(chunk(seq));
      await turn();
    }
    expect(live.writes).toHaveLength(10);
    expect(turnLookups).not.toHaveBeenCalled();
    // One read's worth of 100 large chunks in one turn: paged, not sent at once.
    const perTurn: number[] = [];
    let before = live.writes.length;
    for (let seq = 11; seq <= 110; seq++) record.append(bigChunk(seq));
    record.append(done(111), 1);
    while (!ended) {
      perTurn.push(live.writes.slice(before).reduce((n, w) => n + w.json.length, 0));
      before = live.writes.length;
      await turn();
    }
    expect(perTurn.length).toBeGreaterThan(3);
    expect(Math.max(...perTurn)).toBeLessThan(2 * REPLAY_PAGE_BYTES + 4_200);
    expect(live.writes.map((w) => JSON.parse(w.json).seq)).toEqual(Array.from({ length: 111 }, (_, i) => i + 1));
    log.close();
  });

  it('sockets that drain together catch up in pacer turns, not from their drain callbacks: a storm of them costs a turn no more than its budget', async () => {
    const log = newLog();
    const record = log.open({ streamId: 's', principal: 'p', requestId: 'req', model: 'm', startedAt: 0 }, IDLE_PRODUCER);
    for (let seq = 1; seq <= 40; seq++) record.append(bigChunk(seq));
    record.append(done(41), 1);
    const pacer = new ReplayPacer();
    const sockets = Array.from({ length: 50 }, () => {
      const s = socket();
      // The socket goes over its send-buffer mark with its first frame, before a page is out.
      const sendText = s.sendText;
      s.sendText = (text) => {
        sendText(text);
        if (s.writes.length === 1) s.flow.pause();
      };
      return s;
    });
    let ended = 0;
    for (const [i, s] of sockets.entries()) {
      const watcher = new StreamWatcher(s, 's', `r${i}`, 0, pacer, () => ended++);
      watcher.attach(record.follow(0, watcher)!, true);
    }
    while (sockets.some((s) => s.writes.length === 0)) await turn();
    const before = sockets.map((s) => s.writes.length);
    expect(before.every((n) => n === 1)).toBe(true);
    // The writes complete in one tick: every socket drains at once. Nothing is sent from there.
    for (const s of sockets) s.flow.resume();
    expect(sockets.map((s) => s.writes.length)).toEqual(before);
    while (ended < sockets.length) await turn();
    for (const s of sockets) expect(s.writes.map((w) => JSON.parse(w.json).seq)).toEqual(Array.from({ length: 41 }, (_, i) => i + 1));
    log.close();
  });

  it('a log that ends at or before after_seq answers: stream.complete at its last seq, bad_request before it', () => {
    const log = newLog();
    const record = log.open({ streamId: 's', principal: 'p', requestId: 'req', model: 'm', startedAt: 0 }, IDLE_PRODUCER);
    record.append(chunk(1));
    const atEnd = socket();
    const past = socket();
    const a = new StreamWatcher(atEnd, 's', 'a', 2, new ReplayPacer(), () => undefined);
    const b = new StreamWatcher(past, 's', 'b', 5, new ReplayPacer(), () => undefined);
    a.attach(record.follow(1, a)!);
    b.attach(record.follow(1, b)!);
    record.append(done(2), 1);
    expect(JSON.parse(atEnd.writes[0]!.json)).toEqual({ type: 'stream.complete', id: 'a', stream_id: 's', last_seq: 2, state: 'done' });
    expect(JSON.parse(past.writes[0]!.json)).toMatchObject({ type: 'chat.error', id: 'b', code: 'bad_request' });
    expect(record.readerCount).toBe(0);
    log.close();
  });

  it('a producer that dies while a socket waits ahead of the log: a terminal at after_seq + 1 to that socket alone', () => {
    const log = newLog();
    const record = log.open({ streamId: 's', principal: 'p', requestId: 'req', model: 'm', startedAt: 0 }, IDLE_PRODUCER);
    record.append(chunk(1));
    const ahead = socket();
    const watcher = new StreamWatcher(ahead, 's', 'a', 1_000, new ReplayPacer(), () => undefined);
    watcher.attach(record.follow(1, watcher)!);
    watcher.lost('producer_died');
    expect(JSON.parse(ahead.writes[0]!.json)).toMatchObject({ type: 'chat.error', id: 'a', seq: 1_001 });
    expect(record.lastSeq).toBe(1);
  });

  it('a gap met while following (a shared log that lost frames): one retryable terminal past what the socket has, to it alone', () => {
    const log = newLog();
    const record = log.open({ streamId: 's', principal: 'p', requestId: 'req', model: 'm', startedAt: 0 }, IDLE_PRODUCER);
    record.append(chunk(1));
    record.append(chunk(2));
    const following = socket();
    const watcher = new StreamWatcher(following, 's', 'a', 0, new ReplayPacer(), () => undefined);
    watcher.attach(record.follow(0, watcher)!);
    watcher.lost('log_gap');
    const frames = following.writes.map((w) => JSON.parse(w.json));
    expect(frames.map((f) => f.seq)).toEqual([1, 2, 3]);
    expect(frames[2]).toMatchObject({ type: 'chat.error', id: 'a', stream_id: 's', code: 'upstream_disconnected', retryable: true });
    expect(record.lastSeq).toBe(2);
    // A log read Redis did not answer while following ends the same way.
    const other = socket();
    const second = new StreamWatcher(other, 's', 'b', 0, new ReplayPacer(), () => undefined);
    second.attach(record.follow(0, second)!);
    second.lost('log_lost');
    expect(JSON.parse(other.writes.at(-1)!.json)).toMatchObject({ type: 'chat.error', id: 'b', seq: 3, code: 'upstream_disconnected', retryable: true });
  });

  it('a watcher behind its mark while another keeps up is cut loose (stream.overtaken); the producer is not paused', async () => {
    const paused: string[] = [];
    const log = newLog(65_536);
    const record = log.open({ streamId: 's', principal: 'p', requestId: 'req', model: 'm', startedAt: 0 }, { ...IDLE_PRODUCER, pause: () => paused.push('pause') });
    const fast = socket();
    const slow = socket();
    const keeping = new StreamWatcher(fast, 's', 'req', 0, new ReplayPacer(), () => undefined);
    const lagging = new StreamWatcher(slow, 's', 'copy', 0, new ReplayPacer(), () => undefined);
    keeping.attach(record.follow(0, keeping)!);
    lagging.attach(record.follow(0, lagging)!);
    record.append(chunk(1));
    slow.flow.pause();
    for (let seq = 2; seq <= 40; seq++) {
      record.append(bigChunk(seq));
      await turn();
    }
    expect(paused).toEqual([]);
    expect(fast.writes).toHaveLength(40);
    const told = JSON.parse(slow.writes.at(-1)!.json);
    expect(told).toMatchObject({ type: 'stream.overtaken', id: 'copy', stream_id: 's', last_seq: 1 });
    expect(told.kept_from).toBeGreaterThan(2);
    expect(record.readerCount).toBe(1);
    log.close();
  });
});

import { FlowGate } from '../backpressure/flow-gate';
import type { ServerFrame } from '@holysheep/protocol';
import { textFramePayload } from '../wire/ws-text-frame';
import { MemoryStreamLog } from './memory-stream-log';
import { restOf } from './record-frame';
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
  const chunk = (seq: number) => ({ seq, type: 'chat.chunk' as const, rest: restOf({ stream_id: 's', seq, chunk: { text: `t${seq}` } }) });

  it('the socket that requested the stream writes each frame as the log holds it (one write of ready bytes); another id gets text', () => {
    const log = new MemoryStreamLog({ maxStreamBytes: 1 << 20, maxTotalBytes: 1 << 30, retentionMs: 1_000, now: () => 0 });
    const record = log.open({ streamId: 's', principal: 'p', requestId: 'req-1', model: 'm', startedAt: 0 }, IDLE_PRODUCER);
    record.append({ seq: 1, type: 'chat.started', rest: restOf({ stream_id: 's', seq: 1, model: 'm' }) });
    const asked = socket();
    const resumed = socket();
    const requester = new StreamWatcher(asked, 's', 'req-1', 0, () => undefined);
    const renamed = new StreamWatcher(resumed, 's', 'mine', 0, () => undefined);
    requester.attach(record.follow(0, requester)!);
    renamed.attach(record.follow(0, renamed)!);
    record.append(chunk(2));
    // Paused by its socket's backpressure, then caught up from the log: still the held bytes.
    asked.flow.pause();
    record.append(chunk(3));
    asked.flow.resume();
    record.append({ seq: 4, type: 'chat.done', rest: restOf({ stream_id: 's', seq: 4, finish_reason: 'stop', usage: null }) }, 1);

    expect(asked.writes.map((w) => w.how)).toEqual(['wire', 'wire', 'wire', 'wire']);
    asked.writes.forEach((write, i) => expect(write.bytes!.equals(record.wireOf(i + 1)!)).toBe(true));
    expect(asked.writes.map((w) => JSON.parse(w.json))).toMatchObject([{ id: 'req-1', seq: 1 }, { id: 'req-1', seq: 2 }, { id: 'req-1', seq: 3 }, { id: 'req-1', seq: 4 }]);
    expect(resumed.writes.map((w) => w.how)).toEqual(['text', 'text', 'text', 'text']);
    expect(resumed.writes.map((w) => JSON.parse(w.json))).toMatchObject([{ id: 'mine', seq: 1 }, { id: 'mine', seq: 2 }, { id: 'mine', seq: 3 }, { id: 'mine', type: 'chat.done' }]);
    log.close();
  });
});

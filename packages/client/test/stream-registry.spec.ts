/**
 * The stream registry on its own, without a socket: which frames it drops as already delivered,
 * what it sends for each stream on a fresh socket (resume from the last seq, a lookup by request
 * id, the request again), and how cancels and refusals end or requeue a stream.
 */
import type { ChatRequestFrame, ClientFrame, StreamSummary } from '@holysheep/protocol';
import type { ChatEvent } from '../src/chat-handle';
import { ChatError } from '../src/errors';
import { StreamRegistry, type StreamEntry, type StreamLink } from '../src/stream-registry';
import { chunkFrame, doneFrame, startedFrame } from './support/fake-socket';

const hello = [{ role: 'user' as const, content: 'hi' }];

/** A link that records what the registry sends and asks for, with a switch for "a socket is ready". */
class FakeLink implements StreamLink {
  ready = true;
  sent: ClientFrame[] = [];
  lookups: Array<(streams: StreamSummary[] | undefined) => void> = [];
  workChanges = 0;
  drainingCalls = 0;
  private next = 1;
  send(frame: ClientFrame): void {
    if (this.ready) this.sent.push(frame);
  }
  newId(kind: string): string {
    return `${kind}_${this.next++}`;
  }
  workChanged(): void {
    this.workChanges += 1;
  }
  draining(): void {
    this.drainingCalls += 1;
  }
  locate(onResult: (streams: StreamSummary[] | undefined) => void): void {
    this.lookups.push(onResult);
  }
  take(): ClientFrame[] {
    return this.sent.splice(0);
  }
}

const request = (id: string): ChatRequestFrame => ({ type: 'chat.request', id, messages: hello });
const summary = (id: string, stream_id: string): StreamSummary => ({ stream_id, id, model: 'm', state: 'pending', last_seq: 0, started_at: '2026-01-01T00:00:00Z' });

describe('StreamRegistry', () => {
  let link: FakeLink;
  let registry: StreamRegistry;
  beforeEach(() => {
    link = new FakeLink();
    registry = new StreamRegistry(link);
  });

  /** A chat tracked and sent on the current socket. */
  const sentChat = (id: string): StreamEntry => {
    const entry = registry.chatEntry(request(id));
    registry.add(entry);
    registry.dispatch(entry);
    return entry;
  };
  const events = (entry: StreamEntry): ChatEvent[] => {
    const seen: ChatEvent[] = [];
    entry.handle.onEvent((e) => seen.push(e));
    return seen;
  };

  describe('dedupe by seq', () => {
    it('delivers each seq once, in order: repeats and older frames are dropped', () => {
      const entry = sentChat('a');
      const seen = events(entry);
      registry.onFrame(startedFrame('a'));
      registry.onFrame(chunkFrame('a', 2, 'one '));
      registry.onFrame(chunkFrame('a', 2, 'one '));
      registry.onFrame(startedFrame('a'));
      registry.onFrame(chunkFrame('a', 3, 'two'));
      registry.onFrame(chunkFrame('a', 2, 'one '));
      expect(seen.map((e) => (e.type === 'error' ? -1 : e.seq))).toEqual([1, 2, 3]);
      expect(entry.handle.currentText).toBe('one two');
      expect(entry.handle.seq).toBe(3);
    });

    it('drops frames for unknown ids and for a stream that already ended', () => {
      const entry = sentChat('a');
      registry.onFrame(startedFrame('a'));
      registry.onFrame(doneFrame('a', 2));
      expect(registry.has('a')).toBe(false);
      registry.onFrame(chunkFrame('a', 3, 'late'));
      registry.onFrame(chunkFrame('nobody', 1, 'x'));
      expect(entry.handle.currentText).toBe('');
      expect(entry.handle.status).toBe('done');
    });

    it('a watch drops what it asked to skip (seq ≤ after_seq)', () => {
      const entry = registry.watchEntry('w1', 'str_x', 5);
      registry.add(entry);
      registry.dispatch(entry);
      expect(link.take()).toEqual([{ type: 'stream.resume', stream_id: 'str_x', after_seq: 5, id: 'w1', format: 'text' }]);
      registry.onFrame(chunkFrame('w1', 5, 'old', 'str_x'));
      registry.onFrame(chunkFrame('w1', 6, 'new', 'str_x'));
      expect(entry.handle.currentText).toBe('new');
    });
  });

  describe('on a fresh socket', () => {
    it('resumes a started stream from the last seq it delivered', () => {
      const entry = sentChat('a');
      registry.onFrame(startedFrame('a', 'str_a'));
      registry.onFrame(chunkFrame('a', 2, 'x', 'str_a'));
      registry.onSocketLost();
      expect(entry.phase).toBe('detached');
      link.take();
      registry.onOpen(true);
      expect(link.take()).toEqual([{ type: 'stream.resume', stream_id: 'str_a', after_seq: 2, id: 'a', format: 'text' }]);
      expect(entry.phase).toBe('live');
    });

    it('sends queued requests (made while offline) in the order they were made', () => {
      for (const id of ['a', 'b']) registry.add(registry.chatEntry(request(id)));
      registry.onOpen(true);
      expect(link.take()).toEqual([request('a'), request('b')]);
    });

    it('looks up a request sent but never started, and resumes it from 0 when the gateway has it', () => {
      const entry = sentChat('p');
      registry.onSocketLost();
      link.take();
      registry.onOpen(true);
      expect(link.take()).toEqual([]);
      expect(entry.phase).toBe('locating');
      expect(link.lookups).toHaveLength(1);
      link.lookups[0]!([summary('other', 'str_o'), summary('p', 'str_p')]);
      expect(link.take()).toEqual([{ type: 'stream.resume', stream_id: 'str_p', after_seq: 0, id: 'p', format: 'text' }]);
    });

    it.each([
      ['the list does not know it', [summary('other', 'str_o')]],
      ['the lookup went unanswered', undefined],
    ])('sends a request again when %s', (_, streams) => {
      sentChat('p');
      registry.onSocketLost();
      link.take();
      registry.onOpen(true);
      link.lookups[0]!(streams);
      expect(link.take()).toEqual([request('p')]);
    });

    it('ignores a lookup answer for a stream that was lost again or ended meanwhile', () => {
      const entry = sentChat('p');
      registry.onSocketLost();
      registry.onOpen(true);
      registry.onSocketLost(); // the lookup died with its socket
      link.take();
      link.lookups[0]!([summary('p', 'str_p')]);
      expect(link.take()).toEqual([]);
      expect(entry.phase).toBe('detached');
    });

    it('sends a never-started request again at once when the gateway cannot resume (it aborted it)', () => {
      sentChat('p');
      registry.onSocketLost();
      link.take();
      registry.onOpen(false);
      expect(link.lookups).toHaveLength(0);
      expect(link.take()).toEqual([request('p')]);
    });
  });

  describe('cancel', () => {
    it('on a ready socket sends chat.cancel and waits for the server to end the stream', () => {
      const entry = sentChat('a');
      registry.onFrame(startedFrame('a'));
      link.take();
      entry.handle.cancel();
      expect(link.take()).toEqual([{ type: 'chat.cancel', id: 'a' }]);
      expect(entry.handle.status).toBe('streaming');
      registry.onFrame(doneFrame('a', 2, 'str_1', 'cancelled'));
      expect(entry.handle.status).toBe('cancelled');
    });

    it('a stream whose cancel went out ends cancelled when its socket is lost, and is not resumed', () => {
      const entry = sentChat('a');
      registry.onFrame(startedFrame('a'));
      entry.handle.cancel();
      registry.onSocketLost();
      expect(entry.handle.status).toBe('cancelled');
      link.take();
      registry.onOpen(true);
      expect(link.take()).toEqual([]);
    });

    it('while detached ends the stream at once, and cancels it on the next socket under a fresh id', () => {
      const entry = sentChat('a');
      registry.onFrame(startedFrame('a', 'str_a'));
      registry.onFrame(chunkFrame('a', 2, 'x', 'str_a'));
      registry.onSocketLost();
      link.ready = false;
      const before = link.workChanges;
      entry.handle.cancel();
      expect(entry.handle.status).toBe('cancelled');
      expect(registry.size).toBe(0);
      expect(link.workChanges).toBe(before + 1);
      link.ready = true;
      link.take();
      registry.onOpen(true);
      expect(link.take()).toEqual([
        { type: 'stream.resume', stream_id: 'str_a', after_seq: 2, id: 'x_1', format: 'text' },
        { type: 'chat.cancel', id: 'x_1' },
      ]);
    });

    it.each([
      ['chat', () => registry.chatEntry(request('q'))],
      ['watch', () => registry.watchEntry('q', 'str_q', 3)],
    ])('of a queued %s sends nothing, now or later', (_, make) => {
      link.ready = false;
      const entry = make();
      registry.add(entry);
      entry.handle.cancel();
      expect(entry.handle.status).toBe('cancelled');
      link.ready = true;
      registry.onOpen(true);
      expect(link.take()).toEqual([]);
    });
  });

  describe('resume answers (issue 21)', () => {
    /** A chat that started, lost its socket and was resumed from seq 2 on a fresh one. */
    const resumed = (id: string): StreamEntry => {
      const entry = sentChat(id);
      registry.onFrame(startedFrame(id, `str_${id}`));
      registry.onFrame(chunkFrame(id, 2, 'x', `str_${id}`));
      registry.onSocketLost();
      registry.onOpen(true);
      link.take();
      return entry;
    };

    it('a resume answered rate_limited is sent again after retry_after_ms, not failed', () => {
      jest.useFakeTimers();
      try {
        const entry = resumed('a');
        registry.onFrame({ type: 'chat.error', id: 'a', stream_id: 'str_a', code: 'rate_limited', message: 'm', retryable: true, retry_after_ms: 500 });
        expect(entry.handle.ended).toBe(false);
        jest.advanceTimersByTime(499);
        expect(link.take()).toEqual([]);
        jest.advanceTimersByTime(1);
        expect(link.take()).toEqual([{ type: 'stream.resume', stream_id: 'str_a', after_seq: 2, id: 'a', format: 'text' }]);
        expect(entry.phase).toBe('live');
      } finally {
        jest.useRealTimers();
      }
    });

    it('stream.overtaken resumes from the last seq delivered', () => {
      const entry = resumed('b');
      registry.onOvertaken({ type: 'stream.overtaken', id: 'b', stream_id: 'str_b', last_seq: 2, kept_from: 9 });
      expect(link.take()).toEqual([{ type: 'stream.resume', stream_id: 'str_b', after_seq: 2, id: 'b', format: 'text' }]);
      expect(entry.handle.ended).toBe(false);
    });

    it('stream.complete ends a watch that already had everything', async () => {
      const entry = registry.watchEntry('w', 'str_w', 7);
      registry.add(entry);
      registry.dispatch(entry);
      registry.onComplete({ type: 'stream.complete', id: 'w', stream_id: 'str_w', last_seq: 7, state: 'done' });
      expect(entry.handle.ended).toBe(true);
      expect(registry.has('w')).toBe(false);
    });
  });

  describe('refusals', () => {
    it('shutting_down requeues a request and reports the draining; it goes out on the next socket', () => {
      const entry = sentChat('a');
      link.take();
      registry.onRefused('shutting_down', 'draining', 'a');
      expect(entry.phase).toBe('queued');
      expect(link.drainingCalls).toBe(1);
      registry.onSocketLost();
      registry.onOpen(true);
      expect(link.take()).toEqual([request('a')]);
    });

    it('a chat.error shutting_down before the start requeues too', () => {
      const entry = sentChat('a');
      registry.onFrame({ type: 'chat.error', id: 'a', code: 'shutting_down', message: 'draining', retryable: true });
      expect(entry.phase).toBe('queued');
      expect(entry.handle.status).toBe('pending');
    });

    it('other refusals fail the stream with their code', async () => {
      const entry = sentChat('a');
      registry.onRefused('model_not_allowed', 'no', 'a');
      await expect(entry.handle.result).rejects.toMatchObject({ code: 'model_not_allowed' });
      expect(registry.has('a')).toBe(false);
    });

    it('a refusal does not touch a stream that is already streaming', () => {
      const entry = sentChat('a');
      registry.onFrame(startedFrame('a'));
      registry.onRefused('rate_limited', 'slow down', 'a');
      expect(entry.handle.status).toBe('streaming');
    });
  });

  it('failAll fails every stream with the error and its own stream id; one whose cancel went out ends cancelled', async () => {
    const a = sentChat('a');
    registry.onFrame(startedFrame('a', 'str_a'));
    const b = sentChat('b');
    registry.onFrame(startedFrame('b', 'str_b'));
    b.handle.cancel();
    registry.failAll(new ChatError({ code: 'forbidden', message: 'no', closeCode: 4403 }));
    await expect(a.handle.result).rejects.toMatchObject({ code: 'forbidden', closeCode: 4403, streamId: 'str_a' });
    expect(b.handle.status).toBe('cancelled');
    expect(registry.size).toBe(0);
  });
});

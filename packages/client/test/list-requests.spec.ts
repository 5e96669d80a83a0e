/**
 * The `stream.list` requests on their own (fake clock, no socket): answers by id, the timeout, an
 * older gateway's `unknown_type`, and what survives a lost socket.
 */
import type { ClientFrame, StreamSummary } from '@holysheep/protocol';
import { ListRequests, type ListLink } from '../src/list-requests';

const listed: StreamSummary[] = [{ stream_id: 's', id: 'r', model: 'm', state: 'done', last_seq: 5, started_at: '2026-01-01T00:00:00Z' }];

describe('ListRequests', () => {
  let sent: ClientFrame[];
  let workChanges: number;
  let lists: ListRequests;
  beforeEach(() => {
    jest.useFakeTimers();
    sent = [];
    workChanges = 0;
    let next = 1;
    const link: ListLink = { send: (frame) => sent.push(frame), newId: (kind) => `${kind}_${next++}`, workChanged: () => (workChanges += 1) };
    lists = new ListRequests(link, 1_000);
  });
  afterEach(() => jest.useRealTimers());

  /** A caller's request, and its outcome as a settled promise. */
  const request = () => {
    let id = '';
    const outcome = new Promise<StreamSummary[]>((resolve, reject) => (id = lists.add(resolve, reject)));
    outcome.catch(() => undefined);
    return { id, outcome };
  };

  it('settles a request with the answer carrying its id, and ignores answers for other ids', async () => {
    const { id, outcome } = request();
    lists.send(id);
    expect(sent).toEqual([{ type: 'stream.list', id }]);
    lists.onResult({ type: 'stream.list.result', id: 'l_other', streams: [] });
    lists.onResult({ type: 'stream.list.result', streams: [] });
    expect(lists.size).toBe(1);
    lists.onResult({ type: 'stream.list.result', id, streams: listed });
    await expect(outcome).resolves.toEqual(listed);
    expect(lists.size).toBe(0);
    expect(workChanges).toBe(2); // sent, then settled
  });

  it('fails a request the gateway does not answer within the timeout', async () => {
    const { id, outcome } = request();
    lists.send(id);
    await jest.advanceTimersByTimeAsync(999);
    expect(lists.size).toBe(1);
    await jest.advanceTimersByTimeAsync(1);
    await expect(outcome).rejects.toMatchObject({ code: 'timeout' });
  });

  it('unknown_type fails the requests that went out as unsupported; one not sent yet waits', async () => {
    const out = request();
    const waiting = request();
    lists.send(out.id);
    lists.onError('unknown_type', undefined);
    await expect(out.outcome).rejects.toMatchObject({ code: 'unsupported' });
    expect(lists.size).toBe(1);
    lists.onError('rate_limited', undefined);
    expect(lists.size).toBe(1);
    lists.send(waiting.id);
    lists.onError('bad_request', waiting.id);
    await expect(waiting.outcome).rejects.toMatchObject({ code: 'unsupported' });
  });

  it('a lost socket keeps the caller’s requests for the next one and drops the SDK’s own lookups', async () => {
    const { id, outcome } = request();
    const lookup = jest.fn();
    lists.send(id);
    lists.lookup(lookup);
    expect(sent.map((f) => f.type)).toEqual(['stream.list', 'stream.list']);
    lists.onSocketLost();
    expect(lists.size).toBe(1);
    // Their timers died with the socket.
    await jest.advanceTimersByTimeAsync(5_000);
    expect(lists.size).toBe(1);
    sent = [];
    lists.sendUnsent();
    lists.sendUnsent(); // already out: not twice
    expect(sent).toEqual([{ type: 'stream.list', id }]);
    lists.onResult({ type: 'stream.list.result', id, streams: listed });
    await expect(outcome).resolves.toEqual(listed);
    expect(lookup).not.toHaveBeenCalled();
  });

  it('a lookup hears its answer, or undefined when it went unanswered', async () => {
    const answered = jest.fn();
    const unanswered = jest.fn();
    lists.lookup(answered);
    lists.lookup(unanswered);
    lists.onResult({ type: 'stream.list.result', id: (sent[0] as { id: string }).id, streams: listed });
    expect(answered).toHaveBeenCalledWith(listed);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(unanswered).toHaveBeenCalledWith(undefined);
  });
});

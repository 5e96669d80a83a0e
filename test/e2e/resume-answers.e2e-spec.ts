/**
 * Every `stream.resume` is answered (issue 21, item 7): a stream already complete up to `after_seq`
 * says so at once (`stream.complete`); past a finished stream's last seq, or not a safe integer, is
 * `bad_request`; past what a live stream has logged so far, the watcher waits until the log reaches
 * it, or answers `bad_request` once `RESUME_WAIT_TIMEOUT_MS` passes. Nothing a resumer asks adds a
 * frame to the log.
 */
import { chunk, FakeUpstream } from '../support/fake-upstream';
import { finishStream, framesOf, startStreaming } from '../support/stream-script';
import { ALICE, useGateway } from '../support/gateway-fixture';
import { TestClient } from '../support/ws-client';


describe('resume answers (e2e, in memory)', () => {
  const fx = useGateway();
  const { boot } = fx;
  const open = async () => (await fx.open()).client;
  /** A stream that ran to its end on a socket of its own; its id and last seq. */
  async function finishedStream(id: string) {
    const first = await open();
    const { call, streamId } = await startStreaming(first, fx.upstream, id, ['a', 'b']);
    await finishStream(call, ['c']);
    const frames = await first.collectStream(id);
    return { streamId, lastSeq: frames.at(-1)!.seq as number };
  }

  it('a finished stream resumed at its last seq says at once that it is complete, and the socket holds nothing for it', async () => {
    await boot();
    const { streamId, lastSeq } = await finishedStream('q1');
    const later = await open();
    later.send({ type: 'stream.resume', stream_id: streamId, after_seq: lastSeq, id: 'again' });
    const answer = await later.next((f) => f.id === 'again', 2_000);
    expect(answer).toEqual({ type: 'stream.complete', id: 'again', stream_id: streamId, last_seq: lastSeq, state: 'done' });
    // The id is free again at once: nothing is left watching.
    later.send({ type: 'stream.resume', stream_id: streamId, after_seq: lastSeq - 1, id: 'again' });
    const replay = await later.collectStream('again');
    expect(replay.map((f) => f.seq)).toEqual([lastSeq]);
  });

  it('past a done stream’s last seq is bad_request under the resume’s id', async () => {
    await boot();
    const { streamId, lastSeq } = await finishedStream('q2');
    const later = await open();
    later.send({ type: 'stream.resume', stream_id: streamId, after_seq: lastSeq + 5, id: 'past' });
    const answer = await later.next((f) => f.id === 'past', 2_000);
    // (a done stream: a failed one answers its end at after_seq + 1, see redis-resume.e2e-spec.ts)
    expect(answer).toMatchObject({ type: 'chat.error', id: 'past', stream_id: streamId, code: 'bad_request', retryable: false });
    expect(answer.seq).toBeUndefined();
  });

  it('an after_seq that is not a safe integer is bad_request', async () => {
    await boot();
    const { streamId } = await finishedStream('q3');
    const later = await open();
    later.send({ type: 'stream.resume', stream_id: streamId, after_seq: 1e300, id: 'huge' });
    const answer = await later.next((f) => f.id === 'huge', 2_000);
    expect(answer).toMatchObject({ type: 'error', id: 'huge', code: 'bad_request' });
  });

  it('past what a live stream has logged, the watcher waits for the log to get there: only later frames, from after_seq + 1', async () => {
    await boot();
    const first = await open();
    const { call, streamId, lastSeq } = await startStreaming(first, fx.upstream, 'q4', ['a', 'b']);
    const ahead = await open();
    ahead.send({ type: 'stream.resume', stream_id: streamId, after_seq: lastSeq + 2, id: 'ahead' });
    for (const piece of ['c', 'd', 'e']) await call.event(chunk({ content: piece }));
    await finishStream(call, []);
    const frames = await ahead.collectStream('ahead');
    await first.collectStream('q4');
    expect(frames[0]!.seq).toBe(lastSeq + 3);
    expect(frames.map((f) => f.seq)).toEqual(framesOf(first, 'q4').filter((f) => f.seq > lastSeq + 2).map((f) => f.seq));
  });

  it('past what a live stream has logged, a resume is answered bad_request once RESUME_WAIT_TIMEOUT_MS passes; the stream goes on', async () => {
    await boot({ RESUME_WAIT_TIMEOUT_MS: '300' });
    const first = await open();
    const { call, streamId, lastSeq } = await startStreaming(first, fx.upstream, 'q5', ['a']);
    const ahead = await open();
    ahead.send({ type: 'stream.resume', stream_id: streamId, after_seq: lastSeq + 1000, id: 'far' });
    const answer = await ahead.next((f) => f.id === 'far', 3_000);
    expect(answer).toMatchObject({ type: 'chat.error', id: 'far', stream_id: streamId, code: 'bad_request', retryable: false });
    expect(answer.seq).toBeUndefined();
    await finishStream(call, ['b']);
    const whole = await first.collectStream('q5');
    expect(whole.filter((f) => f.type === 'chat.done' || f.type === 'chat.error')).toHaveLength(1);
  });
});

/**
 * Streams outlive their socket (one instance, the in-memory log): a client that drops comes back
 * with `stream.resume` and sees each frame once, in order; other sockets of the same principal may
 * watch too; nobody else may; a stream nobody comes back to is stopped when its grace ends.
 */
import { chunk, FakeUpstream } from '../support/fake-upstream';
import { finishStream, framesOf, startStreaming } from '../support/stream-script';
import { ALICE, BOB, useGateway } from '../support/gateway-fixture';
import { assertStreamInvariants, streamText, TestClient, type Frame } from '../support/ws-client';


describe('resume (e2e, in memory)', () => {
  const fx = useGateway();
  const { boot } = fx;
  const open = (key = ALICE) => fx.open(key);

  it('advertises resume in session.ready', async () => {
    await boot();
    const { ready } = await open();
    expect(ready.resume).toEqual({ enabled: true, grace_ms: 30000, retention_ms: 300000 });
  });

  it('a socket dropped mid-stream resumes on a new one: every frame once, in order, text byte for byte', async () => {
    await boot();
    const { client: first } = await open();
    const { call, streamId, lastSeq } = await startStreaming(first, fx.upstream, 'q1', ['Hello', ', wor']);
    first.ws.terminate();
    await first.closed;
    // The upstream keeps generating into the log while nobody is attached.
    await call.event(chunk({ content: 'ld' }));
    const { client: second } = await open();
    second.send({ type: 'stream.resume', stream_id: streamId, after_seq: lastSeq });
    await finishStream(call, ['! Bye.']);
    const resumed = await second.collectStream('q1');
    const whole = [...framesOf(first, 'q1'), ...resumed];
    assertStreamInvariants(whole);
    expect(streamText(whole)).toBe('Hello, world! Bye.');
    expect(resumed[0]!.seq).toBe(lastSeq + 1);
    expect(fx.upstream.calls).toHaveLength(1);
  });

  it('replays a stream that already ended, from seq 0, within retention; the one terminal frame last', async () => {
    await boot();
    const { client: first } = await open();
    const { call, streamId } = await startStreaming(first, fx.upstream, 'q2', ['a', 'b']);
    await finishStream(call, ['c']);
    const original = await first.collectStream('q2');
    const { client: later } = await open();
    later.send({ type: 'stream.resume', stream_id: streamId, after_seq: 0, id: 'again' });
    const replay = await later.collectStream('again');
    expect(replay.map(({ id: _id, ...frame }) => frame)).toEqual(original.map(({ id: _id, ...frame }) => frame));
    expect(replay.every((f) => f.id === 'again')).toBe(true);
  });

  it('a second device watches from seq 0 while the first keeps reading: each gets every frame once', async () => {
    await boot();
    const { client: phone } = await open();
    const { call, streamId } = await startStreaming(phone, fx.upstream, 'q3', ['one ']);
    const { client: laptop } = await open();
    laptop.send({ type: 'stream.resume', stream_id: streamId, after_seq: 0 });
    await laptop.next((f) => f.type === 'chat.chunk' && f.id === 'q3');
    await finishStream(call, ['two ', 'three']);
    for (const client of [phone, laptop]) {
      const frames = await client.collectStream('q3');
      assertStreamInvariants(frames);
      expect(streamText(frames)).toBe('one two three');
    }
  });

  it('refuses another principal, an unknown stream and an id clash', async () => {
    await boot();
    const { client: alice } = await open();
    const { call, streamId } = await startStreaming(alice, fx.upstream, 'q4', ['secret']);
    const { client: bob } = await open(BOB);
    bob.send({ type: 'stream.resume', stream_id: streamId, after_seq: 0 });
    expect(await bob.nextOfType('chat.error')).toEqual({
      type: 'chat.error',
      id: streamId,
      stream_id: streamId,
      code: 'stream_not_found',
      message: expect.any(String),
      retryable: false,
    });
    bob.send({ type: 'stream.resume', stream_id: 'str_nope', after_seq: 0, id: 'x' });
    expect(await bob.nextOfType('chat.error', 'x')).toMatchObject({ code: 'stream_not_found', stream_id: 'str_nope' });
    // The same socket already has q4 active: resuming under that id clashes.
    alice.send({ type: 'stream.resume', stream_id: streamId, after_seq: 0 });
    expect(await alice.nextOfType('error', 'q4')).toMatchObject({ code: 'duplicate_id' });
    await finishStream(call, []);
    expect(streamText(await alice.collectStream('q4'))).toBe('secret');
    expect(bob.frames.some((f) => f.type === 'chat.chunk')).toBe(false);
  });

  it('chat.cancel with the resumed id stops the stream from the new socket', async () => {
    await boot();
    const { client: first } = await open();
    const { call, streamId, lastSeq } = await startStreaming(first, fx.upstream, 'q5', ['partial']);
    first.ws.terminate();
    const { client: second } = await open();
    second.send({ type: 'stream.resume', stream_id: streamId, after_seq: lastSeq, id: 'mine' });
    second.send({ type: 'chat.cancel', id: 'mine' });
    const done = await second.nextOfType('chat.done', 'mine');
    expect(done).toMatchObject({ finish_reason: 'cancelled', seq: lastSeq + 1 });
    await call.aborted;
  });

  it('stops the upstream when the grace ends with nobody back; a later resume gets the frames and one terminal', async () => {
    await boot({ RESUME_GRACE_MS: '300' });
    const { client: first } = await open();
    const { call, streamId } = await startStreaming(first, fx.upstream, 'q6', ['half']);
    const closedAt = Date.now();
    first.ws.terminate();
    const abortedAt = await call.aborted;
    expect(abortedAt - closedAt).toBeGreaterThanOrEqual(250);
    const { client: late } = await open();
    late.send({ type: 'stream.resume', stream_id: streamId, after_seq: 0 });
    const frames = await late.collectStream('q6');
    assertStreamInvariants(frames);
    expect(streamText(frames)).toBe('half');
    expect(frames.at(-1)).toMatchObject({ type: 'chat.error', code: 'upstream_disconnected', retryable: true });
    expect(await fx.gateway.logs.next('stream_ended')).toMatchObject({ abandoned: true });
  });

  it('caps the streams one principal may leave running without a socket', async () => {
    await boot({ MAX_DETACHED_STREAMS_PER_PRINCIPAL: '1' });
    const { client: first } = await open();
    const a = await startStreaming(first, fx.upstream, 'a', ['x']);
    first.ws.terminate();
    const { client: second } = await open();
    await startStreaming(second, fx.upstream, 'b', ['y']);
    second.ws.terminate();
    // The second detached stream pushes the first one out: its upstream is aborted at once.
    await a.call.aborted;
    expect(fx.upstream.openCalls).toHaveLength(1);
  });

  it('stream.list shows a request still waiting for its first chunk, which a client that dropped can then resume', async () => {
    await boot();
    const { client: first } = await open();
    first.send({ type: 'chat.request', id: 'slow-start', messages: [{ role: 'user', content: 'hello' }] });
    const call = await fx.upstream.nextCall();
    first.ws.terminate();
    const { client: back } = await open();
    back.send({ type: 'stream.list', id: 'l1' });
    const list = await back.nextOfType('stream.list.result');
    expect(list).toEqual({
      type: 'stream.list.result',
      id: 'l1',
      streams: [{ stream_id: expect.stringMatching(/^str_/), id: 'slow-start', model: 'gpt-4.1', state: 'pending', last_seq: 0, started_at: expect.any(String) }],
    });
    back.send({ type: 'stream.resume', stream_id: list.streams[0].stream_id, after_seq: 0 });
    call.startSse();
    await finishStream(call, ['late but whole']);
    const frames = await back.collectStream('slow-start');
    assertStreamInvariants(frames);
    expect(streamText(frames)).toBe('late but whole');
    // Only the principal's own streams are listed.
    const { client: bob } = await open(BOB);
    bob.send({ type: 'stream.list' });
    expect(await bob.nextOfType('stream.list.result')).toEqual({ type: 'stream.list.result', streams: [] });
  });

  it('a slow watcher never holds up another: it catches up from the log once it reads again', async () => {
    await boot({ SEND_BUFFER_HIGH_WATER_BYTES: '16384', MAX_FRAMES_PER_SECOND: '10000' });
    const { client: fast } = await open();
    const { call, streamId } = await startStreaming(fast, fx.upstream, 'q7', ['start ']);
    const { client: slow } = await open();
    slow.send({ type: 'stream.resume', stream_id: streamId, after_seq: 0 });
    await slow.next((f) => f.type === 'chat.chunk');
    slow.ws.pause();
    const piece = 'z'.repeat(4096);
    for (let i = 0; i < 200; i++) await call.event(chunk({ content: piece }));
    // The fast reader has everything while the slow one is stuck.
    await fast.next((f) => f.type === 'chat.chunk' && f.seq === 202);
    slow.ws.resume();
    await finishStream(call, ['.']);
    const expected = 'start ' + piece.repeat(200) + '.';
    for (const client of [fast, slow]) {
      const frames = await client.collectStream('q7', 10_000);
      assertStreamInvariants(frames);
      expect(streamText(frames)).toBe(expected);
    }
  });

  it('a resume from below frames the bound already dropped is stream_not_found, never a partial replay', async () => {
    await boot({ STREAM_BUFFER_MAX_BYTES: '16384', RESUME_GRACE_MS: '60000' });
    const { client: first } = await open();
    const { call, streamId } = await startStreaming(first, fx.upstream, 'q8', ['x']);
    // Read as they come (a stream nobody reads keeps its frames for its client instead).
    for (let i = 0; i < 20; i++) await call.event(chunk({ content: 'y'.repeat(2048) }));
    await first.next((f) => f.id === 'q8' && f.seq === 22);
    const { client: back } = await open();
    back.send({ type: 'stream.resume', stream_id: streamId, after_seq: 0 });
    expect(await back.nextOfType('chat.error')).toMatchObject({ code: 'stream_not_found', stream_id: streamId });
    // From a recent seq it still works.
    back.send({ type: 'stream.resume', stream_id: streamId, after_seq: 21, id: 'recent' });
    await finishStream(call, ['!']);
    await back.collectStream('recent');
    const frames: Frame[] = framesOf(back, 'recent');
    expect(frames[0]).toMatchObject({ seq: 22 });
    expect(frames.at(-1)).toMatchObject({ type: 'chat.done' });
  });
});

/**
 * The bounds of what resume keeps (issue 21 items 6, 8, 10): the log's byte bounds count bytes
 * (CJK answers are three bytes a character), watching a stream counts against the per-socket cap,
 * and a detached stream — after a 4008, or a 4401 while the client gets a new token — keeps what
 * its client still needs, its upstream paused at the bound, until it is resumed or its grace ends;
 * under memory pressure it is ended with a terminal frame, never trimmed while it runs on.
 */
import { SignJWT } from 'jose';
import { ConnectionRegistryService } from '../../src/connections/connection-registry.service';
import { STREAM_LOG } from '../../src/streams/stream-log';
import type { MemoryStreamLog } from '../../src/streams/memory-stream-log';
import type { StreamRecord } from '../../src/streams/stream-record';
import { chunk, type UpstreamCall } from '../support/fake-upstream';
import { ALICE, useGateway } from '../support/gateway-fixture';
import { startStreaming } from '../support/stream-script';
import { assertStreamInvariants, streamText, TestClient, type Frame } from '../support/ws-client';

const JWT_SECRET = 'jwt-test-secret-that-is-32-bytes-or-more!';
/** 1000 three-byte characters: 3000 bytes of UTF-8, 1000 UTF-16 units. */
const CJK = '漢'.repeat(1000);

const sse = (pieces: string[]): string => pieces.map((piece) => `data: ${JSON.stringify(chunk({ content: piece }))}\n\n`).join('');
const done = (): string => `data: ${JSON.stringify(chunk({}, 'stop'))}\n\ndata: [DONE]\n\n`;
/** The UTF-8 bytes of a frame as the gateway sent it (the fake upstream's JSON round-trips exactly). */
const bytesOf = (frames: Frame[]): number => frames.reduce((sum, frame) => sum + Buffer.byteLength(JSON.stringify(frame)), 0);

describe('resume bounds (e2e, in memory)', () => {
  const fx = useGateway({
    MAX_FRAMES_PER_SECOND: '100000',
    INBOUND_BYTES_PER_SECOND: String(64 * 1024 * 1024),
  });
  const { boot } = fx;
  const open = async (headers: Record<string, string> = { authorization: `Bearer ${ALICE}` }) => (await fx.open(headers)).client;
  let probeCount = 0;
  const log = () => fx.gateway.app.get<MemoryStreamLog>(STREAM_LOG);
  const record = (streamId: string): StreamRecord | undefined => log().get(streamId);

  /**
   * Round trips through the gateway until `condition` holds (each one lets it read and act). Bounded
   * in time, not in turns: a condition behind a timer (the 4008 after SLOW_CLIENT_TIMEOUT_MS) takes
   * many more round trips on an idle machine than on a busy one.
   */
  async function until(probe: TestClient, condition: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`never: ${what}`);
      const ts = ++probeCount;
      probe.send({ type: 'ping', ts });
      await probe.next((f) => f.type === 'pong' && f.ts === ts);
    }
  }

  /** Resumes `streamId` after `afterSeq` under a fresh id: the frames replayed to the terminal, or undefined when refused. */
  async function replay(client: TestClient, streamId: string, afterSeq: number): Promise<Frame[] | undefined> {
    const id = `probe-${++probeCount}`;
    client.send({ type: 'stream.resume', stream_id: streamId, after_seq: afterSeq, id });
    const terminal = await client.next((f) => f.id === id && (f.type === 'chat.done' || f.type === 'chat.error'));
    if (terminal.code === 'stream_not_found') return undefined;
    return client.frames.filter((f) => f.id === id);
  }

  /** Every frame the log still holds of an ended stream: a resume from just below its oldest one (resumes are whole or refused, so this is a search). */
  async function held(client: TestClient, streamId: string, lastSeq: number): Promise<Frame[]> {
    let low = 0;
    let high = lastSeq;
    while (low < high) {
      const mid = Math.floor((low + high) / 2);
      if (await replay(client, streamId, mid)) high = mid;
      else low = mid + 1;
    }
    return (await replay(client, streamId, low)) ?? [];
  }

  describe('item 6: the bounds count bytes', () => {
    it('a CJK answer keeps at most STREAM_BUFFER_MAX_BYTES of frames', async () => {
      const bound = 65_536;
      await boot({ STREAM_BUFFER_MAX_BYTES: String(bound) });
      const client = await open();
      const { call, streamId } = await startStreaming(client, fx.upstream, 'cjk', ['始']);
      await call.write(sse(Array.from({ length: 100 }, () => CJK)) + done());
      call.res.end();
      const frames = await client.collectStream('cjk', 10_000);
      assertStreamInvariants(frames);
      const kept = await held(client, streamId, frames.at(-1)!.seq);
      // Some of it is kept (the newest frames), and those frames' bytes are within the bound.
      expect(kept.length).toBeGreaterThan(5);
      expect(kept.at(-1)).toMatchObject({ type: 'chat.done' });
      expect(bytesOf(kept)).toBeLessThanOrEqual(bound);
    });

    it('CJK answers together keep at most STREAM_LOG_MAX_BYTES of frames', async () => {
      const total = 1_048_576;
      await boot({ STREAM_LOG_MAX_BYTES: String(total) });
      const client = await open();
      const streams: Array<{ streamId: string; lastSeq: number }> = [];
      // Six answers of ~450 KB (~150 K UTF-16 units) each, one after the other.
      for (let i = 0; i < 6; i++) {
        const { call, streamId } = await startStreaming(client, fx.upstream, `a${i}`, ['始']);
        await call.write(sse(Array.from({ length: 150 }, () => CJK)) + done());
        call.res.end();
        const frames = await client.collectStream(`a${i}`, 10_000);
        streams.push({ streamId, lastSeq: frames.at(-1)!.seq });
      }
      let keptBytes = 0;
      let kept = 0;
      for (const { streamId } of streams) {
        const frames = await replay(client, streamId, 0);
        if (frames) keptBytes += bytesOf(frames);
        if (frames) kept++;
      }
      expect(kept).toBeGreaterThanOrEqual(1);
      expect(keptBytes).toBeLessThanOrEqual(total);
    });
  });

  describe('item 8: watching counts against MAX_STREAMS_PER_CONNECTION', () => {
    it('a stream.resume over the cap is refused with too_many_streams; the socket then watches only its cap', async () => {
      await boot({ MAX_STREAMS_PER_CONNECTION: '2' });
      const first = await open();
      const second = await open();
      const running = [
        await startStreaming(first, fx.upstream, 's1', ['one']),
        await startStreaming(first, fx.upstream, 's2', ['two']),
        await startStreaming(second, fx.upstream, 's3', ['three']),
      ];
      const watcher = await open();
      // Each resume delivers nothing (after_seq is the last seq): before, any number of them was accepted.
      for (const [i, { streamId, lastSeq }] of running.entries()) watcher.send({ type: 'stream.resume', stream_id: streamId, after_seq: lastSeq, id: `w${i}` });
      expect(await watcher.nextOfType('error', 'w2')).toMatchObject({ type: 'error', code: 'too_many_streams', id: 'w2' });
      // A request is refused too: the two watched streams fill the socket.
      watcher.send({ type: 'chat.request', id: 'more', messages: [{ role: 'user', content: 'x' }] });
      expect(await watcher.nextOfType('error', 'more')).toMatchObject({ code: 'too_many_streams' });
      // The two it watches go on; the third reaches only its own socket.
      await running[0]!.call.event(chunk({ content: 'live' }));
      expect((await watcher.nextOfType('chat.chunk', 'w0')).chunk.choices[0].delta.content).toBe('live');
      await running[2]!.call.event(chunk({ content: 'not yours' }));
      await second.next((f) => f.type === 'chat.chunk' && f.chunk.choices[0]?.delta?.content === 'not yours');
      await until(watcher, () => true, 'a round trip');
      expect(watcher.frames.filter((f) => f.id === 'w2' && f.type !== 'error')).toEqual([]);
    });
  });

  describe('item 10: a detached stream waits for its client', () => {
    /** Writes 64 KiB events until the upstream is paused: the gateway stopped reading it. */
    function flood(call: UpstreamCall, events: number): void {
      const piece = 'p'.repeat(64 * 1024);
      for (let i = 0; i < events; i++) call.res.write(sse([piece]));
    }

    it('after a 4008 the upstream pauses at the bound and the resume gets every frame the client lacked', async () => {
      // Loopback TCP buffers a few MiB the client has not read before the socket is over its mark:
      // the bound is above that, as the default 1 MiB is above what a real client's path buffers.
      const bound = 16 * 1_048_576;
      await boot({
        SEND_BUFFER_HIGH_WATER_BYTES: '16384',
        SLOW_CLIENT_TIMEOUT_MS: '200',
        SLOW_CLIENT_CLOSE_GRACE_MS: '100',
        STREAM_BUFFER_MAX_BYTES: String(bound),
        RESUME_GRACE_MS: '60000',
      });
      const slow = await open();
      const probe = await open();
      const { call, streamId } = await startStreaming(slow, fx.upstream, 'big', ['start ']);
      slow.ws.pause();
      const connection = [...fx.gateway.app.get(ConnectionRegistryService).all()].find((c) => c.hasStream('big'))!;
      // A slow answer: a few 8 KiB chunks at a time until the socket is over its mark.
      let sent = 0;
      while (!connection.flow.isPaused) {
        await call.write(sse(['m'.repeat(8192)]));
        sent++;
        await until(probe, () => true, 'a round trip');
      }
      await until(probe, () => connection.closeReason === 'slow', 'the 4008');
      slow.ws.terminate();
      await slow.closed;
      expect(sent * 8192).toBeLessThan(bound / 2);
      const lastSeq = Math.max(...slow.frames.filter((f) => f.id === 'big' && f.seq !== undefined).map((f) => f.seq as number));
      // Now the upstream would run on at full speed: twice the bound.
      const flooded = (2 * bound) / (64 * 1024);
      flood(call, flooded);
      call.res.write(done());
      call.res.end();
      const rec = record(streamId)!;
      await until(probe, () => rec.ended || (rec as unknown as { producerPaused: boolean }).producerPaused, 'the stream paused or ended');
      expect(rec.ended).toBe(false);
      const back = await open();
      back.send({ type: 'stream.resume', stream_id: streamId, after_seq: lastSeq });
      // Paused at the bound, keeping every frame from the first the client lacked.
      expect(rec.oldestSeq).toBeLessThanOrEqual(lastSeq + 1);
      expect(rec.size).toBeLessThan(bound + 2 * 64 * 1024);
      const frames = (await back.collectStream('big', 30_000)).filter((f) => f.seq > lastSeq);
      expect(frames[0]).toMatchObject({ seq: lastSeq + 1 });
      frames.forEach((frame, i) => expect(frame.seq).toBe(lastSeq + 1 + i));
      expect(frames.at(-1)).toMatchObject({ type: 'chat.done', finish_reason: 'stop' });
      const all = [...slow.frames.filter((f) => f.id === 'big' && f.seq <= lastSeq), ...frames];
      assertStreamInvariants(all);
      // Byte for byte (compared as a boolean: a diff of 32 MiB helps nobody).
      expect(streamText(all) === 'start ' + 'm'.repeat(8192).repeat(sent) + 'p'.repeat(64 * 1024).repeat(flooded)).toBe(true);
    }, 30_000);

    it('after a 4401 the streams wait in their grace: the client resumes with its new token', async () => {
      const bound = 65_536;
      await boot({ AUTH_MODE: 'jwt', AUTH_JWT_SECRET: JWT_SECRET, STREAM_BUFFER_MAX_BYTES: String(bound), RESUME_GRACE_MS: '60000' });
      const token = (exp: number) => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('user-7').setExpirationTime(exp).sign(new TextEncoder().encode(JWT_SECRET));
      const probe = await open({ authorization: `Bearer ${await token(Math.floor(Date.now() / 1000) + 600)}` });
      // Expired already, within the 5 s clock tolerance: the socket is closed about a second later.
      const client = await open({ authorization: `Bearer ${await token(Math.floor(Date.now() / 1000) - 4)}` });
      const { call, streamId, lastSeq } = await startStreaming(client, fx.upstream, 'q', ['before ']);
      expect((await client.closed).code).toBe(4401);
      expect(client.frames.at(-1)).toEqual({ type: 'error', code: 'unauthorized', message: 'token expired' });
      // While the client gets a new token, the upstream goes on: four bounds' worth.
      flood(call, 4);
      call.res.write(done());
      call.res.end();
      const rec = record(streamId)!;
      await until(probe, () => rec.ended || (rec as unknown as { producerPaused: boolean }).producerPaused, 'the stream paused or ended');
      const back = await open({ authorization: `Bearer ${await token(Math.floor(Date.now() / 1000) + 600)}` });
      back.send({ type: 'stream.resume', stream_id: streamId, after_seq: lastSeq });
      const frames = await back.collectStream('q', 10_000);
      expect(frames[0]).toMatchObject({ seq: lastSeq + 1 });
      expect(frames.at(-1)).toMatchObject({ type: 'chat.done' });
      expect(streamText(frames)).toBe('p'.repeat(64 * 1024).repeat(4));
      expect(fx.upstream.calls).toHaveLength(1);
    });

    it('under memory pressure a detached stream is ended with a terminal frame, never trimmed while it runs', async () => {
      await boot({ STREAM_LOG_MAX_BYTES: '1048576', STREAM_BUFFER_MAX_BYTES: '524288', RESUME_GRACE_MS: '60000' });
      const probe = await open();
      const detached: Array<{ call: UpstreamCall; streamId: string; lastSeq: number }> = [];
      for (const id of ['d1', 'd2']) {
        const client = await open();
        detached.push(await startStreaming(client, fx.upstream, id, ['kept ']));
        client.ws.terminate();
        await client.closed;
      }
      // Each would hold its bound: together they are over the total.
      for (const { call } of detached) flood(call, 12);
      const records = detached.map(({ streamId }) => record(streamId)!);
      await until(probe, () => records.every((r) => r.ended), 'both ended');
      for (const { call } of detached) await call.aborted;
      // Each one's resume is whole up to its terminal, or refused: never a hole, never a stream still running.
      for (const { streamId, lastSeq } of detached) {
        const frames = await replay(probe, streamId, lastSeq);
        if (!frames) continue;
        frames.forEach((frame, i) => expect(frame.seq).toBe(lastSeq + 1 + i));
        expect(frames.at(-1)).toMatchObject({ type: 'chat.error', code: 'upstream_disconnected', retryable: true });
      }
      expect(log().totalBytes).toBeLessThanOrEqual(1_048_576);
    });
  });
});

/**
 * A frozen Redis (SIGSTOP: its connections stay open and nothing answers, as on a blackholed
 * network) never holds up a socket (issue 21, item 4): `stream.list` answers within about a second
 * with what this instance knows, marked `partial`; a `ping` and a `chat.cancel` of a stream the
 * socket has do not wait behind it; a resume that needs Redis answers in bounded time; no stream
 * ends for it. Latencies are compared with a quiet phase of the same test, Redis running. Skips
 * visibly without redis-server, fails instead under REQUIRE_REDIS=1.
 */
import { finishStream, startStreaming } from '../support/stream-script';
import { ALICE, useGatewayReplicas } from '../support/gateway-replicas';
import { assertStreamInvariants, streamText, TestClient, type Frame } from '../support/ws-client';

/** Slack over the quiet phase for an answer that must not wait on Redis (a loaded machine included). */
const SLACK_MS = 300;

interface Timed {
  frame: Frame;
  ms: number;
}

/** Resolves with the frame and the ms from `since` to its arrival. */
async function timed(next: Promise<Frame>, since: number): Promise<Timed> {
  const frame = await next;
  return { frame, ms: performance.now() - since };
}

describe('a frozen Redis never holds up a socket (e2e, real process)', () => {
  jest.setTimeout(60_000);
  const cluster = useGatewayReplicas({ STREAM_LOG_BATCH_MS: '20' });

  async function open() {
    const gateway = await cluster.instance();
    const { client } = await TestClient.ready(gateway.url, { headers: { authorization: `Bearer ${ALICE}` } });
    return cluster.track(client);
  }

  /** Sends `stream.list`, then a `ping` and a `chat.cancel` of `cancelId` behind it, and times each answer. */
  async function listPingCancel(client: TestClient, tag: string, cancelId: string) {
    const since = performance.now();
    client.send({ type: 'stream.list', id: `list-${tag}` });
    client.send({ type: 'ping', ts: tag });
    client.send({ type: 'chat.cancel', id: cancelId });
    const [list, pong, cancelled] = await Promise.all([
      timed(client.nextOfType('stream.list.result', `list-${tag}`), since),
      timed(client.next((f) => f.type === 'pong' && f.ts === tag), since),
      timed(client.next((f) => f.id === cancelId && (f.type === 'chat.done' || f.type === 'chat.error')), since),
    ]);
    const arrival = (t: Timed) => client.frames.indexOf(t.frame);
    return { list, pong, cancelled, pongBeforeList: arrival(pong) < arrival(list), cancelBeforeList: arrival(cancelled) < arrival(list) };
  }

  it('stream.list answers partial within a second; a ping and a cancel sent behind it do not wait for Redis; no stream ends for it', async () => {
    if (!cluster.redis) return;
    const client = await open();
    await startStreaming(client, cluster.upstream, 'first', ['a']);
    const second = await startStreaming(client, cluster.upstream, 'second', ['b']);
    const kept = await startStreaming(client, cluster.upstream, 'kept', ['c']);

    const quiet = await listPingCancel(client, 'quiet', 'first');
    expect(quiet.list.frame.partial).toBeUndefined();
    expect(quiet.cancelled.frame).toMatchObject({ type: 'chat.done', finish_reason: 'cancelled' });

    cluster.redis.freeze();
    const cancelSentAt = Date.now();
    const frozen = await listPingCancel(client, 'frozen', 'second');
    // The ping and the cancel overtook the list, which waited for Redis.
    expect(frozen.pongBeforeList).toBe(true);
    expect(frozen.cancelBeforeList).toBe(true);
    expect(frozen.pong.ms).toBeLessThan(quiet.pong.ms + SLACK_MS);
    expect(frozen.cancelled.ms).toBeLessThan(quiet.cancelled.ms + SLACK_MS);
    expect(frozen.cancelled.frame).toMatchObject({ type: 'chat.done', finish_reason: 'cancelled' });
    expect((await second.call.aborted) - cancelSentAt).toBeLessThan(1_000);
    // The list: within about a second, what this instance knows, marked partial.
    expect(frozen.list.ms).toBeLessThan(1_500);
    expect(frozen.list.frame.partial).toBe(true);
    expect(frozen.list.frame.streams.map((s: Frame) => s.id).sort()).toEqual(['first', 'kept', 'second']);

    // A resume that needs Redis (the stream is not this instance's) answers in bounded time too.
    const resumeSentAt = performance.now();
    client.send({ type: 'stream.resume', stream_id: 'str_elsewhere', after_seq: 0, id: 'ghost' });
    expect(await client.nextOfType('chat.error', 'ghost')).toMatchObject({ code: 'stream_not_found' });
    expect(performance.now() - resumeSentAt).toBeLessThan(1_500);

    // Nothing of this ended the stream left running: it goes on, whole, once Redis is back.
    cluster.redis.thaw();
    await finishStream(kept.call, [' d']);
    const whole = await client.collectStream('kept');
    assertStreamInvariants(whole);
    expect(streamText(whole)).toBe('c d');
    client.send({ type: 'stream.list', id: 'list-after' });
    const after = await client.nextOfType('stream.list.result', 'list-after');
    expect(after.partial).toBeUndefined();
    expect(after.streams.map((s: Frame) => s.id).sort()).toEqual(['first', 'kept', 'second']);
  });
});

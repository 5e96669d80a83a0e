/**
 * Compact frames across replicas (issue 23): a stream requested with `format: "text"` on A is
 * resumed on B, live and after its end, in either format, from the one log Redis holds: the
 * compact rendering is a view each reader makes, never a second copy. Skips visibly without
 * redis-server, fails instead under REQUIRE_REDIS=1.
 */
import { chunk } from '../support/fake-upstream';
import { finishStream } from '../support/stream-script';
import { ALICE, useGatewayReplicas } from '../support/gateway-replicas';
import type { Frame, TestClient } from '../support/ws-client';
import { TestClient as Client } from '../support/ws-client';

const hello = [{ role: 'user', content: 'Hi' }];

/** The text a socket got under `id`, from compact frames and chat.chunk frames alike, in seq order. */
function textOf(client: TestClient, id: string): { text: string; seqs: number[] } {
  const frames = client.frames.filter((f: Frame) => f.id === id && (f.t === 'd' || f.type === 'chat.chunk'));
  return {
    text: frames.map((f) => (f.t === 'd' ? f.x : (f.chunk.choices[0]?.delta?.content ?? ''))).join(''),
    seqs: frames.map((f) => (f.t === 'd' ? f.s : f.seq)),
  };
}

describe('compact frames across instances on Redis (e2e, real processes)', () => {
  jest.setTimeout(60_000);
  const cluster = useGatewayReplicas({ STREAM_LOG_BATCH_MS: '20', INSTANCE_LEASE_MS: '1500' });
  async function open(url: string): Promise<TestClient> {
    const { client } = await Client.ready(url, { headers: { authorization: `Bearer ${ALICE}` } });
    return cluster.track(client);
  }

  it('a compact stream started on A resumes on B live in text, and after its end in json, whole', async () => {
    if (!cluster.redis) return;
    const a = await cluster.instance();
    const b = await cluster.instance();
    const onA = await open(a.url);
    onA.send({ type: 'chat.request', id: 'q1', messages: hello, format: 'text' });
    const call = await cluster.upstream.nextCall();
    call.startSse();
    await call.event(chunk({ role: 'assistant', content: '' }));
    for (const piece of ['Hel', 'lo ']) await call.event(chunk({ content: piece }));
    const last = await onA.next((f) => f.id === 'q1' && f.t === 'd' && f.x === 'lo ');
    const streamId = onA.frames.find((f) => f.id === 'q1' && f.type === 'chat.started')!.stream_id as string;
    onA.ws.terminate();
    await call.event(chunk({ content: 'wor' }));

    const onB = await open(b.url);
    onB.send({ type: 'stream.resume', stream_id: streamId, after_seq: last.s, format: 'text' });
    await onB.next((f) => f.id === 'q1' && f.t === 'd' && f.x === 'wor');
    await finishStream(call, ['ld', '!']);
    await onB.nextOfType('chat.done', 'q1');
    const before = textOf(onA, 'q1');
    const after = textOf(onB, 'q1');
    expect(before.text + after.text).toBe('Hello world!');
    expect([...before.seqs, ...after.seqs]).toEqual([2, 3, 4, 5, 6, 7, 8, 9]); // role … usage: one seq each, no gap
    expect(onB.frames.filter((f) => f.id === 'q1' && f.t === 'd').map((f) => f.x)).toEqual(['wor', 'ld', '!']);

    const later = await open(b.url);
    later.send({ type: 'stream.resume', stream_id: streamId, after_seq: 0, id: 'json' });
    await later.nextOfType('chat.done', 'json');
    expect(later.frames.some((f) => f.t === 'd')).toBe(false);
    expect(textOf(later, 'json')).toEqual({ text: 'Hello world!', seqs: [2, 3, 4, 5, 6, 7, 8, 9] });
  });
});

import { chunk, usageChunk, type FakeUpstream, type UpstreamCall } from './fake-upstream';
import type { Frame, TestClient } from './ws-client';

const hello = [{ role: 'user', content: 'hello' }];

/**
 * Sends `chat.request` `id` on `client`, answers it with `pieces` from the fake upstream and waits
 * until the client has the last of them. The upstream call stays open: the test decides how it ends.
 */
export async function startStreaming(client: TestClient, upstream: FakeUpstream, id: string, pieces: string[]) {
  client.send({ type: 'chat.request', id, messages: hello });
  const call = await upstream.nextCall();
  call.startSse();
  for (const piece of pieces) await call.event(chunk({ content: piece }));
  const last = await client.next((f) => f.id === id && f.type === 'chat.chunk' && f.chunk.choices[0]?.delta?.content === pieces.at(-1));
  const started = client.frames.find((f) => f.id === id && f.type === 'chat.started')!;
  return { call, streamId: started.stream_id as string, lastSeq: last.seq as number };
}

/** Ends an upstream call properly: more `pieces`, a finish_reason, usage, [DONE]. */
export async function finishStream(call: UpstreamCall, pieces: string[]): Promise<void> {
  for (const piece of pieces) await call.event(chunk({ content: piece }));
  await call.event(chunk({}, 'stop'));
  await call.event(usageChunk());
  await call.event('[DONE]');
  call.res.end();
}

/** Every stream frame a socket got under `id` (resumed frames carry the id given in stream.resume). */
export const framesOf = (client: TestClient, id: string): Frame[] => client.frames.filter((f) => f.id === id && f.type.startsWith('chat.'));

/**
 * Sends `count` pieces `p<i> ` (i from 0), one every `everyMs`, while the test does something else
 * (a failover mid-stream); resolves with the text sent.
 */
export async function pumpPieces(call: UpstreamCall, count: number, everyMs: number): Promise<string> {
  let text = '';
  for (let i = 0; i < count; i++) {
    await call.event(chunk({ content: `p${i} ` }));
    text += `p${i} `;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  return text;
}

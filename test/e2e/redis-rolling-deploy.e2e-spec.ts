/**
 * A rolling deploy of this release over one Redis: pods of the previous release (the build named
 * by BASELINE_MAIN, a checkout of it built with `npm run build`, e.g. the bench's `--baseline`)
 * and of this one share the Redis; streams resume across them both ways and cancels reach their
 * owner either way (the single-Redis key layout and channels are unchanged). Then the second step
 * of the upgrade (docs/operations.md, "Upgrading"): this release's pods moving from log format 1 to 2.
 * Without BASELINE_MAIN the first skips visibly; REQUIRE_BASELINE=1 makes it fail.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { chunk } from '../support/fake-upstream';
import { ALICE, useGatewayReplicas } from '../support/gateway-replicas';
import { requireTool } from '../support/requirements';
import type { GatewayProcess } from '../support/service-process';
import { finishStream, framesOf, startStreaming } from '../support/stream-script';
import { assertStreamInvariants, streamText, TestClient } from '../support/ws-client';

const baseline = process.env.BASELINE_MAIN ? resolve(process.env.BASELINE_MAIN) : undefined;

describe('rolling deploy over one Redis: the previous release beside this one (e2e, real processes)', () => {
  jest.setTimeout(60_000);
  const replicas = useGatewayReplicas({ STREAM_LOG_BATCH_MS: '20', INSTANCE_LEASE_MS: '1500' });
  const open = async (on: GatewayProcess) => replicas.track((await TestClient.ready(on.url, { headers: { authorization: `Bearer ${ALICE}` } })).client);

  /** A stream started on `from`, its socket dropped, resumed on `to` and finished there whole; then cancel from `to`. */
  async function across(from: GatewayProcess, to: GatewayProcess, id: string): Promise<void> {
    const onFrom = await open(from);
    const { call, streamId, lastSeq } = await startStreaming(onFrom, replicas.upstream, id, ['old ']);
    onFrom.ws.terminate();
    const onTo = await open(to);
    onTo.send({ type: 'stream.resume', stream_id: streamId, after_seq: lastSeq });
    await call.event(chunk({ content: 'and ' }));
    await onTo.next((f) => f.id === id && f.type === 'chat.chunk');
    await finishStream(call, ['new']);
    const whole = [...framesOf(onFrom, id), ...(await onTo.collectStream(id))];
    assertStreamInvariants(whole);
    expect(streamText(whole)).toBe('old and new');
    const again = await open(from);
    const running = await startStreaming(again, replicas.upstream, `${id}c`, ['x']);
    again.ws.terminate();
    onTo.send({ type: 'stream.resume', stream_id: running.streamId, after_seq: running.lastSeq, id: `${id}w` });
    await running.call.event(chunk({ content: 'y' }));
    await onTo.next((f) => f.id === `${id}w` && f.type === 'chat.chunk');
    const cancelledAt = Date.now();
    onTo.send({ type: 'chat.cancel', id: `${id}w` });
    expect((await running.call.aborted) - cancelledAt).toBeLessThan(1_000);
  }

  it('streams resume from an old pod on a new one and back, and cancels reach their owner either way', async () => {
    if (!requireTool('a build of the previous release (BASELINE_MAIN)', baseline !== undefined && existsSync(baseline), 'REQUIRE_BASELINE')) return;
    if (!replicas.redis) return;
    const old = await replicas.instance({}, baseline);
    const current = await replicas.instance();
    await across(old, current, 'o2n');
    await across(current, old, 'n2o');
  });

  it('the second step, STREAM_LOG_FORMAT 1 → 2 rolled over pods of this release: streams resume both ways, cancels reach their owner', async () => {
    if (!replicas.redis) return;
    const before = await replicas.instance({ STREAM_LOG_FORMAT: '1' });
    const after = await replicas.instance({ STREAM_LOG_FORMAT: '2' });
    await across(before, after, 'f12');
    await across(after, before, 'f21');
  });
});

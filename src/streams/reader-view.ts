/**
 * Whether a reader's view of a stream is whole: `whole`, or `gone` when frames it has not read are
 * no longer held (a resume is then `stream_not_found`; a reader already following is told it lost
 * them).
 */
export type ReaderView = 'whole' | 'gone';

/**
 * The one decision of whether a reader that has every frame up to `afterSeq` can be given the rest
 * of a stream whole (docs/protocol.md "Resume": a replay is whole or refused, never presented whole
 * with a hole in it). Every log and every reader asks here: a resume, a socket catching up after
 * backpressure, the bound evicting frames, the Redis writer catching up after an outage.
 *
 * @param held what the log holds from the reader's next frame on: either the seq of the oldest
 *   frame it keeps in one unbroken run (in memory; for a record holding none, the seq its next frame
 *   will have), or the frames read back, in order (from Redis, where lost entries leave holes).
 * @param ended frames read back: whether the stream is known to have ended (then holding none of
 *   it means it is gone; otherwise nothing has been logged yet).
 */
export function viewAfter(afterSeq: number, held: number | readonly { readonly seq: number }[], ended = false): ReaderView {
  if (typeof held === 'number') return held <= afterSeq + 1 ? 'whole' : 'gone';
  if (held.length === 0) return ended ? 'gone' : 'whole';
  if (held[0]!.seq > afterSeq + 1) return 'gone';
  for (let i = 1; i < held.length; i++) if (held[i]!.seq !== held[i - 1]!.seq + 1) return 'gone';
  return 'whole';
}

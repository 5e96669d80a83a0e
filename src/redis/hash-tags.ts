/**
 * Hash tags: on a Redis Cluster the keys of one stream (log, meta, presence) share `{<stream id>}`
 * and a principal's keys share `{<principal>}`, so each multi-key command, script and per-stream
 * pipeline stays in one slot. On one Redis (or behind Sentinels) names stay as the single-Redis
 * layout has always had them: a rolling deploy of this release over the same Redis shares every
 * key with the previous release's instances (resume across them keeps working), and a tag would
 * buy nothing there. A Cluster is a new store: nothing of an old layout is in it.
 *
 * The choice is per process (one topology per process), made by the RedisService at boot.
 */
let tagged = false;

/** Called once by the RedisService: whether keys are hash-tagged (a Cluster). */
export function useHashTags(enabled: boolean): void {
  tagged = enabled;
}

/** `id` as the part of a key that picks its slot: `{id}` on a Cluster, `id` as it is on one Redis. */
export function tag(id: string): string {
  return tagged ? `{${id}}` : id;
}

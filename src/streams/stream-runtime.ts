/**
 * What the streams need of the instance around them: its clock, and the instance-wide running
 * totals where relayed chunks are counted (a plain integer add per chunk, read by the metrics).
 */
export interface StreamRuntime {
  now(): number;
  readonly totals: { chunks: number };
}

/** The Nest token of the {@link StreamRuntime}. */
export const STREAM_RUNTIME = Symbol('StreamRuntime');

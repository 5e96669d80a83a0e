/** Where upstream requests go: the configured HolySheep endpoint, or the built-in simulator. */
export interface UpstreamTarget {
  /** Base URL without trailing slash; requests go to `${baseUrl}/chat/completions`. */
  baseUrl: string;
  apiKey: string | undefined;
  simulated: boolean;
}

export const UPSTREAM_TARGET = Symbol('UPSTREAM_TARGET');

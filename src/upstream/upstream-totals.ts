import type { FactoryProvider } from '@nestjs/common';
import { MetricsService } from '../metrics/metrics.service';

/**
 * Instance-wide counts the upstream attempts keep as plain integers (no prom-client call on the
 * body's path), read by `/metrics` at scrape time.
 */
export interface UpstreamTotals {
  /** Lines of upstream event streams skipped by the SSE rules (unknown field, bad `retry`, stray BOM). */
  sseLinesIgnored: number;
}

/** Injection token of the instance's {@link UpstreamTotals}. */
export const UPSTREAM_TOTALS = Symbol('UPSTREAM_TOTALS');

/**
 * The totals, with their metrics registered here: the upstream owns these counts, so it registers
 * them, as every owner does (the metrics module reads no other one).
 */
export const upstreamTotalsProvider: FactoryProvider<UpstreamTotals> = {
  provide: UPSTREAM_TOTALS,
  inject: [MetricsService],
  useFactory: (metrics: MetricsService): UpstreamTotals => {
    const totals: UpstreamTotals = { sseLinesIgnored: 0 };
    metrics.runningTotal(
      'upstream_sse_lines_ignored_total',
      'Lines of upstream event streams ignored as the SSE rules say (unknown field, invalid retry, stray BOM); the stream went on',
      () => totals.sseLinesIgnored,
    );
    return totals;
  },
};

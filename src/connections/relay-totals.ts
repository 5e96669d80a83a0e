/**
 * Instance-wide running totals kept as plain integers, because they change on every frame: a
 * metrics library call per chunk would cost more than the relay itself. Read at scrape time.
 */
export class RelayTotals {
  framesOut = 0;
  bytesOut = 0;
}

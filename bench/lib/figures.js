'use strict';
/** The report's arithmetic and number formatting, shared by the classic and the repeated phases. */
const { round3 } = require('./stats');

/** a − b, rounded; null unless both are numbers. */
const sub = (a, b) => (typeof a !== 'number' || typeof b !== 'number' ? null : round3(a - b));
/** a ÷ b, only when both are positive (a ratio of noise around zero means nothing). */
const ratio = (a, b) => (typeof a !== 'number' || typeof b !== 'number' || !(a > 0) || !(b > 0) ? null : Math.round((a / b) * 100) / 100);

/** The median of the numbers among `values` (others are skipped); null when there are none. */
function median(values) {
  const v = values.filter((x) => typeof x === 'number').sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** A figure for Markdown: `d` decimals below 10, fewer above, '—' when missing. */
const fmt = (v, d = 2) => {
  if (v === null || v === undefined || Number.isNaN(v)) return '—';
  if (typeof v !== 'number') return String(v);
  if (d === 0) return Math.round(v).toLocaleString('en');
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en');
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(d);
};
/** `p50 / p99 / p99.9`. */
const triple = (o) => (o ? `${fmt(o.p50)} / ${fmt(o.p99)} / ${fmt(o.p999)}` : '—');

module.exports = { sub, ratio, median, fmt, triple };

'use strict';
/** Markdown for the run's summary: figures with sensible precision, '—' where there is none. */

/** 3 significant digits below 100, whole numbers above; '—' when missing. */
function fmt(v) {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '—';
  if (Math.abs(v) >= 100) return Math.round(v).toLocaleString('en');
  if (v === 0) return '0';
  return Number(v.toPrecision(3)).toString();
}

/** `min–max` of a spread. */
const range = (s) => (s && s.min !== null ? `${fmt(s.min)}–${fmt(s.max)}` : '—');

function table(header, rows) {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)];
}

module.exports = { fmt, range, table };

/** W3C trace context (https://www.w3.org/TR/trace-context/): the `traceparent` value, read and written. */
import { trace, type SpanContext } from '@opentelemetry/api';

/**
 * Accepted length of a client `traceparent`. Version 00 is exactly 55 characters; a future version
 * may append fields (W3C trace-context §3.2.4), but nothing legitimate comes close to this, and a
 * client-supplied value has no business being large.
 */
const MAX_TRACEPARENT_LENGTH = 256;

/**
 * W3C trace-context §3.2.2: `version "-" trace-id "-" parent-id "-" trace-flags`, lowercase hex
 * only. Version `ff` and all-zero ids are invalid. A higher version may carry more after a `-`
 * (§3.2.4: parse it as version 00, ignore the rest); that version 00 may not is checked separately.
 */
const TRACEPARENT = /^(?!ff)[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}(?:-.*)?$/s;

/**
 * Whether `value` is a well-formed W3C `traceparent` (trace-context §3.2): lowercase hex, version
 * not `ff`, trace id and parent id not all zeros, nothing after the flags for version 00. A client
 * value that fails this is ignored, as the spec requires of a malformed header.
 */
export function isValidTraceparent(value: unknown): value is string {
  if (typeof value !== 'string' || value.length > MAX_TRACEPARENT_LENGTH || !TRACEPARENT.test(value)) return false;
  return value.length === 55 || !value.startsWith('00-');
}

/** Parses a traceparent already known to be valid into a remote parent span context. */
export function parseTraceparent(value: string): SpanContext {
  // Fixed offsets (§3.2.2): "vv-<32 hex>-<16 hex>-ff".
  return { traceId: value.slice(3, 35), spanId: value.slice(36, 52), traceFlags: parseInt(value.slice(53, 55), 16), isRemote: true };
}

/**
 * The version-00 form of a valid traceparent. For version 00 that is the value itself; a higher
 * version is cut to its version-00 fields, which is how a version-00 implementation must read it
 * (§3.2.4), and it must not claim a version it does not implement when sending it on.
 */
export function toVersion00(value: string): string {
  return value.startsWith('00-') ? value : `00-${value.slice(3, 55)}`;
}

/** The traceparent of a span context: what `W3CTraceContextPropagator.inject` writes, without a carrier. */
export function formatTraceparent(context: SpanContext): string | undefined {
  if (!trace.isSpanContextValid(context)) return undefined;
  return `00-${context.traceId}-${context.spanId}-${(context.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

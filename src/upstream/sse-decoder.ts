import { StringDecoder } from 'node:string_decoder';
import { createParser, type EventSourceMessage, type ParseError } from 'eventsource-parser';

export interface SseDecoderOptions {
  onEvent(event: EventSourceMessage): void;
  /**
   * Called once when the stream cannot be parsed any further (an event or line over
   * `maxBufferSize`); the decoder then ignores every later write.
   */
  onError(error: ParseError): void;
  /**
   * Called for each line the WHATWG rules say to ignore (an unknown field such as `x-vendor: 1` or a
   * stray BOM, a `retry` that is not a number); decoding goes on with the next line.
   */
  onIgnoredLine?(error: ParseError): void;
  /** Upper bound on buffered characters for one pending line or event. @defaultValue 4 MiB */
  maxBufferSize?: number;
}

export interface SseDecoder {
  /** Feed raw body bytes exactly as they came off the socket; any split is fine. */
  write(bytes: Buffer): void;
}

const BOM = 0xfeff;
const CR = 0x0d;
const LF = 0x0a;
const CRLF_OR_CR = /\r\n?/g;
/** The only ParseError after which eventsource-parser stops: it refuses every later feed. */
const FATAL: ParseError['type'] = 'max-buffer-size-exceeded';
/** The media type of an event stream (WHATWG HTML §9.2), compared without its parameters. */
const EVENT_STREAM = 'text/event-stream';

/**
 * Bytes → SSE events, by the WHATWG rules. eventsource-parser does the line and field grammar
 * (LF / CR / CRLF, a CR and LF split across feeds, comments, multi-line data); this adds what it
 * needs from a byte stream: UTF-8 decoding that holds back a multi-byte character split across
 * reads, and stripping the one leading BOM (the parser only recognises a BOM given as raw bytes).
 *
 * Line endings are normalised to LF here, with the state a CRLF split across two reads needs.
 * Left to the parser, a read ending in CR is held back until the next byte shows whether it is
 * CRLF, which would delay every event of a CR-only stream until the following read.
 *
 * The parser reports lines the spec says to ignore through the same `onError` as the one error
 * it cannot go on from; they are told apart here (by `type`), so an unknown field or a bad
 * `retry` is only counted, as a browser's EventSource would skip it, while an overflow ends the
 * stream. Both callbacks are bound once per decoder: a write allocates nothing more for them.
 */
export function createSseDecoder(options: SseDecoderOptions): SseDecoder {
  const utf8 = new StringDecoder('utf8');
  let first = true;
  let lastWasCR = false;
  let failed = false;
  const parser = createParser({
    onEvent: options.onEvent,
    onError: (error) => {
      if (error.type !== FATAL) return options.onIgnoredLine?.(error);
      failed = true;
      options.onError(error);
    },
    maxBufferSize: options.maxBufferSize ?? 4 * 1024 * 1024,
  });
  return {
    write(bytes: Buffer): void {
      // The parser throws on any feed after an overflow; the stream is over by then anyway.
      if (failed) return;
      let text = utf8.write(bytes);
      if (first && text.length > 0) {
        first = false;
        if (text.charCodeAt(0) === BOM) text = text.slice(1);
      }
      if (text.length === 0) return;
      if (lastWasCR && text.charCodeAt(0) === LF) text = text.slice(1);
      lastWasCR = text.charCodeAt(text.length - 1) === CR;
      if (text.indexOf('\r') !== -1) text = text.replace(CRLF_OR_CR, '\n');
      if (text.length > 0) parser.feed(text);
    },
  };
}

/**
 * Whether a `content-type` header names an event stream: its type/subtype (before any `;`
 * parameters, whitespace trimmed) is `text/event-stream`, in any case as media types are
 * case-insensitive (RFC 9110 §8.3.1). `text/event-streamx` or a parameter that merely contains
 * the words is not one.
 */
export function isEventStreamContentType(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const end = contentType.indexOf(';');
  const essence = (end === -1 ? contentType : contentType.slice(0, end)).trim();
  return essence.length === EVENT_STREAM.length && essence.toLowerCase() === EVENT_STREAM;
}

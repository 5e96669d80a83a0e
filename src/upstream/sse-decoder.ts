import { StringDecoder } from 'node:string_decoder';
import { createParser, type EventSourceMessage, type ParseError } from 'eventsource-parser';

export interface SseDecoderOptions {
  onEvent(event: EventSourceMessage): void;
  /** Called once when the stream cannot be parsed any further (e.g. an event over `maxBufferSize`). */
  onError(error: ParseError): void;
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

/**
 * Bytes → SSE events, by the WHATWG rules. eventsource-parser does the line and field grammar
 * (LF / CR / CRLF, a CR and LF split across feeds, comments, multi-line data); this adds what it
 * needs from a byte stream: UTF-8 decoding that holds back a multi-byte character split across
 * reads, and stripping the one leading BOM (the parser only recognises a BOM given as raw bytes).
 *
 * Line endings are normalised to LF here, with the state a CRLF split across two reads needs.
 * Left to the parser, a read ending in CR is held back until the next byte shows whether it is
 * CRLF, which would delay every event of a CR-only stream until the following read.
 */
export function createSseDecoder(options: SseDecoderOptions): SseDecoder {
  const utf8 = new StringDecoder('utf8');
  let first = true;
  let lastWasCR = false;
  const parser = createParser({
    onEvent: options.onEvent,
    onError: options.onError,
    maxBufferSize: options.maxBufferSize ?? 4 * 1024 * 1024,
  });
  return {
    write(bytes: Buffer): void {
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

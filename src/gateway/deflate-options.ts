import type { PerMessageDeflateOptions } from 'ws';

/**
 * The window, in bits, of both directions' compressors: 2^10 bytes of history. Token frames repeat
 * little beyond their envelope, so a larger window buys little ratio for its memory per socket.
 */
export const DEFLATE_WINDOW_BITS = 10;
/** zlib's memLevel for the server's compressor: 2 → a 2 KiB hash table (the default 8 is 128 KiB). */
export const DEFLATE_MEM_LEVEL = 2;

/** The output buffer of each zlib stream (see {@link deflateOptions}). */
export const DEFLATE_CHUNK_BYTES = 1_024;

/**
 * ws's permessage-deflate settings (issue 23), or `false` to refuse the extension (the default).
 * No context takeover in either direction: a compressor keeps no history between messages, so an
 * idle socket holds no window worth keeping and a client needs none for us either; small windows
 * and memLevel bound what a socket compressing right now holds. Frames under `thresholdBytes`
 * (every token frame) skip zlib entirely, so a stream of tokens costs no deflate CPU.
 */
export function deflateOptions(enabled: boolean, thresholdBytes: number): PerMessageDeflateOptions | false {
  if (!enabled) return false;
  return {
    serverNoContextTakeover: true,
    clientNoContextTakeover: true,
    serverMaxWindowBits: DEFLATE_WINDOW_BITS,
    clientMaxWindowBits: DEFLATE_WINDOW_BITS,
    // zlib output buffers of 1 KiB, not Node's 16 KiB: ws keeps a socket's zlib streams once used
    // (it resets them between messages, never frees them), so their buffers stay with the socket.
    zlibDeflateOptions: { memLevel: DEFLATE_MEM_LEVEL, level: 1, chunkSize: DEFLATE_CHUNK_BYTES },
    zlibInflateOptions: { chunkSize: DEFLATE_CHUNK_BYTES },
    threshold: thresholdBytes,
    // Bounds the zlib work in flight per process (ws queues the rest).
    concurrencyLimit: 10,
  };
}

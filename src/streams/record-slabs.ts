import { textFrameHeaderBytes, writeTextFrameHeader } from '../wire/ws-text-frame';
import type { RecordFrame, StreamFrameType } from './record-frame';

const TYPES: readonly StreamFrameType[] = ['chat.started', 'chat.chunk', 'chat.done', 'chat.error'];
const CODES: Readonly<Record<StreamFrameType, number>> = { 'chat.started': 0, 'chat.chunk': 1, 'chat.done': 2, 'chat.error': 3 };

/** Per frame: type code, slab number, byte offset of its JSON in the slab, its byte length, accounted size, prefix bytes. */
const STRIDE = 6;
/**
 * A stream's first slab holds a short answer. Each next one is half the size of the slabs it holds
 * already (at least the first size, at most the largest), so the unused end of its newest slab is
 * at most a third of its slabs' bytes. Doubling left up to half of them unused (~10 KiB of a
 * 20 KiB answer, on every stream in flight), for a few fewer slabs per stream.
 */
const FIRST_SLAB_BYTES = 2_048;
const LARGEST_SLAB_BYTES = 32_768;
/** What one frame's entry in the index takes (six 32-bit integers), counted with its bytes. */
const INDEX_BYTES = STRIDE * 4;
/** Frames the index has room for at first (it doubles when full): most answers fit. */
const FIRST_INDEX_FRAMES = 32;
/** At its end a stream's last slab is cut to what it holds when at least this much of it is unused. */
const SHRINK_UNUSED_BYTES = 1_024;

/**
 * The bytes of one `StreamRecord`'s frames, kept off the V8 heap: their text as UTF-8 in a few
 * large buffers ("slabs", each frame whole in one of them), and six integers per frame in one
 * typed array. The
 * log keeps no JavaScript object per frame, so the garbage collector neither copies a frame from the
 * young generation to the old one nor marks it there afterwards: a relay that keeps every frame for
 * resume would otherwise promote every chunk it relays, and pay for it in scavenge pauses that land
 * on whichever chunks are in flight (issue 13).
 *
 * A frame read back ({@link at}) is a new {@link RecordFrame} decoded from its bytes: the text the
 * frame was appended with (a well-formed string: JSON text, or UTF-8 decoded from the upstream,
 * round-trips exactly); its bytes are there as they are too, as a WebSocket frame ({@link wireAt})
 * or as the JSON alone ({@link payloadAt}: what the Redis log copies). Frames go from the front
 * only ({@link dropFirst}); a slab is released once none of its frames is kept.
 */
export class RecordSlabs {
  private slabs: Buffer[] = [];
  /** The number of `slabs[0]`: slab numbers keep counting as old slabs are released. */
  private slabBase = 0;
  /** Bytes used in the last slab. */
  private fill = 0;
  private index = new Int32Array(FIRST_INDEX_FRAMES * STRIDE);
  /** Position (in frames) of the first kept frame in `index`. */
  private head = 0;
  private count = 0;

  get length(): number {
    return this.count;
  }

  /** Bytes of the slabs kept, used or not (off the V8 heap). */
  get slabSize(): number {
    let bytes = 0;
    for (const slab of this.slabs) bytes += slab.length;
    return bytes;
  }

  /**
   * Appends a frame: its `prefix` (`{"type":…,"id":…`) and `rest`, encoded once, with room in front
   * for a WebSocket header. Returns the frame as a WebSocket text frame (header and JSON), a view
   * into the slab: slab bytes are never written twice, so a view stays valid while a socket still
   * has it queued. The frame counts for the log's bounds as the bytes it holds: its WebSocket frame
   * (UTF-8, as written: a CJK character is three bytes) and its index entry ({@link sizeAt}).
   */
  push(type: StreamFrameType, prefix: { text: string; bytes: number }, rest: string): Buffer {
    const text = prefix.text + rest;
    // A UTF-8 encoding takes at most 3 bytes per UTF-16 unit: measure exactly only near a slab's end.
    const reserve = textFrameHeaderBytes(text.length * 3);
    const room = this.slabs.length === 0 ? -1 : this.slabs[this.slabs.length - 1]!.length - this.fill;
    if (room < text.length * 3 + reserve && (room < 0 || Buffer.byteLength(text) + reserve > room)) this.addSlab(Buffer.byteLength(text) + reserve);
    const slab = this.slabs[this.slabs.length - 1]!;
    const offset = this.fill + reserve;
    const length = slab.write(text, offset);
    this.fill = offset + length;
    const start = writeTextFrameHeader(slab, offset, length);
    if ((this.head + this.count + 1) * STRIDE > this.index.length) this.makeRoom();
    const p = (this.head + this.count) * STRIDE;
    const index = this.index;
    index[p] = CODES[type];
    index[p + 1] = this.slabBase + this.slabs.length - 1;
    index[p + 2] = offset;
    index[p + 3] = length;
    // Known from the encode that just happened: no second measure of the text.
    index[p + 4] = offset + length - start + INDEX_BYTES;
    index[p + 5] = prefix.bytes;
    this.count++;
    return slab.subarray(start, offset + length);
  }

  /** The `i`-th kept frame (0 = oldest), as frame `seq`, its `rest` decoded from its bytes. */
  at(i: number, seq: number): RecordFrame | undefined {
    if (i < 0 || i >= this.count) return undefined;
    const index = this.index;
    const p = (this.head + i) * STRIDE;
    const offset = index[p + 2]!;
    const slab = this.slabs[index[p + 1]! - this.slabBase]!;
    return { seq, type: TYPES[index[p]!]!, rest: slab.toString('utf8', offset + index[p + 5]!, offset + index[p + 3]!) };
  }

  /** The `i`-th kept frame as the WebSocket text frame {@link push} returned: a view of its bytes. */
  wireAt(i: number): Buffer | undefined {
    if (i < 0 || i >= this.count) return undefined;
    const p = (this.head + i) * STRIDE;
    const offset = this.index[p + 2]!;
    const length = this.index[p + 3]!;
    // The header in front of it was written with the frame.
    return this.slabs[this.index[p + 1]! - this.slabBase]!.subarray(offset - textFrameHeaderBytes(length), offset + length);
  }

  /** The `i`-th kept frame's JSON, as UTF-8 (a view of its bytes, without the WebSocket header). */
  payloadAt(i: number): Buffer | undefined {
    if (i < 0 || i >= this.count) return undefined;
    const p = (this.head + i) * STRIDE;
    const offset = this.index[p + 2]!;
    return this.slabs[this.index[p + 1]! - this.slabBase]!.subarray(offset, offset + this.index[p + 3]!);
  }

  /** What the `i`-th kept frame counts for the bounds: its bytes as held (see {@link push}). */
  sizeAt(i: number): number {
    return this.index[(this.head + i) * STRIDE + 4]!;
  }

  /** Forgets the `n` oldest frames, and the slabs that held only them. */
  dropFirst(n: number): void {
    if (n <= 0) return;
    this.head += n;
    this.count -= n;
    // Keep the slab being filled, even when every frame is gone: the next one goes there.
    const keepFrom = this.count > 0 ? this.index[this.head * STRIDE + 1]! : this.slabBase + this.slabs.length - 1;
    if (keepFrom > this.slabBase) {
      this.slabs.splice(0, keepFrom - this.slabBase);
      this.slabBase = keepFrom;
    }
  }

  clear(): void {
    this.slabs = [];
    this.slabBase = 0;
    this.fill = 0;
    this.index = new Int32Array(8 * STRIDE);
    this.head = 0;
    this.count = 0;
  }

  /** No more frames will come: the last slab gives back what it does not use. */
  shrink(): void {
    const last = this.slabs.length - 1;
    if (last < 0 || this.slabs[last]!.length - this.fill < SHRINK_UNUSED_BYTES) return;
    const slab = Buffer.allocUnsafeSlow(this.fill);
    this.slabs[last]!.copy(slab, 0, 0, this.fill);
    this.slabs[last] = slab;
  }

  private addSlab(needed: number): void {
    // Summed here, once per slab (a stream at its bound keeps a few dozen), rather than kept in step.
    const size = Math.max(needed, slabSizeAfter(this.slabSize));
    // Unpooled: a slab is this stream's alone, released with it.
    this.slabs.push(Buffer.allocUnsafeSlow(size));
    this.fill = 0;
  }

  /** Index full: move the kept frames to the front when that frees half of it, else double it. */
  private makeRoom(): void {
    const capacity = this.index.length / STRIDE;
    if (this.head >= capacity / 2) {
      this.index.copyWithin(0, this.head * STRIDE, (this.head + this.count) * STRIDE);
    } else {
      const grown = new Int32Array(this.index.length * 2);
      grown.set(this.index.subarray(this.head * STRIDE, (this.head + this.count) * STRIDE));
      this.index = grown;
    }
    this.head = 0;
  }
}

/** The size of the next slab of a stream whose slabs hold `heldBytes` together (see FIRST_SLAB_BYTES). */
export function slabSizeAfter(heldBytes: number): number {
  return Math.min(LARGEST_SLAB_BYTES, Math.max(FIRST_SLAB_BYTES, Math.floor(heldBytes / 2)));
}

import type { ServerFrame } from '@holysheep/protocol';

/** A scripted stand-in for a WebSocket: the test opens it, feeds it frames and closes it. */
export class FakeWebSocket {
  static instances: FakeWebSocket[] = [];
  /** Called with every new socket, so a test can script a server that answers each one alike. */
  static onCreate: ((ws: FakeWebSocket) => void) | undefined;
  readyState = 0;
  readonly sent: Array<Record<string, any>> = [];
  closedWith: { code?: number; reason?: string } | undefined;
  terminated = false;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;

  constructor(
    readonly url: string,
    readonly protocols?: string | string[],
    readonly options?: unknown,
  ) {
    FakeWebSocket.instances.push(this);
    FakeWebSocket.onCreate?.(this);
  }

  static reset(): void {
    FakeWebSocket.instances = [];
    FakeWebSocket.onCreate = undefined;
  }

  static get last(): FakeWebSocket {
    const ws = FakeWebSocket.instances[FakeWebSocket.instances.length - 1];
    if (!ws) throw new Error('no socket was created');
    return ws;
  }

  send(data: string): void {
    if (this.readyState !== 1) throw new Error('send on a socket that is not open');
    this.sent.push(JSON.parse(data));
  }

  close(code?: number, reason?: string): void {
    this.closedWith = { code, reason };
    this.readyState = 2;
  }

  terminate(): void {
    this.terminated = true;
    this.readyState = 3;
  }

  // ---------------------------------------------------------------- test drivers

  /** Opens and greets, as the gateway does. */
  ready(extra: Partial<Extract<ServerFrame, { type: 'session.ready' }>> = {}): void {
    this.readyState = 1;
    this.onopen?.({});
    this.receive({
      type: 'session.ready',
      session_id: `s${FakeWebSocket.instances.indexOf(this)}`,
      protocol: 1,
      heartbeat_interval_ms: 25_000,
      limits: { max_frame_bytes: 262_144, max_concurrent_streams: 16 },
      ...extra,
    });
  }

  receive(frame: ServerFrame | Record<string, unknown>): void {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }

  /** The server (or the network) closes it. */
  serverClose(code: number, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  sentOfType(type: string): Array<Record<string, any>> {
    return this.sent.filter((f) => f.type === type);
  }
}

export function chunkFrame(id: string, seq: number, content: string, stream_id = 'str_1') {
  return {
    type: 'chat.chunk' as const,
    id,
    stream_id,
    seq,
    chunk: { id: 'c', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta: { content }, finish_reason: null }] },
  };
}

export function startedFrame(id: string, stream_id = 'str_1', model = 'gpt-4.1') {
  return { type: 'chat.started' as const, id, stream_id, seq: 1 as const, model };
}

export function doneFrame(id: string, seq: number, stream_id = 'str_1', finish_reason: 'stop' | 'cancelled' = 'stop') {
  return { type: 'chat.done' as const, id, stream_id, seq, finish_reason, usage: null };
}

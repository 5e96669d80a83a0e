/**
 * WebSocket close codes the gateway uses (docs/protocol.md, "Close codes"), each with what a client
 * should do. `reconnect` mirrors centrifuge's `Disconnect.Reconnect`: whether an SDK should
 * reconnect on its own.
 */
export const CLOSE_CODES = {
  NORMAL: { code: 1000, reason: 'normal closure', reconnect: false },
  MESSAGE_TOO_BIG: { code: 1009, reason: 'frame too large', reconnect: false },
  INTERNAL_ERROR: { code: 1011, reason: 'internal error', reconnect: true },
  SERVICE_RESTART: { code: 1012, reason: 'draining', reconnect: true },
  TRY_AGAIN_LATER: { code: 1013, reason: 'at capacity', reconnect: true },
  HEARTBEAT_TIMEOUT: { code: 4001, reason: 'heartbeat timeout', reconnect: true },
  IDLE_TIMEOUT: { code: 4002, reason: 'idle timeout', reconnect: false },
  SLOW_CONSUMER: { code: 4008, reason: 'too slow to read', reconnect: true },
  UNAUTHORIZED: { code: 4401, reason: 'unauthorized', reconnect: false },
  FORBIDDEN: { code: 4403, reason: 'forbidden', reconnect: false },
  TOO_MANY_CONNECTIONS: { code: 4429, reason: 'too many connections', reconnect: true },
} as const satisfies Record<string, { code: number; reason: string; reconnect: boolean }>;

export type CloseCodeName = keyof typeof CLOSE_CODES;
export type CloseCode = (typeof CLOSE_CODES)[CloseCodeName]['code'];

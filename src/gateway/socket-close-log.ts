import type { PinoLogger } from 'nestjs-pino';
import type { ClientConnection } from '../connections/client-connection';
import type { CloseReasonLabel } from '../metrics/metrics.service';
import { CLOSE_CODES } from '@holysheep/protocol';

/** Gateway-side close reasons (`ClientConnection.closeReason`) → the metrics label. */
const CLOSED_BY_GATEWAY: Record<string, CloseReasonLabel> = { heartbeat: 'heartbeat', idle: 'idle', drain: 'drain', slow: 'slow', auth: 'auth', flood: 'limit' };

/** The metrics label for why a socket closed: the gateway's own reason, else what the code says. */
export function closeReasonLabel(closedBy: string | undefined, code: number): CloseReasonLabel {
  if (closedBy !== undefined) return CLOSED_BY_GATEWAY[closedBy] ?? 'error';
  // ws itself closes a socket whose frame is over MAX_FRAME_BYTES.
  if (code === CLOSE_CODES.MESSAGE_TOO_BIG.code) return 'limit';
  return code === CLOSE_CODES.INTERNAL_ERROR.code ? 'error' : 'client';
}

/** The one log line per socket, written when it has closed. */
export function logSocketClosed(logger: PinoLogger, connection: ClientConnection, now: number, code: number, reason: string): void {
  logger.info(
    {
      event: 'socket_closed',
      connection_id: connection.id,
      principal: connection.principal,
      remote_address: connection.remoteAddress,
      duration_ms: now - connection.connectedAt,
      close_code: code,
      close_reason: reason,
      closed_by: connection.closeReason ?? 'client',
      frames_in: connection.framesIn,
      frames_out: connection.framesOut,
      bytes_out: connection.bytesOut,
    },
    'socket closed',
  );
}

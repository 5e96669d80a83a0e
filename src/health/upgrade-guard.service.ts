import { Injectable } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import type { UpgradeVerdict } from '../gateway/gateway-ws.adapter';
import { DrainService } from './drain.service';

/**
 * Decides, before a socket exists, whether an upgrade may proceed. Refusals are plain HTTP
 * statuses: a draining instance answers 503 so the load balancer's retry lands elsewhere.
 */
@Injectable()
export class UpgradeGuardService {
  constructor(private readonly drain: DrainService) {}

  verify(_request: IncomingMessage): UpgradeVerdict {
    if (this.drain.isDraining) {
      return { accept: false, status: 503, message: 'Service Unavailable: draining', headers: { 'Retry-After': '1' } };
    }
    return { accept: true };
  }
}

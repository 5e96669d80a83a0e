import { Module } from '@nestjs/common';
import { AuthService } from './auth.service';

/**
 * Authentication of WebSocket upgrades. Credential extraction and the origin check are plain
 * functions (`./credentials`, `./origin-policy`) and need no module.
 */
@Module({ providers: [AuthService], exports: [AuthService] })
export class AuthModule {}

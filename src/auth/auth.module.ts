import { Module } from '@nestjs/common';
import { MetricsModule } from '../metrics/metrics.module';
import { AuthService } from './auth.service';

/**
 * Authentication of WebSocket upgrades. Credential extraction and the origin check are plain
 * functions (`./credentials`, `./origin-policy`) and need no module.
 */
@Module({ imports: [MetricsModule], providers: [AuthService], exports: [AuthService] })
export class AuthModule {}

import { DynamicModule, Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { ScheduleModule } from '@nestjs/schedule';
import type { DestinationStream } from 'pino';
import type { GatewayConfig } from './config/config.schema';
import { GatewayModule } from './gateway/gateway.module';
import { HealthModule } from './health/health.module';
import { HeartbeatModule } from './heartbeat/heartbeat.module';
import { loggingModule } from './logging/logging.module';
import { MetricsModule } from './metrics/metrics.module';
import { PlaygroundModule } from './playground/playground.module';

@Module({})
export class AppModule {
  /**
   * The configuration is validated before Nest starts (see `main.ts`), so a bad value is reported
   * plainly instead of as a DI stack trace; ConfigModule then carries the typed result.
   */
  static forRoot(config: GatewayConfig, options: { logDestination?: DestinationStream } = {}): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot({ isGlobal: true, ignoreEnvFile: true, validatePredefined: false, load: [() => ({ gateway: config })] }),
        loggingModule(config, options.logDestination),
        ScheduleModule.forRoot(),
        GatewayModule,
        HealthModule,
        HeartbeatModule,
        MetricsModule,
        PlaygroundModule,
      ],
    };
  }
}

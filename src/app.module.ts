import { DynamicModule, Module } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import type { DestinationStream } from 'pino';
import type { GatewayConfig } from './config/config.schema';
import { GatewayConfigModule } from './config/gateway-config.module';
import { GatewayModule } from './gateway/gateway.module';
import { HealthModule } from './health/health.module';
import { HeartbeatModule } from './heartbeat/heartbeat.module';
import { loggingModule } from './logging/logging.module';
import { MetricsModule } from './metrics/metrics.module';
import { PlaygroundModule } from './playground/playground.module';

@Module({})
export class AppModule {
  /**
   * The configuration is validated before Nest starts (see `main.ts`); GatewayConfigModule carries
   * the typed result to every provider.
   */
  static forRoot(config: GatewayConfig, options: { logDestination?: DestinationStream } = {}): DynamicModule {
    return {
      module: AppModule,
      imports: [
        GatewayConfigModule.forRoot(config),
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

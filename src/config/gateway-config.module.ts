import { Global, Inject, Module, type DynamicModule } from '@nestjs/common';
import type { GatewayConfig } from './config.schema';

/** The injection token of the one validated {@link GatewayConfig}. */
export const GATEWAY_CONFIG = 'GATEWAY_CONFIG';

/** Parameter decorator: `constructor(@InjectConfig() config: GatewayConfig)`. */
export const InjectConfig = (): ParameterDecorator => Inject(GATEWAY_CONFIG);

/**
 * Carries the configuration that `main.ts` (or a test) validated before Nest started, so a bad
 * value is reported plainly instead of as a DI stack trace. The only global module.
 */
@Global()
@Module({})
export class GatewayConfigModule {
  static forRoot(config: GatewayConfig): DynamicModule {
    return { module: GatewayConfigModule, providers: [{ provide: GATEWAY_CONFIG, useValue: config }], exports: [GATEWAY_CONFIG] };
  }
}

import { Logger, Module } from '@nestjs/common';
import type { GatewayConfig } from '../config/config.schema';
import { GATEWAY_CONFIG } from '../config/gateway-config.module';
import { MetricsModule } from '../metrics/metrics.module';
import { HolySheepStreamService } from './holysheep-stream.service';
import { SimulatedUpstream } from './simulator/simulated-upstream';
import { UPSTREAM_TARGET, type UpstreamTarget } from './upstream-target';
import { upstreamTotalsProvider } from './upstream-totals';

/**
 * The upstream target is resolved once at boot. Without an API key outside production it is the
 * built-in simulator, started on loopback and reached through the very same HTTP + SSE code path
 * as HolySheep, so development exercises what production runs.
 */
const upstreamTarget = {
  provide: UPSTREAM_TARGET,
  inject: [GATEWAY_CONFIG],
  useFactory: async ({ upstream, simulator }: GatewayConfig): Promise<UpstreamTarget> => {
    if (!upstream.simulated) return { baseUrl: upstream.baseUrl, apiKey: upstream.apiKey, simulated: false };
    const simulated = await SimulatedUpstream.start({ tokensPerSecond: simulator.tokensPerSecond });
    new Logger('Upstream').warn(
      `HOLYSHEEP_API_KEY is not set: answering with the built-in SIMULATED upstream at ${simulated.baseUrl} ` +
        `(development only; set HOLYSHEEP_API_KEY to relay the real HolySheep API)`,
    );
    // Nest calls lifecycle hooks on factory-provided values too: the simulator stops after drain.
    return { baseUrl: simulated.baseUrl, apiKey: undefined, simulated: true, onApplicationShutdown: () => simulated.close() } as UpstreamTarget;
  },
};

@Module({
  imports: [MetricsModule],
  providers: [upstreamTarget, upstreamTotalsProvider, HolySheepStreamService],
  exports: [HolySheepStreamService, UPSTREAM_TARGET],
})
export class UpstreamModule {}

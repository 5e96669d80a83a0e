import type { GatewayConfig } from '../config/config.schema';
import { HolySheepStreamService } from './holysheep-stream.service';

/** The service with its attempts reporting straight to the stream's subscriber (issue 23). */
describe('HolySheepStreamService', () => {
  const config = {
    upstream: { connectTimeoutMs: 1_000, firstChunkTimeoutMs: 1_000, stallTimeoutMs: 1_000 },
    retry: { maxRetries: 2, baseDelayMs: 1, maxDelayMs: 1 },
    fallbackModels: [],
  } as unknown as GatewayConfig;

  it('a request Node refuses as it is made (a header it will not send) is the subscription\'s error, once, and names no secret', async () => {
    // A CR/LF in the key: http.request throws before anything is sent.
    const service = new HolySheepStreamService({ baseUrl: 'http://127.0.0.1:9/v1', apiKey: 'sk-secret\r\nx: y', simulated: false }, config, { sseLinesIgnored: 0 });
    const attempts: number[] = [];
    const outcome = await new Promise<{ error?: unknown; chunks: number }>((resolve) => {
      let chunks = 0;
      service
        .streamEvents({ model: 'm', messages: [{ role: 'user', content: 'hi' }] } as never, { onAttempt: (_model, attempt) => void attempts.push(attempt) })
        .subscribe({ next: () => chunks++, error: (error: unknown) => resolve({ error, chunks }), complete: () => resolve({ chunks }) });
    });
    service.onApplicationShutdown();
    expect(outcome.chunks).toBe(0);
    // Node's own error (made in Node's realm, not jest's: matched by its code).
    expect(outcome.error).toMatchObject({ code: 'ERR_INVALID_CHAR' });
    expect(String((outcome.error as Error).message)).not.toContain('sk-secret');
    // Not an upstream failure: not retried.
    expect(attempts).toEqual([1]);
  });
});

import { parseConfig } from '../config/config.schema';
import type { ChatRequestFrame } from '@holysheep/protocol';
import { RequestRateLimiterService } from '../limits/request-rate-limiter.service';
import { ChatRequestPolicy } from './chat-request.policy';

const connection = { principal: 'alice', limitKeys: ['alice'], hasStream: () => false, streamCount: 0 } as never;
const request: ChatRequestFrame = { type: 'chat.request', id: 'q1', messages: [{ role: 'user', content: 'hi' }] };

function policy(take: RequestRateLimiterService['take']) {
  const drain = { isDraining: false };
  const limiter = { take } as RequestRateLimiterService;
  return { drain, policy: new ChatRequestPolicy(drain as never, limiter, parseConfig({ RATE_LIMIT_REQUESTS_PER_MINUTE: '3' })) };
}

describe('ChatRequestPolicy', () => {
  it('answers synchronously when the rate limit is this instance’s own', () => {
    const local = new RequestRateLimiterService(parseConfig({ RATE_LIMIT_REQUESTS_PER_MINUTE: '1' }));
    const { policy: p } = policy((principal, now) => local.take(principal, now));
    expect(p.check(connection, request, 0)).toBeUndefined();
    expect(p.check(connection, request, 0)).toMatchObject({ type: 'chat.error', code: 'rate_limited', retry_after_ms: 60_000 });
  });

  it('with a shared rate limit, resolves to nothing or to chat.error rate_limited with retry_after_ms', async () => {
    const answers = [0, 42_000];
    const { policy: p } = policy(() => Promise.resolve(answers.shift()!));
    await expect(p.check(connection, request, 0)).resolves.toBeUndefined();
    await expect(p.check(connection, request, 0)).resolves.toEqual({
      type: 'chat.error',
      id: 'q1',
      code: 'rate_limited',
      message: 'More than 3 requests per minute',
      retryable: true,
      retry_after_ms: 42_000,
    });
  });

  it('refuses with shutting_down when the drain began while Redis was counting', async () => {
    let counted!: (ms: number) => void;
    const { policy: p, drain } = policy(() => new Promise<number>((resolve) => (counted = resolve)));
    const verdict = p.check(connection, request, 0);
    drain.isDraining = true;
    counted(0);
    await expect(verdict).resolves.toMatchObject({ type: 'error', code: 'shutting_down', id: 'q1' });
  });

  it('checks its own caps before counting a request against the rate limit', () => {
    const take = jest.fn(() => Promise.resolve(0));
    const { policy: p } = policy(take);
    const busy = { principal: 'alice', hasStream: () => true, streamCount: 1 } as never;
    expect(p.check(busy, request, 0)).toMatchObject({ code: 'duplicate_id' });
    expect(take).not.toHaveBeenCalled();
  });
});

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigValidationError, envVariables, parseConfig } from './config.schema';

describe('parseConfig', () => {
  it('gives the documented defaults for an empty environment (simulated upstream outside production)', () => {
    const config = parseConfig({});
    expect(config).toMatchObject({
      env: 'development',
      http: { port: 8080, host: '0.0.0.0' },
      upstream: { baseUrl: 'https://api.holysheep.ai/v1', apiKey: undefined, simulated: true, connectTimeoutMs: 10000, firstChunkTimeoutMs: 60000, stallTimeoutMs: 60000 },
      models: { default: 'gpt-4.1' },
      socket: { maxFrameBytes: 262144, maxStreamsPerConnection: 16, heartbeatIntervalMs: 25000, idleTimeoutMs: 300000 },
      drain: { timeoutMs: 25000 },
      playground: { enabled: true },
    });
  });

  it('refuses durations a Node timer cannot hold (they would fire after 1 ms)', () => {
    expect(() => parseConfig({ SLOW_CLIENT_TIMEOUT_MS: '2147483648' })).toThrow(/SLOW_CLIENT_TIMEOUT_MS: must be at most 2147483647/);
    expect(parseConfig({ SLOW_CLIENT_TIMEOUT_MS: '2147483647' }).backpressure.slowClientTimeoutMs).toBe(2147483647);
  });

  it('treats empty strings as unset', () => {
    expect(parseConfig({ PORT: '', HOLYSHEEP_API_KEY: '  ' }).upstream.simulated).toBe(true);
  });

  it('uses the real upstream when a key is set, and strips a trailing slash', () => {
    const config = parseConfig({ HOLYSHEEP_API_KEY: 'k', HOLYSHEEP_BASE_URL: 'https://example.test/v1/' });
    expect(config.upstream).toMatchObject({ baseUrl: 'https://example.test/v1', apiKey: 'k', simulated: false });
  });

  it('reports every invalid value at once, by variable name', () => {
    try {
      parseConfig({ PORT: 'eighty', HEARTBEAT_INTERVAL_MS: '-5', HOLYSHEEP_BASE_URL: 'wss://api.holysheep.ai/v1', LOG_LEVEL: 'loud', PLAYGROUND_ENABLED: 'maybe' });
      throw new Error('expected a ConfigValidationError');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigValidationError);
      const issues = (error as ConfigValidationError).issues;
      expect(issues).toHaveLength(5);
      expect(issues.join('\n')).toMatch(/^PORT: must be a whole number$/m);
      expect(issues.join('\n')).toMatch(/^HEARTBEAT_INTERVAL_MS: /m);
      expect(issues.join('\n')).toMatch(/^HOLYSHEEP_BASE_URL: must be http\(s\), not wss:/m);
      expect(issues.join('\n')).toMatch(/^LOG_LEVEL: /m);
      expect(issues.join('\n')).toMatch(/^PLAYGROUND_ENABLED: must be true or false$/m);
    }
  });

  it('refuses to boot in production without an API key, and disables the playground there', () => {
    expect(() => parseConfig({ NODE_ENV: 'production' })).toThrow(/HOLYSHEEP_API_KEY: is required when NODE_ENV=production/);
    expect(parseConfig({ NODE_ENV: 'production', HOLYSHEEP_API_KEY: 'k', AUTH_MODE: 'none' }).playground.enabled).toBe(false);
  });

  it('is documented variable for variable in .env.example and the configuration reference table', () => {
    const example = readFileSync(join(__dirname, '..', '..', '.env.example'), 'utf8');
    const readme = readFileSync(join(__dirname, '..', '..', 'docs', 'configuration.md'), 'utf8');
    const inExample = [...example.matchAll(/^#?\s*([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]);
    const inReadme = [...readme.matchAll(/^\| `([A-Z][A-Z0-9_]+)`/gm)].map((m) => m[1]);
    const readmeText = readme.replace(/` \/ `/g, '` | `');
    for (const key of Object.keys(envVariables.shape)) {
      expect(inExample).toContain(key);
      expect(inReadme.includes(key) || readmeText.includes(`| \`${key}\``)).toBe(true);
    }
  });

  describe('Redis topology', () => {
    it('one Redis (REDIS_URL), a Cluster (REDIS_CLUSTER_NODES) or Sentinels (REDIS_SENTINELS), with their access settings', () => {
      expect(parseConfig({ REDIS_URL: 'redis://r:6379' }).redis).toMatchObject({ mode: 'single', url: 'redis://r:6379', batchMs: 100, leaseMs: 5000 });
      expect(parseConfig({ REDIS_CLUSTER_NODES: 'a:7000, b:7001,[::1]:7002', REDIS_PASSWORD: 's3cret', REDIS_TLS: 'true' }).redis).toMatchObject({
        mode: 'cluster',
        nodes: [
          { host: 'a', port: 7000 },
          { host: 'b', port: 7001 },
          { host: '::1', port: 7002 },
        ],
        password: 's3cret',
        username: undefined,
        tls: true,
      });
      expect(parseConfig({ REDIS_SENTINELS: 's1:26379,s2:26379', REDIS_SENTINEL_PASSWORD: 'x' }).redis).toMatchObject({
        mode: 'sentinel',
        sentinels: [
          { host: 's1', port: 26379 },
          { host: 's2', port: 26379 },
        ],
        name: 'mymaster',
        sentinelPassword: 'x',
        tls: false,
      });
      expect(parseConfig({}).redis).toBeUndefined();
    });

    it('refuses two topologies at once, credentials beside a URL, and addresses that are not host:port, never quoting a secret', () => {
      expect(() => parseConfig({ REDIS_URL: 'redis://r:6379', REDIS_CLUSTER_NODES: 'a:7000' })).toThrow(/REDIS_URL, REDIS_CLUSTER_NODES: set only one of them/);
      expect(() => parseConfig({ REDIS_CLUSTER_NODES: 'a:7000', REDIS_SENTINELS: 's:26379' })).toThrow(/REDIS_CLUSTER_NODES, REDIS_SENTINELS: set only one of them/);
      try {
        parseConfig({ REDIS_URL: 'redis://r:6379', REDIS_PASSWORD: 'hunter2' });
        throw new Error('expected a ConfigValidationError');
      } catch (error) {
        expect((error as ConfigValidationError).issues.join('\n')).toMatch(/^REDIS_PASSWORD: apply to REDIS_CLUSTER_NODES or REDIS_SENTINELS/m);
        expect((error as Error).message).not.toContain('hunter2');
      }
      expect(() => parseConfig({ REDIS_CLUSTER_NODES: 'a:7000,b' })).toThrow(/REDIS_CLUSTER_NODES\.1: must be host:port, comma-separated/);
    });
  });
});

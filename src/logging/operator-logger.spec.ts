import type { LoggerService } from '@nestjs/common';
import { OperatorLogger } from './operator-logger';

describe('OperatorLogger', () => {
  const calls: Array<[string, unknown[]]> = [];
  const record = (level: string) => (...args: unknown[]) => void calls.push([level, args]);
  const inner: LoggerService = { log: record('log'), error: record('error'), warn: record('warn'), debug: record('debug'), verbose: record('verbose'), fatal: record('fatal') };
  const logger = new OperatorLogger(inner);
  beforeEach(() => (calls.length = 0));

  it('moves Nest\'s start-up lines (modules, routes) to debug', () => {
    logger.log('Mapped {/health/live, GET} route', 'RouterExplorer');
    logger.log('AppModule dependencies initialized', 'InstanceLoader');
    logger.log('Nest application successfully started', 'NestApplication');
    expect(calls.map(([level]) => level)).toEqual(['debug', 'debug', 'debug']);
    expect(calls[0][1]).toEqual(['Mapped {/health/live, GET} route', 'RouterExplorer']);
  });

  it('passes the application\'s own lines and every other level through unchanged', () => {
    logger.log('listening on http://0.0.0.0:8080', 'Main');
    logger.warn('HOLYSHEEP_API_KEY is not set', 'Upstream');
    logger.error('boom', 'stack', 'InstanceLoader');
    logger.fatal('fatal', 'Main');
    expect(calls).toEqual([
      ['log', ['listening on http://0.0.0.0:8080', 'Main']],
      ['warn', ['HOLYSHEEP_API_KEY is not set', 'Upstream']],
      ['error', ['boom', 'stack', 'InstanceLoader']],
      ['fatal', ['fatal', 'Main']],
    ]);
  });
});

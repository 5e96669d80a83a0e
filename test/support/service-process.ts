import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const MAIN = join(__dirname, '..', '..', 'dist', 'main.js');

export interface ServiceProcess {
  child: ChildProcess;
  /** Everything written to stdout and stderr so far. */
  output: string[];
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs the built service (`dist/main.js`) as production does, with exactly `env` (plus PATH). */
export function runService(env: Record<string, string>, main = MAIN): ServiceProcess {
  if (!existsSync(main)) throw new Error(`${main} is missing: run \`npm run build\` first (npm test does)`);
  const child = spawn(process.execPath, [main], {
    env: { PATH: process.env.PATH, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  child.stdout!.on('data', (data: Buffer) => output.push(data.toString()));
  child.stderr!.on('data', (data: Buffer) => output.push(data.toString()));
  const exit = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  return { child, output, exit };
}

/** A built gateway listening on loopback, with its WebSocket URL. */
export type GatewayProcess = ServiceProcess & { port: number; url: string };

/**
 * Starts the built service in production mode on 127.0.0.1 (port 0) and waits until it listens;
 * `env` says the rest (upstream, auth, Redis…), over these defaults.
 */
export async function startGatewayProcess(env: Record<string, string>, main = MAIN): Promise<GatewayProcess> {
  const service = runService({ NODE_ENV: 'production', HOST: '127.0.0.1', PORT: '0', UPSTREAM_MAX_RETRIES: '0', ...env }, main);
  const port = await listeningPort(service);
  return { ...service, port, url: `ws://127.0.0.1:${port}/v1/ws` };
}

/** Resolves with the port from the "listening on" log line; rejects if the process exits first. */
export function listeningPort(service: ServiceProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const match = /listening on http:\/\/[\d.]+:(\d+)/.exec(service.output.join(''));
      if (match) resolve(Number(match[1]));
    };
    service.child.stdout!.on('data', check);
    service.child.stderr!.on('data', check);
    check();
    service.exit.then(() => reject(new Error(`service exited before listening:\n${service.output.join('')}`)));
  });
}

/** Resolves once the service has written `text` (to stdout or stderr); rejects if it exits first. */
export function outputIncludes(service: ServiceProcess, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (service.output.join('').includes(text)) resolve();
    };
    service.child.stdout!.on('data', check);
    service.child.stderr!.on('data', check);
    check();
    service.exit.then(() => reject(new Error(`service exited before writing "${text}"`)));
  });
}

/**
 * Keeps the container image and the Kubernetes manifests in step with the application:
 * probe paths are the real routes, ports line up, the grace period outlasts the drain, the
 * ConfigMap + Secret form a configuration the app accepts at boot, and the Dockerfile's final
 * stage is production-only, non-root, with node as PID 1.
 *
 * Nothing from Nest is imported: the manifests are parsed with `yaml`, the Dockerfile is read as
 * text, and the config schema is the one the app validates its environment with.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { envVariables, parseConfig } from '../../src/config/config.schema';
import { secretVariables } from '../../src/config/env-variables';

const ROOT = join(__dirname, '..', '..');
const K8S_DIR = join(ROOT, 'deploy', 'kubernetes', 'base');
const NAME_LABEL = 'app.kubernetes.io/name';
const APP_NAME = 'holysheep-stream-gateway';
const SECRET_KEYS = ['HOLYSHEEP_API_KEY', 'AUTH_JWT_SECRET', 'AUTH_API_KEYS', 'REDIS_URL', 'REDIS_PASSWORD', 'REDIS_SENTINEL_PASSWORD'];
/** Headroom required beyond preStop + drain: the final close handshakes (2.5 s) and process exit. */
const MIN_GRACE_MARGIN_SECONDS = 5;

// Loose shapes: just what the assertions read.
/* eslint-disable @typescript-eslint/no-explicit-any */
type Manifest = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; [key: string]: any };

const manifestFiles = readdirSync(K8S_DIR)
  .filter((file) => /\.ya?ml$/.test(file))
  .sort();

/** Every document of every manifest file, with the file it came from. */
const documents: Array<{ file: string; doc: Manifest }> = manifestFiles.flatMap((file) =>
  parseAllDocuments(readFileSync(join(K8S_DIR, file), 'utf8')).map((document) => {
    if (document.errors.length > 0) throw new Error(`${file}: ${document.errors.map((e) => e.message).join('; ')}`);
    return { file, doc: document.toJS() as Manifest };
  }),
);

function only(kind: string): Manifest {
  const found = documents.filter(({ doc }) => doc?.kind === kind);
  if (found.length !== 1) throw new Error(`expected exactly one ${kind} in deploy/kubernetes, found ${found.length}`);
  return found[0].doc;
}

const deployment = only('Deployment');
const service = only('Service');
const hpa = only('HorizontalPodAutoscaler');
const pdb = only('PodDisruptionBudget');
const configMap = only('ConfigMap');
const secret = only('Secret');
const kustomization = only('Kustomization');

const podSpec = deployment.spec.template.spec;
const container = (() => {
  const containers = podSpec.containers as any[];
  if (containers.length !== 1) throw new Error(`expected one container, found ${containers.length}`);
  return containers[0];
})();
const containerPorts = container.ports as Array<{ name?: string; containerPort: number }>;
const httpPort = containerPorts.find((p) => p.name === 'http');

/** A probe / Service port (number or port name) as the container port number it designates. */
function resolvePort(port: number | string): number | undefined {
  if (typeof port === 'number') return containerPorts.some((p) => p.containerPort === port) ? port : undefined;
  if (/^\d+$/.test(port)) return resolvePort(Number(port));
  return containerPorts.find((p) => p.name === port)?.containerPort;
}

/** Seconds the preStop hook pauses: `exec: sleep N` or the native `sleep: { seconds: N }` action. */
function preStopSeconds(): number {
  const preStop = container.lifecycle?.preStop;
  if (!preStop) return 0;
  if (preStop.sleep) return Number(preStop.sleep.seconds);
  const command: string[] = preStop.exec?.command ?? [];
  const index = command.findIndex((part) => /(^|\/)sleep$/.test(part));
  if (index < 0 || command.length !== index + 2 || !/^\d+(\.\d+)?$/.test(command[index + 1])) {
    throw new Error(`preStop must be a plain exec sleep (got ${JSON.stringify(command)})`);
  }
  return Number(command[index + 1]);
}

const configData = (configMap.data ?? {}) as Record<string, unknown>;
const secretData = (secret.stringData ?? {}) as Record<string, unknown>;
const schemaKeys = Object.keys(envVariables.shape);

/** The ConfigMap + Secret as the pod's environment, with the placeholders made valid. */
function podEnvironment(): Record<string, string> {
  const dummies: Record<string, string> = {
    HOLYSHEEP_API_KEY: `sk-test-${'k'.repeat(40)}`,
    AUTH_JWT_SECRET: 's'.repeat(48),
    AUTH_API_KEYS: `service:${'a'.repeat(32)}`,
    REDIS_URL: 'redis://:password@redis:6379/0',
  };
  const secrets = Object.fromEntries(
    Object.entries(secretData).map(([key, value]) => [key, String(value).includes('REPLACE_ME') ? (dummies[key] ?? `dummy-${'x'.repeat(40)}`) : String(value)]),
  );
  return { ...(configData as Record<string, string>), ...secrets };
}

// ---------------------------------------------------------------------------------------------

describe('Kubernetes manifests', () => {
  it('parse, and every resource carries the app name label', () => {
    for (const { file, doc } of documents) {
      expect({ file, ok: doc !== null && typeof doc === 'object' }).toEqual({ file, ok: true });
      if (doc.kind === 'Kustomization') continue;
      expect({ file, label: doc.metadata?.labels?.[NAME_LABEL] }).toEqual({ file, label: APP_NAME });
    }
  });

  it('kustomization lists every manifest file in the folder, and only those', () => {
    const listed = [...(kustomization.resources as string[])].sort();
    const expected = manifestFiles.filter((file) => !/^kustomization\.ya?ml$/.test(file));
    expect(listed).toEqual(expected);
  });

  describe('probes and ports', () => {
    it('the health controller really serves /health/live and /health/ready', () => {
      const source = readFileSync(join(ROOT, 'src', 'health', 'health.controller.ts'), 'utf8');
      expect(source).toContain("@Controller('health')");
      expect(source).toContain("@Get('live')");
      expect(source).toContain("@Get('ready')");
    });

    it('liveness is GET /health/live and readiness GET /health/ready, on the container port', () => {
      expect(container.livenessProbe.httpGet.path).toBe('/health/live');
      expect(container.readinessProbe.httpGet.path).toBe('/health/ready');
      for (const probe of [container.livenessProbe, container.readinessProbe, container.startupProbe].filter(Boolean)) {
        expect(resolvePort(probe.httpGet.port)).toBe(httpPort?.containerPort);
      }
      // A startup probe, when present, must not depend on the upstream or the drain state either.
      if (container.startupProbe) expect(container.startupProbe.httpGet.path).toBe('/health/live');
    });

    it('the container port is named http and equals PORT in the ConfigMap and the schema default', () => {
      expect(httpPort).toBeDefined();
      expect(httpPort!.containerPort).toBe(8080);
      expect(parseConfig({}).http.port).toBe(httpPort!.containerPort);
      expect(Number(configData.PORT)).toBe(httpPort!.containerPort);
    });

    it('the Service is ClusterIP, port 80 → the container port, selecting the pods', () => {
      expect(service.spec.type ?? 'ClusterIP').toBe('ClusterIP');
      const ports = service.spec.ports as Array<{ port: number; targetPort: number | string }>;
      expect(ports).toHaveLength(1);
      expect(ports[0].port).toBe(80);
      expect(resolvePort(ports[0].targetPort)).toBe(httpPort!.containerPort);
      const podLabels = deployment.spec.template.metadata.labels;
      expect(podLabels).toEqual(expect.objectContaining(service.spec.selector));
    });

    it('the Dockerfile exposes the same port', () => {
      expect(dockerfile.final.some((i) => i.keyword === 'EXPOSE' && i.args.split(/\s+/).includes(String(httpPort!.containerPort)))).toBe(true);
    });
  });

  describe('graceful drain', () => {
    it('terminationGracePeriodSeconds outlasts the preStop pause plus DRAIN_TIMEOUT_MS, with margin', () => {
      const drainMs = configData.DRAIN_TIMEOUT_MS !== undefined && String(configData.DRAIN_TIMEOUT_MS).trim() !== '' ? Number(configData.DRAIN_TIMEOUT_MS) : parseConfig({}).drain.timeoutMs;
      expect(Number.isFinite(drainMs)).toBe(true);
      const pause = preStopSeconds();
      expect(pause).toBeGreaterThan(0);
      const grace = podSpec.terminationGracePeriodSeconds;
      expect(typeof grace).toBe('number');
      expect(grace).toBeGreaterThan(drainMs / 1000 + pause);
      expect(grace - (drainMs / 1000 + pause)).toBeGreaterThanOrEqual(MIN_GRACE_MARGIN_SECONDS);
    });

    it('rolls out without ever reducing capacity', () => {
      expect(deployment.spec.strategy.type).toBe('RollingUpdate');
      expect(deployment.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
      expect(deployment.spec.strategy.rollingUpdate.maxSurge).not.toBe(0);
    });
  });

  describe('pod security and resources', () => {
    it('runs as non-root with a read-only root filesystem, no privilege escalation and no capabilities', () => {
      const pod = podSpec.securityContext ?? {};
      const own = container.securityContext ?? {};
      expect(own.runAsNonRoot ?? pod.runAsNonRoot).toBe(true);
      const uid = own.runAsUser ?? pod.runAsUser;
      if (uid !== undefined) expect(uid).not.toBe(0);
      expect(own.readOnlyRootFilesystem).toBe(true);
      expect(own.allowPrivilegeEscalation).toBe(false);
      expect(own.privileged ?? false).toBe(false);
      expect(own.capabilities?.drop).toEqual(['ALL']);
      expect(own.capabilities?.add ?? []).toEqual([]);
    });

    it('sets CPU and memory requests and limits, requests within limits', () => {
      const { requests, limits } = container.resources;
      const cpu = (v: string | number) => (typeof v === 'number' ? v : v.endsWith('m') ? Number(v.slice(0, -1)) / 1000 : Number(v));
      const mem = (v: string) => {
        const match = /^(\d+)(Mi|Gi)$/.exec(v);
        if (!match) throw new Error(`unexpected memory quantity ${v}`);
        return Number(match[1]) * (match[2] === 'Gi' ? 1024 : 1);
      };
      for (const value of [requests.cpu, limits.cpu, requests.memory, limits.memory]) expect(value).toBeDefined();
      expect(cpu(requests.cpu)).toBeLessThanOrEqual(cpu(limits.cpu));
      expect(mem(requests.memory)).toBeLessThanOrEqual(mem(limits.memory));
      // Fits a 2-core node with room for the system.
      expect(cpu(limits.cpu)).toBeLessThan(2);
    });

    it('takes its environment from the ConfigMap and the Secret', () => {
      const envFrom = container.envFrom as Array<{ configMapRef?: { name: string }; secretRef?: { name: string } }>;
      expect(envFrom.map((e) => e.configMapRef?.name).filter(Boolean)).toEqual([configMap.metadata.name]);
      expect(envFrom.map((e) => e.secretRef?.name).filter(Boolean)).toEqual([secret.metadata.name]);
      // Secrets only ever arrive through the Secret: no literal value in the pod spec.
      for (const entry of (container.env ?? []) as Array<{ name: string }>) expect(SECRET_KEYS).not.toContain(entry.name);
    });
  });

  describe('scaling and disruption', () => {
    it('the HPA (autoscaling/v2) scales the Deployment on CPU utilisation with at least 2 replicas', () => {
      expect(hpa.apiVersion).toBe('autoscaling/v2');
      expect(hpa.spec.scaleTargetRef).toEqual(expect.objectContaining({ kind: 'Deployment', name: deployment.metadata.name }));
      expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
      expect(hpa.spec.maxReplicas).toBeGreaterThanOrEqual(hpa.spec.minReplicas);
      const cpu = (hpa.spec.metrics as any[]).find((m) => m.type === 'Resource' && m.resource?.name === 'cpu');
      expect(cpu?.resource.target.type).toBe('Utilization');
      expect(cpu?.resource.target.averageUtilization).toBeGreaterThan(0);
    });

    it('the PDB (policy/v1) keeps at least one pod and selects the pods', () => {
      expect(pdb.apiVersion).toBe('policy/v1');
      const { minAvailable, maxUnavailable } = pdb.spec;
      expect(minAvailable === 1 || maxUnavailable === 1).toBe(true);
      expect(deployment.spec.template.metadata.labels).toEqual(expect.objectContaining(pdb.spec.selector.matchLabels));
    });

    it('the Deployment selector matches its own pod labels', () => {
      expect(deployment.spec.template.metadata.labels).toEqual(expect.objectContaining(deployment.spec.selector.matchLabels));
    });
  });

  describe('configuration', () => {
    it('every ConfigMap and Secret key is a variable the schema knows, and every value is a string', () => {
      for (const [source, data] of [['ConfigMap', configData], ['Secret', secretData]] as const) {
        for (const [key, value] of Object.entries(data)) {
          expect({ source, key, known: schemaKeys.includes(key) }).toEqual({ source, key, known: true });
          // The API server rejects non-string ConfigMap/Secret values (an unquoted 8080 is a number).
          expect({ source, key, type: typeof value }).toEqual({ source, key, type: 'string' });
        }
      }
    });

    it('the secrets kept out of the ConfigMap are the variables the configuration reference marks secret', () => {
      expect([...SECRET_KEYS].sort()).toEqual(secretVariables().sort());
    });

    it('no secret is in the ConfigMap, and no key is in both', () => {
      for (const key of SECRET_KEYS) expect(Object.keys(configData)).not.toContain(key);
      for (const key of Object.keys(secretData)) expect(Object.keys(configData)).not.toContain(key);
      expect(secret.type ?? 'Opaque').toBe('Opaque');
    });

    it('the Secret holds only REPLACE_ME placeholders for the upstream key and the JWT secret', () => {
      expect(secretData.HOLYSHEEP_API_KEY).toBe('REPLACE_ME');
      expect(secretData.AUTH_JWT_SECRET).toBe('REPLACE_ME');
      for (const value of Object.values(secretData)) expect(value).toBe('REPLACE_ME');
    });

    it('the ConfigMap carries every non-secret variable of .env.example', () => {
      const exampleKeys = readFileSync(join(ROOT, '.env.example'), 'utf8')
        .split('\n')
        .map((line) => /^([A-Z][A-Z0-9_]*)=/.exec(line)?.[1])
        .filter((key): key is string => key !== undefined);
      expect(exampleKeys.length).toBeGreaterThan(0);
      const missing = exampleKeys.filter((key) => !SECRET_KEYS.includes(key) && !(key in configData));
      expect(missing).toEqual([]);
    });

    it('ConfigMap + Secret form a production configuration the app accepts', () => {
      const config = parseConfig(podEnvironment());
      expect(config.env).toBe('production');
      expect(config.http.port).toBe(8080);
      expect(config.drain.timeoutMs).toBe(25_000);
      expect(config.playground.enabled).toBe(false);
      expect(config.upstream.simulated).toBe(false);
      expect(config.auth.mode).toBe('jwt');
      expect(config.allowedOrigins).not.toContain('*');
    });

    it('the placeholders alone are not a valid secret (a forgotten REPLACE_ME fails the boot)', () => {
      const env = { ...(configData as Record<string, string>), ...(secretData as Record<string, string>) };
      expect(() => parseConfig(env)).toThrow(/AUTH_JWT_SECRET/);
    });
  });
});

// ---------------------------------------------------------------------------------------------

interface Instruction {
  keyword: string;
  args: string;
}

/** The Dockerfile as instructions (comments dropped, continuations joined), split into stages. */
const dockerfile = (() => {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const instructions: Instruction[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue; // comment inside a continuation
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const full = (pending + line).trim();
    pending = '';
    if (full === '') continue;
    const match = /^(\S+)\s*(.*)$/s.exec(full)!;
    instructions.push({ keyword: match[1].toUpperCase(), args: match[2].trim() });
  }
  const stages: Array<{ name: string | undefined; from: string; instructions: Instruction[] }> = [];
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') {
      const [image, as, name] = instruction.args.split(/\s+/).filter((part) => !part.startsWith('--'));
      stages.push({ from: image, name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] });
    } else if (stages.length > 0) {
      stages[stages.length - 1].instructions.push(instruction);
    }
  }
  if (stages.length === 0) throw new Error('Dockerfile has no FROM');
  return { stages, final: stages[stages.length - 1].instructions, finalFrom: stages[stages.length - 1].from };
})();

/** `--from=<stage>` of a COPY, if any. */
const copyFrom = (i: Instruction) => /--from=(\S+)/.exec(i.args)?.[1];

describe('Dockerfile', () => {
  it('is multi-stage, every stage on Node 24 LTS (node:24-bookworm-slim), a version package.json engines accepts', () => {
    expect(dockerfile.stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of dockerfile.stages) expect(stage.from).toMatch(/^node:24-bookworm-slim(@sha256:[0-9a-f]{64})?$/);
    // engines.node is ">=20.12": the image's major must satisfy it.
    const engines = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).engines.node as string;
    const minimum = /^>=(\d+)\.(\d+)$/.exec(engines);
    expect(minimum).not.toBeNull();
    expect(24).toBeGreaterThanOrEqual(Number(minimum![1]));
  });

  it('builds with npm ci and npm run build in a build stage, and copies its dist/ into the final image', () => {
    const distCopy = dockerfile.final.find((i) => i.keyword === 'COPY' && copyFrom(i) && /\/dist\s+\S*dist\/?$/.test(i.args));
    expect(distCopy).toBeDefined();
    const buildStage = dockerfile.stages.find((s) => s.name === copyFrom(distCopy!));
    const runs = buildStage!.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
    expect(runs.some((r) => /\bnpm ci\b/.test(r))).toBe(true);
    expect(runs.some((r) => /\bnpm run build\b/.test(r))).toBe(true);
  });

  it('takes node_modules from a stage that installed production dependencies only (--omit=dev)', () => {
    const modulesCopy = dockerfile.final.find((i) => i.keyword === 'COPY' && /node_modules/.test(i.args));
    expect(modulesCopy).toBeDefined();
    const from = copyFrom(modulesCopy!);
    expect(from).toBeDefined();
    const depsStage = dockerfile.stages.find((s) => s.name === from);
    expect(depsStage).toBeDefined();
    const runs = depsStage!.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
    expect(runs.some((r) => /\bnpm ci\b.*--omit=dev/.test(r))).toBe(true);
    // The final stage installs nothing itself (no dev dependencies can sneak in there).
    expect(dockerfile.final.some((i) => i.keyword === 'RUN' && /\bnpm (ci|install|i)\b/.test(i.args))).toBe(false);
  });

  it('ships public/ and package.json beside dist/', () => {
    const copies = dockerfile.final.filter((i) => i.keyword === 'COPY' || i.keyword === 'ADD').map((i) => i.args);
    expect(copies.some((c) => /(^|\s)\.?\/?public\/?\s+\S*public\/?$/.test(c))).toBe(true);
    expect(copies.some((c) => /(^|\s)package\.json(\s|$)/.test(c))).toBe(true);
  });

  describe('follows the npm workspace', () => {
    const manifest = (dir: string) => JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8'));
    const root = manifest('.');
    const workspaces = root.workspaces as string[];
    const copied = (instructions: Instruction[]) =>
      instructions.filter((i) => i.keyword === 'COPY' && !copyFrom(i)).flatMap((i) => i.args.split(/\s+/).slice(0, -1).map((p) => p.replace(/^\.\//, '').replace(/\/$/, '')));

    it('has workspaces to follow', () => {
      expect(workspaces).toEqual(expect.arrayContaining(['packages/protocol', 'packages/client', 'packages/playground']));
    });

    it('copies every workspace manifest and the lockfile before each npm ci (npm ci checks the lockfile against all of them)', () => {
      const installing = dockerfile.stages.filter((s) => s.instructions.some((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args)));
      expect(installing.length).toBeGreaterThanOrEqual(2);
      for (const stage of installing) {
        const ci = stage.instructions.findIndex((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args));
        const before = copied(stage.instructions.slice(0, ci));
        for (const file of ['package.json', 'package-lock.json', ...workspaces.map((w) => `${w}/package.json`)]) {
          expect({ stage: stage.name, file, copied: before.includes(file) }).toEqual({ stage: stage.name, file, copied: true });
        }
      }
    });

    it('builds from every workspace package\'s sources', () => {
      const distCopy = dockerfile.final.find((i) => i.keyword === 'COPY' && copyFrom(i) && /\/dist\s+\S*dist\/?$/.test(i.args))!;
      const build = dockerfile.stages.find((s) => s.name === copyFrom(distCopy))!;
      const at = build.instructions.findIndex((i) => i.keyword === 'RUN' && /\bnpm run build\b/.test(i.args));
      const sources = copied(build.instructions.slice(0, at));
      for (const w of workspaces) expect({ w, copied: sources.some((c) => c === w || w.startsWith(`${c}/`)) }).toEqual({ w, copied: true });
    });

    it('ships, built, each workspace package the service depends on at run time, and no other', () => {
      const runtime = Object.keys(root.dependencies).filter((name) => workspaces.some((w) => manifest(w).name === name));
      expect(runtime).toEqual(['@holysheep/protocol']);
      const shipped = dockerfile.final.filter((i) => i.keyword === 'COPY').map((i) => i.args.split(/\s+/).filter((a) => !a.startsWith('--')));
      for (const w of workspaces) {
        const needed = runtime.includes(manifest(w).name);
        const main = manifest(w).main as string | undefined;
        const hasManifest = shipped.some(([src]) => src.replace(/^\.\//, '') === `${w}/package.json`);
        const hasBuild = shipped.some(([src, dest]) => src === `/app/${w}/dist` && dest.replace(/^\.\//, '') === `${w}/dist`);
        expect({ w, hasManifest, hasBuild }).toEqual({ w, hasManifest: needed, hasBuild: needed });
        if (needed) expect(main).toMatch(/^\.\/dist\//);
      }
    });
  });

  it('labels the final image with the OCI version, revision and source, the version defaulting to package.json\'s', () => {
    const args = new Map(
      dockerfile.final.filter((i) => i.keyword === 'ARG').map((i) => {
        const [name, value] = i.args.split('=');
        return [name, value] as const;
      }),
    );
    expect(args.get('VERSION')).toBe(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
    const labels = dockerfile.final.filter((i) => i.keyword === 'LABEL').map((i) => i.args).join(' ');
    for (const [key, arg] of [['version', 'VERSION'], ['revision', 'REVISION'], ['source', 'SOURCE']]) {
      expect(labels).toContain(`org.opencontainers.image.${key}="\${${arg}}"`);
    }
  });

  it('sets NODE_ENV=production in the final stage', () => {
    const envs = dockerfile.final.filter((i) => i.keyword === 'ENV').map((i) => i.args);
    expect(envs.some((e) => /(^|\s)NODE_ENV=("?)production\2(\s|$)/.test(e) || /^NODE_ENV\s+production$/.test(e))).toBe(true);
  });

  it('runs as a non-root USER', () => {
    const users = dockerfile.final.filter((i) => i.keyword === 'USER').map((i) => i.args.split(':')[0]);
    expect(users.length).toBeGreaterThan(0);
    expect(['root', '0']).not.toContain(users[users.length - 1]);
  });

  it('starts node dist/main.js as PID 1 in exec form (no npm, no shell), with the V8 flags npm start:prod uses', () => {
    const last = (keyword: string) => dockerfile.final.filter((i) => i.keyword === keyword).pop();
    const entrypoint = last('ENTRYPOINT');
    const cmd = last('CMD');
    const execForm = (i: Instruction | undefined): string[] => {
      if (!i) return [];
      expect(i.args.startsWith('[')).toBe(true); // shell form would run under /bin/sh -c
      return JSON.parse(i.args) as string[];
    };
    const argv = [...execForm(entrypoint), ...execForm(cmd)];
    expect(argv).toEqual(['node', '--max-semi-space-size=4', 'dist/main.js']);
    const scripts = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts as Record<string, string>;
    expect(scripts['start:prod']).toBe(argv.join(' '));
    expect(scripts.start).toBe(`npm run build && ${argv.join(' ')}`);
  });
});

describe('.dockerignore', () => {
  const patterns = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));

  it('keeps local state and artefacts out of the build context', () => {
    for (const pattern of ['node_modules', 'dist', '.git', 'coverage', 'bench/results', '.env', '.tools']) expect(patterns).toContain(pattern);
  });

  it('does not exclude what the image is built from', () => {
    for (const needed of ['src', 'public', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json']) {
      expect(patterns).not.toContain(needed);
    }
  });
});

/**
 * The kustomize overlays as a cluster would receive them: each is rendered with `kubectl kustomize`
 * (what `kubectl apply -k` applies) and every object is validated against its Kubernetes, Gateway
 * API or Prometheus Operator schema (kubernetes-models and its sibling packages: the schemas ship
 * in npm, nothing is downloaded here). Then what each overlay promises is checked on the rendered
 * objects: replicas, Redis beside the gateway, the dev configuration booting as is, the production
 * NetworkPolicies, the routes reaching the Service.
 *
 * The base's own checks (probes, drain, security, configuration against the schema) are in
 * deploy-manifests.spec.ts.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ConfigMap, Secret, Service } from 'kubernetes-models/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { HTTPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1';
import { PrometheusRule, ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { parseConfig } from '../../src/config/config.schema';
import { hasCommand, requireTool } from '../support/requirements';

const ROOT = join(__dirname, '..', '..');
const K8S = join(ROOT, 'deploy', 'kubernetes');
const OVERLAYS = ['dev', 'production'] as const;
const GATEWAY_POD = { 'app.kubernetes.io/name': 'holysheep-stream-gateway', 'app.kubernetes.io/component': 'gateway' };
const REDIS_POD = { 'app.kubernetes.io/name': 'holysheep-redis', 'app.kubernetes.io/component': 'stream-log' };

/* eslint-disable @typescript-eslint/no-explicit-any */
type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; [key: string]: any };

/** Every kind an overlay may render, with the model that validates it. A new kind must be added here. */
const SCHEMAS: Record<string, new (data: any) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'networking.k8s.io/v1/Ingress': Ingress,
  'gateway.networking.k8s.io/v1/HTTPRoute': HTTPRoute,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
};

/** Problems of one rendered object: none when its schema accepts it. */
function schemaProblems(object: K8sObject): string[] {
  const Model = SCHEMAS[`${object.apiVersion}/${object.kind}`];
  if (!Model) return [`no schema known for ${object.apiVersion} ${object.kind}: add its model to SCHEMAS`];
  try {
    new Model(object).validate();
    return [];
  } catch (error) {
    return [(error as Error).message];
  }
}

const kubectlAvailable = hasCommand('kubectl', ['version', '--client']);

/** `kubectl kustomize <dir>` as objects; throws with kustomize's own message when it cannot render. */
function render(dir: string): K8sObject[] {
  const result = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8', timeout: 60_000 });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`kubectl kustomize ${dir} failed:\n${result.stderr}`);
  return parseAllDocuments(result.stdout)
    .map((document) => {
      if (document.errors.length > 0) throw new Error(document.errors.map((e) => e.message).join('; '));
      return document.toJS() as K8sObject;
    })
    .filter((object) => object !== null)
    .map(unwrapBase64);
}

/**
 * kustomize folds long base64 values of a Secret's `data` over several lines; the API server's
 * decoder skips the line breaks, the schema's "byte" format does not, so they are joined first.
 */
function unwrapBase64(object: K8sObject): K8sObject {
  if (object.kind !== 'Secret' || !object.data) return object;
  return { ...object, data: Object.fromEntries(Object.entries(object.data).map(([k, v]) => [k, String(v).replace(/\s+/g, '')])) };
}

/**
 * Renders a throw-away kustomization (in the OS temp dir) built on folders of deploy/kubernetes,
 * named relative to it (kustomize refuses absolute paths).
 */
function renderComposed(kustomization: { resources: string[]; components?: string[]; patches?: unknown[] }): K8sObject[] {
  const dir = mkdtempSync(join(tmpdir(), 'hsg-kustomize-'));
  const from = (folder: string) => relative(dir, join(K8S, folder));
  try {
    const { resources, components = [], patches = [] } = kustomization;
    const content = { apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', resources: resources.map(from), components: components.map(from), patches };
    writeFileSync(join(dir, 'kustomization.yaml'), JSON.stringify(content));
    return render(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const rendered = new Map<string, K8sObject[]>();
function overlay(name: (typeof OVERLAYS)[number]): K8sObject[] {
  if (!rendered.has(name)) rendered.set(name, render(join(K8S, 'overlays', name)));
  return rendered.get(name)!;
}

const all = (objects: K8sObject[], kind: string) => objects.filter((o) => o.kind === kind);
function one(objects: K8sObject[], kind: string, name?: string): K8sObject {
  const found = all(objects, kind).filter((o) => name === undefined || o.metadata.name === name);
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  return found[0];
}
const matches = (selector: Record<string, string>, labels: Record<string, string> = {}) => Object.entries(selector).every(([k, v]) => labels[k] === v);
const decoded = (secret: K8sObject): Record<string, string> => ({
  ...Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(String(v), 'base64').toString('utf8')])),
  ...(secret.stringData ?? {}),
});
const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;

// Without kubectl nothing below can run: each test says so (SKIPPED, or a failure under REQUIRE_KUBECTL=1).
const withKubectl = (name: string, fn: () => void) =>
  it(name, () => {
    if (!requireTool('kubectl (for kubectl kustomize)', kubectlAvailable, 'REQUIRE_KUBECTL')) return;
    fn();
  });

describe('kustomize overlays', () => {
  describe.each(OVERLAYS)('%s', (name) => {
    withKubectl('renders, and every object passes its schema', () => {
      const objects = overlay(name);
      expect(objects.length).toBeGreaterThan(0);
      const problems = objects.flatMap((o) => schemaProblems(o).map((p) => `${o.kind}/${o.metadata?.name}: ${p}`));
      expect(problems).toEqual([]);
    });

    withKubectl('every Service selects pods, every pod controller selects its own template, every secret and config reference exists', () => {
      const objects = overlay(name);
      const controllers = [...all(objects, 'Deployment'), ...all(objects, 'StatefulSet')];
      for (const c of controllers) expect({ c: c.metadata.name, ok: matches(c.spec.selector.matchLabels, c.spec.template.metadata.labels) }).toEqual({ c: c.metadata.name, ok: true });
      for (const s of all(objects, 'Service')) {
        expect({ service: s.metadata.name, selects: controllers.some((c) => matches(s.spec.selector, c.spec.template.metadata.labels)) }).toEqual({ service: s.metadata.name, selects: true });
      }
      // Secrets may come from outside (production); ConfigMaps never do.
      const external = name === 'production' ? ['holysheep-stream-gateway-secrets', 'holysheep-redis'] : [];
      const secrets = [...all(objects, 'Secret').map((s) => s.metadata.name), ...external];
      const configMaps = all(objects, 'ConfigMap').map((c) => c.metadata.name);
      for (const c of controllers) {
        for (const container of c.spec.template.spec.containers as any[]) {
          for (const from of container.envFrom ?? []) {
            if (from.secretRef) expect(secrets).toContain(from.secretRef.name);
            if (from.configMapRef) expect(configMaps).toContain(from.configMapRef.name);
          }
          for (const env of container.env ?? []) if (env.valueFrom?.secretKeyRef) expect(secrets).toContain(env.valueFrom.secretKeyRef.name);
        }
      }
    });

    withKubectl('runs a Redis beside the gateway, hardened like it, that the gateway\'s REDIS_URL names', () => {
      const objects = overlay(name);
      const redis = one(objects, 'StatefulSet', 'holysheep-redis');
      expect(redis.spec.replicas).toBe(1);
      expect(redis.spec.template.metadata.labels).toEqual(expect.objectContaining(REDIS_POD));
      const container = redis.spec.template.spec.containers[0];
      expect(container.securityContext).toEqual(expect.objectContaining({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, runAsNonRoot: true }));
      // The password reaches redis-server through the environment, never as a literal argument.
      expect(container.args).toEqual(expect.arrayContaining(['--requirepass', '$(REDIS_PASSWORD)']));
      const service = one(objects, 'Service', 'holysheep-redis');
      expect(redis.spec.serviceName).toBe(service.metadata.name);
      expect(service.spec.ports.map((p: any) => p.port)).toEqual([6379]);
    });

    withKubectl('the image is tagged with the service version (package.json)', () => {
      const image = one(overlay(name), 'Deployment', 'holysheep-stream-gateway').spec.template.spec.containers[0].image as string;
      expect(image.endsWith(`:${version}`)).toBe(true);
    });
  });

  describe('dev', () => {
    withKubectl('one gateway replica, no autoscaler, no disruption budget, no Prometheus Operator objects', () => {
      const objects = overlay('dev');
      expect(one(objects, 'Deployment').spec.replicas).toBe(1);
      for (const kind of ['HorizontalPodAutoscaler', 'PodDisruptionBudget', 'ServiceMonitor', 'PrometheusRule', 'NetworkPolicy']) expect({ kind, n: all(objects, kind).length }).toEqual({ kind, n: 0 });
    });

    withKubectl('its ConfigMap and Secret, as rendered, are a configuration the app boots with: simulated upstream, Redis in the cluster', () => {
      const objects = overlay('dev');
      const env = { ...one(objects, 'ConfigMap').data, ...decoded(one(objects, 'Secret', 'holysheep-stream-gateway-secrets')) };
      const config = parseConfig(env);
      expect(config.upstream.simulated).toBe(true);
      expect(config.playground.enabled).toBe(true);
      expect(config.redis?.mode).toBe('single');
      const url = new URL((config.redis as { url: string }).url);
      expect(url.hostname).toBe('holysheep-redis');
      expect(url.port).toBe('6379');
      const redisSecret = all(objects, 'Secret').find((s) => s.metadata.name.startsWith('holysheep-redis'))!;
      expect(decodeURIComponent(url.password)).toBe(decoded(redisSecret).password);
    });
  });

  describe('production', () => {
    withKubectl('autoscales from three replicas, keeps the disruption budget and the monitoring', () => {
      const objects = overlay('production');
      const hpa = one(objects, 'HorizontalPodAutoscaler');
      expect(hpa.spec.minReplicas).toBe(3);
      expect(hpa.spec.maxReplicas).toBeGreaterThanOrEqual(3);
      // The HPA owns the count: a replicas field would reset it on every apply.
      expect(one(objects, 'Deployment').spec.replicas).toBeUndefined();
      one(objects, 'PodDisruptionBudget');
      one(objects, 'ServiceMonitor');
      one(objects, 'PrometheusRule');
    });

    withKubectl('ships no Secret: the real ones come from a secret manager, and an apply must not overwrite them with placeholders', () => {
      expect(all(overlay('production'), 'Secret')).toEqual([]);
    });

    withKubectl('routes only /v1/ws through an HTTPRoute to the Service, with no request timeout to cut a socket', () => {
      const objects = overlay('production');
      const route = one(objects, 'HTTPRoute');
      const service = one(objects, 'Service', 'holysheep-stream-gateway');
      expect(route.spec.rules).toHaveLength(1);
      const [rule] = route.spec.rules;
      expect(rule.matches).toEqual([{ path: { type: 'Exact', value: '/v1/ws' } }]);
      expect(rule.backendRefs).toEqual([{ name: service.metadata.name, port: service.spec.ports[0].port }]);
      expect(rule.timeouts).toEqual({ request: '0s', backendRequest: '0s' });
      expect(all(objects, 'Ingress')).toEqual([]);
    });

    describe('NetworkPolicies', () => {
      const policies = () => all(overlay('production'), 'NetworkPolicy');
      const policyFor = (pod: Record<string, string>) => {
        const found = policies().filter((p) => matches(p.spec.podSelector.matchLabels, pod));
        expect(found).toHaveLength(1);
        return found[0];
      };

      withKubectl('isolate the gateway pods both ways: ingress on the http port only, from named peers only', () => {
        const policy = policyFor(GATEWAY_POD);
        expect([...policy.spec.policyTypes].sort()).toEqual(['Egress', 'Ingress']);
        expect(policy.spec.ingress).toHaveLength(2); // the ingress controller / gateway, Prometheus
        for (const rule of policy.spec.ingress) {
          // An absent or empty `from` would admit every source.
          expect(rule.from?.length).toBeGreaterThan(0);
          for (const peer of rule.from) expect(Object.keys(peer.namespaceSelector?.matchLabels ?? peer.podSelector?.matchLabels ?? {}).length).toBeGreaterThan(0);
          expect(rule.ports).toEqual([{ port: 'http', protocol: 'TCP' }]);
        }
      });

      withKubectl('let the gateway reach DNS, Redis, the upstream over HTTPS (public addresses only) and the OTLP collector, nothing else', () => {
        const policy = policyFor(GATEWAY_POD);
        const ports = (rule: any) => (rule.ports as any[]).map((p) => `${p.port}/${p.protocol}`).sort();
        const egress = policy.spec.egress as any[];
        expect(egress.map(ports)).toEqual([['53/TCP', '53/UDP'], ['6379/TCP'], ['443/TCP'], ['4318/TCP']]);
        for (const rule of egress) expect(rule.to?.length).toBeGreaterThan(0);
        expect(egress[1].to).toEqual([{ podSelector: { matchLabels: REDIS_POD } }]);
        const upstream = egress[2].to[0].ipBlock;
        expect(upstream.cidr).toBe('0.0.0.0/0');
        expect(upstream.except).toEqual(expect.arrayContaining(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16']));
        const otlp = one(overlay('production'), 'ConfigMap').data.OTEL_EXPORTER_OTLP_ENDPOINT as string;
        if (otlp) expect(new URL(otlp).port).toBe('4318');
      });

      withKubectl('let Redis be reached by the gateway pods only, on 6379, and open nothing itself', () => {
        const policy = policyFor(REDIS_POD);
        expect([...policy.spec.policyTypes].sort()).toEqual(['Egress', 'Ingress']);
        expect(policy.spec.ingress).toEqual([{ from: [{ podSelector: { matchLabels: GATEWAY_POD } }], ports: [{ port: 6379, protocol: 'TCP' }] }]);
        expect(policy.spec.egress ?? []).toEqual([]);
      });

      withKubectl('take their deployment-specific peers from a JSON 6902 patch at the indexes docs/operations.md gives', () => {
        const operations = readFileSync(join(ROOT, 'docs', 'operations.md'), 'utf8');
        const example = /```yaml\n(# network-peers\.yaml[\s\S]*?)```/.exec(operations);
        expect(example).not.toBeNull();
        const objects = renderComposed({
          resources: ['overlays/production'],
          patches: [{ target: { kind: 'NetworkPolicy', name: 'holysheep-stream-gateway' }, patch: example![1] }],
        });
        const policy = one(objects, 'NetworkPolicy', 'holysheep-stream-gateway');
        expect(policy.spec.ingress[0].from).toEqual([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'envoy-gateway-system' } } }]);
        expect(policy.spec.ingress[1].from[0].namespaceSelector.matchLabels).toEqual({ 'kubernetes.io/metadata.name': 'prometheus' });
        expect(schemaProblems(policy)).toEqual([]);
      });
    });
  });

  withKubectl('the Ingress component renders in place of the Gateway API one, validates, and reaches the Service by its port name', () => {
    const objects = renderComposed({
      resources: ['base'],
      components: ['components/redis', 'components/ingress'],
    });
    expect(objects.flatMap((o) => schemaProblems(o).map((p) => `${o.kind}/${o.metadata.name}: ${p}`))).toEqual([]);
    const ingress = one(objects, 'Ingress');
    const service = one(objects, 'Service', 'holysheep-stream-gateway');
    const paths = ingress.spec.rules.flatMap((r: any) => r.http.paths);
    expect(paths.map((p: any) => `${p.pathType} ${p.path}`)).toEqual(['Exact /v1/ws']);
    expect(paths[0].backend.service.name).toBe(service.metadata.name);
    expect(service.spec.ports.map((p: any) => p.name)).toContain(paths[0].backend.service.port.name);
    expect(all(objects, 'HTTPRoute')).toEqual([]);
  });

  withKubectl('a broken object fails its schema (the check can fail)', () => {
    const deployment = structuredClone(one(overlay('dev'), 'Deployment'));
    deployment.spec.template.spec.containers[0].ports[0].containerPort = 'eighty';
    delete deployment.spec.selector;
    const problems = schemaProblems(deployment);
    expect(problems.join('\n')).toMatch(/selector/);
    expect(problems.join('\n')).toMatch(/containerPort/);
  });
});

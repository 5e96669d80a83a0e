/**
 * The monitoring that ships with the gateway works against the gateway as it really runs: the
 * PrometheusRule's alerts and the Grafana dashboard only name metrics that a live /metrics
 * exposes (after real traffic: a completed stream, a retry, upstream errors, a rate-limited
 * request, a closed socket), promtool accepts the rules and every dashboard query, the
 * ServiceMonitor scrapes the Service the rules select, and every alert has its runbook section
 * in docs/operations.md.
 *
 * promtool is not an npm package: without it the promtool checks warn `SKIPPED` and pass, unless
 * REQUIRE_PROMTOOL=1 (CI) makes its absence a failure (test/support/requirements.ts).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { chunk, FakeUpstream } from '../support/fake-upstream';
import { startGateway, type RunningGateway } from '../support/gateway-app';
import { anchor, sectionsByAnchor } from '../support/markdown';
import { hasCommand, requireTool } from '../support/requirements';
import { TestClient } from '../support/ws-client';

/* eslint-disable @typescript-eslint/no-explicit-any */
const ROOT = join(__dirname, '..', '..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

const service = parseYaml(read('deploy/kubernetes/base/service.yaml'));
const serviceMonitor = parseYaml(read('deploy/kubernetes/base/servicemonitor.yaml'));
const prometheusRule = parseYaml(read('deploy/kubernetes/base/prometheusrule.yaml'));
const dashboard = JSON.parse(read('deploy/grafana/holysheep-gateway.json'));
const operations = read('docs/operations.md');

const PREFIX = 'holysheep_gateway_';
/** The scrape job: a ServiceMonitor's `job` label is the name of the Service it scrapes. */
const JOB = service.metadata.name as string;

interface Alert {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const alerts: Alert[] = (prometheusRule.spec.groups as Array<{ rules: Alert[] }>).flatMap((group) => group.rules);

/** Every panel, rows' nested panels included. */
const panels: any[] = (dashboard.panels as any[]).flatMap((panel) => [panel, ...(panel.panels ?? [])]).filter((panel) => panel.type !== 'row');
/** Every query of every panel, as PromQL with Grafana's variables still in it. */
const panelQueries: Array<{ panel: string; expr: string }> = panels.flatMap((panel) => (panel.targets as any[]).map((target) => ({ panel: panel.title, expr: target.expr as string })));
/** The series selector inside each `label_values(<selector>, <label>)` variable query. */
const variableSelectors: string[] = (dashboard.templating.list as any[])
  .filter((variable) => variable.type === 'query')
  .map((variable) => {
    const query = typeof variable.query === 'string' ? variable.query : variable.query.query;
    const match = /^label_values\((.+),\s*\w+\)$/.exec(query);
    if (!match) throw new Error(`dashboard variable ${variable.name}: expected label_values(<selector>, <label>), got ${query}`);
    return match[1]!;
  });

/**
 * The metric names a PromQL expression reads: identifiers followed by `{`, `[`, `)`, whitespace
 * or the end, that carry the gateway's prefix or are Prometheus's own `up`. String literals
 * (label values, regexes) are blanked first; functions, label names and keywords are not prefixed.
 */
function metricNames(expr: string): string[] {
  const code = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
  const names = new Set<string>();
  for (const match of code.matchAll(/(?<![\w:])([a-zA-Z_:][\w:]*)(?=[{[)\s]|$)/g)) {
    const name = match[1]!;
    if (name.startsWith(PREFIX) || name === 'up') names.add(name);
  }
  return [...names];
}

/** Grafana's variables replaced by values Prometheus accepts, so promtool can parse the query. */
const asPromQl = (expr: string) => expr.replace(/\$__rate_interval/g, '5m').replace(/\$\{?namespace\}?/g, '.*');

/** Runs `promtool check rules` on the given rule groups; returns its output when it fails. */
function promtoolCheckRules(groups: unknown[]): { ok: boolean; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'holysheep-rules-'));
  try {
    const file = join(dir, 'rules.yaml');
    writeFileSync(file, stringifyYaml({ groups }));
    const result = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8', timeout: 30_000 });
    return { ok: result.status === 0, output: `${result.stdout}${result.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const promtoolAvailable = hasCommand('promtool');

describe('monitoring: alert rules, dashboard and ServiceMonitor (e2e)', () => {
  let upstream: FakeUpstream;
  let gateway: RunningGateway;
  /** The exposition after the traffic below. */
  let exposition: string;
  /** Names of the samples in it (histograms: `_bucket`, `_sum`, `_count`). */
  let exposed: Set<string>;

  const ask = (client: TestClient, id: string) => client.send({ type: 'chat.request', id, messages: [{ role: 'user', content: 'hi' }] });

  beforeAll(async () => {
    upstream = await FakeUpstream.start();
    gateway = await startGateway({
      HOLYSHEEP_BASE_URL: upstream.baseUrl,
      UPSTREAM_MAX_RETRIES: '1',
      UPSTREAM_RETRY_BASE_DELAY_MS: '1',
      // Four requests are allowed, the fifth is rate limited.
      RATE_LIMIT_REQUESTS_PER_MINUTE: '4',
      // Distinct values, so the config gauges are seen to carry the configuration.
      MAX_CONNECTIONS: '321',
      MAX_CONNECTIONS_PER_PRINCIPAL: '7',
      MAX_STREAMS_PER_CONNECTION: '5',
      DRAIN_TIMEOUT_MS: '2500',
    });
    const { client } = await TestClient.ready(gateway.wsUrl);

    // A completed stream.
    ask(client, 'ok');
    await (await upstream.nextCall()).streamText(['fine']);
    await client.collectStream('ok');
    // A retry (503), then success.
    ask(client, 'retried');
    (await upstream.nextCall()).json(503, { error: { message: 'busy' } });
    await (await upstream.nextCall()).streamText(['second time']);
    await client.collectStream('retried');
    // An upstream rejection before the first chunk: upstream_error.
    ask(client, 'rejected');
    (await upstream.nextCall()).json(400, { error: { message: 'no' } });
    await client.collectStream('rejected');
    // A truncated answer: upstream_disconnected.
    ask(client, 'cut');
    const cut = await upstream.nextCall();
    cut.startSse();
    await cut.event(chunk({ content: 'half' }));
    await client.nextOfType('chat.chunk', 'cut');
    cut.drop();
    await client.collectStream('cut');
    // Over the request budget: rate_limited, no upstream call.
    ask(client, 'limited');
    expect(await client.collectStream('limited')).toEqual([expect.objectContaining({ type: 'chat.error', code: 'rate_limited' })]);
    // A socket closed by its client.
    await client.close();
    await gateway.logs.next('socket_closed');

    exposition = await (await fetch(`${gateway.httpUrl}/metrics`)).text();
    exposed = new Set(
      exposition
        .split('\n')
        .filter((line) => line !== '' && !line.startsWith('#'))
        .map((line) => /^[a-zA-Z_:][\w:]*/.exec(line)![0]),
    );
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  it('the traffic produced the series the alerts are about', () => {
    for (const series of [
      `${PREFIX}streams_total{outcome="stop"}`,
      `${PREFIX}streams_total{outcome="upstream_error"}`,
      `${PREFIX}streams_total{outcome="upstream_disconnected"}`,
      `${PREFIX}upstream_retries_total{kind="retry"}`,
      `${PREFIX}rate_limited_total{scope="request"}`,
      `${PREFIX}sockets_closed_total{reason="client"}`,
      `${PREFIX}time_to_first_chunk_seconds_bucket{le="+Inf"}`,
    ]) {
      expect({ series, exposed: exposition.split('\n').some((line) => line.startsWith(`${series} `)) }).toEqual({ series, exposed: true });
    }
  });

  it('exposes the configured limits as gauges', () => {
    const value = (name: string) => Number(exposition.split('\n').find((line) => line.startsWith(`${PREFIX}${name} `))?.split(' ')[1]);
    expect(value('config_max_connections')).toBe(321);
    expect(value('config_max_connections_per_principal')).toBe(7);
    expect(value('config_max_streams_per_connection')).toBe(5);
    expect(value('config_drain_timeout_seconds')).toBe(2.5);
  });

  it('every metric an alert, a dashboard panel or a dashboard variable reads is in the live /metrics', () => {
    const used = new Map<string, string>();
    for (const { alert, expr } of alerts) {
      const names = metricNames(expr);
      expect({ alert, names: names.length > 0 }).toEqual({ alert, names: true });
      for (const name of names) used.set(name, `alert ${alert}`);
    }
    for (const { panel, expr } of panelQueries) {
      const names = metricNames(expr);
      expect({ panel, expr, names: names.length > 0 }).toEqual({ panel, expr, names: true });
      for (const name of names) used.set(name, `panel "${panel}"`);
    }
    for (const selector of variableSelectors) for (const name of metricNames(selector)) used.set(name, 'dashboard variable');
    // `up` is written by Prometheus for each scrape, not by the target.
    used.delete('up');
    const missing = [...used].filter(([name]) => !exposed.has(name)).map(([name, where]) => `${name} (${where})`);
    expect(missing).toEqual([]);
  });

  it('the tokenizer finds metric names and skips functions, labels and strings', () => {
    expect(
      metricNames(
        `histogram_quantile(0.95, sum by (le) (rate(${PREFIX}a_bucket{job="x", outcome=~"${PREFIX}not_me"}[5m]))) > on (namespace) max(${PREFIX}b) and absent(up{job="x"} == 1)`,
      ).sort(),
    ).toEqual([`${PREFIX}a_bucket`, `${PREFIX}b`, 'up']);
  });

  it('the PrometheusRule groups pass promtool check rules', () => {
    if (!requireTool('promtool', promtoolAvailable, 'REQUIRE_PROMTOOL')) return;
    const { ok, output } = promtoolCheckRules(prometheusRule.spec.groups);
    expect({ ok, output }).toEqual({ ok: true, output: expect.stringContaining(`SUCCESS: ${alerts.length} rules found`) });
  });

  it('every dashboard query is valid PromQL (checked by promtool as recording rules)', () => {
    if (!requireTool('promtool', promtoolAvailable, 'REQUIRE_PROMTOOL')) return;
    const exprs = [...panelQueries.map(({ expr }) => expr), ...variableSelectors];
    const rules = exprs.map((expr, index) => ({ record: `dashboard:query_${index + 1}`, expr: asPromQl(expr) }));
    const { ok, output } = promtoolCheckRules([{ name: 'dashboard', rules }]);
    expect({ ok, output }).toEqual({ ok: true, output: expect.stringContaining(`SUCCESS: ${rules.length} rules found`) });
  });

  it('alerts on instances down, stream errors, time to first chunk, event-loop lag, slow clients and capacity', () => {
    const reads = (alert: Alert, pattern: RegExp) => metricNames(alert.expr).some((name) => pattern.test(name));
    const covered = (pattern: RegExp) => alerts.filter((alert) => reads(alert, pattern)).map((alert) => alert.alert);
    expect(covered(/^up$/).length).toBeGreaterThanOrEqual(2); // one pod down; none up (absent)
    expect(alerts.some((alert) => /absent\(\s*up\{/.test(alert.expr))).toBe(true);
    expect(covered(/streams_total$/)).not.toEqual([]);
    expect(alerts.some((alert) => /histogram_quantile\(0\.95,[\s\S]*time_to_first_chunk_seconds_bucket/.test(alert.expr))).toBe(true);
    expect(covered(/nodejs_eventloop_lag_p99_seconds$/)).not.toEqual([]);
    expect(alerts.some((alert) => /sockets_closed_total\{[^}]*reason="slow"/.test(alert.expr))).toBe(true);
    // Capacity compares with the configured limit, not a number copied into the rule.
    const capacity = alerts.filter((alert) => reads(alert, /open_connections$/));
    expect(capacity.length).toBeGreaterThan(0);
    for (const alert of capacity) expect(metricNames(alert.expr)).toContain(`${PREFIX}config_max_connections`);
  });

  it('every alert selects the scraped job and has a severity, a summary, a description and a runbook section', () => {
    const runbooks = sectionsByAnchor(operations);
    for (const alert of alerts) {
      const { alert: name, labels = {}, annotations = {} } = alert;
      expect({ name, severity: ['critical', 'warning', 'info'].includes(labels.severity ?? '') }).toEqual({ name, severity: true });
      for (const key of ['summary', 'description', 'runbook_url']) expect({ name, key, present: (annotations[key] ?? '').trim().length > 0 }).toEqual({ name, key, present: true });
      for (const job of alert.expr.matchAll(/\bjob="([^"]*)"/g)) expect({ name, job: job[1] }).toEqual({ name, job: JOB });
      expect({ name, selectsJob: /\bjob="/.test(alert.expr) }).toEqual({ name, selectsJob: true });

      const section = anchor(name);
      expect({ name, runbook: annotations.runbook_url }).toEqual({ name, runbook: `docs/operations.md#${section}` });
      const runbook = runbooks.get(section);
      expect({ name, hasSection: runbook !== undefined }).toEqual({ name, hasSection: true });
      expect({ name, means: /\*What it means\.\*/.test(runbook!), todo: /\*What to do\.\*/.test(runbook!) }).toEqual({ name, means: true, todo: true });
    }
    expect(new Set(alerts.map((alert) => alert.alert)).size).toBe(alerts.length);
  });

  it('the ServiceMonitor scrapes /metrics on the Service port, selecting the Service', () => {
    expect(serviceMonitor.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(serviceMonitor.kind).toBe('ServiceMonitor');
    expect(prometheusRule.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(prometheusRule.kind).toBe('PrometheusRule');
    expect(service.metadata.labels).toEqual(expect.objectContaining(serviceMonitor.spec.selector.matchLabels));
    const portNames = (service.spec.ports as Array<{ name: string }>).map((port) => port.name);
    const [endpoint, ...others] = serviceMonitor.spec.endpoints as Array<{ port: string; path?: string; jobLabel?: string }>;
    expect(others).toEqual([]);
    expect(portNames).toContain(endpoint!.port);
    expect(endpoint!.path ?? '/metrics').toBe('/metrics');
    // No jobLabel: the job is the Service's name, which the rules and the dashboard select.
    expect(serviceMonitor.spec.jobLabel).toBeUndefined();
  });

  it('the dashboard reads a ${datasource} Prometheus variable everywhere and shows what an operator needs', () => {
    const variables = dashboard.templating.list as any[];
    expect(variables.find((v) => v.name === 'datasource')).toEqual(expect.objectContaining({ type: 'datasource', query: 'prometheus' }));
    for (const panel of panels) {
      expect({ panel: panel.title, datasource: panel.datasource }).toEqual({ panel: panel.title, datasource: { type: 'prometheus', uid: '${datasource}' } });
      for (const target of panel.targets as any[]) expect({ panel: panel.title, datasource: target.datasource?.uid ?? '${datasource}' }).toEqual({ panel: panel.title, datasource: '${datasource}' });
    }
    for (const variable of variables.filter((v) => v.type === 'query')) expect(variable.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
    for (const { panel, expr } of panelQueries) {
      for (const job of expr.matchAll(/\bjob="([^"]*)"/g)) expect({ panel, job: job[1] }).toEqual({ panel, job: JOB });
    }
    const reads = (pattern: RegExp) => panelQueries.some(({ expr }) => pattern.test(expr));
    const expected: Array<[string, RegExp]> = [
      ['connections', /open_connections\{/],
      ['active streams', /active_streams\{/],
      ['chunks per second', /rate\(holysheep_gateway_chunks_relayed_total\{/],
      ['time-to-first-chunk percentiles', /histogram_quantile\([\d.]+, .*time_to_first_chunk_seconds_bucket/],
      ['stream-duration percentiles', /histogram_quantile\([\d.]+, .*stream_duration_seconds_bucket/],
      ['error codes', /sum by \(outcome\) \(rate\(holysheep_gateway_streams_total\{[^}]*outcome=~/],
      ['closes by reason', /sum by \(reason\) \(rate\(holysheep_gateway_sockets_closed_total\{/],
      ['retries', /upstream_retries_total\{/],
      ['event-loop lag', /nodejs_eventloop_lag_p99_seconds\{/],
      ['memory', /process_resident_memory_bytes\{/],
    ];
    for (const [what, pattern] of expected) expect({ what, shown: reads(pattern) }).toEqual({ what, shown: true });
    // Panel ids are unique (Grafana links and edits panels by id).
    const ids = (dashboard.panels as any[]).map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

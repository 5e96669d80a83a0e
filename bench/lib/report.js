'use strict';
/**
 * Turns the raw runs of bench/run.js into latest.json, latest.md and latest.svg.
 * Every relay figure is "added over direct": relay percentile minus the direct percentile at the
 * same concurrency, measured in the same run (a difference of percentiles: chunks cannot be
 * paired across runs).
 */
const { round3 } = require('./stats');
const { fmt, median, ratio, sub, triple } = require('./figures');
const { repeatedGoals, repeatedMarkdown, summarizeRepeated } = require('./report-repeated');

const TARGET = {
  cpuRatio: 0.8,
  ttfbAddedP50Ms: 1,
  idleKiB: 8,
  activeKiB: 64,
  p99CeilingMs: 50,
  noCliffBelow: 2000,
  keyLevel: 1000,
};

const errCount = (r) => Object.values(r.errors || {}).reduce((a, b) => a + b, 0);

/** The part of one run worth keeping in the JSON. */
function condense(run, direct) {
  if (!run) return null;
  const r = run.result;
  const out = {
    streams: r.streams,
    sockets: r.sockets,
    chunksPerStream: r.chunksPerStream,
    intervalMs: r.intervalMs,
    latencyMs: r.latencyMs,
    ttfbMs: r.ttfbMs,
    chunks: r.chunks,
    errors: r.errors,
    errorCount: errCount(r),
    streamsFailed: r.streamsFailed,
    streamsIncomplete: r.streamsIncomplete,
    timedOut: r.timedOut,
    durationMs: r.durationMs,
    client: r.client,
    clock: r.clock,
    upstream: { cpuPct: run.upstream.cpuPct, latenessP99Ms: run.upstream.stats.latenessMs.p99, elu: run.upstream.stats.elu },
    machineBusyPct: run.machineBusyPct,
    // CPU % from 10 ms clock ticks over a short window is too coarse to subtract.
    otherCpuPct: run.windowSec >= 1 ? run.otherCpuPct : null,
    windowSec: run.windowSec,
    orchestratorCpuPct: run.orchestratorCpuPct,
  };
  if (run.relay) out.relay = run.relay;
  if (run.noisyRerun) out.noisyRerun = run.noisyRerun;
  if (direct) {
    out.addedMs = {
      p50: sub(r.latencyMs.p50, direct.result.latencyMs.p50),
      p99: sub(r.latencyMs.p99, direct.result.latencyMs.p99),
      p999: sub(r.latencyMs.p999, direct.result.latencyMs.p999),
    };
    out.addedTtfbMs = { p50: sub(r.ttfbMs.p50, direct.result.ttfbMs.p50), p99: sub(r.ttfbMs.p99, direct.result.ttfbMs.p99) };
  }
  return out;
}

const healthy = (c) => c && c.chunks.lost === 0 && c.errorCount === 0 && !c.timedOut && c.streamsFailed === 0;

/**
 * The whole report: the classic phases (unless the run had only the repeated ones, `--only-new`)
 * and the repeated phases of every relay, gateway variants included.
 */
function buildReport(args) {
  const { preset, cfg, machine, started, wallSec, targets, results, phases = [], variants = [], relayInfo = {} } = args;
  const repeated = summarizeRepeated(results, ['control', ...(relayInfo.bare ? ['bare'] : []), ...targets.filter((t) => t !== 'control'), ...variants]);
  const classic = Boolean(results.ttfb.direct);
  const json = classic
    ? classicJson(args)
    : { schema: 'holysheep-gateway-bench/1', preset, started: started.toISOString(), wallSec: round3(wallSec), phases, machine, config: cfg, targets, goals: [], notes: [...(results.warnings || [])] };
  json.classic = classic;
  // How the repeated phases were run: the window's settle after the last chunk, the Redis used.
  json.settleAfterMs = args.settleAfterMs;
  json.redis = args.redis;
  json.variants = variants;
  json.relays = relayInfo;
  json.repeated = repeated;
  json.goals.push(...repeatedGoals(repeated));
  return { json, markdown: markdown(json), svg: classic ? svg(json) : null };
}

function classicJson({ preset, cfg, machine, started, wallSec, targets, results, phases = [] }) {
  const sweep = results.sweep.map((row) => {
    const out = { streams: row.streams, direct: condense(row.direct) };
    for (const t of targets) out[t] = condense(row[t], row.direct);
    return out;
  });

  const keyRow = sweep.find((r) => r.streams === cfg.keyLevel) || sweep[sweep.length - 1];
  const burst = {};
  const burstNames = [...new Set(results.burst.map((r) => r.target))];
  for (const t of ['direct', ...targets, ...burstNames.filter((n) => n !== 'direct' && !targets.includes(n))]) {
    const runs = results.burst.filter((r) => r.target === t);
    burst[t] = {
      runs: runs.map((r) => condense(r)),
      // Median over repetitions: without pacing the cost per chunk depends on how many chunks
      // each read and write happens to batch, which varies from run to run (±25% seen), on top
      // of other tenants' noise. All repetitions are listed too.
      cpuSecPer1000Chunks: t === 'direct' ? null : median(runs.map((r) => r.relay.cpuSecPer1000Chunks)),
      cpuSecPer1000ChunksAll: t === 'direct' ? null : runs.map((r) => r.relay.cpuSecPer1000Chunks),
      upstreamCpuSecPer1000Chunks: Math.min(...runs.map((r) => (r.upstream.cpuSec * 1000) / Math.max(1, r.result.chunks.received))),
    };
  }
  const ttfb = {};
  for (const t of ['direct', ...targets]) {
    const r = results.ttfb[t].result;
    ttfb[t] = { ttfbMs: r.ttfbAfterFirstRoundMs, samples: r.ttfbAfterFirstRoundMs.n, errors: r.errors, lost: r.chunks.lost, noisyRerun: results.ttfb[t].noisyRerun };
  }
  for (const t of targets) {
    ttfb[t].addedMs = { p50: sub(ttfb[t].ttfbMs.p50, ttfb.direct.ttfbMs.p50), p99: sub(ttfb[t].ttfbMs.p99, ttfb.direct.ttfbMs.p99) };
  }
  const multiplex = {};
  if (results.multiplex.direct) {
    multiplex.direct = condense(results.multiplex.direct);
    for (const t of targets) multiplex[t] = condense(results.multiplex[t], results.multiplex.direct);
  }

  /** Highest level with added p99 under the ceiling, every lower level passing too, 0 lost. */
  const maxUnderCeiling = (t) => {
    let best = 0;
    for (const row of sweep) {
      const c = row[t];
      if (!c || c.addedMs.p99 === null || c.addedMs.p99 >= TARGET.p99CeilingMs || !healthy(c)) break;
      best = row.streams;
    }
    return best;
  };

  /** The floor itself is not a floor any more: direct p99 ≥ 50 ms or the client saturated. */
  const floorLimited = (row) => row.direct.latencyMs.p99 >= TARGET.p99CeilingMs || row.direct.client.elu >= 0.9;
  const firstLimited = sweep.find(floorLimited);
  const harness = {
    limitedFromStreams: firstLimited ? firstLimited.streams : null,
    note: firstLimited
      ? `from ${firstLimited.streams.toLocaleString('en')} streams the harness alone (fake upstream + load client, no relay) already has p99 ${fmtPlain(firstLimited.direct.latencyMs.p99)} ms, client event loop ${Math.round(firstLimited.direct.client.elu * 100)}% busy: at and above this level the ${machine.cores}-core machine, not the relay, sets the ceiling`
      : null,
  };

  const summary = {};
  for (const t of targets) {
    const k = keyRow[t];
    summary[t] = {
      cpuSecPer1000ChunksBurst: burst[t].cpuSecPer1000Chunks,
      cpuSecPer1000ChunksPaced: k.relay.cpuSecPer1000Chunks,
      addedP50Ms: k.addedMs.p50,
      addedP99Ms: k.addedMs.p99,
      addedP999Ms: k.addedMs.p999,
      lostAtKeyLevel: k.chunks.lost,
      errorsAtKeyLevel: k.errorCount + k.streamsFailed,
      addedTtfbP50Ms: ttfb[t].addedMs.p50,
      addedTtfbP99Ms: ttfb[t].addedMs.p99,
      kibPerIdleConnection: results.idle[t].kibPerConnection,
      kibPerIdleConnectionNoGc: results.idle[t].kibPerConnectionNoGc,
      kibPerActiveStream: results.active[t].kibPerActiveStream,
      kibPerActiveStreamExclSocket: results.active[t].kibPerActiveStreamExclSocket,
      peakRssKiB: results.peakRssKiB[t] || null,
      peakRssMiB: results.peakRssKiB[t] ? round3(results.peakRssKiB[t] / 1024) : null,
      maxStreamsAddedP99Under50Ms: maxUnderCeiling(t),
      // One core ÷ (CPU per chunk × chunks per second per stream): streams at this pacing that a
      // single event loop could relay if it had a core to itself.
      singleCoreCapacityStreams:
        k.relay.cpuSecPer1000Chunks > 0 && cfg.interval > 0 ? Math.round(1 / ((k.relay.cpuSecPer1000Chunks / 1000) * (1000 / cfg.interval))) : null,
    };
  }

  // ---- targets (gateway vs control, same run) ----
  const maxLevel = Math.max(...sweep.map((r) => r.streams));
  const goals = [];
  if (targets.includes('gateway')) {
    const g = summary.gateway;
    const c = summary.control;
    const atKey = keyRow.streams === TARGET.keyLevel;
    goals.push(
      {
        id: 'cpu',
        name: `CPU per 1,000 relayed chunks (burst) ≤ ${TARGET.cpuRatio} × control`,
        gateway: g.cpuSecPer1000ChunksBurst,
        control: c.cpuSecPer1000ChunksBurst,
        unit: 's',
        threshold: c.cpuSecPer1000ChunksBurst === null ? null : round3(TARGET.cpuRatio * c.cpuSecPer1000ChunksBurst),
        met: g.cpuSecPer1000ChunksBurst !== null && c.cpuSecPer1000ChunksBurst !== null ? g.cpuSecPer1000ChunksBurst <= TARGET.cpuRatio * c.cpuSecPer1000ChunksBurst : null,
      },
      {
        id: 'p99',
        name: `Added p99 at ${keyRow.streams.toLocaleString('en')} streams (${cfg.interval} ms) ≤ control, 0 lost`,
        gateway: g.addedP99Ms,
        control: c.addedP99Ms,
        unit: 'ms',
        threshold: c.addedP99Ms,
        note: `gateway: ${g.lostAtKeyLevel} lost, ${g.errorsAtKeyLevel} errors${atKey ? '' : `; the target is defined at ${TARGET.keyLevel.toLocaleString('en')} streams, not run in this preset`}`,
        met: atKey ? g.addedP99Ms !== null && c.addedP99Ms !== null && g.addedP99Ms <= c.addedP99Ms && g.lostAtKeyLevel === 0 && g.errorsAtKeyLevel === 0 : null,
      },
      {
        id: 'ttfb',
        name: `Added time to first chunk p50 ≤ ${TARGET.ttfbAddedP50Ms} ms (low load)`,
        gateway: g.addedTtfbP50Ms,
        control: c.addedTtfbP50Ms,
        unit: 'ms',
        threshold: TARGET.ttfbAddedP50Ms,
        met: g.addedTtfbP50Ms === null ? null : g.addedTtfbP50Ms <= TARGET.ttfbAddedP50Ms,
      },
      {
        id: 'idle',
        name: `RSS per idle connection ≤ ${TARGET.idleKiB} KiB (${results.idle.gateway.sockets.toLocaleString('en')} sockets)`,
        gateway: g.kibPerIdleConnection,
        control: c.kibPerIdleConnection,
        unit: 'KiB',
        threshold: TARGET.idleKiB,
        met: g.kibPerIdleConnection === null ? null : g.kibPerIdleConnection <= TARGET.idleKiB,
      },
      {
        id: 'active',
        name: `RSS per active stream ≤ ${TARGET.activeKiB} KiB (${results.active.gateway.streams.toLocaleString('en')} streams)`,
        gateway: g.kibPerActiveStream,
        control: c.kibPerActiveStream,
        unit: 'KiB',
        threshold: TARGET.activeKiB,
        met: g.kibPerActiveStream === null ? null : g.kibPerActiveStream <= TARGET.activeKiB,
      },
      {
        id: 'cliff',
        name: `Added p99 < ${TARGET.p99CeilingMs} ms (0 lost) up to ≥ ${TARGET.noCliffBelow.toLocaleString('en')} streams`,
        gateway: g.maxStreamsAddedP99Under50Ms,
        control: c.maxStreamsAddedP99Under50Ms,
        unit: 'streams',
        digits: 0,
        threshold: TARGET.noCliffBelow,
        note: [
          maxLevel < TARGET.noCliffBelow ? `highest level tested is ${maxLevel}` : g.maxStreamsAddedP99Under50Ms === maxLevel ? `passes at every level tested (≥ ${maxLevel})` : null,
          harness.note,
        ]
          .filter(Boolean)
          .join('; ') || undefined,
        met: maxLevel < TARGET.noCliffBelow ? null : g.maxStreamsAddedP99Under50Ms >= TARGET.noCliffBelow,
      },
    );
  }

  const notes = [...(results.warnings || []), ...bottleneckNotes(sweep, multiplex, targets, machine, results, harness)];

  const json = {
    schema: 'holysheep-gateway-bench/1',
    preset,
    started: started.toISOString(),
    wallSec: round3(wallSec),
    phases,
    machine,
    config: cfg,
    targets,
    goals,
    summary,
    harness,
    sweep,
    multiplex,
    burst,
    ttfb,
    idle: results.idle,
    active: results.active,
    notes,
  };
  return json;
}

function bottleneckNotes(sweep, multiplex, targets, machine, results, harness) {
  const notes = [];
  const cap = machine.cores * 100;
  if (machine.backgroundBusyPctBeforeRun >= 20) {
    notes.push(`Other processes were using ${Math.round(machine.backgroundBusyPctBeforeRun)}% CPU (of ${cap}%) just before the run: expect noise; the "Others %" column shows it per run.`);
  }
  if (harness.note) notes.push(`Harness ceiling: ${harness.note}. Added figures there are differences between saturated runs; read them as "which relay degrades less", not as the relay's own latency.`);
  const rows = [...sweep.map((r) => [`${r.streams.toLocaleString('en')} stream${r.streams === 1 ? '' : 's'}`, r])];
  if (multiplex.direct) rows.push([`${multiplex.direct.streams.toLocaleString('en')} streams multiplexed`, multiplex]);
  for (const [label, row] of rows) {
    const bits = [];
    const all = ['direct', ...targets].map((t) => [t, row[t]]).filter(([, c]) => c);
    const busy = all.filter(([, c]) => c.machineBusyPct >= cap * 0.9);
    if (busy.length) bits.push(`machine ${busy.map(([t, c]) => `${Math.round(c.machineBusyPct)}% (${t})`).join(', ')} busy of ${cap}%: CPU-saturated, harness and relay compete for the cores`);
    const clientBound = all.filter(([, c]) => c.client.elu >= 0.9);
    if (clientBound.length) bits.push(`load client saturated (event loop ${clientBound.map(([t, c]) => `${Math.round(c.client.elu * 100)}% in ${t}`).join(', ')}): arrival times include its queueing`);
    const late = all.filter(([, c]) => c.upstream.latenessP99Ms !== null && c.upstream.latenessP99Ms > 10);
    if (late.length) bits.push(`fake upstream behind its schedule (p99 ${late.map(([t, c]) => `${fmtPlain(c.upstream.latenessP99Ms)} ms in ${t}`).join(', ')}): offered load below nominal; latency is still measured from the actual send time`);
    const others = all.filter(([, c]) => c.otherCpuPct !== null && c.otherCpuPct >= 25);
    if (others.length) bits.push(`other processes took ${others.map(([t, c]) => `${Math.round(c.otherCpuPct)}% (${t})`).join(', ')} CPU`);
    if (bits.length) notes.push(`${label}: ${bits.join('; ')}.`);
  }
  const reruns = [];
  for (const [label, row] of rows) for (const t of ['direct', ...targets]) if (row[t] && row[t].noisyRerun) reruns.push(`${label} ${t} (kept the ${row[t].noisyRerun.kept} run)`);
  if (reruns.length) notes.push(`Repeated because other processes took ≥ 30% CPU during the first try: ${reruns.join(', ')}.`);
  for (const t of targets) {
    if (results.idle[t] && results.idle[t].connectFailed) notes.push(`Idle test, ${t}: ${results.idle[t].connectFailed} sockets failed to open (${JSON.stringify(results.idle[t].errors)}).`);
  }
  const offsets = [];
  const collect = (c) => c && c.clock && typeof c.clock.offsetMs === 'number' && offsets.push(Math.abs(c.clock.offsetMs));
  for (const row of sweep) ['direct', ...targets].forEach((t) => collect(row[t]));
  if (offsets.length) {
    const worst = Math.max(...offsets);
    notes.push(`Clock check: the load client and the fake upstream agreed within ${fmtPlain(worst)} ms (NTP-style probe, loopback). A constant offset cancels out of every "added" figure anyway.`);
  }
  return notes;
}

const fmtPlain = (v) => (v === null || v === undefined ? '—' : Math.abs(v) >= 100 ? String(Math.round(v)) : String(Math.round(v * 100) / 100));

// ---- Markdown --------------------------------------------------------------------------------
const metMark = (m, notJudged) => (m === true ? '✅ met' : m === false ? '❌ not met' : notJudged ? '➖ not judged' : '➖ not measured');
const errs = (c) => (c ? String(c.errorCount + c.streamsFailed + (c.timedOut ? 1 : 0)) : '—');

function markdown(j) {
  const T = j.targets;
  const hasGw = T.includes('gateway');
  const L = [];
  const m = j.machine;
  L.push(`# Gateway benchmark (${j.preset})`);
  L.push('');
  L.push(
    `${j.started} · ${m.cpuModel} × ${m.cores} cores · ${m.memTotalMiB} MiB · Node ${m.node} · ${m.platform} · load average at start ${m.loadAvgAtStart.join(' / ')} · other processes at start ${fmt(m.backgroundBusyPctBeforeRun, 0)}% CPU · wall time ${fmt(j.wallSec, 1)} s`,
  );
  L.push('');
  L.push(
    `Added = relay percentile − direct percentile at the same concurrency, same run.${j.classic !== false ? ` Sweep: ${j.config.chunks} chunks/stream every ${j.config.interval} ms, one socket per stream.` : ' Only the repeated phases ran (`--only-new`).'} This is a shared ${m.cores}-core machine: compare gateway with control within this run, not numbers across runs.`,
  );
  L.push('');
  if (hasGw) {
    L.push('## Targets (gateway vs control, same run)');
    L.push('');
    L.push('| Target | Gateway | Control | Gateway ÷ control | Threshold | Result |');
    L.push('|---|---:|---:|---:|---:|---|');
    for (const g of j.goals) {
      const d = g.digits === undefined ? 3 : g.digits;
      L.push(`| ${g.name} | ${fmt(g.gateway, d)} ${g.unit} | ${fmt(g.control, d)} ${g.unit} | ${fmt(ratio(g.gateway, g.control))} | ${fmt(g.threshold, d)} ${g.unit} | ${metMark(g.met, g.notJudged)}${g.note ? ` — ${g.note}` : ''} |`);
    }
    L.push('');
  } else {
    L.push('> Gateway not measured in this run (`dist/main.js` missing or `--no-gateway`): direct and control only; no target can be judged.');
    L.push('');
  }

  if (j.classic !== false) classicMarkdown(j, L);
  if (j.repeated) L.push(repeatedMarkdown(j.repeated, j.relays));

  if (j.notes.length) {
    L.push('## Measurement caveats found in this run');
    L.push('');
    for (const n of j.notes) L.push(`- ${n}`);
    L.push('');
  }
  L.push(`${j.classic !== false ? 'Chart: `latest.svg`. ' : ''}Raw figures: \`latest.json\`. How to read them: \`bench/README.md\`.`);
  L.push('');
  return L.join('\n');
}

/** The sections of the classic phases (sweep, bottlenecks, time to first chunk, memory), into `L`. */
function classicMarkdown(j, L) {
  const T = j.targets;
  const hasGw = T.includes('gateway');
  L.push('## Figures');
  L.push('');
  const cols = T.map((t) => t[0].toUpperCase() + t.slice(1));
  L.push(`| Figure | ${cols.join(' | ')}${hasGw ? ' | Gateway ÷ control' : ''} |`);
  L.push(`|---|${T.map(() => '---:').join('|')}${hasGw ? '|---:' : ''}|`);
  const row = (label, key, d = 3) => {
    const vals = T.map((t) => j.summary[t][key]);
    L.push(`| ${label} | ${vals.map((v) => fmt(v, d)).join(' | ')}${hasGw ? ` | ${fmt(ratio(j.summary.gateway[key], j.summary.control[key]))}` : ''} |`);
  };
  const key = j.sweep.find((r) => r.streams === j.config.keyLevel) ? j.config.keyLevel : j.sweep[j.sweep.length - 1].streams;
  row(`CPU s per 1,000 relayed chunks, burst (median of ${j.burst[T[0]].runs.length})`, 'cpuSecPer1000ChunksBurst', 4);
  for (const name of Object.keys(j.burst).filter((n) => n !== 'direct' && !T.includes(n))) {
    const cpu = j.burst[name].cpuSecPer1000Chunks;
    L.push(`| CPU s per 1,000 relayed chunks, burst: ${name} | ${T.map((t) => (t === 'gateway' ? fmt(cpu, 4) : '')).join(' | ')}${hasGw ? ` | ${fmt(ratio(cpu, j.burst.control.cpuSecPer1000Chunks))}` : ''} |`);
  }
  row(`CPU s per 1,000 relayed chunks, paced, ${key} streams`, 'cpuSecPer1000ChunksPaced', 4);
  row(`Added latency p50, ${key} streams (ms)`, 'addedP50Ms');
  row(`Added latency p99, ${key} streams (ms)`, 'addedP99Ms');
  row(`Added latency p99.9, ${key} streams (ms)`, 'addedP999Ms');
  row(`Chunks lost, ${key} streams`, 'lostAtKeyLevel', 0);
  row('Added time to first chunk p50, low load (ms)', 'addedTtfbP50Ms');
  row('Added time to first chunk p99, low load (ms)', 'addedTtfbP99Ms');
  row(`RSS per idle connection (KiB, ${j.idle[T[0]].sockets.toLocaleString('en')} sockets, after forced GC)`, 'kibPerIdleConnection');
  row('RSS per idle connection without forcing GC (KiB)', 'kibPerIdleConnectionNoGc');
  row(`RSS per active stream incl. its socket (KiB, ${j.active[T[0]].streams.toLocaleString('en')} streams)`, 'kibPerActiveStream');
  row('RSS per active stream, socket excluded (KiB)', 'kibPerActiveStreamExclSocket');
  row('Peak RSS (MiB)', 'peakRssMiB');
  row('Highest concurrency with added p99 < 50 ms, 0 lost', 'maxStreamsAddedP99Under50Ms', 0);
  row(`Single-core capacity estimate (streams at ${j.config.interval} ms) = 1 core ÷ paced CPU per chunk`, 'singleCoreCapacityStreams', 0);
  L.push('');

  L.push(`## Latency sweep: per-chunk latency (arrival − upstream send), ms`);
  L.push('');
  L.push(`| Streams | Direct p50 / p99 / p99.9 | ${T.map((t) => `${t} added p50 / p99 / p99.9`).join(' | ')}${hasGw ? ' | p99 gw ÷ ctl' : ''} | Lost ${T.map((t) => t[0]).join(' / ')} | Errors ${T.map((t) => t[0]).join(' / ')} | TTFB p50 d / ${T.map((t) => t[0]).join(' / ')} |`);
  L.push(`|---:|---:|${T.map(() => '---:').join('|')}|${hasGw ? '---:|' : ''}---:|---:|---:|`);
  for (const r of j.sweep) {
    L.push(
      `| ${r.streams.toLocaleString('en')} | ${triple(r.direct.latencyMs)} | ${T.map((t) => triple(r[t].addedMs)).join(' | ')}${hasGw ? ` | ${fmt(ratio(r.gateway.addedMs.p99, r.control.addedMs.p99))}` : ''} | ${T.map((t) => r[t].chunks.lost).join(' / ')} | ${T.map((t) => errs(r[t])).join(' / ')} | ${[r.direct, ...T.map((t) => r[t])].map((c) => fmt(c.ttfbMs.p50)).join(' / ')} |`,
    );
  }
  if (j.multiplex.direct) {
    const r = j.multiplex;
    const s = r[T[0]];
    L.push(
      `| ${s.streams.toLocaleString('en')} on ${s.sockets} socket${s.sockets === 1 ? "" : "s"} | ${triple(r.direct.latencyMs)} | ${T.map((t) => triple(r[t].addedMs)).join(' | ')}${hasGw ? ` | ${fmt(ratio(r.gateway.addedMs.p99, r.control.addedMs.p99))}` : ''} | ${T.map((t) => r[t].chunks.lost).join(' / ')} | ${T.map((t) => errs(r[t])).join(' / ')} | ${[r.direct, ...T.map((t) => r[t])].map((c) => fmt(c.ttfbMs.p50)).join(' / ')} |`,
    );
  }
  L.push('');

  L.push('## Where the time goes (bottleneck check)');
  L.push('');
  L.push(
    `CPU % is of one core (the machine has ${j.machine.cores * 100}%). Upstream lateness = how far behind its pacing schedule the fake upstream wrote (p99). Client ELU = load-client event-loop utilisation (1.0 = saturated). Others = machine busy minus every process of the benchmark: other tenants of the machine. ≈ = under 20 clock ticks of relay CPU, too coarse to compare.`,
  );
  L.push('');
  L.push('| Run | Target | Relay CPU % | Relay CPU s / 1k chunks | Upstream CPU % | Upstream lateness p99 ms | Client CPU % | Client ELU | Machine busy % | Others % |');
  L.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  const bn = (label, t, c) => {
    if (!c) return;
    L.push(
      `| ${label} | ${t} | ${c.relay ? fmt(c.relay.cpuPct, 1) : '—'} | ${c.relay ? `${c.relay.cpuTicks < 20 ? '≈' : ''}${fmt(c.relay.cpuSecPer1000Chunks, 4)}` : '—'} | ${fmt(c.upstream.cpuPct, 1)} | ${fmt(c.upstream.latenessP99Ms)} | ${fmt(c.client.cpuPct, 1)} | ${fmt(c.client.elu)} | ${fmt(c.machineBusyPct, 0)} | ${fmt(c.otherCpuPct, 0)} |`,
    );
  };
  for (const r of j.sweep) for (const t of ['direct', ...T]) bn(`${r.streams} paced`, t, r[t]);
  if (j.multiplex.direct) for (const t of ['direct', ...T]) bn(`${j.multiplex[t].streams} multiplexed`, t, j.multiplex[t]);
  for (const t of Object.keys(j.burst)) j.burst[t].runs.forEach((c, i) => bn(`burst ${c.streams}×${c.chunksPerStream}${j.burst[t].runs.length > 1 ? ` #${i + 1}` : ''}`, t, c));
  L.push('');

  L.push('## Time to first chunk at low load, ms');
  L.push('');
  L.push('| Target | p50 | p99 | Added p50 | Added p99 | Samples |');
  L.push('|---|---:|---:|---:|---:|---:|');
  for (const t of ['direct', ...T]) {
    const x = j.ttfb[t];
    L.push(`| ${t} | ${fmt(x.ttfbMs.p50, 3)} | ${fmt(x.ttfbMs.p99, 3)} | ${x.addedMs ? fmt(x.addedMs.p50, 3) : '—'} | ${x.addedMs ? fmt(x.addedMs.p99, 3) : '—'} | ${x.samples} |`);
  }
  L.push('');

  L.push('## Memory');
  L.push('');
  L.push(`Idle: RSS sampled right after a forced full GC (\`--expose-gc\`, SIGUSR2; same for both relays), before the sockets open and after they have been held ${j.config.idleSettleMs / 1000} s; "no GC" = the same samples without forcing GC. Active: peak RSS while streaming minus the post-GC RSS before connecting.`);
  L.push('');
  L.push('| Target | Idle sockets | RSS before → with sockets (MiB) | KiB / idle connection | KiB / idle connection, no GC | Active streams | RSS before → peak (MiB) | KiB / active stream | Peak RSS (MiB) |');
  L.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const t of T) {
    const i = j.idle[t];
    const a = j.active[t];
    L.push(`| ${t} | ${i.sockets.toLocaleString('en')} | ${fmt(i.rssBeforeKiB / 1024, 1)} → ${fmt(i.rssWithSocketsKiB / 1024, 1)} | ${fmt(i.kibPerConnection)} | ${fmt(i.kibPerConnectionNoGc)} | ${a.streams.toLocaleString('en')} | ${fmt(a.rssBeforeKiB / 1024, 1)} → ${fmt(a.peakRssKiB / 1024, 1)} | ${fmt(a.kibPerActiveStream)} | ${fmt(j.summary[t].peakRssMiB, 1)} |`);
  }
  L.push('');
}

// ---- SVG -------------------------------------------------------------------------------------
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const COLORS = { gateway: '#1f6fd1', control: '#e07b12', direct: '#777777' };

function svg(j) {
  const W = 1000;
  const H = 500;
  const T = j.targets;
  const levels = j.sweep.map((r) => r.streams);
  const panelW = 400;
  const panelH = 280;
  const top = 112;
  const panels = [
    { x: 80, title: 'Added p99 latency per chunk (ms, log scale)', kind: 'lat' },
    { x: 570, title: 'Relay CPU seconds per 1,000 chunks (paced)', kind: 'cpu' },
  ];
  const xs = (i) => (levels.length === 1 ? panelW / 2 : 20 + (i * (panelW - 40)) / (levels.length - 1));
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${W / 2}" y="26" text-anchor="middle" font-size="17" font-weight="bold">Gateway vs control relay — cost added over direct upstream, by concurrency</text>`);
  out.push(
    `<text x="${W / 2}" y="46" text-anchor="middle" fill="#444">${esc(`${j.config.chunks} chunks/stream paced ${j.config.interval} ms, one socket per stream · ${j.machine.cpuModel} × ${j.machine.cores} · Node ${j.machine.node} · ${j.started.slice(0, 16).replace('T', ' ')} UTC`)}</text>`,
  );
  // legend
  let lx = W / 2 - 60 * T.length;
  for (const t of T) {
    out.push(`<line x1="${lx}" y1="66" x2="${lx + 28}" y2="66" stroke="${COLORS[t]}" stroke-width="3"/><circle cx="${lx + 14}" cy="66" r="4" fill="${COLORS[t]}"/>`);
    out.push(`<text x="${lx + 34}" y="70">${t === 'gateway' ? 'gateway (NestJS)' : 'control (ws + fetch)'}</text>`);
    lx += 170;
  }
  const limitedFrom = j.harness && j.harness.limitedFromStreams;
  const firstLimitedIdx = limitedFrom ? levels.indexOf(limitedFrom) : -1;
  if (firstLimitedIdx >= 0) {
    out.push(`<rect x="${lx}" y="59" width="28" height="14" fill="#e9e9e9" stroke="#ccc"/>`);
    out.push(`<text x="${lx + 34}" y="70">harness-limited (direct floor p99 ≥ 50 ms)</text>`);
  }

  for (const p of panels) {
    out.push(`<g transform="translate(${p.x},${top})">`);
    out.push(`<text x="${panelW / 2}" y="-10" text-anchor="middle" font-weight="bold">${esc(p.title)}</text>`);
    out.push(`<rect x="0" y="0" width="${panelW}" height="${panelH}" fill="#fafafa" stroke="#bbb"/>`);
    if (firstLimitedIdx >= 0) {
      const x0 = firstLimitedIdx === 0 ? 0 : (xs(firstLimitedIdx - 1) + xs(firstLimitedIdx)) / 2;
      out.push(`<rect x="${x0.toFixed(1)}" y="0" width="${(panelW - x0).toFixed(1)}" height="${panelH}" fill="#e9e9e9"/>`);
    }
    // series
    const series = {};
    for (const t of T) {
      series[t] = j.sweep.map((r, i) => {
        const c = r[t];
        let v = null;
        if (p.kind === 'lat') v = c.addedMs.p99;
        // CPU from fewer than 20 clock ticks is too coarse to plot.
        else v = c.relay && c.relay.cpuTicks >= 20 ? c.relay.cpuSecPer1000Chunks : null;
        return { i, v, lost: c.chunks.lost + c.errorCount + c.streamsFailed };
      });
    }
    const all = Object.values(series)
      .flat()
      .map((s) => s.v)
      .filter((v) => v !== null);
    let yOf;
    const ticks = [];
    if (p.kind === 'lat') {
      const floor = 0.01;
      const maxV = Math.max(100, ...all);
      const lo = Math.log10(floor);
      const hi = Math.ceil(Math.log10(maxV));
      yOf = (v) => panelH - ((Math.log10(Math.max(v, floor)) - lo) / (hi - lo)) * panelH;
      for (let e = lo; e <= hi; e++) ticks.push({ v: 10 ** e, label: e < 0 ? String(10 ** e) : (10 ** e).toLocaleString('en') });
      // 50 ms ceiling
      const y50 = yOf(50);
      out.push(`<line x1="0" y1="${y50}" x2="${panelW}" y2="${y50}" stroke="#c0392b" stroke-dasharray="6 4"/>`);
      out.push(`<text x="${panelW - 4}" y="${y50 - 4}" text-anchor="end" fill="#c0392b">50 ms ceiling</text>`);
    } else {
      // 15% headroom so the top value label stays inside the panel.
      const maxV = all.length ? Math.max(...all) * 1.15 : 1;
      const step = niceStep(maxV / 4);
      const top2 = Math.ceil(maxV / step) * step || step;
      yOf = (v) => panelH - (v / top2) * panelH;
      for (let v = 0; v <= top2 + 1e-12; v += step) ticks.push({ v, label: fmtTick(v) });
    }
    for (const tk of ticks) {
      const y = yOf(tk.v);
      out.push(`<line x1="0" y1="${y}" x2="${panelW}" y2="${y}" stroke="#e4e4e4"/><text x="-6" y="${y + 4}" text-anchor="end" fill="#333">${tk.label}</text>`);
    }
    levels.forEach((lv, i) => {
      out.push(`<text x="${xs(i)}" y="${panelH + 18}" text-anchor="middle" fill="#333">${lv.toLocaleString('en')}</text>`);
    });
    out.push(`<text x="${panelW / 2}" y="${panelH + 38}" text-anchor="middle">concurrent streams</text>`);
    out.push(
      `<text transform="translate(-52,${panelH / 2}) rotate(-90)" text-anchor="middle">${p.kind === 'lat' ? 'added p99 (ms) — lower is better' : 'CPU s / 1,000 chunks — lower is better'}</text>`,
    );
    // Value labels: the higher series' label above its point, the other's below, so they never collide.
    const highest = (i) => {
      let best = null;
      for (const t of T) {
        const v = series[t][i].v;
        if (v !== null && (best === null || v > series[best][i].v)) best = t;
      }
      return best;
    };
    for (const t of T) {
      const pts = series[t].filter((s) => s.v !== null);
      if (pts.length > 1) out.push(`<polyline fill="none" stroke="${COLORS[t]}" stroke-width="2.5" points="${pts.map((s) => `${xs(s.i).toFixed(1)},${yOf(s.v).toFixed(1)}`).join(' ')}"/>`);
      for (const s of pts) {
        const x = xs(s.i);
        const y = yOf(s.v);
        out.push(`<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="4.5" fill="${s.lost ? '#fff' : COLORS[t]}" stroke="${COLORS[t]}" stroke-width="2"/>`);
        const dy = highest(s.i) === t ? -9 : 17;
        const label = p.kind === 'lat' ? (s.v <= 0 ? `${fmt(s.v)}` : fmt(s.v)) : fmt(s.v, 4);
        out.push(`<text x="${x.toFixed(1)}" y="${(y + dy).toFixed(1)}" text-anchor="middle" font-size="11" fill="${COLORS[t]}">${label}</text>`);
      }
    }
    out.push('</g>');
  }
  const foot = [];
  foot.push('Added = relay percentile − direct-from-upstream percentile at the same concurrency, same run. Hollow marker = chunks lost or errors at that point.');
  foot.push('Latency values ≤ 0.01 ms (noise around zero) are drawn at 0.01. CPU points need ≥ 20 clock ticks (0.2 s) of relay CPU; fewer are omitted.');
  if (T.includes('gateway')) {
    const g = j.summary.gateway.cpuSecPer1000ChunksBurst;
    const c = j.summary.control.cpuSecPer1000ChunksBurst;
    foot.push(`Burst (no pacing) CPU s per 1,000 chunks, median of repetitions: gateway ${fmt(g, 4)}, control ${fmt(c, 4)} (gateway ÷ control ${fmt(ratio(g, c))}; target ≤ 0.8).`);
  }
  foot.forEach((f, i) => out.push(`<text x="${W / 2}" y="${top + panelH + 60 + i * 16}" text-anchor="middle" fill="#555" font-size="11">${esc(f)}</text>`));
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

function niceStep(raw) {
  if (!(raw > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(raw));
  const f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}
const fmtTick = (v) => (v === 0 ? '0' : v >= 1 ? String(Math.round(v * 100) / 100) : v.toPrecision(2).replace(/0+$/, '').replace(/\.$/, ''));

module.exports = { buildReport, markdown, svg, TARGET };

// Re-render latest.md and latest.svg from a results JSON (after changing the presentation):
//   node bench/lib/report.js bench/results/latest.json
if (require.main === module) {
  const fs = require('node:fs');
  const path = require('node:path');
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: node bench/lib/report.js <results.json>\n');
    process.exit(2);
  }
  const json = JSON.parse(fs.readFileSync(file, 'utf8'));
  const dir = path.dirname(file);
  const base = path.basename(file, '.json');
  fs.writeFileSync(path.join(dir, `${base}.md`), markdown(json));
  fs.writeFileSync(path.join(dir, `${base}.svg`), svg(json));
  process.stdout.write(`wrote ${path.join(dir, `${base}.md`)} and ${path.join(dir, `${base}.svg`)}\n`);
}

'use strict';
/**
 * Memory per idle socket: RSS after a full GC (lib/relay-probe.js) before and after N sockets open
 * and are held a second. Forcing the GC keeps pending garbage, which depends on timing, out of it.
 * With the `gateway-deflate` target, its sockets negotiate permessage-deflate (issue 23: the idle
 * target holds with the extension on, for sockets that have not compressed a message yet).
 */
const { HARNESS_BOUND, sweepRelays, runAll } = require('./sweep-common');
const { rssAfterGc } = require('../lib/relays');
const { table, fmt } = require('../lib/markdown');

async function run(ctx) {
  const sockets = ctx.opts.sweep.idle;
  const byRelay = {};
  for (const name of [...sweepRelays(ctx), ...(ctx.relays['gateway-deflate'] ? ['gateway-deflate'] : [])]) {
    const before = await rssAfterGc(ctx.relays[name].pid);
    const onReady = async (relay) => {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      return { rssKiB: await rssAfterGc(relay.pid) };
    };
    const r = (await runAll(ctx, 'idle', [name], { mode: 'idle', streams: sockets, connectConcurrency: 256, ...ctx.relays[name].def.client }, { onReady }))[name];
    const open = r.client.sockets - r.client.connectFailed;
    byRelay[name] = { sockets: open, connectFailed: r.client.connectFailed, rssBeforeKiB: before, rssWithSocketsKiB: r.extra.rssKiB, kibPerSocket: open > 0 ? (r.extra.rssKiB - before) / open : null };
  }
  return { sockets, byRelay };
}

function report(res) {
  return [
    HARNESS_BOUND,
    '',
    ...table(['relay', 'sockets', 'RSS before KiB', 'RSS with sockets KiB', 'KiB per idle socket'], Object.entries(res.byRelay).map(([n, r]) => [n, r.sockets, fmt(r.rssBeforeKiB), fmt(r.rssWithSocketsKiB), fmt(r.kibPerSocket)])),
  ];
}

const check = (res) => Object.entries(res.byRelay).filter(([, r]) => r.connectFailed || r.sockets !== res.sockets || typeof r.kibPerSocket !== 'number').map(([n, r]) => `idle ${n}: ${r.sockets} of ${res.sockets} sockets open, ${r.kibPerSocket} KiB each`);

module.exports = { name: 'idle', title: 'idle sockets RSS', harnessBound: true, run, report, check };

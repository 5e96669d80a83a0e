'use strict';
/**
 * The phases a run can take, in the order they run, and the names `--phases` accepts for groups of
 * them. A phase is { name, title, harnessBound, run(ctx), report(result) → Markdown lines,
 * check(result, ctx) → problems }: the smoke test calls every check.
 */
const PHASES = [require('./steady'), require('./levels'), require('./idle'), require('./burst'), require('./ttfc')];

const GROUPS = {
  steady: ['steady'],
  // The saturation sweep of earlier versions of this benchmark: harness-bound on a 2-CPU machine.
  sweep: ['levels', 'idle', 'burst', 'ttfc'],
  all: PHASES.map((p) => p.name),
};

/** `--phases steady,sweep` → the phase modules, in PHASES order. */
function selectPhases(list) {
  const names = new Set(list.split(',').flatMap((n) => GROUPS[n] || [n]));
  for (const n of names) if (!PHASES.some((p) => p.name === n)) throw new Error(`--phases: no phase or group ${n} (phases: ${PHASES.map((p) => p.name).join(', ')}; groups: ${Object.keys(GROUPS).join(', ')})`);
  return PHASES.filter((p) => names.has(p.name));
}

module.exports = { PHASES, GROUPS, selectPhases };

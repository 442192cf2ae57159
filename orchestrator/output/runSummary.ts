import type { ActionResult, RunSummary } from '../runner/run.js';
import { plainRow, shortName, textTable } from './format.js';
import { formatCount, formatSeconds } from './numbers.js';

export type TransformSummary = RunSummary & { compileSeconds: number };

/** What an action did this run, in words: rows inserted and updated, or how a view or assertion ran. */
function changes(result: ActionResult): string {
  if (result.inserted === undefined) return result.kind === 'assertion' ? (result.status === 'ok' ? 'passed' : 'failed') : result.mode ?? '';
  const inserted = `${formatCount(result.inserted)} inserted`;
  if (result.mode === 'merged') return `${inserted}, ${formatCount(result.updated ?? 0)} updated`;
  if (result.mode === 'created') return `${inserted} (table created)`;
  if (result.mode === 'replaced') return `${inserted} (table rebuilt)`;
  return inserted;
}

/** One line per action as it finishes (stderr). */
export function actionLine(result: ActionResult): string {
  const detail = result.status === 'ok' ? changes(result) : result.error ?? '';
  return `${result.status.padEnd(7)} ${shortName(result.name)} (${result.kind}, ${formatSeconds(result.seconds)}): ${detail}`;
}

/** A run's totals: actions ok, failed and skipped; rows inserted and updated; timings. */
export function runTotals(summary: TransformSummary): string {
  const count = (status: ActionResult['status']) => summary.actions.filter((a) => a.status === status).length;
  const sum = (key: 'inserted' | 'updated') => summary.actions.reduce((total, a) => total + (a.kind === 'incremental' || a.kind === 'table' ? (a[key] ?? 0) : 0), 0);
  return `${summary.actions.length} actions (${count('ok')} ok, ${count('failed')} failed, ${count('skipped')} skipped), ` +
    `${formatCount(sum('inserted'))} rows inserted and ${formatCount(sum('updated'))} updated across the tables, ` +
    `in ${formatSeconds(summary.seconds)} (compile ${formatSeconds(summary.compileSeconds)})`;
}

/** The per-action table of a run (this run's inserts and updates beside each table's rows in total), then what failed. */
export function renderRunSummary(summary: TransformSummary): string {
  const isTable = (a: ActionResult) => a.kind === 'table' || a.kind === 'incremental';
  const rows = summary.actions.map((a) => ({
    action: shortName(a.name), type: a.kind, status: a.status, 'this run': a.status === 'ok' ? changes(a) : '',
    'rows in total': isTable(a) && a.rows !== undefined ? formatCount(a.rows) : '', seconds: formatSeconds(a.seconds),
  }));
  const lines = [textTable(['action', 'type', 'status', 'this run', 'rows in total', 'seconds'], rows), '', `this run: ${runTotals(summary)}`];
  for (const a of summary.actions.filter((r) => r.reported && (r.rows ?? 0) > 0)) lines.push(`reported (not a failure): ${shortName(a.name)} has ${formatCount(a.rows ?? 0)} row(s)`);
  for (const a of summary.actions.filter((r) => r.status !== 'ok')) {
    lines.push(`${a.status.toUpperCase()}: ${shortName(a.name)}: ${a.error}`);
    if (a.sample?.length) lines.push(textTable(Object.keys(a.sample[0]), a.sample).replace(/^/gm, '    '));
  }
  return lines.join('\n');
}

/**
 * A run for --json, at full precision. `rows` is split by meaning: `rowsInTable` (a table's rows in
 * total after the run) or `rowsReturned` (what an assertion or a report view returned); `inserted`
 * and `updated` are this run's.
 */
export function runSummaryJson(summary: TransformSummary) {
  return {
    ok: summary.ok,
    seconds: summary.seconds,
    compileSeconds: summary.compileSeconds,
    actions: summary.actions.map(({ rows, sample, ...action }) => ({
      ...action,
      ...(rows === undefined ? {} : action.kind === 'table' || action.kind === 'incremental' ? { rowsInTable: rows } : { rowsReturned: rows }),
      ...(sample ? { sample: sample.map(plainRow) } : {}),
    })),
  };
}

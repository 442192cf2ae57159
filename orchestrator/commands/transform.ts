import type { CommandModule } from 'yargs';
import { parseVars } from '../config.js';
import type { Selection } from '../dataform/graph.js';
import { plainRow, textTable } from '../output/format.js';
import { transformLocal } from '../runner/local.js';
import type { ActionResult, RunSummary } from '../runner/run.js';
import { type CommonArgs, contextOf, log, print, printJson, shortName, withCommonOptions } from './common.js';

interface TransformArgs extends CommonArgs {
  'full-refresh': boolean;
  actions?: string[];
  tags?: string[];
  'include-deps': boolean;
  'include-dependents': boolean;
  vars?: string[];
}

function progressLine(result: ActionResult): string {
  const rows = result.rows === undefined ? '' : ` ${result.rows} rows`;
  const detail = result.status === 'ok' ? `${result.mode ?? ''}${rows}` : result.error ?? '';
  return `${result.status.padEnd(7)} ${shortName(result.name)} (${result.kind}, ${result.seconds.toFixed(2)}s) ${detail}`;
}

export function renderSummary(summary: RunSummary & { compileSeconds: number }): string {
  const rows = summary.actions.map((a) => ({
    action: shortName(a.name), type: a.kind, status: a.status, mode: a.mode ?? null,
    rows: a.rows === undefined ? null : String(a.rows), seconds: a.seconds.toFixed(3),
  }));
  const lines = [textTable(['action', 'type', 'status', 'mode', 'rows', 'seconds'], rows)];
  const failed = summary.actions.filter((a) => a.status !== 'ok');
  const reported = summary.actions.filter((a) => a.reported && (a.rows ?? 0) > 0);
  lines.push('', `${summary.actions.length} actions: ${summary.actions.length - failed.length} ok, ` +
    `${failed.filter((a) => a.status === 'failed').length} failed, ${failed.filter((a) => a.status === 'skipped').length} skipped; ` +
    `execution ${summary.seconds.toFixed(2)}s (compile ${summary.compileSeconds.toFixed(2)}s)`);
  for (const a of reported) lines.push(`reported (not a failure): ${shortName(a.name)} has ${a.rows} row(s)`);
  for (const a of failed) {
    lines.push(`${a.status.toUpperCase()}: ${shortName(a.name)}: ${a.error}`);
    if (a.sample?.length) lines.push(textTable(Object.keys(a.sample[0]!), a.sample).replace(/^/gm, '    '));
  }
  return lines.join('\n');
}

export function summaryJson(summary: RunSummary & { compileSeconds: number }) {
  return {
    ok: summary.ok,
    seconds: summary.seconds,
    compileSeconds: summary.compileSeconds,
    actions: summary.actions.map((a) => ({ ...a, sample: a.sample?.map(plainRow) })),
  };
}

export function selectionOptions<T>(yargs: import('yargs').Argv<T>) {
  return yargs
    .option('actions', { type: 'string', array: true, describe: 'Run only these actions (name, dataset.name or project.dataset.name)' })
    .option('tags', { type: 'string', array: true, describe: 'Run only actions with these tags' })
    .option('include-deps', { type: 'boolean', default: false, describe: 'Also run the dependencies of the selected actions' })
    .option('include-dependents', { type: 'boolean', default: false, describe: 'Also run the actions that depend on the selected ones' })
    .option('vars', { type: 'string', array: true, describe: 'Override Dataform vars: key=value[,key=value]' });
}

export function selectionOf(args: Omit<TransformArgs, 'full-refresh'>): Selection {
  return { actions: args.actions, tags: args.tags, includeDependencies: args['include-deps'], includeDependents: args['include-dependents'] };
}

async function runAndReport(args: Omit<TransformArgs, 'full-refresh'>, selection: Selection, fullRefresh: boolean): Promise<void> {
  const context = contextOf(args);
  const summary = await transformLocal({
    project: context.project,
    workdir: context.workdir,
    selection,
    fullRefresh,
    vars: parseVars(args.vars),
    onActionDone: (result) => log(progressLine(result)),
  });
  if (context.json) printJson(summaryJson(summary));
  else print(renderSummary(summary));
  if (!summary.ok) process.exitCode = 1;
}

export const transformCommand: CommandModule<object, TransformArgs> = {
  command: 'transform',
  describe: 'Run the Dataform graph on the local DuckDB warehouse (tables, incremental merges, assertions)',
  builder: (yargs) =>
    selectionOptions(withCommonOptions(yargs))
      .option('full-refresh', { type: 'boolean', default: false, describe: 'Rebuild incremental tables from scratch' }),
  handler: (args) => runAndReport(args, selectionOf(args), args['full-refresh']),
};

export const assertCommand: CommandModule<object, Omit<TransformArgs, 'full-refresh'>> = {
  command: 'assert',
  describe: 'Run only the assertions on the local warehouse',
  builder: (yargs) => selectionOptions(withCommonOptions(yargs)),
  // Selecting a table means checking the assertions that depend on it.
  handler: (args) => runAndReport(args, { ...selectionOf(args), includeDependents: true, assertionsOnly: true }, false),
};

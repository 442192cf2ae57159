import type { CommandModule } from 'yargs';
import path from 'node:path';
import { parseVars } from '../config.js';
import { UserError } from '../errors.js';
import { gcpClients } from '../gcp/clients.js';
import { planDataformRun, runDataform, writeCredentialsFile } from '../gcp/dataform.js';
import { checkLocation } from '../gcp/location.js';
import { resolveGcpSettings } from '../gcp/settings.js';
import type { Selection } from '../dataform/graph.js';
import { plainRow, textTable } from '../output/format.js';
import { transformLocal } from '../runner/local.js';
import type { ActionResult, RunSummary } from '../runner/run.js';
import { withWorkdirLock } from '../workdir/lock.js';
import { type CommonArgs, type TargetArgs, contextOf, log, print, printJson, shortName, withCommonOptions, withTargetOptions, withVarsOption } from './common.js';

interface TransformArgs extends CommonArgs, TargetArgs {
  'dry-run': boolean;
  'print-command': boolean;
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
    if (a.sample?.length) lines.push(textTable(Object.keys(a.sample[0]), a.sample).replace(/^/gm, '    '));
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
  return withVarsOption(withTargetOptions(yargs))
    .option('dry-run', { type: 'boolean', default: false, describe: "With --target gcp: Dataform's own --dry-run (BigQuery validates each statement and estimates its bytes; nothing is written). Offline: 'orchestrator check --cost'" })
    .option('print-command', { type: 'boolean', default: false, describe: 'With --target gcp: print the dataform run command instead of running it' })
    .option('actions', { type: 'string', array: true, describe: 'Run only these actions (name, dataset.name or project.dataset.name)' })
    .option('tags', { type: 'string', array: true, describe: 'Run only actions with these tags' })
    .option('include-deps', { type: 'boolean', default: false, describe: 'Also run the dependencies of the selected actions' })
    .option('include-dependents', { type: 'boolean', default: false, describe: 'Also run the actions that depend on the selected ones' });
}

export function selectionOf(args: Omit<TransformArgs, 'full-refresh'>): Selection {
  return { actions: args.actions, tags: args.tags, includeDependencies: args['include-deps'], includeDependents: args['include-dependents'] };
}

/**
 * On Google Cloud the models run with the Dataform CLI itself. --print-command prints the command
 * instead, after writing the credentials file it reads, so that it runs as printed.
 */
async function runOnBigQuery(args: Omit<TransformArgs, 'full-refresh'>, selection: Selection, fullRefresh: boolean): Promise<void> {
  const { project, workdir, json } = contextOf(args);
  const settings = resolveGcpSettings(project, args);
  const credentialsFile = path.join(workdir.dir, '.df-credentials.json');
  const run = await planDataformRun(project, settings, { selection, fullRefresh, vars: parseVars(args.vars), credentialsFile, dryRun: args['dry-run'],
    step: selection.assertionsOnly ? 'assert' : 'transform' });
  writeCredentialsFile(credentialsFile, settings);
  if (args['print-command']) {
    log(`wrote ${credentialsFile} (project and location, no secret), which the command reads`);
    if (json) printJson({ command: run.command, actions: run.actions, dryRun: args['dry-run'], credentials: { file: credentialsFile, projectId: settings.projectId, location: settings.location } });
    else print(run.command.map((part) => (/[\s'"]/.test(part) ? JSON.stringify(part) : part)).join(' '));
    return;
  }
  const clients = gcpClients(settings);
  try {
    await checkLocation(project, settings, clients.bigquery);
  } finally {
    await clients.close();
  }
  log(`running ${run.actions.length} action${run.actions.length === 1 ? '' : 's'} on BigQuery in ${settings.projectId} (${settings.location}) with the Dataform CLI`);
  const { code, ranNothing } = await runDataform(run.command);
  if (json) printJson({ ok: code === 0 && !ranNothing, exitCode: code, actions: run.actions, command: run.command });
  if (ranNothing) throw new UserError(`dataform run selected none of the ${run.actions.length} actions it was given: nothing ran`);
  if (code !== 0) throw new UserError(`dataform run failed (exit ${code}): its output above says why`, code);
}

async function runAndReport(args: Omit<TransformArgs, 'full-refresh'>, selection: Selection, fullRefresh: boolean): Promise<void> {
  if (args.target === 'gcp') return runOnBigQuery(args, selection, fullRefresh);
  if (args['dry-run'] || args['print-command']) {
    throw new UserError(`--${args['dry-run'] ? 'dry-run' : 'print-command'} needs --target gcp; offline, 'orchestrator check --cost' estimates what each statement scans`);
  }
  const context = contextOf(args);
  const summary = await withWorkdirLock(context.workdir, selection.assertionsOnly ? 'assert' : 'transform', () => transformLocal({
    project: context.project,
    workdir: context.workdir,
    selection,
    fullRefresh,
    vars: parseVars(args.vars),
    onActionDone: (result) => log(progressLine(result)),
  }));
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

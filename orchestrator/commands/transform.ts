import type { Argv, CommandModule } from 'yargs';
import type { Selection } from '../dataform/graph.js';
import { UserError } from '../errors.js';
import { resolveGcpSettings } from '../gcp/settings.js';
import { planBigQueryTransform, runBigQueryTransform } from '../gcp/transform.js';
import { actionLine, renderRunSummary, runSummaryJson } from '../output/runSummary.js';
import { transformLocal } from '../runner/local.js';
import { throwIfInterrupted } from '../runner/run.js';
import { withWorkdirLock } from '../workdir/lock.js';
import { type CommonArgs, type TargetArgs, abortOnInterrupt, contextOf, log, parseVars, print, printJson, withCommonOptions, withTargetOptions, withVarsOption } from './common.js';

interface SelectionArgs extends CommonArgs, TargetArgs {
  'dry-run': boolean;
  'print-command': boolean;
  actions?: string[];
  tags?: string[];
  'include-deps': boolean;
  'include-dependents': boolean;
  vars?: string[];
}

interface TransformArgs extends SelectionArgs {
  'full-refresh': boolean;
}

function selectionOptions<T>(yargs: Argv<T>) {
  return withVarsOption(withTargetOptions(yargs))
    .option('dry-run', { type: 'boolean', default: false, describe: "With --target gcp: Dataform's own --dry-run (BigQuery validates each statement and estimates its bytes; nothing is written). Offline: 'orchestrator check --cost'" })
    .option('print-command', { type: 'boolean', default: false, describe: 'With --target gcp: print the dataform run command instead of running it' })
    .option('actions', { type: 'string', array: true, describe: 'Run only these actions (name, dataset.name or project.dataset.name)' })
    .option('tags', { type: 'string', array: true, describe: 'Run only actions with these tags' })
    .option('include-deps', { type: 'boolean', default: false, describe: 'Also run the dependencies of the selected actions' })
    .option('include-dependents', { type: 'boolean', default: false, describe: 'Also run the actions that depend on the selected ones' });
}

const selectionOf = (args: SelectionArgs): Selection =>
  ({ actions: args.actions, tags: args.tags, includeDependencies: args['include-deps'], includeDependents: args['include-dependents'] });

/** On Google Cloud the models run with the Dataform CLI itself; --print-command prints that command instead. */
async function onBigQuery(args: SelectionArgs, selection: Selection, fullRefresh: boolean): Promise<void> {
  const { project, workdir, json } = contextOf(args);
  const settings = resolveGcpSettings(project, args);
  const dryRun = args['dry-run'];
  const step = selection.assertionsOnly ? 'assert' : 'transform';
  const run = await planBigQueryTransform(project, workdir, settings, { selection, fullRefresh, vars: parseVars(args.vars), dryRun, step });
  if (args['print-command']) {
    log(`wrote ${run.credentialsFile} (project and location, no secret), which the command reads`);
    if (json) printJson({ command: run.command, actions: run.actions, dryRun, credentials: { file: run.credentialsFile, projectId: settings.projectId, location: settings.location } });
    else print(run.command.map((part) => (/[\s'"]/.test(part) ? JSON.stringify(part) : part)).join(' '));
    return;
  }
  log(`running ${run.actions.length} action${run.actions.length === 1 ? '' : 's'} on BigQuery in ${settings.projectId} (${settings.location}) with the Dataform CLI`);
  const { exitCode } = await runBigQueryTransform(project, settings, run);
  if (json) printJson({ ok: exitCode === 0, exitCode, actions: run.actions, command: run.command });
  if (exitCode !== 0) throw new UserError(`dataform run failed (exit ${exitCode}): its output above says why`, exitCode);
}

async function onDuckDb(args: SelectionArgs, selection: Selection, fullRefresh: boolean): Promise<void> {
  if (args['dry-run'] || args['print-command']) {
    throw new UserError(`--${args['dry-run'] ? 'dry-run' : 'print-command'} needs --target gcp; offline, 'orchestrator check --cost' estimates what each statement scans`);
  }
  const { project, workdir, json } = contextOf(args);
  const signal = abortOnInterrupt('interrupted: finishing the action in hand, skipping the rest');
  const summary = await withWorkdirLock(workdir, selection.assertionsOnly ? 'assert' : 'transform', () =>
    transformLocal({ project, workdir, selection, fullRefresh, vars: parseVars(args.vars), signal, onActionDone: (result) => log(actionLine(result)) }));
  if (json) printJson(runSummaryJson(summary));
  else print(renderRunSummary(summary));
  throwIfInterrupted(summary, signal);
  if (!summary.ok) process.exitCode = 1;
}

const runOn = (args: SelectionArgs, selection: Selection, fullRefresh: boolean) =>
  (args.target === 'gcp' ? onBigQuery : onDuckDb)(args, selection, fullRefresh);

export const transformCommand: CommandModule<object, TransformArgs> = {
  command: 'transform',
  describe: 'Run the Dataform graph on the local DuckDB warehouse (tables, incremental merges, assertions), or on BigQuery with --target gcp',
  builder: (yargs) =>
    selectionOptions(withCommonOptions(yargs))
      .option('full-refresh', { type: 'boolean', default: false, describe: 'Rebuild incremental tables from scratch' }),
  handler: (args) => runOn(args, selectionOf(args), args['full-refresh']),
};

export const assertCommand: CommandModule<object, SelectionArgs> = {
  command: 'assert',
  describe: 'Run only the assertions (of the selected actions, if any), locally or with --target gcp',
  builder: (yargs) => selectionOptions(withCommonOptions(yargs)),
  // Selecting a table means checking the assertions that depend on it.
  handler: (args) => runOn(args, { ...selectionOf(args), includeDependents: true, assertionsOnly: true }, false),
};

import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ProjectConfig } from '../config.js';
import { compileProject, dataformCliPath, formatVars } from '../dataform/compile.js';
import { type Selection, actionsInDependencyOrder, requireCommitDependencies, selectActions } from '../dataform/graph.js';
import { type JobStep, jobLabels } from './labels.js';
import type { GcpSettings } from './settings.js';

export interface DataformRunOptions {
  selection: Selection;
  fullRefresh: boolean;
  vars: Record<string, string>;
  credentialsFile: string;
  /** Dataform's --dry-run: BigQuery validates and estimates every statement, nothing is written. */
  dryRun?: boolean;
  /** The `step` job label of every BigQuery job the run starts. */
  step: Extract<JobStep, 'transform' | 'assert'>;
}

export interface DataformRun {
  /** The `dataform run` command line. */
  command: string[];
  /** What it runs: every selected action by its full name, in dependency order. */
  actions: string[];
}

/** The compile vars of a run on BigQuery: the given ones, and the engine. */
export const bigqueryVars = (vars: Record<string, string>): Record<string, string> => ({ ...vars, engine: 'bigquery' });

/**
 * The `dataform run` command line that runs the models on BigQuery: the same project and vars as
 * locally, with `engine=bigquery`, the Google Cloud project as default database and the location.
 * `--job-labels` (Dataform CLI 3.0.69) puts `pipeline` and `step` on every query job of every action
 * (merged with an action's own `bigquery.labels`); the one job it leaves unlabelled is the
 * `create schema if not exists` it runs for a missing dataset, which `provision` makes needless.
 *
 * The selection is resolved here, on the project compiled exactly as the run will compile it, with
 * the same rules as the local runner, and handed to Dataform as full `project.dataset.name`s: that is
 * the only dotted form `dataform run --actions` matches (a `dataset.name` silently selects nothing),
 * and it never hits Dataform's "ambiguous name" error. A selection of nothing is an error here.
 */
export async function planDataformRun(project: ProjectConfig, settings: GcpSettings, options: DataformRunOptions): Promise<DataformRun> {
  const vars = bigqueryVars(options.vars);
  const formattedVars = formatVars(vars);
  const graph = await compileProject(project.projectDir, vars, { defaultDatabase: settings.projectId, defaultLocation: settings.location });
  const ordered = actionsInDependencyOrder(graph);
  const selected = selectActions(ordered, options.selection);
  requireCommitDependencies(ordered, selected);
  const actions = selected.map((a) => a.name);
  const command = [process.execPath, dataformCliPath(), 'run', project.projectDir, `--credentials=${options.credentialsFile}`,
    `--default-database=${settings.projectId}`, `--default-location=${settings.location}`, `--vars=${formattedVars}`,
    `--job-labels=${formatVars(jobLabels(project, options.step))}`];
  if (options.fullRefresh) command.push('--full-refresh');
  if (options.dryRun) command.push('--dry-run');
  command.push('--actions', ...actions);
  return { command, actions };
}

/**
 * Dataform's credentials file for BigQuery. It names the project and location only: the key itself
 * comes from Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS or gcloud's), so no
 * secret is copied anywhere. Written in the work directory (git-ignored), readable by the owner only.
 */
export function writeCredentialsFile(file: string, settings: GcpSettings): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify({ projectId: settings.projectId, location: settings.location }, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
}

/** What `dataform run` prints, and exits 0 with, when its selection matched nothing. */
const NOTHING_TO_RUN = /^No actions to run\./m;

/**
 * Runs the command. Dataform's progress is a log: it is passed on to stderr, leaving stdout to this
 * command's own output, and read on the way for Dataform's "No actions to run.", which it reports
 * with exit code 0.
 */
export function runDataform(command: string[]): Promise<{ code: number; ranNothing: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command[0], command.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
    let ranNothing = false;
    let tail = '';
    child.stdout.on('data', (chunk: Buffer) => {
      process.stderr.write(chunk);
      // The phrase may straddle two chunks: keep the end of the previous one.
      tail = (tail + chunk.toString('utf8')).slice(-4096);
      // eslint-disable-next-line no-control-regex -- strips the ANSI colour codes (ESC [ … m) Dataform writes
      if (NOTHING_TO_RUN.test(tail.replace(/\x1b\[[0-9;]*m/g, ''))) ranNothing = true;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, ranNothing }));
  });
}

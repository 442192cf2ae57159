import path from 'node:path';
import type { ProjectConfig, Workdir } from '../config.js';
import type { Selection } from '../dataform/graph.js';
import { UserError } from '../errors.js';
import { gcpClients } from './clients.js';
import { type DataformRun, planDataformRun, runDataform, writeCredentialsFile } from './dataform.js';
import { checkLocation } from './location.js';
import type { GcpSettings } from './settings.js';

export interface BigQueryTransformOptions {
  selection: Selection;
  fullRefresh: boolean;
  vars: Record<string, string>;
  /** Dataform's --dry-run: BigQuery validates and estimates each statement; nothing is written. */
  dryRun: boolean;
  /** The `step` job label of every BigQuery job the run starts. */
  step: 'transform' | 'assert';
}

export interface PlannedTransform extends DataformRun {
  /** The credentials file the command reads (project and location; no secret). */
  credentialsFile: string;
}

/**
 * The `dataform run` command for the selection, with the credentials file it reads written in the
 * work directory, so that the command also runs as printed.
 */
export async function planBigQueryTransform(project: ProjectConfig, workdir: Workdir, settings: GcpSettings, options: BigQueryTransformOptions): Promise<PlannedTransform> {
  const credentialsFile = path.join(workdir.dir, '.df-credentials.json');
  const run = await planDataformRun(project, settings, { ...options, credentialsFile });
  writeCredentialsFile(credentialsFile, settings);
  return { ...run, credentialsFile };
}

/**
 * Runs a planned transform with the Dataform CLI, once the datasets are checked to be in the
 * resolved location. Dataform's exit code is returned; a run that selected nothing is an error.
 */
export async function runBigQueryTransform(project: ProjectConfig, settings: GcpSettings, run: DataformRun): Promise<{ exitCode: number }> {
  const clients = gcpClients(settings);
  try {
    await checkLocation(project, settings, clients.bigquery);
  } finally {
    await clients.close();
  }
  const { code, ranNothing } = await runDataform(run.command);
  if (ranNothing) throw new UserError(`dataform run selected none of the ${run.actions.length} actions it was given: nothing ran`);
  return { exitCode: code };
}

import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ProjectConfig } from '../config.js';
import { dataformCliPath } from '../dataform/compile.js';
import type { Selection } from '../dataform/graph.js';
import type { GcpSettings } from './settings.js';

export interface DataformRunOptions {
  selection: Selection;
  fullRefresh: boolean;
  vars: Record<string, string>;
  credentialsFile: string;
  /** Dataform's --dry-run: BigQuery validates and estimates every statement, nothing is written. */
  dryRun?: boolean;
}

/**
 * The `dataform run` command line that runs the models on BigQuery: the same project and vars as
 * locally, with `engine=bigquery`, the Google Cloud project as default database and the location.
 */
export function dataformRunCommand(project: ProjectConfig, settings: GcpSettings, options: DataformRunOptions): string[] {
  const cli = dataformCliPath();
  const vars = Object.entries({ ...options.vars, engine: 'bigquery' }).map(([k, v]) => `${k}=${v}`).join(',');
  const args = [process.execPath, cli, 'run', project.projectDir, `--credentials=${options.credentialsFile}`,
    `--default-database=${settings.projectId}`, `--default-location=${settings.location}`, `--vars=${vars}`];
  if (options.fullRefresh) args.push('--full-refresh');
  if (options.dryRun) args.push('--dry-run');
  if (options.selection.actions?.length) args.push('--actions', ...options.selection.actions);
  if (options.selection.tags?.length) args.push('--tags', ...options.selection.tags);
  if (options.selection.includeDependencies) args.push('--include-deps');
  if (options.selection.includeDependents) args.push('--include-dependents');
  return args;
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

export function runDataform(command: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    // Dataform's progress is a log: it goes to stderr, leaving stdout to this command's own output.
    const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', process.stderr, 'inherit'] });
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? 1));
  });
}

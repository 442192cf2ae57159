import type { Argv } from 'yargs';
import { PACKAGE_ROOT, loadProjectConfig, resolveWorkdir, type ProjectConfig, type Workdir } from '../config.js';
import type { GcpOptions } from '../gcp/settings.js';

export interface CommonArgs {
  workdir: string;
  'project-dir': string;
  json: boolean;
}

export function withCommonOptions<T>(yargs: Argv<T>): Argv<T & CommonArgs> {
  return yargs
    .option('workdir', {
      type: 'string',
      default: '.orchestrator',
      describe: 'Folder holding local state (DuckDB warehouse, emulator pid, bucket folder)',
    })
    .option('project-dir', {
      type: 'string',
      default: PACKAGE_ROOT,
      defaultDescription: 'this repository',
      describe: 'The Dataform project (folder with dataform.json)',
    })
    .option('json', { type: 'boolean', default: false, describe: 'Print structured JSON on stdout' });
}

export interface Context {
  project: ProjectConfig;
  workdir: Workdir;
  json: boolean;
}

export function contextOf(args: CommonArgs): Context {
  return { project: loadProjectConfig(args['project-dir']), workdir: resolveWorkdir(args.workdir), json: args.json };
}

/** Logs and progress go to stderr; stdout carries data only. */
export function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

export function print(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

export function printJson(value: unknown): void {
  print(JSON.stringify(value, null, 2));
}

export const shortName = (fullName: string) => fullName.split('.').slice(1).join('.');

export interface TargetArgs extends GcpOptions {
  target: 'local' | 'gcp';
}

/** --target and the Google Cloud settings, shared by the commands that can run on either. */
export function withTargetOptions<T>(yargs: Argv<T>): Argv<T & TargetArgs> {
  return yargs
    .option('target', { choices: ['local', 'gcp'] as const, default: 'local' as const, describe: 'Run locally (emulator, DuckDB) or on Google Cloud' })
    .option('project', { type: 'string', describe: 'Google Cloud project (default: $GOOGLE_CLOUD_PROJECT)' })
    .option('location', { type: 'string', describe: "BigQuery and bucket location (default: dataform.json's defaultLocation)" })
    .option('project-number', { type: 'string', describe: 'Project number, for the Pub/Sub service agent (default: looked up)' })
    .option('partition-expiration-days', { type: 'number', describe: 'Delete raw partitions older than this (default 400: BigQuery allows 10,000 hourly partitions)' })
    .option('landing', { choices: ['bigquery', 'pull'], describe: "How raw rows land on Google Cloud: a BigQuery subscription, or a pull subscription that 'sink --target gcp' drains" })
    .option('config', { type: 'string', describe: 'JSON file with projectId, location, projectNumber, rawPartitionExpirationDays, landing' }) as Argv<T & TargetArgs>;
}

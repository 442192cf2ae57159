import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Argv } from 'yargs';
import { PACKAGE_ROOT, loadProjectConfig, resolveWorkdir, type ProjectConfig, type Workdir } from '../config.js';
import { UserError } from '../errors.js';
import type { GcpOptions } from '../gcp/settings.js';
import { MEMORY_ENV, parseMemorySize } from '../warehouse/memory.js';

export interface CommonArgs {
  workdir: string;
  'project-dir': string;
  json: boolean;
  memory?: string;
}

const shown = (value: number) => (Number.isNaN(value) ? 'a value that is not a number' : String(value));

/** yargs coerce for a count or an index: a whole number no smaller than `min`. */
export function wholeNumber(flag: string, min: number) {
  return (value: number): number => {
    if (!Number.isSafeInteger(value) || value < min) throw new UserError(`--${flag} must be a whole number >= ${min}, got ${shown(value)}`);
    return value;
  };
}

/** yargs coerce for a duration, speed or size: a finite number above zero. */
export function positiveNumber(flag: string) {
  return (value: number): number => {
    if (!Number.isFinite(value) || value <= 0) throw new UserError(`--${flag} must be a positive number, got ${shown(value)}`);
    return value;
  };
}

/** yargs coerce for a share of something: a number from 0 to 1. */
export function share(flag: string) {
  return (value: number): number => {
    if (!(value >= 0 && value <= 1)) throw new UserError(`--${flag} must be a number from 0 to 1, got ${shown(value)}`);
    return value;
  };
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
    .option('json', { type: 'boolean', default: false, describe: 'Print structured JSON on stdout' })
    .option('memory', {
      type: 'string',
      describe: `Memory DuckDB may use before it spills to the work directory, e.g. 4GB (same as $${MEMORY_ENV}; default: half the machine's memory or cgroup limit)`,
      coerce: (value: string) => parseMemorySize(value, '--memory'),
    });
}

export interface Context {
  project: ProjectConfig;
  workdir: Workdir;
  json: boolean;
}

/** The nearest existing part of the work directory's path must be a folder: say so before mkdir fails with a bare EEXIST. */
function checkWorkdir(dir: string): void {
  for (let current = dir; ; current = path.dirname(current)) {
    if (existsSync(current)) {
      if (!statSync(current).isDirectory()) throw new UserError(`--workdir ${dir}: ${current} is a file, not a folder`);
      return;
    }
    if (path.dirname(current) === current) return;
  }
}

export function contextOf(args: CommonArgs): Context {
  const workdir = resolveWorkdir(args.workdir);
  checkWorkdir(workdir.dir);
  // --memory is the environment variable for one command: every warehouse the command opens (up
  // opens several, check --cost opens copies) reads it from there.
  if (args.memory) process.env[MEMORY_ENV] = args.memory;
  return { project: loadProjectConfig(args['project-dir']), workdir, json: args.json };
}

/**
 * The vars `--vars` may override: the models' tuning knobs, read by includes/increment.js, which
 * checks their values. The other vars in dataform.json name resources (the orchestrator provisions
 * and reads them from there) or the engine (set by --target), so a run cannot change them.
 */
export const RUN_VARS = ['horizonDays', 'orderIdPartitionStart', 'orderIdPartitionEnd', 'orderIdPartitionInterval'] as const;

/**
 * `--vars` as Dataform's syntax takes it: key=value pairs, so no ',' or '=' in a value (Dataform
 * would cut it short in silence), each a var a run may set, each once.
 */
export function parseVars(values: string[] | undefined): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const pair of (values ?? []).flatMap((v) => v.split(','))) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=([^=]+)$/.exec(pair.trim());
    if (!match) throw new UserError(`--vars takes key=value pairs separated by commas, with no '=' or ',' in a value; got ${JSON.stringify(pair)}`);
    const [, key, value] = match;
    if (!(RUN_VARS as readonly string[]).includes(key)) throw new UserError(`--vars: unknown var ${key}; a run can set ${RUN_VARS.join(', ')}`);
    if (Object.hasOwn(vars, key)) throw new UserError(`--vars: ${key} is given twice`);
    vars[key] = value;
  }
  return vars;
}

export function withVarsOption<T>(yargs: Argv<T>): Argv<T & { vars?: string[] }> {
  return yargs.option('vars', {
    type: 'string', array: true,
    // Checked while yargs parses, so a bad value is a usage error (exit 2); handlers call parseVars for the object.
    coerce: (values: string[]) => { parseVars(values); return values; },
    describe: `Override Dataform vars: key=value[,key=value] (${RUN_VARS.join(', ')})`,
  });
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
    .option('partition-expiration-days', { type: 'number', coerce: wholeNumber('partition-expiration-days', 1), describe: 'Delete raw partitions older than this (default 400: BigQuery allows 10,000 hourly partitions)' })
    .option('landing', { choices: ['bigquery', 'pull'], describe: "How raw rows land on Google Cloud: a BigQuery subscription, or a pull subscription that 'sink --target gcp' drains" })
    .option('config', { type: 'string', describe: 'JSON file with projectId, location, projectNumber, rawPartitionExpirationDays, landing' });
}

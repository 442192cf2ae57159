import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Argv } from 'yargs';
import { PACKAGE_ROOT, loadProjectConfig, resolveWorkdir, type ProjectConfig, type Workdir } from '../config.js';
import { UserError } from '../errors.js';
import type { GcpOptions } from '../gcp/settings.js';
import { MEMORY_ENV, parseMemorySize } from '../warehouse/memory.js';

export interface CommonArgs {
  workdir: string;
  'project-dir'?: string;
  json: boolean;
  memory?: string;
}

const shown = (value: number) => (Number.isNaN(value) ? 'a value that is not a number' : String(value));

/** yargs coerce for a count or an index: a whole number no smaller than `min` (and no larger than `max`). */
export function wholeNumber(flag: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: number): number => {
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new UserError(`--${flag} must be a whole number ${max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`}, got ${shown(value)}`);
    }
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

export interface CommonOptionsFor {
  /** The command opens the DuckDB warehouse: it takes --memory. */
  warehouse?: boolean;
  /** The command reads the Dataform project (dataform.json): it takes --project-dir. */
  project?: boolean;
}

/** --workdir and --json, plus --project-dir and --memory for the commands that read the project and open the warehouse. */
export function withCommonOptions<T>(yargs: Argv<T>, uses: CommonOptionsFor = {}): Argv<T & CommonArgs> {
  let common = yargs
    .option('workdir', {
      type: 'string',
      default: '.orchestrator',
      // An empty value (an unset shell variable) would mean the current folder: state strewn where the user stands.
      coerce: (value: string) => {
        if (value.trim() === '') throw new UserError('--workdir must name a folder, got an empty value');
        return value;
      },
      describe: 'Folder holding local state (DuckDB warehouse, emulator pid, bucket folder)',
    })
    .option('json', { type: 'boolean', default: false, describe: 'Print structured JSON on stdout' });
  if (uses.project ?? true) {
    common = common.option('project-dir', {
      type: 'string',
      default: PACKAGE_ROOT,
      defaultDescription: 'this repository',
      describe: 'The Dataform project (folder with dataform.json)',
    });
  }
  if (uses.warehouse ?? true) {
    common = common.option('memory', {
      type: 'string',
      describe: `Memory DuckDB may use before it spills to the work directory, e.g. 4GB (same as $${MEMORY_ENV}; default: 512MiB, raised to half the machine's memory or cgroup limit for a statement that needs more)`,
      coerce: (value: string) => parseMemorySize(value, '--memory'),
    });
  }
  // --project-dir and --memory are optional in CommonArgs: contextOf defaults what a command leaves out.
  return common;
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
  return { project: loadProjectConfig(args['project-dir'] ?? PACKAGE_ROOT), workdir, json: args.json };
}

/**
 * The vars `--vars` may override: the models' tuning knobs, read by includes/increment.js, which
 * checks their values. The other vars in dataform.json name resources (the orchestrator provisions
 * and reads them from there) or the engine (set by --target), so a run cannot change them.
 */
export const RUN_VARS = ['horizonDays', 'landingWindowMinutes', 'orderIdPartitionStart', 'orderIdPartitionEnd', 'orderIdPartitionInterval'] as const;

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
    // Every run var is a whole number; its range is checked where it is used (includes/increment.js).
    if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new UserError(`--vars: ${key} must be a whole number below 2^53, got ${JSON.stringify(value)}`);
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

export interface TargetArgs extends GcpOptions {
  target: 'local' | 'gcp';
}

/** --target and the Google Cloud settings every command on either target reads. */
export function withTargetOptions<T>(yargs: Argv<T>): Argv<T & TargetArgs> {
  return yargs
    .option('target', { choices: ['local', 'gcp'] as const, default: 'local' as const, describe: 'Run locally (emulator, DuckDB) or on Google Cloud' })
    .option('project', { type: 'string', describe: 'With --target gcp: the Google Cloud project (default: $GOOGLE_CLOUD_PROJECT)' })
    .option('location', { type: 'string', describe: "With --target gcp: BigQuery and bucket location (default: dataform.json's defaultLocation)" })
    .option('config', {
      type: 'string',
      describe: "With --target gcp: JSON file with projectId and location, and the settings of provision, schedule and status (README: 'Running on Google Cloud')",
    });
}

/** The settings only provisioning reads: how the raw table is fed, kept and granted to. */
export function withProvisioningOptions<T>(yargs: Argv<T>): Argv<T> {
  return yargs
    .option('project-number', { type: 'string', describe: 'With --target gcp: the project number, for the Pub/Sub service agent (default: looked up)' })
    .option('partition-expiration-days', {
      type: 'number', coerce: wholeNumber('partition-expiration-days', 1),
      describe: 'With --target gcp: delete raw partitions older than this (default 400: BigQuery allows 10,000 hourly partitions)',
    })
    .option('landing', { choices: ['bigquery', 'pull'], describe: "With --target gcp: how raw rows land, a BigQuery subscription or a pull subscription that 'sink --target gcp' drains" })
    .option('subscription-service-account', {
      type: 'string',
      describe: 'With --target gcp: the service account the BigQuery subscription writes the raw table as (default: the shared Pub/Sub service agent)',
    });
}

/**
 * An AbortSignal that SIGINT (and the other signals given) abort, after saying what happens next:
 * long commands stop after the work in hand instead of dying mid-write.
 */
export function abortOnInterrupt(message: string, signals: NodeJS.Signals[] = ['SIGINT']): AbortSignal {
  const controller = new AbortController();
  for (const signal of signals) {
    process.once(signal, () => {
      if (!controller.signal.aborted) log(message);
      controller.abort();
    });
  }
  return controller.signal;
}

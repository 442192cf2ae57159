import type { Argv } from 'yargs';
import { PACKAGE_ROOT, loadProjectConfig, resolveWorkdir, type ProjectConfig, type Workdir } from '../config.js';

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

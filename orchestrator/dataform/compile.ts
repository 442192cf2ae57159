import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { PACKAGE_ROOT } from '../config.js';
import { UserError } from '../errors.js';
import type { Target } from '../identifiers.js';

/**
 * The subset of `dataform compile --json` output (Dataform 3.x) that the runners use. Enums come as
 * their names; absent fields are absent (the JSON omits protobuf defaults).
 */
export interface CompiledTable {
  type: 'table' | 'view' | 'incremental';
  target: Target;
  query: string;
  incrementalQuery?: string;
  preOps?: string[];
  postOps?: string[];
  incrementalPreOps?: string[];
  incrementalPostOps?: string[];
  uniqueKey?: string[];
  dependencyTargets?: Target[];
  tags?: string[];
  disabled?: boolean;
  fileName: string;
  /** Incremental only: merged into even on --full-refresh. */
  protected?: boolean;
  /** Views only: `create or replace materialized view`. */
  materialized?: boolean;
  /** Legacy (JS API): the incremental query is wrapped in `select * from (...) where <where>`. */
  where?: string;
  onSchemaChange?: 'IGNORE' | 'FAIL' | 'EXTEND' | 'SYNCHRONIZE';
  incrementalStrategy?: 'INCREMENTAL_STRATEGY_UNSPECIFIED' | 'MERGE' | 'INSERT_OVERWRITE';
  /** Set for actions compiled just in time, whose SQL is only known at run time. */
  jitCode?: string;
  bigquery?: {
    partitionBy?: string;
    clusterBy?: string[];
    updatePartitionFilter?: string;
    incrementalPredicates?: string[];
    requirePartitionFilter?: boolean;
    partitionExpirationDays?: number;
    /** Option name to its SQL text, written as is into `OPTIONS(name=value)`. */
    additionalOptions?: Record<string, string>;
  };
}

export interface CompiledAssertion {
  target: Target;
  query: string;
  dependencyTargets?: Target[];
  tags?: string[];
  disabled?: boolean;
  fileName: string;
}

export interface CompiledOperation {
  target: Target;
  queries: string[];
  dependencyTargets?: Target[];
  tags?: string[];
  disabled?: boolean;
  hasOutput?: boolean;
  fileName: string;
}

/** A Dataform unit test (`type: "test"`): the tested model's query over inlined inputs, and the rows expected. */
export interface CompiledTest {
  name: string;
  fileName: string;
  testQuery: string;
  expectedOutputQuery: string;
}

export interface CompiledDeclaration {
  target: Target;
  fileName: string;
}

export interface CompiledGraph {
  tables?: CompiledTable[];
  assertions?: CompiledAssertion[];
  operations?: CompiledOperation[];
  declarations?: CompiledDeclaration[];
  tests?: CompiledTest[];
  /** The @dataform/core version that compiled the graph (Dataform's SQL depends on it: > 1.4.8 here). */
  dataformCoreVersion?: string;
  graphErrors?: { compilationErrors?: { fileName?: string; message?: string; stack?: string }[] };
}

export type Vars = Record<string, string>;

/** The Dataform CLI installed with the orchestrator (never a global install). */
export function dataformCliPath(): string {
  try {
    return createRequire(path.join(PACKAGE_ROOT, 'package.json')).resolve('@dataform/cli/bundle.js');
  } catch {
    throw new UserError(`@dataform/cli is not installed in ${PACKAGE_ROOT}: run 'npm ci' there first`);
  }
}

/**
 * Vars as Dataform's `--vars` flag takes them. Dataform splits the flag on ',' and each pair on '=',
 * keeping only the first two parts, so a value with either character would be cut short in silence:
 * refused here, for every command line the orchestrator builds.
 */
export function formatVars(vars: Vars): string {
  return Object.entries(vars)
    .map(([key, value]) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key) || /[,=]/.test(value)) {
        throw new UserError(`invalid Dataform var ${key}=${value}: names are identifiers, values have no ',' or '='`);
      }
      return `${key}=${value}`;
    })
    .join(',');
}

/** Project settings a run overrides on Dataform's command line, as `dataform run` would get them. */
export interface CompileOverrides {
  /** The Google Cloud project the run writes to: it is the first part of every action's name. */
  defaultDatabase?: string;
  defaultLocation?: string;
}

/**
 * Compiles the Dataform project with the official CLI (`dataform compile --json`): the CLI cannot be
 * imported (its bundle runs on load), so it is spawned and its clean JSON stdout parsed.
 */
export async function compileProject(projectDir: string, vars: Vars, overrides: CompileOverrides = {}): Promise<CompiledGraph> {
  if (!existsSync(path.join(projectDir, 'dataform.json'))) {
    throw new UserError(`no dataform.json in ${projectDir}: pass --project-dir pointing at the Dataform project`);
  }
  const args = [dataformCliPath(), 'compile', projectDir, '--json'];
  if (Object.keys(vars).length > 0) args.push(`--vars=${formatVars(vars)}`);
  if (overrides.defaultDatabase) args.push(`--default-database=${overrides.defaultDatabase}`);
  if (overrides.defaultLocation) args.push(`--default-location=${overrides.defaultLocation}`);
  const { code, signal, stdout, stderr } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>(
    (resolve, reject) => {
      const child = spawn(process.execPath, args, { cwd: projectDir, stdio: ['ignore', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
      child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
      child.on('error', reject);
      child.on('close', (exitCode, exitSignal) =>
        resolve({ code: exitCode, signal: exitSignal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }),
      );
    },
  );
  // Ctrl-C reaches the whole process group, this child included.
  if (signal === 'SIGINT' || signal === 'SIGTERM') throw new UserError('interrupted while compiling the Dataform project', 130);
  let graph: CompiledGraph;
  try {
    graph = JSON.parse(stdout) as CompiledGraph;
  } catch {
    // eslint-disable-next-line no-control-regex -- strips the ANSI colour codes (ESC [ … m) Dataform writes
    const detail = (stderr || stdout).replace(/\x1b\[[0-9;]*m/g, '').trim().split('\n')[0] ?? '';
    throw new UserError(`dataform compile failed (exit ${code}): ${detail}`);
  }
  const all = graph.graphErrors?.compilationErrors ?? [];
  // An include that throws (a bad var) makes every file using it fail too: its own error says why.
  const inIncludes = all.filter((e) => e.fileName?.startsWith('includes/'));
  const errors = inIncludes.length > 0 ? inIncludes : all;
  if (errors.length > 0) {
    const lines = errors.map((e) => `${e.fileName ?? '?'}: ${e.message ?? e.stack ?? 'unknown error'}`);
    if (lines.length === 1) throw new UserError(`dataform compile failed: ${lines[0]}`);
    throw new UserError(`dataform compile found ${errors.length} errors:\n${lines.map((l) => `  ${l}`).join('\n')}`);
  }
  return graph;
}

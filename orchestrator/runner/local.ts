import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { compileProject, type CompiledGraph } from '../dataform/compile.js';
import { actionsInDependencyOrder, requireCommitDependencies, selectActions, type Selection } from '../dataform/graph.js';
import type { ProjectConfig, Workdir } from '../config.js';
import { UserError, errorMessage } from '../errors.js';
import { openLocalWarehouse } from '../warehouse/local.js';
import { runActions, type ActionResult, type RunSummary } from './run.js';

/** Compiles the Dataform project with `engine=duckdb` (plus any var overrides). */
export function compileForDuckDb(project: ProjectConfig, vars: Record<string, string> = {}): Promise<CompiledGraph> {
  return compileProject(project.projectDir, { ...vars, engine: 'duckdb' });
}

export interface LocalTransformOptions {
  project: ProjectConfig;
  workdir: Workdir;
  selection?: Selection;
  fullRefresh?: boolean;
  vars?: Record<string, string>;
  /** A graph already compiled for DuckDB; compiled from the project when absent. */
  graph?: CompiledGraph;
  onActionDone?: (result: ActionResult) => void;
  /** An interrupt: the run skips the actions not yet started. */
  signal?: AbortSignal;
  /** Profile the run through this file: the summary then counts the rows each table scan read. */
  profileFile?: string;
}

/** Compiles the Dataform project for DuckDB and runs the selected actions on the local warehouse. */
export async function transformLocal(options: LocalTransformOptions): Promise<RunSummary & { compileSeconds: number; rowsScanned?: Record<string, number> }> {
  const compileStarted = performance.now();
  const graph = options.graph ?? (await compileForDuckDb(options.project, options.vars));
  const compileSeconds = (performance.now() - compileStarted) / 1000;
  const ordered = actionsInDependencyOrder(graph);
  // Before the warehouse opens: a selection of nothing is an error, never a run recorded as the last one.
  const actions = selectActions(ordered, options.selection ?? {});
  requireCommitDependencies(ordered, actions);
  const warehouse = await openLocalWarehouse(options.project, options.workdir, false, options.profileFile);
  try {
    await warehouse.ensureRawTable(options.project.raw);
    const summary = await runActions(warehouse, actions, { fullRefresh: options.fullRefresh, onActionDone: options.onActionDone, signal: options.signal });
    writeFileSync(lastRunFile(options.workdir), `${JSON.stringify({
      finishedAt: new Date().toISOString(), ok: summary.ok, seconds: summary.seconds, fullRefresh: Boolean(options.fullRefresh),
      actions: summary.actions.length, failed: summary.actions.filter((a) => a.status !== 'ok').map((a) => a.name),
    }, null, 2)}\n`);
    return { ...summary, compileSeconds, ...(options.profileFile ? { rowsScanned: Object.fromEntries(warehouse.rowsScanned) } : {}) };
  } finally {
    await warehouse.close();
  }
}

export interface LastRun {
  finishedAt: string;
  ok: boolean;
  seconds: number;
  fullRefresh: boolean;
  actions: number;
  failed: string[];
}

const lastRunFile = (workdir: Workdir) => path.join(workdir.dir, 'last-run.json');

/** What the latest local transform recorded, if any; a damaged record is a UserError naming the file. */
export function readLastRun(workdir: Workdir): LastRun | undefined {
  const file = lastRunFile(workdir);
  if (!existsSync(file)) return undefined;
  try {
    const record: unknown = JSON.parse(readFileSync(file, 'utf8'));
    if (typeof record === 'object' && record !== null && !Array.isArray(record)) return record as LastRun;
    throw new Error('not a JSON object');
  } catch (error) {
    // JSON.parse quotes the content; the file's name and the kind of damage are what to act on.
    const reason = error instanceof SyntaxError ? 'not valid JSON' : errorMessage(error);
    throw new UserError(`the last-run record ${file} is unreadable (${reason}); the next transform rewrites it`);
  }
}

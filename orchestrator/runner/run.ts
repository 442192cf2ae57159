import { mergeConditionList } from '../bigquery/statements.js';
import { UserError, errorMessage } from '../errors.js';
import type { Action } from '../dataform/graph.js';
import type { MergeCounts, Row, Warehouse } from '../warehouse/warehouse.js';

/** Views and tables with this tag hold odd-but-legal data: their rows are reported, never a failure. */
export const REPORT_TAG = 'report';
const SAMPLE_ROWS = 5;

export interface ActionResult {
  name: string;
  kind: 'table' | 'view' | 'incremental' | 'assertion' | 'operation';
  status: 'ok' | 'failed' | 'skipped';
  seconds: number;
  /** How the action ran: created, replaced, merged, inserted. */
  mode?: string;
  /** Rows in the table after the action, in total (tables), or rows returned (assertions and reports). */
  rows?: number;
  /** Rows this run added: an incremental action's new rows, or every row of a table it (re)created. */
  inserted?: number;
  /** Rows this run replaced: the existing rows an incremental merge matched. */
  updated?: number;
  sample?: Row[];
  error?: string;
  reported?: boolean;
}

/** How an action writes: what `dataform run` would send for it (see bigquery/statements.ts). */
export type WritePath = 'create' | 'incremental' | 'view' | 'assertion' | 'operation';

export interface RunOptions {
  fullRefresh?: boolean;
  onActionDone?: (result: ActionResult) => void;
  /** Called once an action's pre-operations have run (their script variables are set), before it writes. */
  beforeWrite?: (action: Exclude<Action, { kind: 'declaration' }>, path: WritePath) => Promise<void>;
  /** Called after an action wrote, successfully or not. */
  afterWrite?: (action: Exclude<Action, { kind: 'declaration' }>) => void;
  /** Once aborted (an interrupt), the actions not yet started are skipped: the one in hand finishes. */
  signal?: AbortSignal;
}

export interface RunSummary {
  ok: boolean;
  seconds: number;
  actions: ActionResult[];
}

function actionKind(action: Exclude<Action, { kind: 'declaration' }>): ActionResult['kind'] {
  return action.kind === 'table' ? action.table.type : action.kind;
}

async function runStatements(warehouse: Warehouse, statements: string[] | undefined): Promise<void> {
  for (const sql of statements ?? []) await warehouse.execute(sql);
}

/** Runs one action with Dataform's semantics for its type; returns how it ran and the rows it left or found. */
async function runAction(warehouse: Warehouse, action: Exclude<Action, { kind: 'declaration' }>, options: RunOptions) {
  const { target } = action;
  await warehouse.ensureDataset(target.database, target.schema);
  if (action.kind === 'operation') {
    await options.beforeWrite?.(action, 'operation');
    await runStatements(warehouse, action.operation.queries);
    return { mode: 'executed' };
  }
  if (action.kind === 'assertion') {
    await options.beforeWrite?.(action, 'assertion');
    await warehouse.createOrReplaceView(target, action.assertion.query);
    const rows = await warehouse.countRows(target);
    const sample = rows > 0 ? (await warehouse.query(`SELECT * FROM \`${action.name}\``, SAMPLE_ROWS)).rows : undefined;
    return { mode: 'checked', rows, sample };
  }
  const table = action.table;
  const existing = await warehouse.relationKind(target);
  if (table.type === 'view') {
    await options.beforeWrite?.(action, 'view');
    if (existing === 'table') await warehouse.drop(target, 'table');
    await warehouse.createOrReplaceView(target, table.query);
    if (!action.tags.includes(REPORT_TAG)) return { mode: 'replaced' };
    const rows = await warehouse.countRows(target);
    const sample = rows > 0 ? (await warehouse.query(`SELECT * FROM \`${action.name}\``, SAMPLE_ROWS)).rows : undefined;
    return { mode: 'replaced', rows, sample };
  }
  if (existing === 'view') await warehouse.drop(target, 'view');
  // As Dataform's shouldWriteIncrementally: a protected table is merged into even on --full-refresh.
  const incremental = table.type === 'incremental' && existing === 'table' && (!options.fullRefresh || Boolean(table.protected));
  let changed: MergeCounts | undefined;
  if (incremental) {
    await runStatements(warehouse, table.incrementalPreOps);
    await options.beforeWrite?.(action, 'incremental');
    const columns = await warehouse.columnNames(target);
    const query = table.incrementalQuery ?? table.query;
    if (table.uniqueKey?.length) {
      changed = await warehouse.mergeInto(target, query, table.uniqueKey, columns, mergeConditionList(table));
    } else {
      changed = { inserted: await warehouse.insertInto(target, query, columns), updated: 0 };
    }
    await runStatements(warehouse, table.incrementalPostOps);
  } else {
    await runStatements(warehouse, table.preOps);
    await options.beforeWrite?.(action, 'create');
    await warehouse.createOrReplaceTable(target, table.query, { partitionBy: table.bigquery?.partitionBy });
    await runStatements(warehouse, table.postOps);
  }
  const mode = incremental ? (table.uniqueKey?.length ? 'merged' : 'inserted') : existing ? 'replaced' : 'created';
  const rows = await warehouse.countRows(target);
  // A table (re)created is all new rows.
  return { mode, rows, ...(changed ?? { inserted: rows, updated: 0 }) };
}

/**
 * Executes selected actions in dependency order, as `dataform run` does: an action whose upstream
 * failed is skipped, independent actions still run, and an assertion that returns rows fails.
 */
export async function runActions(warehouse: Warehouse, actions: Action[], options: RunOptions = {}): Promise<RunSummary> {
  const results = new Map<string, ActionResult>();
  for (const action of actions) {
    if (action.kind === 'declaration') continue;
    const kind = actionKind(action);
    const blocked = action.dependencies.find((d) => {
      const status = results.get(d)?.status;
      return status === 'failed' || status === 'skipped';
    });
    let result: ActionResult;
    if (options.signal?.aborted) {
      result = { name: action.name, kind, status: 'skipped', seconds: 0, error: 'interrupted before it started' };
    } else if (blocked) {
      result = { name: action.name, kind, status: 'skipped', seconds: 0, error: `upstream ${blocked} did not succeed` };
    } else {
      const started = performance.now();
      try {
        const outcome = await runAction(warehouse, action, options);
        const seconds = (performance.now() - started) / 1000;
        const failedAssertion = action.kind === 'assertion' && (outcome.rows ?? 0) > 0;
        result = {
          name: action.name, kind, status: failedAssertion ? 'failed' : 'ok', seconds, ...outcome,
          ...(failedAssertion ? { error: `assertion failed: ${outcome.rows} row(s) violate it` } : {}),
          ...(action.tags.includes(REPORT_TAG) ? { reported: true } : {}),
        };
      } catch (error) {
        result = { name: action.name, kind, status: 'failed', seconds: (performance.now() - started) / 1000, error: errorMessage(error) };
      }
      await warehouse.resetScriptVariables();
      options.afterWrite?.(action);
    }
    results.set(action.name, result);
    options.onActionDone?.(result);
  }
  const list = [...results.values()];
  return { ok: list.every((r) => r.status === 'ok'), seconds: list.reduce((sum, r) => sum + r.seconds, 0), actions: list };
}

/**
 * When an interrupt cut the run short, the error to exit with (130): how many actions did not run.
 * `during` says what was running, for a command that does more than run the models.
 */
export function throwIfInterrupted(summary: RunSummary, signal: AbortSignal | undefined, during = ''): void {
  const skipped = signal?.aborted ? summary.actions.filter((a) => a.status === 'skipped').length : 0;
  if (skipped === 0) return;
  throw new UserError(`interrupted${during}: ${skipped} of ${summary.actions.length} actions did not run (the next transform runs them)`, 130);
}

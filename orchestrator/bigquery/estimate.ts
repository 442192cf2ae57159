// `orchestrator check --cost`: what each BigQuery statement of a run would scan and bill, estimated
// offline. The run is replayed on a copy of the local warehouse, action by action; just before each
// action writes, its BigQuery statements are analysed by ZetaSQL with the script variables bound to
// the values the local run computed (the same SQL, so the same keys and partitions), and each table
// scan is costed over the local table's rows laid out as BigQuery would store them (cost.ts).
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AnalyzeRequest } from '@fivetrandevelopers/zetasql';
import type { TypeProto } from '@fivetrandevelopers/zetasql/lib/types/zetasql/TypeProto.js';
import type { ProjectConfig, Workdir } from '../config.js';
import { compileProject, type CompiledGraph } from '../dataform/compile.js';
import { actionsInDependencyOrder, selectActions, type Action, type Selection } from '../dataform/graph.js';
import { UserError, errorMessage } from '../errors.js';
import { type Target, targetKey } from '../identifiers.js';
import { textValue } from '../output/format.js';
import { runActions, type RunSummary, type WritePath } from '../runner/run.js';
import { DuckDbWarehouse, scriptArrayTable } from '../warehouse/duckdb.js';
import { DEFAULT_BLOCK_BYTES, billedBytes, parsePartitionBy, tableCost, type Block, type Parameters, type ScanCost, type TableLayout } from './cost.js';
import { type AstNode, type Constant, type TableScan, columnCopies, originalColumn, queryOutputs, referencedColumns, tableScans } from './scans.js';
import { scriptStatements } from './statements.js';
import { DATAFORM_STATEMENT_KINDS, type ZetaSqlServer } from './zetasql.js';

export interface StatementEstimate {
  action: string;
  purpose: string;
  scans: ScanCost[];
  /** Logical bytes read (plus, for a MERGE that updates, the bytes of the partitions it may update). */
  bytes: number;
  /** Bytes billed on demand: at least 10 MB per table referenced. */
  billedBytes: number;
  error?: string;
}

export interface RunEstimate {
  statements: StatementEstimate[];
  bytes: number;
  billedBytes: number;
  run: RunSummary;
}

const TYPE_KINDS: Record<string, number> = { STRING: 8, INT64: 2, BOOL: 5, FLOAT64: 7, TIMESTAMP: 19, DATE: 10, JSON: 26 };
const DUCKDB_TYPES: Record<string, string> = {
  VARCHAR: 'STRING', BIGINT: 'INT64', INTEGER: 'INT64', HUGEINT: 'INT64', BOOLEAN: 'BOOL', DOUBLE: 'FLOAT64',
  'TIMESTAMP WITH TIME ZONE': 'TIMESTAMP', DATE: 'DATE',
};

/** A BigQuery type name (`INT64`, `ARRAY<STRING>`) as ZetaSQL's TypeProto. */
function typeProto(type: string): TypeProto {
  const array = /^ARRAY<(\w+)>$/i.exec(type.trim());
  if (array) return { typeKind: 16, arrayType: { elementType: { typeKind: TYPE_KINDS[array[1].toUpperCase()] ?? 0 } } } as TypeProto;
  return { typeKind: TYPE_KINDS[type.trim().toUpperCase()] ?? 0 } as TypeProto;
}

const PARTITIONS_COLUMNS = [
  ['table_catalog', 'STRING'], ['table_schema', 'STRING'], ['table_name', 'STRING'], ['partition_id', 'STRING'],
  ['total_rows', 'INT64'], ['total_logical_bytes', 'INT64'], ['total_billable_bytes', 'INT64'],
  ['last_modified_time', 'TIMESTAMP'], ['storage_tier', 'STRING'],
] as const;

const DECLARE = /^\s*DECLARE\s+([A-Za-z_]\w*)\s+(ARRAY<\w+>|\w+)\s+DEFAULT\s+([\s\S]*?);?\s*$/i;
const ASSERT = /^\s*ASSERT\s+([\s\S]*?)\s+AS\s+'(?:[^'\\]|\\.)*'\s*;?\s*$/i;

export interface EstimateOptions {
  /** The project compiled for DuckDB (what runs locally) and for BigQuery (what is costed). */
  duckdbGraph: CompiledGraph;
  bigqueryGraph: CompiledGraph;
  raw: Target;
  selection?: Selection;
  fullRefresh?: boolean;
  blockBytes?: number;
}

/** Layouts of every table: Dataform's partitionBy/clusterBy, and the raw table as provision makes it. */
function layoutsOf(graph: CompiledGraph, raw: Target): Map<string, TableLayout> {
  const layouts = new Map<string, TableLayout>();
  layouts.set(targetKey(raw), { partition: { column: 'publish_time', kind: 'hour' }, clusterBy: ['publish_time'], requirePartitionFilter: true });
  for (const table of graph.tables ?? []) {
    if (table.type === 'view') continue;
    layouts.set(targetKey(table.target), {
      partition: parsePartitionBy(table.bigquery?.partitionBy),
      clusterBy: table.bigquery?.clusterBy ?? [],
      requirePartitionFilter: Boolean(table.bigquery?.requirePartitionFilter),
    });
  }
  return layouts;
}

/** A view over one table: what a scan of the view reads of that table. */
interface ViewBase {
  table: string;
  /** Every column of the table the view's query reads. */
  columns: string[];
  /** The table's column behind each output column that copies one unchanged (possibly renamed). */
  baseColumnOf: Map<string, string>;
  /** Columns the view reads whatever is read from it: its filters, and what computed outputs read. */
  ownColumns: string[];
  /** When the view reads its table in one scan: its own conditions on it (its WHERE), which BigQuery
   * prunes with too. A view that reads it in several prunes none of them: a block one skips, another may read. */
  conditions?: { conditions: AstNode[]; columnNames: Map<number, string> };
}

export function viewBaseOf(statement: unknown): ViewBase | undefined {
  const scans = tableScans(statement);
  const tables = [...new Set(scans.map((s) => s.table))];
  if (tables.length !== 1) return undefined;
  const names = new Map(scans.flatMap((s) => [...s.columnNames]));
  const copies = columnCopies(statement);
  const baseColumnOf = new Map<string, string>();
  for (const output of queryOutputs(statement)) {
    // Followed back by column id through renames and WITH queries; a computed output leads to no column of the table.
    const base = names.get(originalColumn(copies, output.columnId));
    if (base) baseColumnOf.set(output.name, base);
  }
  const conditions = scans.length === 1 ? { conditions: scans[0].conditions, columnNames: scans[0].columnNames } : undefined;
  const filtered = new Set((conditions?.conditions ?? []).flatMap((c) => [...referencedColumns(c)].map((id) => names.get(id))));
  const passedOn = new Set(baseColumnOf.values());
  const columns = [...new Set(scans.flatMap((s) => s.columns))];
  return { table: tables[0], columns, baseColumnOf, ownColumns: columns.filter((c) => !passedOn.has(c) || filtered.has(c)), conditions };
}

/**
 * A scan of a view as BigQuery runs it: a scan of the table under it, pruned by the view's WHERE and
 * by the conditions on the outputs that copy a column of it, under the table's name for each (a
 * filter on conversations.order_id prunes stg_events' order_key partitions). The columns read are
 * those behind the outputs read plus the view's own; every column the view reads when an output read
 * is computed.
 */
export function throughView(scan: TableScan, view: ViewBase): TableScan {
  const columnNames = new Map(view.conditions ? [...scan.columnNames].flatMap(([id, name]): [number, string][] => {
    const base = view.baseColumnOf.get(name);
    return base ? [[id, base]] : [];
  }) : []);
  const passedOn = scan.columns.every((c) => view.baseColumnOf.has(c));
  const columns = passedOn ? [...new Set([...scan.columns.map((c) => view.baseColumnOf.get(c)!), ...view.ownColumns])] : view.columns;
  return { ...scan, table: view.table, columns, columnNames, viewConditions: view.conditions };
}

/**
 * Replays the selected actions on `warehouse` (a copy: it is written to) and estimates what each of
 * their BigQuery statements would scan.
 */
export async function estimateRun(server: ZetaSqlServer, warehouse: DuckDbWarehouse, options: EstimateOptions): Promise<RunEstimate> {
  const blockBytes = options.blockBytes ?? DEFAULT_BLOCK_BYTES;
  const languageOptions = await server.bigQueryLanguageOptions([...DATAFORM_STATEMENT_KINDS]);
  const layouts = layoutsOf(options.bigqueryGraph, options.raw);
  const bigqueryActions = new Map(actionsInDependencyOrder(options.bigqueryGraph).map((a) => [a.name, a]));
  const blockCache = new Map<string, Block[]>();
  /** Views costed as scans of the table under them (see throughView). */
  const viewBases = new Map<string, ViewBase>();
  const estimates: StatementEstimate[] = [];

  const catalogTables = async () => {
    const { rows } = await warehouse.query(`SELECT table_catalog, table_schema, table_name, column_name, data_type FROM information_schema.columns ORDER BY table_catalog, table_schema, table_name, ordinal_position`);
    const tables = new Map<string, { name: string; type: TypeProto }[]>();
    for (const row of rows) {
      const key = `${textValue(row.table_catalog)}.${textValue(row.table_schema)}.${textValue(row.table_name)}`;
      const columns = tables.get(key) ?? [];
      columns.push({ name: textValue(row.column_name), type: typeProto(DUCKDB_TYPES[textValue(row.data_type)] ?? 'STRING') });
      tables.set(key, columns);
    }
    for (const [schemaKey] of new Map([...tables.keys()].map((k) => [k.split('.').slice(0, 2).join('.'), true]))) {
      tables.set(`${schemaKey}.INFORMATION_SCHEMA.PARTITIONS`, PARTITIONS_COLUMNS.map(([name, type]) => ({ name, type: typeProto(type) })));
    }
    return [...tables].map(([name, column]) => ({ name, column }));
  };

  const blocksOf = async (key: string): Promise<Block[]> => {
    const cached = blockCache.get(key);
    if (cached) return cached;
    const [database, schema, name] = key.split('.') as [string, string, string];
    const blocks = await warehouse.blocks({ database, schema, name }, layouts.get(key) ?? { clusterBy: [], requirePartitionFilter: false }, blockBytes);
    blockCache.set(key, blocks);
    return blocks;
  };

  const readVariable = async (name: string, type: string): Promise<Constant> => {
    const element = /^ARRAY<(\w+)>$/i.exec(type)?.[1];
    const timestamp = ['TIMESTAMP', 'DATE'].includes((element ?? type).toUpperCase());
    const expression = timestamp ? 'epoch_us(x)' : 'x';
    const source = element ? `(SELECT value AS x FROM ${scriptArrayTable(name)})` : `(SELECT getvariable('${name}') AS x)`;
    const { rows } = await warehouse.query(`SELECT ${expression} AS v FROM ${source}`);
    const values = rows.map((r) => (r.v === null ? null : typeof r.v === 'bigint' || typeof r.v === 'string' || typeof r.v === 'boolean' ? r.v : BigInt(r.v as number)));
    return element ? values : values[0] ?? null;
  };

  const analyse = async (sql: string, parameters: { name: string; type: string }[]) => {
    const request = {
      options: {
        languageOptions, errorMessageMode: 'ERROR_MESSAGE_ONE_LINE', defaultTimezone: 'UTC', pruneUnusedColumns: true,
        queryParameters: parameters.map((p) => ({ name: p.name, type: typeProto(p.type) })),
      },
      simpleCatalog: { name: 'bigquery', table: await catalogTables(), builtinFunctionOptions: { languageOptions } },
      sqlStatement: sql,
    };
    return server.analyze(request as unknown as AnalyzeRequest);
  };

  const estimateStatement = async (action: string, purpose: string, sql: string, declared: Map<string, string>, values: Parameters) => {
    let text = sql;
    for (const name of declared.keys()) text = text.replace(new RegExp(`(?<![@\\w.])${name}\\b`, 'g'), `@${name}`);
    try {
      const response = await analyse(text, [...declared].map(([name, type]) => ({ name, type })));
      const byTable = new Map<string, TableScan[]>();
      for (const scan of tableScans(response?.resolvedStatement)) {
        const base = viewBases.get(scan.table);
        const read = base ? throughView(scan, base) : scan;
        byTable.set(read.table, [...(byTable.get(read.table) ?? []), read]);
      }
      const costs: ScanCost[] = [];
      for (const [table, scans] of byTable) {
        costs.push(/\.INFORMATION_SCHEMA\./i.test(table)
          ? { table, columns: scans.flatMap((s) => s.columns), bytes: 0, dmlBytes: 0, partitions: { kept: 0, total: 0 }, blocks: { kept: 0, total: 0 } }
          : tableCost(table, scans, layouts.get(table), await blocksOf(table), values));
      }
      const bytes = costs.reduce((sum, c) => sum + c.bytes + c.dmlBytes, 0);
      estimates.push({ action, purpose, scans: costs, bytes, billedBytes: costs.length ? billedBytes(costs) : 0 });
      return response;
    } catch (error) {
      estimates.push({ action, purpose, scans: [], bytes: 0, billedBytes: 0, error: (error as { details?: string }).details ?? errorMessage(error) });
      return undefined;
    }
  };

  /**
   * Post-operations run after the write and read what it wrote (a first run's post-operation reads a
   * table that does not exist before it): they are costed after the action, with the variables the
   * script had bound. So is an operation's ALTER TABLE, which follows the CREATE TABLE IF NOT EXISTS
   * of the same table (it scans nothing either way).
   */
  let deferred: (() => Promise<unknown>)[] = [];
  const flushDeferred = async () => {
    const pending = deferred;
    deferred = [];
    for (const estimate of pending) await estimate();
  };

  const beforeWrite = async (action: Exclude<Action, { kind: 'declaration' }>, path: WritePath) => {
    await flushDeferred();
    const bigqueryAction = bigqueryActions.get(action.name);
    if (!bigqueryAction || bigqueryAction.kind === 'declaration') return;
    if (bigqueryAction.kind === 'assertion') {
      // An assertion's view costs nothing to create; its check scans what the view's query reads.
      await estimateStatement(action.name, 'assertion check', bigqueryAction.assertion.query, new Map(), new Map());
      return;
    }
    if (bigqueryAction.kind === 'table' && bigqueryAction.table.type === 'view') {
      // Creating a view scans nothing; a scan of the view is costed as a scan of the table under it.
      const response = await analyse(bigqueryAction.table.query, []).catch(() => undefined);
      const base = viewBaseOf(response?.resolvedStatement);
      if (base) viewBases.set(action.name, base);
      return;
    }
    const columns = bigqueryAction.kind === 'table' && path === 'incremental' ? await warehouse.columnNames(action.target) : [];
    const declared = new Map<string, string>();
    const values: Parameters = new Map();
    for (const statement of scriptStatements(bigqueryAction, path, columns)) {
      const declaration = DECLARE.exec(statement.sql);
      if (declaration) {
        const [, name, type, expression] = declaration as unknown as [string, string, string, string];
        await estimateStatement(action.name, `${statement.purpose} (DECLARE ${name})`, `SELECT ${expression}`, declared, values);
        declared.set(name, type);
        values.set(name, await readVariable(name, type));
        continue;
      }
      const assertion = ASSERT.exec(statement.sql);
      const sql = assertion ? `SELECT ${assertion[1]}` : statement.sql;
      if (/post-operation$/.test(statement.purpose) || /^\s*ALTER\s+TABLE\b/i.test(sql)) {
        const [boundTypes, boundValues] = [new Map(declared), new Map(values)];
        deferred.push(() => estimateStatement(action.name, statement.purpose, sql, boundTypes, boundValues));
        continue;
      }
      await estimateStatement(action.name, statement.purpose, sql, declared, values);
    }
  };

  const afterWrite = (action: Exclude<Action, { kind: 'declaration' }>) => { blockCache.delete(action.name); };
  const actions = selectActions(actionsInDependencyOrder(options.duckdbGraph), options.selection ?? {});
  await warehouse.ensureRawTable(options.raw);
  // A pre-operation may change its own table before the script's statements are estimated (a DELETE
  // of the days a run rewrites): each incremental table is measured as the run finds it.
  for (const action of actions) {
    if (action.kind === 'table' && action.table.type === 'incremental' && (await warehouse.relationKind(action.target)) === 'table') await blocksOf(action.name);
  }
  const run = await runActions(warehouse, actions, { fullRefresh: options.fullRefresh, beforeWrite, afterWrite });
  await flushDeferred();
  return {
    statements: estimates,
    bytes: estimates.reduce((sum, e) => sum + e.bytes, 0),
    billedBytes: estimates.reduce((sum, e) => sum + e.billedBytes, 0),
    run,
  };
}

/**
 * Estimates the next run on the local warehouse of `workdir` without changing it: the warehouse is
 * copied to a temporary directory and the run replayed there.
 */
export async function estimateNextRun(
  server: ZetaSqlServer,
  project: ProjectConfig,
  workdir: Workdir,
  options: { selection?: Selection; fullRefresh?: boolean; blockBytes?: number; vars?: Record<string, string> },
): Promise<RunEstimate> {
  if (!existsSync(workdir.warehouseFile)) {
    throw new UserError(`no local warehouse at ${workdir.warehouseFile}: land some data and run 'orchestrator transform' first (the estimate replays the next run on a copy of it)`);
  }
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'chat-pipeline-estimate-'));
  try {
    const copy = path.join(scratch, 'warehouse.duckdb');
    copyFileSync(workdir.warehouseFile, copy);
    const warehouse = await DuckDbWarehouse.open(copy, { database: project.database });
    try {
      return await estimateRun(server, warehouse, {
        duckdbGraph: await compileProject(project.projectDir, { ...options.vars, engine: 'duckdb' }),
        bigqueryGraph: await compileProject(project.projectDir, { ...options.vars, engine: 'bigquery' }),
        raw: project.raw,
        selection: options.selection,
        fullRefresh: options.fullRefresh,
        blockBytes: options.blockBytes,
      });
    } finally {
      await warehouse.close();
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

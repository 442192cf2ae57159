import type { AnalyzeRequest } from '@fivetrandevelopers/zetasql';
import type { TypeProto } from '@fivetrandevelopers/zetasql/lib/types/zetasql/TypeProto.js';
import type { CompiledGraph, CompiledTable } from '../dataform/compile.js';
import { actionsInDependencyOrder, type Action } from '../dataform/graph.js';
import { errorMessage } from '../errors.js';
import { targetKey } from '../identifiers.js';
import { RAW_COLUMNS } from '../warehouse/warehouse.js';
import { parsePartitionBy } from './cost.js';
import { columnCopies, originalColumn, referencedColumns, tableScans, type TableScan } from './scans.js';
import { actionTasks, type ExecutionTask, runStates, taskStatements, tokenize } from './statements.js';
import { DATAFORM_STATEMENT_KINDS, type AnalyzeResponse, type ZetaSqlServer } from './zetasql.js';

/** ZetaSQL's TypeKind numbers, by BigQuery's names (product mode: FLOAT64 is DOUBLE). */
const TYPE_KINDS: Record<string, number> = {
  INT64: 2, BOOL: 5, FLOAT64: 7, STRING: 8, BYTES: 9, DATE: 10, TIMESTAMP: 19, TIME: 20, DATETIME: 21, GEOGRAPHY: 22,
  NUMERIC: 23, BIGNUMERIC: 24, JSON: 26, INTERVAL: 27,
};
const TYPE_NAMES = new Map(Object.entries(TYPE_KINDS).map(([name, kind]) => [kind, name]));
const ARRAY = 16;
const STRUCT = 17;
const RANGE = 29;

/** What BigQuery shows for a dataset's `INFORMATION_SCHEMA.PARTITIONS` (the columns models read). */
const PARTITIONS_COLUMNS: [string, string][] = [
  ['table_catalog', 'STRING'], ['table_schema', 'STRING'], ['table_name', 'STRING'], ['partition_id', 'STRING'],
  ['total_rows', 'INT64'], ['total_logical_bytes', 'INT64'], ['total_billable_bytes', 'INT64'],
  ['last_modified_time', 'TIMESTAMP'], ['storage_tier', 'STRING'],
];

/** Script statements ZetaSQL's analyzer has no resolved form for; reported, never guessed at. */
const UNSUPPORTED_SCRIPTING = /^(IF|WHILE|LOOP|REPEAT|FOR|CASE|CALL|EXECUTE|RAISE|RETURN|BREAK|CONTINUE|LEAVE|ITERATE|BEGIN|COMMIT|ROLLBACK)\b/i;

interface Column { name: string; type: TypeProto }

/**
 * The raw table's partitioning column: provision makes it with HOUR partitions of publish_time and
 * `requirePartitionFilter: true` (orchestrator/gcp/provision.ts, rawTableResource).
 */
export const RAW_PARTITION_COLUMN = 'publish_time';

/**
 * A column a scan of a table or view must filter on (require_partition_filter). A view over such a
 * table without that filter passes the requirement on to the column it outputs; `table` and
 * `tableColumn` then name where it comes from.
 */
interface RequiredFilter { column: string; table: string; tableColumn: string }

/** Tables and views that BigQuery refuses to scan without a filter, by lowercased full name. */
type RequiredFilters = Map<string, RequiredFilter[]>;

/** The column a compiled table requires a filter on: its partitioning column, when it sets require_partition_filter. */
export function requiredPartitionColumn(table: CompiledTable): string | undefined {
  const bigquery = table.bigquery;
  const required = bigquery?.requirePartitionFilter === true || /^\s*true\s*$/i.test(bigquery?.additionalOptions?.require_partition_filter ?? '');
  if (!required || table.type === 'view' || !bigquery?.partitionBy) return undefined;
  // DATE(c), c, TIMESTAMP_TRUNC(c, HOUR), RANGE_BUCKET(c, ...); any other f(c, ...) is read as column c.
  return parsePartitionBy(bigquery.partitionBy)?.column ?? /^\s*(?:\w+\s*\(\s*)?`?(\w+)`?/.exec(bigquery.partitionBy)?.[1];
}

/** Does one of the scan's pruning conditions (WHERE over it, or a MERGE's ON for the target) reference `column`? */
function filters(scan: TableScan, column: string): boolean {
  const name = column.toLowerCase();
  return scan.conditions.some((c) => [...referencedColumns(c)].some((id) => scan.columnNames.get(id)?.toLowerCase() === name));
}

/** The scans of a statement that BigQuery would reject for a missing partition filter, with the filter each lacks. */
function unfilteredScans(statement: unknown, required: RequiredFilters): { scan: TableScan; filter: RequiredFilter }[] {
  return tableScans(statement).flatMap((scan) =>
    (required.get(scan.table.toLowerCase()) ?? []).filter((f) => !filters(scan, f.column)).map((filter) => ({ scan, filter })));
}

function unfilteredMessage({ scan, filter }: { scan: TableScan; filter: RequiredFilter }): string {
  if (filter.table.toLowerCase() === scan.table.toLowerCase()) {
    return `scans ${scan.table} without a filter on its partitioning column ${filter.column} (require_partition_filter)`;
  }
  return `scans ${scan.table} without a filter on ${filter.column}: the view reads ${filter.table} unfiltered, which requires a filter on its partitioning column ${filter.tableColumn} (require_partition_filter)`;
}

/** The view a CREATE VIEW statement makes: its name and output columns (name, and the id of the column it outputs). */
function createdView(response: AnalyzeResponse | undefined): { name: string; outputs: { name: string; columnId: number }[] } | undefined {
  const create = (response?.resolvedStatement as unknown as Resolved | undefined)?.resolvedCreateStatementNode as Resolved | undefined;
  const base = create?.resolvedCreateViewBaseNode as Resolved | undefined;
  const view = (base?.resolvedCreateViewStmtNode ?? base?.resolvedCreateMaterializedViewStmtNode) as Resolved | undefined;
  const parent = view?.parent as { outputColumnList?: { name: string; column?: { columnId?: unknown } }[]; parent?: { namePath?: string[] } } | undefined;
  if (!parent?.parent?.namePath) return undefined;
  const id = (value: unknown) => Number((value as { low?: number } | undefined)?.low ?? value);
  return { name: parent.parent.namePath.join('.'), outputs: (parent.outputColumnList ?? []).map((c) => ({ name: c.name, columnId: id(c.column?.columnId) })) };
}

/**
 * require_partition_filter as BigQuery enforces it: a statement fails when it scans a table (or a
 * view over one) that requires a partition filter without a condition on its partitioning column.
 * A CREATE VIEW scans nothing: a view whose query reads such a table unfiltered requires, in turn, a
 * filter on the output column that copies it (followed back through renames and WITH queries), so
 * that queries on the view are checked when they are analysed; a view that outputs no copy of the
 * column could never be queried, and fails. Throws the statement's error.
 */
function checkPartitionFilters(response: AnalyzeResponse | undefined, required: RequiredFilters): void {
  const view = createdView(response);
  const unfiltered = unfilteredScans(response?.resolvedStatement, required);
  if (!view) {
    if (unfiltered.length) throw new Error(unfiltered.map(unfilteredMessage).join('; '));
    return;
  }
  const passedOn: RequiredFilter[] = [];
  const lost: string[] = [];
  const copies = columnCopies(response?.resolvedStatement);
  for (const { scan, filter } of unfiltered) {
    const ids = [...scan.columnNames].filter(([, name]) => name.toLowerCase() === filter.column.toLowerCase()).map(([id]) => id);
    const output = view.outputs.find((o) => ids.includes(originalColumn(copies, o.columnId)));
    if (output) {
      if (!passedOn.some((f) => f.column === output.name && f.table === filter.table)) passedOn.push({ ...filter, column: output.name });
    } else {
      lost.push(`${unfilteredMessage({ scan, filter })}, and no output of the view copies ${filter.column}: no query on the view could filter it`);
    }
  }
  if (lost.length) throw new Error(lost.join('; '));
  if (passedOn.length) required.set(view.name.toLowerCase(), passedOn);
  else required.delete(view.name.toLowerCase());
}

export interface StatementResult {
  purpose: string;
  ok: boolean;
  message?: string;
  /** Line and column in the statement, as ZetaSQL reports them. */
  position?: string;
}

export interface ActionCheck {
  name: string;
  file: string;
  ok: boolean;
  /** Not analysed because an upstream action has errors. */
  skipped?: boolean;
  statements: StatementResult[];
}

function describe(error: unknown): { message: string; position?: string } {
  const text = (error as { details?: string }).details ?? errorMessage(error);
  const match = /\[at (\d+:\d+)\]\s*$/.exec(text);
  return { message: text.replace(/\s*\[at \d+:\d+\]\s*$/, ''), position: match?.[1] };
}

const scalar = (name: string): TypeProto => ({ typeKind: TYPE_KINDS[name] as TypeProto['typeKind'] });

/** A ZetaSQL type as BigQuery SQL (what `CAST(NULL AS ...)` needs), or undefined when it has none. */
export function typeName(type: TypeProto | null | undefined): string | undefined {
  const kind = Number(type?.typeKind);
  if (kind === ARRAY) {
    const element = typeName(type?.arrayType?.elementType);
    return element && `ARRAY<${element}>`;
  }
  if (kind === STRUCT) {
    const fields = (type?.structType?.field ?? []).map((f) => {
      const fieldType = typeName(f.fieldType);
      return fieldType && (f.fieldName ? `\`${f.fieldName}\` ${fieldType}` : fieldType);
    });
    return fields.every(Boolean) ? `STRUCT<${fields.join(', ')}>` : undefined;
  }
  if (kind === RANGE) {
    const element = typeName(type?.rangeType?.elementType);
    return element && `RANGE<${element}>`;
  }
  return TYPE_NAMES.get(kind);
}

type Resolved = Record<string, unknown>;

function outputColumns(response: AnalyzeResponse | undefined): Column[] {
  const statement = response?.resolvedStatement as unknown as Record<string, { outputColumnList?: { name: string; column?: { type?: TypeProto } }[] } | undefined> | undefined;
  return (statement?.resolvedQueryStmtNode?.outputColumnList ?? []).map((c) => ({ name: c.name, type: c.column?.type ?? { typeKind: 0 } }));
}

/**
 * The table or view a CREATE statement makes, with its columns. The resolved AST nests a create
 * statement as resolvedCreateStatementNode → (table or view base) → the concrete node, whose
 * `parent` chain holds the column definitions and the name path.
 */
function createdTable(response: AnalyzeResponse | undefined): { name: string; columns: Column[]; temporary: boolean } | undefined {
  const create = (response?.resolvedStatement as unknown as Resolved | undefined)?.resolvedCreateStatementNode as Resolved | undefined;
  const base = create && (Object.values(create).find((v) => v && typeof v === 'object') as Resolved | undefined);
  let node = base && (Object.values(base).find((v) => v && typeof v === 'object') as Resolved | undefined);
  let columns: Column[] | undefined;
  let namePath: string[] | undefined;
  let temporary = false;
  while (node) {
    const definitions = node.columnDefinitionList as { name: string; type: TypeProto }[] | undefined;
    if (definitions && !columns) columns = definitions.map((d) => ({ name: d.name, type: d.type }));
    if (Array.isArray(node.namePath)) {
      namePath = node.namePath as string[];
      // ResolvedCreateStatement.CreateScope: CREATE_TEMP is 3.
      temporary = Number(node.createScope) === 3;
    }
    node = node.parent as Resolved | undefined;
  }
  return namePath && columns ? { name: namePath.join('.'), columns, temporary } : undefined;
}

/** Identifier tokens named like a variable (not qualified, not a parameter) replaced; strings, backticks and comments untouched. */
function substitute(sql: string, variables: Map<string, string>): string {
  if (variables.size === 0) return sql;
  const tokens = tokenize(sql);
  return tokens
    .map((t, i) => {
      if (t.kind !== 'word') return t.text;
      const type = variables.get(t.text.toLowerCase());
      const previous = tokens[i - 1]?.text;
      return type && previous !== '.' && previous !== '@' ? `CAST(NULL AS ${type})` : t.text;
    })
    .join('');
}

/** `sql` with its first `length` characters blanked out, newlines kept, so positions in the rest stay those of the statement. */
function blankPrefix(sql: string, length: number, replacement: string): string {
  const blank = sql.slice(0, length).replace(/[^\n]/g, ' ');
  return replacement + blank.slice(replacement.length) + sql.slice(length);
}

const DECLARE = /^DECLARE\s+((?:[A-Za-z_]\w*)(?:\s*,\s*[A-Za-z_]\w*)*)\s*([\s\S]*?)(?:\bDEFAULT\b([\s\S]*))?$/i;
const SET = /^SET\s+(?:([A-Za-z_]\w*)|\(([^)]*)\)|@@[\w.]+)\s*=([\s\S]*)$/i;

/**
 * Analyses, with ZetaSQL in BigQuery's product mode, every statement a `dataform run` would send to
 * BigQuery (statements.ts, exactly as Dataform writes them), in dependency order, on every path a
 * run can take: for a table its first run, and for an incremental table also the incremental run
 * (and a --full-refresh of a protected one, the same MERGE). The catalog starts with the declared raw
 * table and each dataset's INFORMATION_SCHEMA.PARTITIONS, and grows with every table and view a
 * statement creates, with the columns the analyzer resolved, so a model reading a column its
 * upstream does not produce fails.
 *
 * A script is split into statements (the analyzer takes one at a time). DECLARE and SET are checked
 * as the SELECT of their expression; the variable then stands in as `CAST(NULL AS <type>)` in the
 * statements after it, its type declared or inferred from the expression. As BigQuery stops a
 * script at its first error, so does the analysis of that script.
 *
 * require_partition_filter is enforced as BigQuery does (checkPartitionFilters): on the raw table
 * (filter on publish_time, as provisioned) and on every table configured with
 * `bigquery.requirePartitionFilter`, and through the views over them.
 */
export async function checkGraph(server: ZetaSqlServer, graph: CompiledGraph, raw: { key: string }): Promise<ActionCheck[]> {
  const languageOptions = await server.bigQueryLanguageOptions([...DATAFORM_STATEMENT_KINDS]);
  const tables = new Map<string, Column[]>([[raw.key, RAW_COLUMNS.map((c) => ({ name: c.name, type: scalar(c.type) }))]]);
  const datasets = new Set([raw.key.split('.').slice(0, 2).join('.')]);
  for (const t of [...(graph.tables ?? []), ...(graph.assertions ?? []), ...(graph.operations ?? []), ...(graph.declarations ?? [])]) {
    datasets.add(`${t.target.database}.${t.target.schema}`);
  }
  for (const dataset of datasets) {
    tables.set(`${dataset}.INFORMATION_SCHEMA.PARTITIONS`, PARTITIONS_COLUMNS.map(([name, type]) => ({ name, type: scalar(type) })));
  }

  const analyze = (sql: string, temporary: Map<string, Column[]> = new Map()) => {
    const catalog = new Map([...tables, ...temporary]);
    const request: AnalyzeRequest = {
      options: { languageOptions, errorMessageMode: 'ERROR_MESSAGE_ONE_LINE', defaultTimezone: 'UTC' },
      simpleCatalog: {
        name: 'bigquery',
        table: [...catalog].map(([name, columns]) => ({ name, column: columns.map((c) => ({ name: c.name, type: c.type })) })),
        builtinFunctionOptions: { languageOptions },
      },
      sqlStatement: sql,
    };
    return server.analyze(request);
  };

  const required: RequiredFilters = new Map([[raw.key.toLowerCase(), [{ column: RAW_PARTITION_COLUMN, table: raw.key, tableColumn: RAW_PARTITION_COLUMN }]]]);
  for (const table of graph.tables ?? []) {
    const column = requiredPartitionColumn(table);
    const key = targetKey(table.target);
    if (column) required.set(key.toLowerCase(), [{ column, table: key, tableColumn: column }]);
  }

  const results: ActionCheck[] = [];
  for (const action of actionsInDependencyOrder(graph)) {
    if (action.kind === 'declaration') {
      if (!tables.has(action.name)) {
        results.push({ name: action.name, file: action.target.name, ok: false, statements: [{ purpose: 'declaration', ok: false, message: 'no schema known for this declared table' }] });
      }
      continue;
    }
    const failedUpstream = action.dependencies.find((d) => results.some((r) => r.name === d && !r.ok));
    if (failedUpstream) {
      results.push({ name: action.name, file: fileOf(action), ok: false, skipped: true, statements: [{ purpose: 'skipped', ok: false, message: `upstream ${failedUpstream} has errors` }] });
      continue;
    }
    results.push(await checkAction(action, analyze, tables, required));
  }
  return results;
}

function fileOf(action: Exclude<Action, { kind: 'declaration' }>): string {
  return action.kind === 'table' ? action.table.fileName : action.kind === 'assertion' ? action.assertion.fileName : action.operation.fileName;
}

type Analyze = (sql: string, temporary?: Map<string, Column[]>) => Promise<AnalyzeResponse | undefined>;

async function checkAction(action: Exclude<Action, { kind: 'declaration' }>, analyze: Analyze, tables: Map<string, Column[]>, required: RequiredFilters): Promise<ActionCheck> {
  const file = fileOf(action);
  const statements: StatementResult[] = [];
  const fail = (purpose: string, error: unknown) => {
    statements.push({ purpose, ok: false, ...describe(error) });
    return { name: action.name, file, ok: false, statements };
  };
  // A fixed id for INSERT_OVERWRITE's staging table: Dataform's is random, and the name does not matter here.
  const uniqueId = () => 'check';
  const analysed = new Set<string>();
  const run = async (tasks: ExecutionTask[]) => {
    for (const task of tasks) {
      if (analysed.has(task.statement)) continue;
      analysed.add(task.statement);
      if (!(await checkScript(task, analyze, tables, required, statements))) return false;
    }
    return true;
  };

  if (action.kind !== 'table') {
    let tasks: ExecutionTask[];
    try {
      tasks = actionTasks(action);
    } catch (error) {
      return fail('statements', error);
    }
    await run(tasks);
    return { name: action.name, file, ok: statements.every((s) => s.ok), statements };
  }

  // The first run creates the table: its columns are then what the incremental MERGE lists (Dataform
  // reads them from the table's metadata) and what downstream models resolve against. The other
  // paths of an incremental table follow; a path whose script is one already analysed (a
  // --full-refresh of an unprotected table is the first run's script again) is not repeated.
  const [first] = runStates(action.table, []);
  try {
    if (!(await run(actionTasks(action, first.state, uniqueId)))) return { name: action.name, file, ok: false, statements };
  } catch (error) {
    return fail(`statements (${first.name})`, error);
  }
  if (action.table.type === 'incremental') {
    const columns = (tables.get(action.name) ?? []).map((c) => c.name);
    for (const { name, state } of runStates(action.table, columns).slice(1)) {
      try {
        if (!(await run(actionTasks(action, state, uniqueId)))) break;
      } catch (error) {
        return fail(`statements (${name})`, error);
      }
    }
  }
  return { name: action.name, file, ok: statements.every((s) => s.ok), statements };
}

/**
 * Analyses one job's statements in order, as one BigQuery script: variables declared by one
 * statement stand in for the statements after it, and tables created by one are in the catalog of
 * the next. Returns false at the first error (BigQuery stops the script there).
 */
async function checkScript(task: ExecutionTask, analyze: Analyze, tables: Map<string, Column[]>, required: RequiredFilters, results: StatementResult[]): Promise<boolean> {
  const variables = new Map<string, string>();
  const temporary = new Map<string, Column[]>();
  const typeOf = async (type: string) => outputColumns(await analyze(`SELECT CAST(NULL AS ${type})`)).at(0)?.type;
  const record = async (purpose: string, check: () => Promise<void>) => {
    try {
      await check();
      results.push({ purpose, ok: true });
      return true;
    } catch (error) {
      results.push({ purpose, ok: false, ...describe(error) });
      return false;
    }
  };

  /** The value's type checked against the variable's: equal, or coercible (their supertype is the variable's). */
  const assignable = async (target: string, expressionSql: string, value: TypeProto | undefined) => {
    const valueName = typeName(value);
    const declared = typeName(await typeOf(target));
    if (valueName === declared) return;
    const merged = typeName(outputColumns(await analyze(`SELECT IF(FALSE, CAST(NULL AS ${target}), (${expressionSql}))`, temporary).catch(() => undefined))[0]?.type);
    if (merged !== declared) throw new Error(`the value has type ${valueName ?? 'unknown'}, not coercible to the declared ${target}`);
  };

  for (const statement of taskStatements(task)) {
    const sql = statement.sql;
    const declare = DECLARE.exec(sql);
    if (declare) {
      const names = declare[1].split(',').map((n) => n.trim());
      const type = declare[2].trim();
      // An optional group: undefined when the DECLARE has no DEFAULT.
      const expression = declare[3] as string | undefined;
      const ok = await record(`${statement.purpose} (DECLARE ${names.join(', ')})`, async () => {
        let resolved = type;
        if (expression !== undefined) {
          const at = sql.length - expression.length;
          const select = substitute(blankPrefix(sql, at, 'SELECT'), variables);
          const response = await analyze(select, temporary);
          checkPartitionFilters(response, required);
          const value = outputColumns(response)[0]?.type;
          if (type) await assignable(type, substitute(expression, variables), value);
          else resolved = typeName(value) ?? '';
          if (!resolved) throw new Error(`cannot infer a type for ${names.join(', ')} from its DEFAULT`);
        } else if (!type) {
          throw new Error('DECLARE needs a type or a DEFAULT');
        } else if (!(await typeOf(type))) {
          throw new Error(`unknown type ${type}`);
        }
        for (const name of names) variables.set(name.toLowerCase(), resolved);
      });
      if (!ok) return false;
      continue;
    }
    const set = SET.exec(sql);
    if (set) {
      // Alternative groups: only the one that matched is defined.
      const name = set[1] as string | undefined;
      const tuple = set[2] as string | undefined;
      const expression = set[3];
      const ok = await record(`${statement.purpose} (SET ${name ?? tuple ?? 'system variable'})`, async () => {
        const at = sql.length - expression.length;
        const response = await analyze(substitute(blankPrefix(sql, at, 'SELECT'), variables), temporary);
        checkPartitionFilters(response, required);
        const value = outputColumns(response)[0]?.type;
        if (name) {
          const type = variables.get(name.toLowerCase());
          if (!type) throw new Error(`Unrecognized variable: ${name}`);
          await assignable(type, substitute(expression, variables), value);
        }
      });
      if (!ok) return false;
      continue;
    }
    const keyword = UNSUPPORTED_SCRIPTING.exec(sql)?.[1];
    if (keyword) {
      results.push({ purpose: statement.purpose, ok: false, message: `orchestrator check cannot analyse the scripting statement ${keyword.toUpperCase()}` });
      return false;
    }
    const ok = await record(statement.purpose, async () => {
      const response = await analyze(substitute(sql, variables), temporary);
      checkPartitionFilters(response, required);
      const created = createdTable(response);
      if (created) (created.temporary ? temporary : tables).set(created.name, created.columns);
    });
    if (!ok) return false;
  }
  return true;
}

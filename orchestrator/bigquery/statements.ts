// The SQL a `dataform run` (@dataform/cli 3.0.69) sends to BigQuery for each action, reproduced text
// for text from the CLI's `ExecutionSql` (its bundle.js): same templates, same whitespace, same
// concatenation. tests/dataform-statements.test.ts runs the CLI's own class on the project's compiled
// graph and requires identical output on every path, so any drift here fails `npm test`.
//
// The CLI sends, per action:
// - a table, view or incremental table: ONE script (one BigQuery job): its pre-operations, a `drop`
//   of the object of the other type when one exists, the write (create or replace / merge / insert),
//   and its post-operations, joined by `concatenateQueries`;
// - an assertion: `create or replace view` of its query, then `select sum(1) as row_count` from it;
// - an operation: each of its queries as its own job, untouched.
import type { CompiledAssertion, CompiledOperation, CompiledTable } from '../dataform/compile.js';
import type { Action } from '../dataform/graph.js';
import { UserError } from '../errors.js';
import type { Target } from '../identifiers.js';
import type { WritePath } from '../runner/run.js';

/** What Dataform reads from BigQuery's table metadata before it writes a table. */
export interface ExistingTable {
  type: 'table' | 'view';
  /** The table's columns in order (the MERGE lists them). */
  columns: string[];
}

/** The run's inputs that change which SQL Dataform sends. */
export interface RunState {
  /** `dataform run --full-refresh`. */
  fullRefresh?: boolean;
  /** The target as it exists in BigQuery before the run; undefined when it does not exist. */
  existing?: ExistingTable;
}

/** A part of a script and what it is for: 'pre-operation', 'create table', 'incremental merge', ... */
export interface ScriptPart {
  purpose: string;
  sql: string;
}

/** One job Dataform runs: a script (possibly many statements), or an assertion's row count. */
export interface ExecutionTask {
  type: 'statement' | 'assertion';
  /** Exactly the text sent to BigQuery. */
  statement: string;
  /** The parts the statement was made of, with their character ranges in `statement`. */
  parts: (ScriptPart & { start: number; end: number })[];
}

/** One statement of a script, with what it is for. */
export interface BigQueryStatement {
  purpose: string;
  sql: string;
}

/** Dataform's default: a random suffix for the temporary objects of INSERT_OVERWRITE. */
export const randomUniqueId = (): string => Math.random().toString(36).substring(2);

/** `CompilationSql.resolveTarget`: compiled targets always carry their schema (and database when the project has one). */
export function resolveTarget(target: Target): string {
  return target.database ? `\`${target.database}.${target.schema}.${target.name}\`` : `\`${target.schema}.${target.name}\``;
}

/**
 * `formatStatement`: a trailing `--` comment on the last line is kept after the code, and a `;` is
 * added to every statement but the last, so that the comment cannot swallow the separator.
 */
function formatStatement(statement: string, isLast: boolean): string {
  const lastLineStart = statement.lastIndexOf('\n') + 1;
  const commentIndex = statement.indexOf('--', lastLineStart);
  let code: string;
  let comment: string;
  if (commentIndex === 0) {
    code = '';
    comment = statement;
  } else if (commentIndex > 0) {
    code = statement.substring(0, commentIndex).trimEnd();
    comment = statement.substring(commentIndex);
  } else {
    code = statement;
    comment = '';
  }
  if (!isLast && code.length > 0 && !code.endsWith(';')) code = `${code};`;
  if (code.length > 0 && comment.length > 0) return `${code} ${comment}`;
  return code || comment;
}

/** `concatenateQueries` (without a modifier, as `Tasks.concatenate` calls it), keeping each part's range. */
export function concatenateParts(parts: ScriptPart[]): ExecutionTask['parts'] {
  const kept = parts.map((p) => ({ purpose: p.purpose, sql: p.sql.trim() })).filter((p) => p.sql.length > 0);
  const located: ExecutionTask['parts'] = [];
  let offset = 0;
  kept.forEach((part, index) => {
    const text = formatStatement(part.sql, index === kept.length - 1);
    located.push({ purpose: part.purpose, sql: text, start: offset, end: offset + text.length });
    offset += text.length + 1;
  });
  return located;
}

function concatenate(parts: ScriptPart[]): ExecutionTask {
  const located = concatenateParts(parts);
  return { type: 'statement', statement: located.map((p) => p.sql).join('\n'), parts: located };
}

/** `ExecutionSql.shouldWriteIncrementally`: a protected incremental table is merged into even on --full-refresh. */
export function shouldWriteIncrementally(table: CompiledTable, state: RunState): boolean {
  return (!state.fullRefresh || Boolean(table.protected)) && state.existing !== undefined && state.existing.type !== 'view';
}

function createOrReplace(table: CompiledTable): string {
  const bigquery = table.bigquery;
  const options: string[] = [];
  if (bigquery?.partitionBy && bigquery.partitionExpirationDays) options.push(`partition_expiration_days=${bigquery.partitionExpirationDays}`);
  if (bigquery?.partitionBy && bigquery.requirePartitionFilter) options.push(`require_partition_filter=${bigquery.requirePartitionFilter}`);
  for (const [name, value] of Object.entries(bigquery?.additionalOptions ?? {})) options.push(`${name}=${value}`);
  const kind = table.type === 'view' ? 'view' : 'table';
  const partition = bigquery?.partitionBy ? `partition by ${bigquery.partitionBy} ` : '';
  const cluster = bigquery?.clusterBy && bigquery.clusterBy.length > 0 ? `cluster by ${bigquery.clusterBy.join(', ')} ` : '';
  // No space between OPTIONS(...) and `as`: Dataform writes it so.
  return `create or replace ${table.materialized ? 'materialized ' : ''}${kind} ${resolveTarget(table.target)} ${partition}${cluster}${options.length > 0 ? `OPTIONS(${options.join(',')})` : ''}as ${table.query}`;
}

function createOrReplaceView(target: Target, query: string): string {
  return `\n      create or replace view ${resolveTarget(target)} as ${query}`;
}

/**
 * The conditions Dataform adds to a MERGE (and an insert-overwrite's delete) beyond the unique key:
 * `DATAFORM_DEST.<updatePartitionFilter>`, and the non-blank `incrementalPredicates`, which name
 * DATAFORM_DEST and DATAFORM_SOURCE themselves. The one source of both the CLI's text (below) and the
 * local runner's MERGE (runner/run.ts), so the two bound the target alike.
 */
export function mergeConditions(table: CompiledTable): { partitionFilter?: string; predicates: string[] } {
  const updatePartitionFilter = table.bigquery?.updatePartitionFilter;
  return {
    partitionFilter: updatePartitionFilter ? `DATAFORM_DEST.${updatePartitionFilter}` : undefined,
    predicates: (table.bigquery?.incrementalPredicates ?? []).filter((p) => p.trim() !== ''),
  };
}

/** `mergeConditions` as one list, in Dataform's order. */
export function mergeConditionList(table: CompiledTable): string[] {
  const { partitionFilter, predicates } = mergeConditions(table);
  return partitionFilter ? [partitionFilter, ...predicates] : predicates;
}

/** The CLI's text for the conditions: ` and <partition filter>` after the key, and `and (p1) and (p2)` on the next line. */
function mergeConditionsText(table: CompiledTable): { partitionFilter: string; predicates: string } {
  const { partitionFilter, predicates } = mergeConditions(table);
  return {
    partitionFilter: partitionFilter ? `and ${partitionFilter}` : '',
    predicates: predicates.length === 0 ? '' : ` and ${predicates.map((p) => `(${p})`).join(' and ')}`,
  };
}

function mergeInto(table: CompiledTable, columns: string[], query: string, uniqueKey: string[]): string {
  const conditions = mergeConditionsText(table);
  const backticked = columns.map((c) => `\`${c}\``);
  return `
merge ${resolveTarget(table.target)} DATAFORM_DEST
using (${query}
) DATAFORM_SOURCE
on ${uniqueKey.map((k) => `DATAFORM_DEST.${k} = DATAFORM_SOURCE.${k}`).join(' and ')} ${conditions.partitionFilter}
${conditions.predicates}
when matched then
  update set ${columns.map((c) => `\`${c}\` = DATAFORM_SOURCE.${c}`).join(',')}
when not matched then
  insert (${backticked.join(',')}) values (${backticked.join(',')})`;
}

/** The template's lines end with a tab before the newline: kept, since the text must match byte for byte. */
function insertInto(target: Target, columns: string[], query: string): string {
  return `\t\ninsert into ${resolveTarget(target)}\t\n(${columns.join(',')})\t\nselect ${columns.join(',')}\t\nfrom (${query}) as insertions`;
}

function insertOverwrite(table: CompiledTable, columns: string[], query: string, uniqueId: () => string): string {
  const partitionBy = table.bigquery?.partitionBy;
  const conditions = mergeConditionsText(table);
  const staging = `staging_table_temp_${uniqueId()}`;
  const backticked = columns.map((c) => `\`${c}\``);
  return `CREATE OR REPLACE TEMP TABLE \`${staging}\` AS (
  ${query}
);

BEGIN
  DECLARE partitions_for_replacement DEFAULT (
    ARRAY(
      SELECT DISTINCT ${partitionBy}
      FROM \`${staging}\`
      WHERE ${partitionBy} IS NOT NULL
    )
  );

  MERGE ${resolveTarget(table.target)} DATAFORM_DEST
  USING \`${staging}\` DATAFORM_SOURCE
  ON FALSE
  WHEN NOT MATCHED BY SOURCE AND ${partitionBy} IN UNNEST(partitions_for_replacement) ${conditions.partitionFilter}
  ${conditions.predicates}
  THEN
    DELETE
  WHEN NOT MATCHED BY TARGET THEN
    INSERT (${backticked.join(',')}) VALUES (${backticked.join(',')});
END;

DROP TABLE IF EXISTS \`${staging}\`;`;
}

/** `getIncrementalQuery`: the incremental query, wrapped when the table has a legacy `where`. */
function incrementalQuery(table: CompiledTable): string {
  const query = table.incrementalQuery || table.query;
  return table.where ? `\n  select * from (${query}) as subquery\n    where ${table.where}` : query;
}

function incrementalWrite(table: CompiledTable, columns: string[], uniqueId: () => string): ScriptPart {
  const schemaChange = table.onSchemaChange ?? 'IGNORE';
  if (schemaChange !== 'IGNORE') {
    // FAIL/EXTEND/SYNCHRONIZE make Dataform create and call a stored procedure that compares schemas
    // through INFORMATION_SCHEMA.COLUMNS and runs EXECUTE IMMEDIATE: nothing ZetaSQL can analyse.
    throw new UserError(`${table.fileName}: onSchemaChange: ${schemaChange} is not supported by orchestrator check (only IGNORE)`);
  }
  const query = incrementalQuery(table);
  if (table.incrementalStrategy === 'INSERT_OVERWRITE') return { purpose: 'insert overwrite', sql: insertOverwrite(table, columns, query, uniqueId) };
  if (table.uniqueKey && table.uniqueKey.length > 0) return { purpose: 'incremental merge', sql: mergeInto(table, columns, query, table.uniqueKey) };
  return { purpose: 'incremental insert', sql: insertInto(table.target, columns.map((c) => `\`${c}\``), query) };
}

/** `ExecutionSql.publishTasks`: the one script of a table, view or incremental table. */
export function tableScript(table: CompiledTable, state: RunState = {}, uniqueId: () => string = randomUniqueId): ExecutionTask {
  if (table.jitCode) throw new UserError(`${table.fileName}: actions compiled just in time (jitCode) are not supported by orchestrator check`);
  // Dataform takes the incremental pre/post operations only for @dataform/core > 1.4.8; this project pins 3.x.
  const incremental = table.type === 'incremental' && shouldWriteIncrementally(table, state);
  const parts: ScriptPart[] = [];
  for (const sql of (incremental ? table.incrementalPreOps : table.preOps) ?? []) parts.push({ purpose: incremental ? 'incremental pre-operation' : 'pre-operation', sql });
  const baseType = table.type === 'view' ? 'view' : 'table';
  if (state.existing && state.existing.type !== baseType) {
    const opposite = baseType === 'table' ? 'view' : 'table';
    parts.push({ purpose: `drop ${opposite}`, sql: `drop ${opposite} if exists ${resolveTarget(table.target)}` });
  }
  if (incremental) {
    parts.push(incrementalWrite(table, state.existing?.columns ?? [], uniqueId));
  } else {
    parts.push({ purpose: `create ${table.materialized ? 'materialized ' : ''}${baseType}`, sql: createOrReplace(table) });
  }
  for (const sql of (incremental ? table.incrementalPostOps : table.postOps) ?? []) parts.push({ purpose: incremental ? 'incremental post-operation' : 'post-operation', sql });
  return concatenate(parts);
}

/** `ExecutionSql.assertTasks`: the view, then the row count the run fails on. */
export function assertionTasks(assertion: CompiledAssertion): ExecutionTask[] {
  const view = createOrReplaceView(assertion.target, assertion.query);
  const check = `select sum(1) as row_count from ${resolveTarget(assertion.target)}`;
  return [
    { type: 'statement', statement: view, parts: [{ purpose: 'assertion view', sql: view, start: 0, end: view.length }] },
    { type: 'assertion', statement: check, parts: [{ purpose: 'assertion check', sql: check, start: 0, end: check.length }] },
  ];
}

/** `ExecutionSql.createOperationTasks`: each query is its own job, sent as written. */
export function operationTasks(operation: CompiledOperation): ExecutionTask[] {
  return operation.queries.map((sql) => ({ type: 'statement', statement: sql, parts: [{ purpose: 'operation', sql, start: 0, end: sql.length }] }));
}

/** Every job `dataform run` sends for an action, in order, given the state of its target. */
export function actionTasks(action: Exclude<Action, { kind: 'declaration' }>, state: RunState = {}, uniqueId: () => string = randomUniqueId): ExecutionTask[] {
  // As createTableTasks/createAssertionTasks/createOperationTasks: a disabled action sends nothing.
  const disabled = action.kind === 'table' ? action.table.disabled : action.kind === 'assertion' ? action.assertion.disabled : action.operation.disabled;
  if (disabled) return [];
  if (action.kind === 'operation') return operationTasks(action.operation);
  if (action.kind === 'assertion') return assertionTasks(action.assertion);
  return [tableScript(action.table, state, uniqueId)];
}

/**
 * The states that lead Dataform to send different SQL for a table: absent (first run), existing
 * (incremental run), and existing on --full-refresh (a MERGE again when the table is protected,
 * otherwise the first run's script). `columns` are the existing table's.
 */
export function runStates(table: CompiledTable, columns: string[]): { name: string; state: RunState }[] {
  const existing: ExistingTable = { type: table.type === 'view' ? 'view' : 'table', columns };
  return [
    { name: 'first run', state: {} },
    { name: 'incremental run', state: { existing } },
    { name: 'full refresh', state: { existing, fullRefresh: true } },
  ];
}

// ---------------------------------------------------------------------------------------------------
// Splitting a script into statements. BigQuery runs a script; ZetaSQL's analyzer takes one statement.

export interface Token {
  kind: 'word' | 'string' | 'quoted' | 'comment' | 'space' | 'punct';
  text: string;
  start: number;
}

/**
 * A small lexer for BigQuery SQL, enough to split scripts and rename variables safely: quoted
 * strings (single, double, triple, with prefixes r/b), backticked identifiers, `--`, `#` and
 * `/* *\/` comments, words, and single punctuation characters.
 */
export function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const push = (kind: Token['kind'], end: number) => {
    tokens.push({ kind, text: sql.slice(i, end), start: i });
    i = end;
  };
  while (i < sql.length) {
    const c = sql[i];
    if (/\s/.test(c)) {
      let j = i + 1;
      while (j < sql.length && /\s/.test(sql[j])) j++;
      push('space', j);
    } else if ((c === '-' && sql[i + 1] === '-') || c === '#') {
      const end = sql.indexOf('\n', i);
      push('comment', end === -1 ? sql.length : end);
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      push('comment', end === -1 ? sql.length : end + 2);
    } else if (c === '`' || c === "'" || c === '"') {
      push(c === '`' ? 'quoted' : 'string', quotedEnd(sql, i));
    } else if (/[A-Za-z_0-9]/.test(c)) {
      let j = i + 1;
      while (j < sql.length && /[A-Za-z_0-9]/.test(sql[j])) j++;
      // A string prefix (r'', b"", rb''...) belongs to the string.
      if (/^[rRbB]{1,2}$/.test(sql.slice(i, j)) && (sql[j] === "'" || sql[j] === '"')) push('string', quotedEnd(sql, j));
      else push('word', j);
    } else {
      push('punct', i + 1);
    }
  }
  return tokens;
}

/** The end of the quoted literal or identifier starting at `start` (a backslash escapes the next character). */
function quotedEnd(sql: string, start: number): number {
  const quote = sql[start];
  const triple = quote !== '`' && sql.startsWith(quote.repeat(3), start);
  const close = triple ? quote.repeat(3) : quote;
  let j = start + close.length;
  while (j < sql.length) {
    if (sql[j] === '\\') j += 2;
    else if (sql.startsWith(close, j)) return j + close.length;
    else j++;
  }
  return sql.length;
}

export interface ScriptStatement {
  /** The statement's text, without its `;` (comments inside it kept). */
  sql: string;
  /** Where it starts in the script. */
  start: number;
}

/**
 * Splits a script into its statements at top-level `;`. `BEGIN ... END` blocks (and their
 * `EXCEPTION WHEN ERROR THEN` handlers) are flattened into the statements they hold: the analyzer
 * checks each, and a block adds nothing else to check. Other control flow (IF, LOOP, ...) comes out
 * as statements starting with its keyword, which the caller reports as unsupported.
 */
export function splitScript(script: string): ScriptStatement[] {
  const tokens = tokenize(script);
  const statements: ScriptStatement[] = [];
  let current: Token[] = [];
  const flush = () => {
    const meaningful = current.filter((t) => t.kind !== 'space' && t.kind !== 'comment');
    if (meaningful.length > 0 && !(meaningful.length === 1 && /^END$/i.test(meaningful[0].text))) {
      // From the first token that is code: a comment before it may be the previous statement's
      // trailing comment, which formatStatement puts after the `;`.
      const first = current.findIndex((t) => t.kind !== 'space' && t.kind !== 'comment');
      const last = current.length - 1 - [...current].reverse().findIndex((t) => t.kind !== 'space');
      const start = current[first].start;
      const end = current[last].start + current[last].text.length;
      statements.push({ sql: script.slice(start, end), start });
    }
    current = [];
  };
  const nextWord = (index: number) => tokens.slice(index + 1).find((t) => t.kind !== 'space' && t.kind !== 'comment');
  for (let index = 0; index < tokens.length; index++) {
    const token = tokens[index];
    const atStart = current.every((t) => t.kind === 'space' || t.kind === 'comment');
    if (token.kind === 'punct' && token.text === ';') {
      flush();
      continue;
    }
    if (atStart && token.kind === 'word' && /^BEGIN$/i.test(token.text) && !/^TRANSACTION$/i.test(nextWord(index)?.text ?? '')) {
      current = [];
      continue;
    }
    if (atStart && token.kind === 'word' && /^EXCEPTION$/i.test(token.text)) {
      // `EXCEPTION WHEN ERROR THEN`: the handler's statements follow.
      while (index < tokens.length && !/^THEN$/i.test(tokens[index].text)) index++;
      current = [];
      continue;
    }
    current.push(token);
  }
  flush();
  return statements;
}

/** The statements of one job, each with the purpose of the part of the script it comes from. */
export function taskStatements(task: ExecutionTask): BigQueryStatement[] {
  return splitScript(task.statement).map((s) => ({
    purpose: task.parts.find((p) => s.start >= p.start && s.start < p.end)?.purpose ?? task.parts.at(0)?.purpose ?? 'statement',
    sql: s.sql,
  }));
}

/**
 * The statements, one by one, of what Dataform sends for an action on the runner's write path
 * (what `orchestrator check --cost` replays): 'incremental' is an existing table with `columns`.
 */
export function scriptStatements(action: Exclude<Action, { kind: 'declaration' }>, path: WritePath, columns: string[]): BigQueryStatement[] {
  const state: RunState = path === 'incremental' ? { existing: { type: 'table', columns } } : {};
  return actionTasks(action, state, () => 'orchestrator').flatMap(taskStatements);
}

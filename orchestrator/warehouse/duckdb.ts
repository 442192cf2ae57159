import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import {
  BOOLEAN,
  DuckDBConnection,
  DuckDBDataChunk,
  DuckDBInstance,
  DuckDBScalarFunction,
  DuckDBTimestampTZValue,
  DuckDBTypeId,
  type DuckDBResultReader,
  type DuckDBValue,
  StatementType,
  TIMESTAMPTZ,
  VARCHAR,
} from '@duckdb/node-api';
import { UserError, errorMessage } from '../errors.js';
import type { Target } from '../identifiers.js';
import { MEMORY_ENV, memoryBudget, type MemoryBudget } from './memory.js';
import type { Block, TableLayout } from '../bigquery/cost.js';
import type { Scalar } from '../bigquery/scans.js';
import { RAW_COLUMNS, Timestamp, rawPartitionsTarget, type QueryResult, type RawRow, type Row, type MergeCounts, type TableOptions, type Value, type Warehouse } from './warehouse.js';

const CHUNK_ROWS = 2048;
/** includes/increment.js keeps an array variable in a temporary table of one column, `value`, named with this prefix. */
const SCRIPT_ARRAY_PREFIX = 'script_array_';

const quoteIdentifier = (name: string) => `"${name.replaceAll('"', '""')}"`;
const quoteTarget = (t: Target) => [t.database, t.schema, t.name].map(quoteIdentifier).join('.');
const quoteLiteral = (value: string) => `'${value.replaceAll("'", "''")}'`;
// Metadata queries take literals, not bound parameters: run after every action through a prepared
// statement, a parameterized one crashed DuckDB's Node bindings (SIGSEGV) in 2 of 3 runs of
// tests/incremental; with literals, in none of the runs since.
const relationFilter = (target: Target) =>
  `table_catalog = ${quoteLiteral(target.database)} AND table_schema = ${quoteLiteral(target.schema)} AND table_name = ${quoteLiteral(target.name)}`;
/** The table holding the array variable `name` while an action runs. */
export const scriptArrayTable = (name: string) => `temp.main.${quoteIdentifier(SCRIPT_ARRAY_PREFIX + name)}`;

/**
 * Rewrites the two lexical forms that Dataform's BigQuery output uses and DuckDB reads differently:
 * - backticked `project.dataset.table` names become double-quoted three-part names (the database file
 *   is attached under the project's name with one schema per dataset, so they resolve as-is);
 * - `\'` inside a string literal (how Dataform quotes rowConditions labels) becomes `''`.
 * Everything else, other escapes included, is left to DuckDB; comments and strings are skipped over.
 */
export function bigQueryLexicalToDuckDb(sql: string): string {
  let out = '';
  let i = 0;
  while (i < sql.length) {
    const c = sql[i];
    if (c === '`') {
      const end = sql.indexOf('`', i + 1);
      if (end < 0) return out + sql.slice(i);
      out += sql.slice(i + 1, end).split('.').map(quoteIdentifier).join('.');
      i = end + 1;
    } else if (c === "'") {
      out += "'";
      i++;
      while (i < sql.length && sql[i] !== "'") {
        if (sql[i] === '\\' && sql[i + 1] === "'") { out += "''"; i += 2; }
        else if (sql[i] === '\\' && i + 1 < sql.length) { out += sql.slice(i, i + 2); i += 2; }
        else out += sql[i++];
      }
      if (i < sql.length) { out += "'"; i++; }
    } else if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      const stop = end < 0 ? sql.length : end;
      out += sql.slice(i, stop);
      i = stop;
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      const stop = end < 0 ? sql.length : end + 2;
      out += sql.slice(i, stop);
      i = stop;
    } else if (c === '"') {
      const end = sql.indexOf('"', i + 1);
      const stop = end < 0 ? sql.length : end + 1;
      out += sql.slice(i, stop);
      i = stop;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

function isStrictJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * `strict_json_valid(text)`: RFC 8259 validity as BigQuery's PARSE_JSON judges it. DuckDB's
 * json_valid also accepts trailing commas and NaN, which would turn a reject into a valid event.
 */
const strictJsonValid = DuckDBScalarFunction.create({
  name: 'strict_json_valid',
  returnType: BOOLEAN,
  parameterTypes: [VARCHAR],
  mainFunction: (_info, input, output) => {
    const texts = input.getColumnVector(0);
    for (let row = 0; row < input.rowCount; row++) {
      const text = texts.getItem(row);
      output.setItem(row, typeof text === 'string' ? isStrictJson(text) : null);
    }
    output.flush();
  },
});

// DuckDB's error type, not the phrase anywhere (an error can quote data).
const isOutOfMemory = (error: unknown) => /^Out of Memory Error/m.test(errorMessage(error));

function toValue(value: DuckDBValue, typeId: DuckDBTypeId): Value {
  if (value === null) return null;
  if (value instanceof DuckDBTimestampTZValue) return new Timestamp(value.micros);
  if (typeId === DuckDBTypeId.TIMESTAMP && typeof value === 'object' && 'micros' in value) {
    return new Timestamp((value as { micros: bigint }).micros);
  }
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    return value;
  }
  return String(value);
}

function toRows(values: DuckDBValue[][], columns: string[], typeIds: DuckDBTypeId[]): Row[] {
  return values.map((rowValues) => {
    const row: Row = {};
    rowValues.forEach((value, i) => { row[columns[i]] = toValue(value, typeIds[i]); });
    return row;
  });
}

function readRows(reader: DuckDBResultReader, limit?: number): QueryResult {
  const columns = reader.columnNames();
  const values = reader.getRows();
  return { columns, rows: toRows(limit === undefined ? values : values.slice(0, limit), columns, reader.columnTypes().map((t) => t.typeId)) };
}

export interface DuckDbOptions {
  /** The project id the DuckDB file is attached as, so BigQuery's three-part names resolve. */
  database: string;
  readOnly?: boolean;
  /**
   * For SQL a user typed (`query`) and exports: read-only, and no file, network, extension or
   * settings access once the warehouse is attached (see queryUntrusted).
   */
  sandbox?: boolean;
  /** DuckDB's memory_limit to start with and to raise to for a statement that runs out; default: memoryBudget(). */
  memory?: MemoryBudget;
  /** Where the warehouse says it raised its memory limit; default: stderr. */
  log?: (line: string) => void;
  /** Profile the models' statements through this file, counting the rows each table scan reads. */
  profileFile?: string;
}

/**
 * What a user's query returned: at most the rows asked for, each read by position (a result may
 * name two columns alike, as a join's `order_id`s), and whether there were more.
 */
export interface UserQueryResult {
  columns: string[];
  rows: Value[][];
  more: boolean;
}

/** The local warehouse: one DuckDB file in the work directory, in UTC, one schema per dataset. */
export class DuckDbWarehouse implements Warehouse {
  /** Rows read by table scans per table, when profiling (zone maps make it less than the table). */
  readonly rowsScanned = new Map<string, number>();

  private constructor(
    private readonly connection: DuckDBConnection,
    private readonly instance: DuckDBInstance,
    private readonly sandboxed: boolean,
    /** The name the warehouse file is attached under. */
    private readonly database: string,
    private memory: MemoryBudget,
    private readonly log: (line: string) => void,
    private readonly profileFile?: string,
  ) {}

  /**
   * Runs `work`, which must be atomic (one statement, or a transaction it rolls back on error), so
   * that it can run again. When DuckDB runs out of memory below the ceiling, the limit is raised to
   * the ceiling for the rest of this session and `work` runs once more; at the ceiling, the error
   * says which limit to raise.
   */
  private async withMemoryHeadroom<T>(what: string, work: () => Promise<T>, canRunAgain = () => Promise.resolve(true)): Promise<T> {
    const { start, ceiling } = this.memory;
    const atLimit = (error: unknown, limit: string, detail = '') => (isOutOfMemory(error)
      ? new Error(`DuckDB ran out of memory at its limit of ${limit}${detail}: raise --memory or $${MEMORY_ENV} (${errorMessage(error).split('\n')[0]})`)
      : error);
    try {
      return await work();
    } catch (error) {
      if (!isOutOfMemory(error) || start === ceiling) throw atLimit(error, start);
      if (!(await canRunAgain())) {
        await this.raiseLimit();
        throw atLimit(error, start, ` in ${what} of several statements, which is not run again (its first statements committed)`);
      }
    }
    await this.raiseLimit();
    this.log(`warehouse: ${what} needed more than ${start} of memory; raised DuckDB's limit to ${ceiling}; running it again`);
    try {
      return await work();
    } catch (error) {
      throw atLimit(error, ceiling);
    }
  }

  /** The rest of this session runs at the ceiling. */
  private async raiseLimit(): Promise<void> {
    await this.connection.run(`SET memory_limit = ${quoteLiteral(this.memory.ceiling)}`);
    this.memory = { start: this.memory.ceiling, ceiling: this.memory.ceiling };
  }

  /** Runs one of the models' statements, adding up what its scans read when profiling; returns the rows it changed. */
  private async runModelSql(sql: string): Promise<number> {
    const { rowsChanged } = await this.connection.run(sql);
    if (!this.profileFile) return rowsChanged;
    interface ProfileNode { operator_name?: string; operator_rows_scanned?: number; extra_info?: { Table?: string }; children?: ProfileNode[] }
    const visit = (node: ProfileNode) => {
      if (node.operator_name === 'TABLE_SCAN' || node.operator_name === 'SEQ_SCAN') {
        const table = node.extra_info?.Table ?? '?';
        this.rowsScanned.set(table, (this.rowsScanned.get(table) ?? 0) + (node.operator_rows_scanned ?? 0));
      }
      node.children?.forEach(visit);
    };
    visit(JSON.parse(readFileSync(this.profileFile, 'utf8')) as ProfileNode);
    return rowsChanged;
  }

  static async open(file: string, options: DuckDbOptions): Promise<DuckDbWarehouse> {
    const readOnly = Boolean(options.readOnly || options.sandbox);
    // Reading never creates the work directory: a mistyped --workdir says so and leaves nothing behind.
    if (readOnly && !existsSync(file)) throw new UserError(`no warehouse at ${file}: run 'orchestrator transform' (or load data) first`);
    if (!readOnly) mkdirSync(path.dirname(file), { recursive: true });
    const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
    const budget = options.memory ?? memoryBudget();
    // A sandbox locks its settings, so it cannot raise its limit later: it starts at the ceiling.
    const memory = options.sandbox ? { start: budget.ceiling, ceiling: budget.ceiling } : budget;
    // A sandbox never downloads or loads an extension on its own (INSTALL/LOAD are refused anyway).
    const config: Record<string, string> = options.sandbox ? { autoinstall_known_extensions: 'false', autoload_known_extensions: 'false' } : {};
    const instance = await DuckDBInstance.create(':memory:', config);
    const connection = await instance.connect();
    try {
      await connection.run(`SET TimeZone = 'UTC'`);
      // Bounded memory, spilling to the work directory beyond it; exports sort explicitly, so
      // insertion order need not be kept (which lets large CREATE TABLE AS stream).
      await connection.run(`SET memory_limit = ${quoteLiteral(memory.start)}`);
      await connection.run(`SET temp_directory = ${quoteLiteral(path.join(path.dirname(file), 'duckdb-tmp'))}`);
      await connection.run(`SET preserve_insertion_order = false`);
      connection.registerScalarFunction(strictJsonValid);
      await connection.run(
        `ATTACH ${quoteLiteral(file)} AS ${quoteIdentifier(options.database)}${readOnly ? ' (READ_ONLY)' : ''}`,
      );
      await connection.run(`USE ${quoteIdentifier(options.database)}`);
      if (options.profileFile) {
        await connection.run(`SET enable_profiling = 'json'`);
        await connection.run(`SET profiling_output = ${quoteLiteral(options.profileFile)}`);
      }
      if (options.sandbox) {
        // From here on no statement can open a file or URL (read_csv, COPY, ATTACH, INSTALL), and
        // no setting can change, these two included: spilling to temp_directory still works.
        await connection.run(`SET enable_external_access = false`);
        await connection.run(`SET lock_configuration = true`);
      }
    } catch (error) {
      connection.closeSync();
      instance.closeSync();
      const message = errorMessage(error);
      if (/Could not set lock|Conflicting lock/i.test(message)) {
        throw new UserError(`the warehouse ${file} is in use by another process; wait for it to finish (${message.split('\n')[0]})`);
      }
      if (isOutOfMemory(error) && memory.start !== memory.ceiling) {
        // Attaching replays the write-ahead log of a run that stopped before its checkpoint.
        log(`warehouse: opening ${file} needed more than ${memory.start} of memory; opening it with ${memory.ceiling}`);
        return DuckDbWarehouse.open(file, { ...options, memory: { start: memory.ceiling, ceiling: memory.ceiling } });
      }
      if (isOutOfMemory(error)) throw new UserError(`the memory limit ${memory.start} is too small to open the warehouse: raise --memory`);
      throw error;
    }
    return new DuckDbWarehouse(connection, instance, Boolean(options.sandbox), options.database, memory, log, options.profileFile);
  }

  async ensureDataset(database: string, schema: string): Promise<void> {
    await this.connection.run(`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(database)}.${quoteIdentifier(schema)}`);
  }

  async ensureRawTable(target: Target): Promise<void> {
    await this.ensureDataset(target.database, target.schema);
    const duckTypes = { STRING: 'VARCHAR', TIMESTAMP: 'TIMESTAMPTZ' } as const;
    const columns = RAW_COLUMNS.map((c) => `${quoteIdentifier(c.name)} ${duckTypes[c.type]}`).join(', ');
    await this.connection.run(`CREATE TABLE IF NOT EXISTS ${quoteTarget(target)} (${columns})`);
    const partitions = quoteTarget(rawPartitionsTarget(target));
    const exists = await this.relationKind(rawPartitionsTarget(target));
    if (exists) return;
    await this.connection.run(
      `CREATE TABLE ${partitions} (partition_id VARCHAR PRIMARY KEY, partition_start TIMESTAMPTZ, total_rows BIGINT, last_modified_time TIMESTAMPTZ)`,
    );
    // A warehouse made before the partition metadata existed: count its rows once.
    await this.connection.run(
      `INSERT INTO ${partitions} SELECT strftime(date_trunc('hour', publish_time), '%Y%m%d%H'), date_trunc('hour', publish_time), COUNT(*), now() FROM ${quoteTarget(target)} GROUP BY 1, 2`,
    );
  }

  /**
   * Appends rows to the raw table and, in the same transaction, counts them in its partition
   * metadata, as BigQuery's INFORMATION_SCHEMA.PARTITIONS counts rows per hourly partition.
   */
  async appendRawRows(target: Target, rows: RawRow[]): Promise<void> {
    if (rows.length === 0) return;
    const perHour = new Map<string, number>();
    for (const row of rows) {
      const hour = new Date(Number(row.publish_time.micros / 1000n)).toISOString().slice(0, 13);
      perHour.set(hour, (perHour.get(hour) ?? 0) + 1);
    }
    await this.withMemoryHeadroom(`appending to ${target.name}`, () => this.inTransaction(() => this.append(target, rows, perHour)));
  }

  /** Runs `work` in one transaction: committed whole, or rolled back with the error `work` threw. */
  private async inTransaction<T>(work: () => Promise<T>): Promise<T> {
    await this.connection.run('BEGIN TRANSACTION');
    try {
      const result = await work();
      await this.connection.run('COMMIT');
      return result;
    } catch (error) {
      // A COMMIT that fails has already ended the transaction: the original error is the one to report.
      await this.connection.run('ROLLBACK').catch(() => undefined);
      throw error;
    }
  }

  private async append(target: Target, rows: RawRow[], perHour: Map<string, number>): Promise<void> {
    const appender = await this.connection.createAppender(target.name, target.schema, target.database);
    try {
      // Column-wise chunks of DuckDB's vector size: far fewer native calls than value-by-value appends.
      for (let start = 0; start < rows.length; start += CHUNK_ROWS) {
        const slice = rows.slice(start, start + CHUNK_ROWS);
        const chunk = DuckDBDataChunk.create([VARCHAR, VARCHAR, TIMESTAMPTZ, VARCHAR, VARCHAR], slice.length);
        chunk.setColumns([
          slice.map((r) => r.subscription_name),
          slice.map((r) => r.message_id),
          slice.map((r) => new DuckDBTimestampTZValue(r.publish_time.micros)),
          slice.map((r) => r.data),
          slice.map((r) => r.attributes),
        ]);
        appender.appendDataChunk(chunk);
      }
      appender.flushSync();
    } finally {
      appender.closeSync();
    }
    const values = [...perHour].map(([hour, count]) =>
      `('${hour.replace(/[-T]/g, '')}', TIMESTAMPTZ '${hour}:00:00+00', ${count}, now())`).join(', ');
    await this.connection.run(
      `INSERT INTO ${quoteTarget(rawPartitionsTarget(target))} VALUES ${values} ON CONFLICT (partition_id) DO UPDATE ` +
        `SET total_rows = total_rows + EXCLUDED.total_rows, last_modified_time = EXCLUDED.last_modified_time`,
    );
  }

  async relationKind(target: Target): Promise<'table' | 'view' | null> {
    const reader = await this.connection.runAndReadAll(
      `SELECT table_type FROM information_schema.tables WHERE ${relationFilter(target)}`,
    );
    const type = reader.getRows().at(0)?.[0];
    if (type === undefined) return null;
    return type === 'VIEW' ? 'view' : 'table';
  }

  async columnNames(target: Target): Promise<string[]> {
    const reader = await this.connection.runAndReadAll(
      `SELECT column_name FROM information_schema.columns WHERE ${relationFilter(target)} ORDER BY ordinal_position`,
    );
    return reader.getRows().map((r) => String(r[0]));
  }

  // DuckDB has no partitions or clustering. Rows stay in the order the query yields them, which for
  // the order-keyed models is arrival order (publish time), as every later MERGE appends them anyway:
  // order ids grow with time, so each row group already holds a narrow range of them and DuckDB's zone
  // maps skip the row groups of untouched keys much as BigQuery skips partitions and clustered blocks
  // (sorting by the clustering columns cost 0.4 CPU s per million events and changed no incremental
  // scan). A table partitioned by a column (conversations_by_day, by day) is the exception: it comes
  // out of a parallel aggregation with every day in every row group, so it is stored in that column's
  // order, and the day filters of an incremental run skip the other days as BigQuery prunes them.
  async createOrReplaceTable(target: Target, query: string, options: TableOptions): Promise<void> {
    await this.withMemoryHeadroom(`creating ${target.name}`, () => this.createTableAs(target, query, options));
  }

  private async createTableAs(target: Target, query: string, options: TableOptions): Promise<void> {
    // A column, not an expression, nor an ingestion-time pseudo-column (_PARTITIONTIME), which no query yields.
    const partitionColumn = /^[A-Za-z][A-Za-z0-9_]*$/.test(options.partitionBy ?? '') ? options.partitionBy : undefined;
    const select = partitionColumn ? `SELECT * FROM (${bigQueryLexicalToDuckDb(query)}\n) ORDER BY ${quoteIdentifier(partitionColumn)}` : bigQueryLexicalToDuckDb(query);
    const create = `CREATE OR REPLACE TABLE ${quoteTarget(target)} AS ${select}`;
    // The models' tables are written without string compression. DuckDB otherwise builds a dictionary
    // and an FSST symbol table for every string column segment it writes and keeps the smaller, which
    // cost more CPU than writing the strings plain: a first build of 1.12M events took 3.62 to 3.73 s
    // against 4.01 to 4.07 s with dictionaries off only (alternating runs), for a warehouse file a
    // quarter larger (951 MB against 767 MB; README, "Building from raw"). Rows a run merges in keep
    // DuckDB's choice, and so does the raw table, which the sink appends to.
    await this.connection.run(`SET disabled_compression_methods = 'dictionary,fsst'`);
    try {
      await this.runModelSql(create);
    } finally {
      await this.connection.run('RESET disabled_compression_methods');
    }
  }

  async createOrReplaceView(target: Target, query: string): Promise<void> {
    await this.runModelSql(`CREATE OR REPLACE VIEW ${quoteTarget(target)} AS ${bigQueryLexicalToDuckDb(query)}`);
  }

  async drop(target: Target, kind: 'table' | 'view'): Promise<void> {
    await this.connection.run(`DROP ${kind === 'view' ? 'VIEW' : 'TABLE'} IF EXISTS ${quoteTarget(target)}`);
  }

  /**
   * Dataform's MERGE (every column of a matched row set from the source, unmatched rows inserted),
   * run as a delete of the matched rows and an insert of the source in one transaction: the same
   * result, and DuckDB rewrites rows far faster than it updates a million of them in place.
   */
  async mergeInto(target: Target, query: string, uniqueKey: string[], columns: string[], predicates: string[] = []): Promise<MergeCounts> {
    return this.withMemoryHeadroom(`merging into ${target.name}`, () => this.inTransaction(() => this.deleteAndInsert(target, query, uniqueKey, columns, predicates)));
  }

  private async deleteAndInsert(target: Target, query: string, uniqueKey: string[], columns: string[], predicates: string[]): Promise<MergeCounts> {
    // A condition on the target alone bounds the rows looked at, outside the correlated lookup: DuckDB
    // then filters the target once, where inside it the condition ran in every probe's plan.
    const onSource = (p: string) => /\bDATAFORM_SOURCE\b/i.test(p);
    const targetOnly = predicates.filter((p) => !onSource(p)).map((p) => `(${bigQueryLexicalToDuckDb(p)}) AND `).join('');
    const matched = [
      ...uniqueKey.map((k) => `DATAFORM_DEST.${quoteIdentifier(k)} = DATAFORM_SOURCE.${quoteIdentifier(k)}`),
      ...predicates.filter(onSource).map((p) => `(${bigQueryLexicalToDuckDb(p)})`),
    ].join(' AND ');
    const list = columns.map(quoteIdentifier).join(', ');
    await this.runModelSql(`CREATE OR REPLACE TEMP TABLE merge_source AS ${bigQueryLexicalToDuckDb(query)}`);
    const duplicates = await this.connection.runAndReadAll(
      `SELECT COUNT(*) FROM (SELECT 1 FROM temp.main.merge_source GROUP BY ${uniqueKey.map(quoteIdentifier).join(', ')} HAVING COUNT(*) > 1)`,
    );
    if (Number(duplicates.getRows()[0]?.[0] ?? 0) > 0) {
      throw new Error(`MERGE into ${target.name}: the source has several rows for one ${uniqueKey.join(', ')} (a unique key must be unique in the source: BigQuery rejects a MERGE where two source rows match one target row)`);
    }
    const unchanged = predicates.some(onSource) ? 0 : await this.dropUnchangedRows(target, uniqueKey, list, targetOnly);
    // The rows deleted are the matched ones MERGE would change; the source rows beyond them are new
    // (the unique key being unique in the target too, as the models' own assertions check).
    const updated = await this.runModelSql(
      `DELETE FROM ${quoteTarget(target)} AS DATAFORM_DEST WHERE ${targetOnly}EXISTS (SELECT 1 FROM temp.main.merge_source AS DATAFORM_SOURCE WHERE ${matched})`,
    );
    const written = await this.runModelSql(`INSERT INTO ${quoteTarget(target)} (${list}) SELECT ${list} FROM temp.main.merge_source`);
    await this.connection.run('DROP TABLE temp.main.merge_source');
    return { inserted: written - updated, updated: updated + unchanged };
  }

  /**
   * Drops from the MERGE's source the rows that a matched target row already holds, column for
   * column (NULLs alike): MERGE would set that row to the values it has. A run that re-reads an hour
   * of a million events rewrote every row of every order the hour touched, nearly all unchanged.
   * Returns how many it dropped: BigQuery counts them as updated. Only for conditions on the target
   * alone, which filter the target rows compared: a condition on the source decides matching pair
   * by pair.
   */
  private async dropUnchangedRows(target: Target, uniqueKey: string[], list: string, targetOnly: string): Promise<number> {
    const keys = uniqueKey.map(quoteIdentifier).join(', ');
    const sourceRows = async () => Number((await this.connection.runAndReadAll('SELECT COUNT(*) FROM temp.main.merge_source')).getRows()[0]?.[0] ?? 0);
    const before = await sourceRows();
    await this.runModelSql(
      `CREATE OR REPLACE TEMP TABLE merge_changes AS SELECT ${list} FROM temp.main.merge_source EXCEPT ` +
        `SELECT ${list} FROM ${quoteTarget(target)} AS DATAFORM_DEST WHERE ${targetOnly}(${keys}) IN (SELECT ${keys} FROM temp.main.merge_source)`,
    );
    await this.connection.run('DROP TABLE temp.main.merge_source');
    await this.connection.run('ALTER TABLE temp.main.merge_changes RENAME TO merge_source');
    return before - (await sourceRows());
  }

  async insertInto(target: Target, query: string, columns: string[]): Promise<number> {
    const list = columns.map(quoteIdentifier).join(', ');
    return this.withMemoryHeadroom(`inserting into ${target.name}`, () => this.runModelSql(`INSERT INTO ${quoteTarget(target)} (${list}) SELECT ${list} FROM (${bigQueryLexicalToDuckDb(query)})`));
  }

  async resetScriptVariables(): Promise<void> {
    const reader = await this.connection.runAndReadAll(`SELECT name FROM duckdb_variables()`);
    for (const [name] of reader.getRows()) await this.connection.run(`RESET VARIABLE ${quoteIdentifier(String(name))}`);
    // A literal prefix, not a bound parameter (see relationFilter).
    const arrays = await this.connection.runAndReadAll(
      `SELECT table_name FROM duckdb_tables() WHERE database_name = 'temp' AND starts_with(table_name, ${quoteLiteral(SCRIPT_ARRAY_PREFIX)})`,
    );
    for (const [name] of arrays.getRows()) await this.connection.run(`DROP TABLE temp.main.${quoteIdentifier(String(name))}`);
  }

  async execute(sql: string): Promise<void> {
    const translated = bigQueryLexicalToDuckDb(sql);
    // Several statements in one text commit one by one: only a single statement can run again whole.
    const single = async () => (await this.connection.extractStatements(translated)).count === 1;
    await this.withMemoryHeadroom('a SQL text', () => this.runModelSql(translated), single);
  }

  async query(sql: string, limit?: number): Promise<QueryResult> {
    const translated = bigQueryLexicalToDuckDb(sql);
    return this.withMemoryHeadroom('a query', async () => {
      if (limit === undefined) return readRows(await this.connection.runAndReadAll(translated));
      // Streamed and read only as far as the limit: the SQL is never wrapped or rewritten.
      return readRows(await this.connection.streamAndReadUntil(translated, limit), limit);
    });
  }

  /**
   * SQL a user typed, on a sandboxed warehouse: exactly one statement, and DuckDB must classify it
   * as a SELECT (WITH, VALUES, FROM-first, TABLE, SHOW, DESCRIBE, PRAGMA that read); the sandbox
   * itself refuses file, network and settings access. Returns the first `limit` rows.
   */
  async queryUntrusted(sql: string, limit: number): Promise<UserQueryResult> {
    if (!this.sandboxed) throw new Error('queryUntrusted needs a warehouse opened with sandbox: true');
    const statements = await this.connection.extractStatements(bigQueryLexicalToDuckDb(sql)).catch((error: unknown) => {
      // A parse error comes with DuckDB's message; text with no statement at all (blank, only
      // comments or semicolons) fails in the bindings with none ("Error in native callback").
      if (/^Failed to extract statements/.test(errorMessage(error))) throw error;
      throw new UserError('no SQL statement given (only blanks, comments or semicolons)', 2);
    });
    if (statements.count !== 1) throw new UserError(`one statement at a time, got ${statements.count}`);
    const prepared = await statements.prepare(0);
    try {
      if (prepared.statementType !== StatementType.SELECT) {
        throw new UserError(`the warehouse is read-only here: only a SELECT runs, not ${(StatementType[prepared.statementType] as string | undefined) ?? 'this statement'}`);
      }
      const reader = await prepared.streamAndReadUntil(limit + 1);
      const typeIds = reader.columnTypes().map((t) => t.typeId);
      const rows = reader.getRows().slice(0, limit).map((values) => values.map((value, i) => toValue(value, typeIds[i])));
      return { columns: reader.columnNames(), rows, more: reader.currentRowCount > limit };
    } finally {
      prepared.destroySync();
    }
  }

  /** The rows of a query, one chunk (about 2,048 rows) at a time: memory stays bounded however large the result. */
  async *streamRows(sql: string): AsyncGenerator<Row[]> {
    const result = await this.connection.stream(bigQueryLexicalToDuckDb(sql));
    const columns = result.columnNames();
    const typeIds = result.columnTypes().map((t) => t.typeId);
    for (let chunk = await result.fetchChunk(); chunk && chunk.rowCount > 0; chunk = await result.fetchChunk()) {
      yield toRows(chunk.getRows(), columns, typeIds);
    }
  }

  /**
   * The table as BigQuery would store it under `layout`: rows grouped by partition, sorted by the
   * clustering columns and cut into blocks of `blockBytes` logical bytes, with each block's logical
   * bytes per column and the value ranges pruning looks at (see bigquery/cost.ts).
   */
  async blocks(target: Target, layout: TableLayout, blockBytes: number): Promise<Block[]> {
    const reader = await this.connection.runAndReadAll(
      `SELECT column_name, data_type FROM information_schema.columns WHERE ${relationFilter(target)} ORDER BY ordinal_position`,
    );
    const columns = reader.getRows().map(([name, type]) => ({ name: String(name), type: String(type) }));
    const q = (c: string) => quoteIdentifier(c);
    const typeOf = (c: string) => columns.find((col) => col.name === c)?.type ?? '';
    // BigQuery's logical sizes: STRING 2 + UTF-8 bytes, BOOL 1, other scalars 8, NULL 0.
    const size = (c: { name: string; type: string }) =>
      c.type === 'VARCHAR' ? `COALESCE(2 + strlen(${q(c.name)}), 0)` : `IF(${q(c.name)} IS NULL, 0, ${c.type === 'BOOLEAN' ? 1 : 8})`;
    const value = (c: string) => (typeOf(c).startsWith('TIMESTAMP') ? `epoch_us(${q(c)})` : q(c));
    const spec = layout.partition;
    let partition = `'all'`;
    let low = 'NULL';
    let high = 'NULL';
    if (spec?.kind === 'hour' || spec?.kind === 'day') {
      const unit = spec.kind === 'hour' ? 3_600_000_000 : 86_400_000_000;
      partition = `CAST(date_trunc('${spec.kind}', ${q(spec.column)}) AS VARCHAR)`;
      low = `epoch_us(date_trunc('${spec.kind}', ${q(spec.column)}))`;
      high = `${low} + ${unit - 1}`;
    } else if (spec?.kind === 'range') {
      const bucket = `(CASE WHEN ${q(spec.column)} < ${spec.start} OR ${q(spec.column)} >= ${spec.end} THEN -1 ELSE (${q(spec.column)} - ${spec.start}) // ${spec.interval} END)`;
      partition = `CAST(${bucket} AS VARCHAR)`;
      low = `IF(${bucket} = -1, NULL, ${spec.start} + ${bucket} * ${spec.interval})`;
      high = `IF(${bucket} = -1, NULL, ${spec.start} + (${bucket} + 1) * ${spec.interval} - 1)`;
    }
    const ranged = [...new Set([...(spec ? [spec.column] : []), ...layout.clusterBy])].filter((c) => typeOf(c) !== '');
    const order = layout.clusterBy.length ? `ORDER BY ${layout.clusterBy.map(q).join(', ')}` : '';
    const sizes = columns.map((c, i) => `${size(c)} AS __b${i}`).join(', ');
    const rangeSelect = ranged.map((c, i) => {
      const bounds = spec && c === spec.column && !layout.clusterBy.includes(c);
      return [
        bounds ? `MIN(__lo) AS __min${i}` : `MIN(${value(c)}) AS __min${i}`,
        bounds ? `MAX(__hi) AS __max${i}` : `MAX(${value(c)}) AS __max${i}`,
        `bool_or(${q(c)} IS NULL) AS __null${i}`, `bool_or(${q(c)} IS NOT NULL) AS __values${i}`,
      ].join(', ');
    });
    const sql = `
      WITH sized AS (SELECT *, COALESCE(${partition}, 'NULL') AS __partition, ${low} AS __lo, ${high} AS __hi, ${sizes} FROM ${quoteTarget(target)}),
      placed AS (SELECT *, SUM(${columns.map((_, i) => `__b${i}`).join(' + ') || '0'}) OVER (PARTITION BY __partition ${order} ROWS UNBOUNDED PRECEDING) AS __cumulative FROM sized)
      SELECT __partition, CAST(floor(GREATEST(__cumulative - 1, 0) / ${blockBytes}) AS BIGINT) AS __block, COUNT(*) AS __rows,
        ${[...columns.map((_, i) => `SUM(__b${i}) AS __bytes${i}`), ...rangeSelect].join(', ')}
      FROM placed GROUP BY 1, 2`;
    const rows = (await this.connection.runAndReadAll(sql)).getRowObjects();
    const scalar = (v: DuckDBValue | undefined): Scalar | undefined => (v === null || v === undefined ? undefined : typeof v === 'bigint' || typeof v === 'string' ? v : typeof v === 'number' ? BigInt(Math.trunc(v)) : String(v));
    return rows.map((row) => ({
      partition: String(row.__partition),
      rows: Number(row.__rows),
      bytes: Object.fromEntries(columns.map((c, i) => [c.name, Number(row[`__bytes${i}`] ?? 0)])),
      ranges: Object.fromEntries(ranged.map((c, i) => [c, {
        min: scalar(row[`__min${i}`]), max: scalar(row[`__max${i}`]),
        hasNull: Boolean(row[`__null${i}`]), hasValues: Boolean(row[`__values${i}`]),
      }])),
    }));
  }

  async countRows(target: Target): Promise<number> {
    // A view's count runs its query (an assertion's, say).
    const reader = await this.withMemoryHeadroom(`counting ${target.name}`, () => this.connection.runAndReadAll(`SELECT COUNT(*) FROM ${quoteTarget(target)}`));
    return Number(reader.getRows()[0]?.[0] ?? 0);
  }

  /**
   * Detaches the file, then closes. DuckDB frees a database when the last object referencing it
   * goes, not when the instance is closed: a stream read part way (query's first rows: the runner's
   * sample of a check or a report view), which the Node bindings cannot free, keeps it alive until
   * the garbage collector frees the stream, and then its checkpoint wrote its own, older view over
   * the file, losing rows another open had committed since (and, in one run, leaving a string segment
   * DuckDB could not read back). Detaching checkpoints the file and releases it now.
   */
  async close(): Promise<void> {
    try {
      // A new statement ends any result still being streamed on this connection.
      await this.connection.run('USE memory');
      await this.connection.run(`DETACH ${quoteIdentifier(this.database)}`);
    } finally {
      this.connection.closeSync();
      this.instance.closeSync();
    }
  }
}

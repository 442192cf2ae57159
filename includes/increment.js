// The incremental machinery shared by the models: which raw partitions a run reads, the keys the run
// touches, and the per-run checks. BigQuery SQL first; the `engine` var picks DuckDB's spelling
// where it differs (the local warehouse). See README "Incremental design" for the whole picture.
//
// A run reads only:
// - the raw partitions (one per publish hour) whose row count changed since the last successful run,
//   found from partition metadata (INFORMATION_SCHEMA.PARTITIONS on BigQuery), within the horizon;
// - the prior state of the keys those rows touch (order_id, event_id), through cluster filters on
//   constant arrays declared in each model's pre-operations;
// and writes with MERGE statements whose target is bounded by the same constants.

const vars = dataform.projectConfig.vars;
const engine = vars.engine || "bigquery";
const duckdb = engine === "duckdb";

// Every table keyed by order is partitioned by ranges of order_id. BigQuery bills a MERGE that updates
// rows for the whole of every partition it updates (the whole table when unpartitioned), so the
// partition must be a function of the key a run touches; order ids grow with time, so a run's new
// orders fall in the last few partitions. BigQuery allows 10,000 partitions per table; ids outside
// [start, end) go to its __UNPARTITIONED__ partition.
function wholeNumber(name, fallback) {
  const value = vars[name] || fallback;
  if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new Error(`var ${name} must be a whole number below 2^53, got ${JSON.stringify(value)}`);
  return Number(value);
}
const horizonDays = wholeNumber("horizonDays", "7");
// The horizon is subtracted from a TIMESTAMP, whose range spans 10,000 years.
if (horizonDays < 1 || horizonDays > 36500) throw new Error(`var horizonDays must be a whole number of days from 1 to 36500, got ${horizonDays}`);

// A subscription writes in batches, so a row published shortly before the latest publish time a run
// read can land just after that run. The rows published in the last landingWindowMinutes before that
// point are counted apart: a row landing late inside the window costs the next run a re-read from the
// window's start, not of the whole hour.
const landingWindowMinutes = wholeNumber("landingWindowMinutes", "5");
if (landingWindowMinutes > 60) throw new Error(`var landingWindowMinutes must be at most 60 (a raw partition is an hour), got ${landingWindowMinutes}`);

const orderIdRange = {
  start: wholeNumber("orderIdPartitionStart", "0"),
  end: wholeNumber("orderIdPartitionEnd", "1000000000"),
  interval: wholeNumber("orderIdPartitionInterval", "100000"),
};
if (orderIdRange.interval < 1 || orderIdRange.end <= orderIdRange.start || (orderIdRange.end - orderIdRange.start) / orderIdRange.interval > 10000) {
  throw new Error("vars orderIdPartitionStart/End/Interval must give between 1 and 10,000 partitions (BigQuery's limit)");
}

/** The partitioning of the order-keyed tables: integer ranges of `column` (order_id, or order_key). */
function orderIdPartitioning(column = "order_id") {
  if (!IDENTIFIER.test(column)) throw new Error(`orderIdPartitioning: bad column ${column}`);
  return `RANGE_BUCKET(${column}, GENERATE_ARRAY(${orderIdRange.start}, ${orderIdRange.end}, ${orderIdRange.interval}))`;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

function checkName(name) {
  if (!IDENTIFIER.test(name)) throw new Error(`bad script variable name ${name}`);
  return name;
}

/** A BigQuery type in DDL, as the engine spells it (TIMESTAMP is DuckDB's TIMESTAMPTZ). */
function sqlType(type) {
  return duckdb && type === "TIMESTAMP" ? "TIMESTAMPTZ" : type;
}

/** Reads a script variable declared by `declare` (array variables are read by inArray, arrayMin, arrayMax). */
function variable(name) {
  return duckdb ? `getvariable('${checkName(name)}')` : checkName(name);
}

/**
 * Pre-operation: a script variable holding the scalar result of `query`. A constant (unlike a
 * scalar subquery) in a WHERE clause lets BigQuery prune partitions and clustered blocks.
 */
function declare(name, type, query) {
  return duckdb ?
    `SET VARIABLE ${checkName(name)} = (${query})` :
    `DECLARE ${checkName(name)} ${type} DEFAULT (${query})`;
}

/**
 * Array variables. On BigQuery, a script variable (a constant: `IN UNNEST(...)` prunes clustered
 * blocks). On DuckDB, a temporary table of one column, `value`, named after the variable: DuckDB
 * keeps a list variable as one boxed value, and reading it back costs about a second per million
 * elements, single-threaded, on every use (a run that re-reads an hour of a million events used its
 * event-id list 8 times), where a semi-join against a table costs a tenth of that. The local runner
 * drops these tables when the action ends, as a BigQuery script's variables end with it.
 */
const ARRAY_TABLE_PREFIX = "script_array_";

function arrayTable(name) {
  return `temp.main.${ARRAY_TABLE_PREFIX}${checkName(name)}`;
}

/** Pre-operation: an array variable holding the distinct non-NULL values of `column` in `from`
 * (a FROM clause, optionally with WHERE); on BigQuery NULL when there are none, on DuckDB an empty
 * table, which the readers below treat alike. */
function declareArray(name, elementType, column, from) {
  const where = /\bWHERE\b/i.test(from) ? `${from} AND ${column} IS NOT NULL` : `${from} WHERE ${column} IS NOT NULL`;
  return duckdb ?
    `CREATE OR REPLACE TEMP TABLE ${arrayTable(name)} AS SELECT DISTINCT ${column} AS value FROM ${where}` :
    `DECLARE ${checkName(name)} ARRAY<${elementType}> DEFAULT (SELECT ARRAY_AGG(DISTINCT ${column}) FROM ${where})`;
}

/** `expression` is one of the values of an array variable. On BigQuery, `column IN UNNEST(constant)`
 * prunes clustered blocks; DuckDB reads it as a hash semi-join. */
function inArray(expression, name) {
  return duckdb ?
    `${expression} IN (SELECT value FROM ${arrayTable(name)})` :
    `${expression} IN UNNEST(${checkName(name)})`;
}

/** The least and the greatest element of an array variable (NULL when it is NULL or empty). */
function arrayMin(name) {
  return duckdb ? `(SELECT MIN(value) FROM ${arrayTable(name)})` : `(SELECT MIN(v) FROM UNNEST(${checkName(name)}) AS v)`;
}

function arrayMax(name) {
  return duckdb ? `(SELECT MAX(value) FROM ${arrayTable(name)})` : `(SELECT MAX(v) FROM UNNEST(${checkName(name)}) AS v)`;
}

function addInterval(timestamp, amount, unit) {
  if (!Number.isInteger(amount)) throw new Error(`adding ${unit}s: the amount must be a whole number, got ${amount}`);
  return duckdb ? `(${timestamp} + INTERVAL (${amount}) ${unit})` : `TIMESTAMP_ADD(${timestamp}, INTERVAL ${amount} ${unit})`;
}

/** `timestamp` plus `hours` (a whole number, negative to subtract). */
function addHours(timestamp, hours) {
  return addInterval(timestamp, hours, "HOUR");
}

/** `timestamp` plus `minutes` (a whole number, negative to subtract). */
function addMinutes(timestamp, minutes) {
  return addInterval(timestamp, minutes, "MINUTE");
}

/** The hour a timestamp falls in: the raw table's partition. DuckDB's date_trunc on a TIMESTAMPTZ
 * goes through ICU's calendar (0.11 s per million rows, for every row a run reads); UTC hours are
 * whole multiples of 3,600 s since the epoch, so the hour is floored arithmetic on microseconds
 * (0.01 s), pre-1970 times included. */
function hourOf(timestamp) {
  if (!duckdb) return `TIMESTAMP_TRUNC(${timestamp}, HOUR)`;
  const micros = `epoch_us(${timestamp})`;
  return `make_timestamptz(${micros} - (${micros} % 3600000000 + 3600000000) % 3600000000)`;
}

/**
 * The raw table's partitions: partition_id ('YYYYMMDDHH'), partition_start, total_rows.
 * BigQuery reads them from the dataset's INFORMATION_SCHEMA.PARTITIONS (metadata: no table scan);
 * rows still in the streaming buffer (`__UNPARTITIONED__`) are counted once they reach their partition.
 * DuckDB has no partitions: the local warehouse keeps the same counts in `<raw table>__partitions`,
 * updated in the transaction that appends raw rows (orchestrator/warehouse/duckdb.ts).
 */
function rawPartitions(rawTable) {
  const match = /^`([^`.]+)\.([^`.]+)\.([^`.]+)`$/.exec(rawTable.trim());
  if (!match) throw new Error(`rawPartitions expects a resolved \`project.dataset.table\` name, got ${rawTable}`);
  const [, project, dataset, table] = match;
  if (duckdb) {
    return `SELECT partition_id, partition_start, total_rows
    FROM \`${project}.${dataset}.${table}__partitions\``;
  }
  return `SELECT partition_id, PARSE_TIMESTAMP('%Y%m%d%H', partition_id) AS partition_start, total_rows
    FROM \`${project}.${dataset}.INFORMATION_SCHEMA.PARTITIONS\`
    WHERE table_name = '${table}' AND partition_id NOT IN ('__NULL__', '__UNPARTITIONED__')`;
}

/** Pre-operation: the events this run delivered (`deliveries` is stg_pending_deliveries). */
function declareTouchedEvents(deliveries) {
  return declareArray("touched_event_ids", "STRING", "event_id", deliveries);
}

/** Pre-operation: the order keys of this run's deliveries: their order_id, or 0 for records
 * without a valid one (see orderKey). */
function declareTouchedOrders(deliveries) {
  return declareArray("touched_order_keys", "INT64", orderKey("order_id"), deliveries);
}

/** The key every order-keyed lookup goes through: the order id, or 0 for a record without one
 * (unparseable, or an invalid orderId), so those rows share one partition instead of needing an
 * `OR order_id IS NULL`, which neither BigQuery nor DuckDB can prune with. Valid order ids are > 0. */
function orderKey(orderIdColumn) {
  return `COALESCE(${orderIdColumn}, 0)`;
}

/** Rows whose order this run touched: `column` is order_id (marts) or stg_events' order_key, the
 * partitioning and clustering column of every order-keyed table. */
function touchedOrders(column = "order_id") {
  return inArray(column, "touched_order_keys");
}

/** stg_events rows of the events this run delivered: pruned by their order key, then matched by id. */
function touchedEvents(eventIdColumn = "event_id", orderKeyColumn = "order_key") {
  return `${touchedOrders(orderKeyColumn)} AND ${inArray(eventIdColumn, "touched_event_ids")}`;
}

/**
 * Post-operation: fails the action, naming `check`, when `query` returns a row. BigQuery's
 * ASSERT statement; DuckDB raises with error(). Used for the per-run checks on the touched keys.
 */
function assertNoRows(check, query) {
  if (/['\\]/.test(check)) throw new Error(`assertNoRows: the check name must not contain quotes: ${check}`);
  return duckdb ?
    `SELECT CASE WHEN EXISTS (${query}) THEN error('per-run check failed: ${check}') END` :
    `ASSERT NOT EXISTS (${query}) AS 'per-run check failed: ${check}'`;
}

module.exports = {
  horizonDays,
  landingWindowMinutes,
  orderIdPartitioning,
  sqlType,
  variable,
  declare,
  declareArray,
  inArray,
  arrayMin,
  arrayMax,
  hourOf,
  addHours,
  addMinutes,
  rawPartitions,
  declareTouchedEvents,
  declareTouchedOrders,
  orderKey,
  touchedOrders,
  touchedEvents,
  assertNoRows,
};

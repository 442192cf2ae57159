// The few SQL expressions where DuckDB (the local warehouse) differs from BigQuery (production).
// Every model is written in BigQuery SQL and calls these helpers only where the engines differ;
// the `engine` compile var (`bigquery` by default, `duckdb` locally) picks the implementation.
// Each helper returns BigQuery's answer on both engines, including for NULL and invalid input.

const engine = dataform.projectConfig.vars.engine || "bigquery";
if (engine !== "bigquery" && engine !== "duckdb") {
  throw new Error(`var engine must be "bigquery" or "duckdb", got ${JSON.stringify(engine)}`);
}
const duckdb = engine === "duckdb";

/** DuckDB: strict JSON validity. Its json_valid also accepts trailing commas and NaN/Infinity, so a
 * text with either pattern is judged by `strict_json_valid`, a JavaScript JSON.parse the local
 * warehouse registers; every other text is judged by json_valid alone, which is much cheaper. */
function duckdbStrictJson(text) {
  return `(json_valid(${text}) AND (NOT regexp_matches(${text}, '(?i)(,\\s*[\\]}]|nan|inf)') OR strict_json_valid(${text})))`;
}

/** TRUE when `text` is one strict JSON value (RFC 8259), FALSE otherwise (NULL included). */
function isJson(text) {
  return duckdb
    ? `COALESCE(${duckdbStrictJson(text)}, FALSE)`
    : `(SAFE.PARSE_JSON(${text}, wide_number_mode => 'round') IS NOT NULL)`;
}

// jsonValue and jsonQuery expect text that isJson accepts, or NULL: on text that only a lenient
// parser reads, the engines differ (BigQuery's string JSON functions accept a trailing comma but not
// NaN; DuckDB's accept both), and guarding every extraction with the strict check would cost a
// regular expression per field. Models extract from text that isJson has already accepted.

/** The scalar at `path` as a STRING (strings unquoted); NULL for objects, arrays, JSON null,
 * a missing path or text that is not JSON. DuckDB's json_extract_string throws on invalid JSON
 * and returns objects as text, hence the guards. */
function jsonValue(json, path) {
  return duckdb
    ? `(CASE WHEN json_valid(${json}) AND json_type(${json}, '${path}') NOT IN ('OBJECT', 'ARRAY', 'NULL') THEN json_extract_string(${json}, '${path}') END)`
    : `JSON_VALUE(${json}, '${path}')`;
}

/** The JSON text at `path` (strings keep their quotes); NULL when absent, JSON null, or not JSON. */
function jsonQuery(json, path) {
  return duckdb
    ? `(CASE WHEN json_valid(${json}) AND json_type(${json}, '${path}') != 'NULL' THEN CAST(json_extract(${json}, '${path}') AS VARCHAR) END)`
    : `JSON_QUERY(${json}, '${path}')`;
}

/** COUNTIF as an INT64 (DuckDB's returns a 128-bit HUGEINT). */
function countIf(condition) {
  return duckdb ? `CAST(COUNTIF(${condition}) AS BIGINT)` : `COUNTIF(${condition})`;
}

/** SUM of INT64 values as an INT64 (DuckDB's returns a 128-bit HUGEINT). */
function sumInt64(expression) {
  return duckdb ? `CAST(SUM(${expression}) AS BIGINT)` : `SUM(${expression})`;
}

/** RE2 partial match; the pattern must not contain quotes or backslashes (use [.] for a dot). */
function regexpContains(text, pattern) {
  if (/['\\]/.test(pattern)) throw new Error(`regexpContains: pattern must not contain quotes or backslashes: ${pattern}`);
  return duckdb ? `regexp_matches(${text}, '${pattern}')` : `REGEXP_CONTAINS(${text}, r'${pattern}')`;
}

/** SAFE_CAST to INT64: optionally signed decimal or 0x-hex digits, surrounding whitespace allowed.
 * DuckDB's TRY_CAST would round '1.5' to 2 and read '1e3' as 1000 where BigQuery returns NULL, so it
 * only sees texts of that shape. */
function safeCastInt64(text) {
  return duckdb
    ? `(CASE WHEN regexp_full_match(${text}, '\\s*[+-]?(0[xX][0-9a-fA-F]+|[0-9]+)\\s*') THEN TRY_CAST(trim(${text}, ' ' || chr(9) || chr(10) || chr(13)) AS BIGINT) END)`
    : `SAFE_CAST(${text} AS INT64)`;
}

/** SAFE_CAST of an ISO 8601 / RFC 3339 text to TIMESTAMP (UTC), truncated to microseconds. */
function safeCastTimestamp(text) {
  const truncated = duckdb
    ? `regexp_replace(${text}, '([.][0-9]{6})[0-9]+', '\\1')`
    : `REGEXP_REPLACE(${text}, r'([.][0-9]{6})[0-9]+', r'\\1')`;
  return duckdb ? `TRY_CAST(${truncated} AS TIMESTAMPTZ)` : `SAFE_CAST(${truncated} AS TIMESTAMP)`;
}

/** Lower-case hex SHA-256 of a STRING's UTF-8 bytes. */
function sha256Hex(text) {
  return duckdb ? `sha256(${text})` : `TO_HEX(SHA256(${text}))`;
}

/** Whole seconds from `earlier` to `later`, truncated toward zero, like TIMESTAMP_DIFF(..., SECOND).
 * DuckDB's date_diff counts boundaries crossed instead, so it works on epoch microseconds. */
function timestampDiffSeconds(later, earlier) {
  if (!duckdb) return `TIMESTAMP_DIFF(${later}, ${earlier}, SECOND)`;
  const micros = `(epoch_us(${later}) - epoch_us(${earlier}))`;
  return `((${micros} - ${micros} % 1000000) // 1000000)`;
}

/** A TIMESTAMP literal in UTC, e.g. timestampLiteral('1970-01-01 00:00:00+00'). */
function timestampLiteral(text) {
  return duckdb ? `TIMESTAMPTZ '${text}'` : `TIMESTAMP '${text}'`;
}

/**
 * Pre-operation that declares a script variable holding an incremental table's watermark:
 * the latest `column` in `table` minus `lookbackMinutes`, or the epoch for an empty table.
 * A constant in the model's WHERE clause, unlike a scalar subquery, lets BigQuery prune partitions.
 */
function declareWatermark(name, table, column, lookbackMinutes) {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`declareWatermark: bad variable name ${name}`);
  if (!/^[0-9]+$/.test(String(lookbackMinutes))) throw new Error(`lookbackMinutes must be a whole number, got ${lookbackMinutes}`);
  const latest = `COALESCE(MAX(${column}), ${timestampLiteral("1970-01-01 00:00:00+00")})`;
  return duckdb
    ? `SET VARIABLE ${name} = (SELECT ${latest} - INTERVAL (${lookbackMinutes}) MINUTE FROM ${table})`
    : `DECLARE ${name} TIMESTAMP DEFAULT (SELECT TIMESTAMP_SUB(${latest}, INTERVAL ${lookbackMinutes} MINUTE) FROM ${table})`;
}

/** Reads a variable set by declareWatermark. */
function variable(name) {
  return duckdb ? `getvariable('${name}')` : name;
}

module.exports = {
  engine,
  isJson,
  jsonValue,
  jsonQuery,
  countIf,
  sumInt64,
  regexpContains,
  safeCastInt64,
  safeCastTimestamp,
  sha256Hex,
  timestampDiffSeconds,
  timestampLiteral,
  declareWatermark,
  variable,
};

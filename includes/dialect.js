// The few SQL expressions where DuckDB (the local warehouse) differs from BigQuery (production).
// Every model is written in BigQuery SQL and calls these helpers only where the engines differ;
// the `engine` compile var (`bigquery` by default, `duckdb` locally) picks the implementation.
// Each helper returns BigQuery's answer on both engines, including for NULL and invalid input.

const engine = dataform.projectConfig.vars.engine || "bigquery";
if (engine !== "bigquery" && engine !== "duckdb") {
  throw new Error(`var engine must be "bigquery" or "duckdb", got ${JSON.stringify(engine)}`);
}
const duckdb = engine === "duckdb";

/** DuckDB: strict JSON validity. Its json_valid also accepts trailing commas and NaN/Infinity (any
 * case, optionally signed), so a text where either could hide is judged again by `strict_json_valid`,
 * a JavaScript JSON.parse the local warehouse registers; every other text is judged by json_valid
 * alone, which is far cheaper. A trailing comma is a comma before ']' or '}' (a regular expression
 * that skips from comma to comma, cheap). NaN and Infinity can only start a value, at the start of
 * the text or after '[', ',' or ':'; that regular expression has no literal to skip to and cost as
 * much as the parse, so it only runs on texts that contain "nan" or "inf" in any case, which every
 * such literal does. Written with CASE, not AND/OR: in a projection DuckDB evaluates every operand
 * of AND/OR on every row, which called the JavaScript function on every row (2.5 s per million);
 * a CASE branch only runs on the rows that reach it. */
function duckdbStrictJson(text) {
  const trailingComma = `regexp_matches(${text}, ',\\s*[\\]}]')`;
  const mayHoldNanOrInfinity = `(contains(lower(${text}), 'nan') OR contains(lower(${text}), 'inf'))`;
  const nanOrInfinity = `regexp_matches(${text}, '(^|[:,\\[])\\s*[-+]?([nN][aA]|[iI])')`;
  return `(CASE WHEN json_valid(${text}) THEN (CASE WHEN ${trailingComma} THEN strict_json_valid(${text}) ` +
    `WHEN ${mayHoldNanOrInfinity} THEN (CASE WHEN ${nanOrInfinity} THEN strict_json_valid(${text}) ELSE TRUE END) ELSE TRUE END) END)`;
}

/** TRUE when `text` is one strict JSON value (RFC 8259), FALSE otherwise (NULL included). */
function isJson(text) {
  return duckdb ?
    `COALESCE(${duckdbStrictJson(text)}, FALSE)` :
    `(SAFE.PARSE_JSON(${text}, wide_number_mode => 'round') IS NOT NULL)`;
}

// jsonValue and jsonQuery expect text that isJson accepts, or NULL: on text that only a lenient
// parser reads, the engines differ (BigQuery's string JSON functions accept a trailing comma but not
// NaN; DuckDB's accept both), and guarding every extraction with the strict check would cost a
// regular expression per field. Models extract from text that isJson has already accepted.

/** The scalar at `path` as a STRING (strings unquoted); NULL for objects, arrays, JSON null,
 * a missing path or text that is not JSON. DuckDB's json_extract_string throws on invalid JSON
 * and returns objects as text, hence the guards. */
function jsonValue(json, path) {
  return duckdb ?
    `(CASE WHEN json_valid(${json}) AND json_type(${json}, '${path}') NOT IN ('OBJECT', 'ARRAY', 'NULL') THEN json_extract_string(${json}, '${path}') END)` :
    `JSON_VALUE(${json}, '${path}')`;
}

/** The JSON text at `path` (strings keep their quotes); NULL when absent, JSON null, or not JSON. */
function jsonQuery(json, path) {
  return duckdb ?
    `(CASE WHEN json_valid(${json}) AND json_type(${json}, '${path}') != 'NULL' THEN CAST(json_extract(${json}, '${path}') AS VARCHAR) END)` :
    `JSON_QUERY(${json}, '${path}')`;
}

/** TRUE when `json` (text that isJson accepts, or NULL) is a JSON object, FALSE otherwise (NULL
 * included). On DuckDB the first character that is not JSON whitespace tells, without a parse. */
function jsonIsObject(json) {
  return duckdb ?
    `COALESCE(CASE WHEN starts_with(${json}, '{') THEN TRUE ELSE regexp_matches(${json}, '^[ \\t\\n\\r]*[{]') END, FALSE)` :
    `COALESCE(STARTS_WITH(JSON_QUERY(${json}, '$'), '{'), FALSE)`;
}

/** For jsonPaths and jsonStringPaths: checks the paths; the DuckDB STRUCT reading each as `type`,
 * and a reader of one field of it. */
function pathFields(helper, paths, type) {
  const names = paths.map((path) => {
    if (!/^\$\.[A-Za-z_][A-Za-z0-9_]*$/.test(path)) throw new Error(`${helper}: unsupported path ${path}`);
    return path.slice(2);
  });
  // DuckDB's struct field names are case-insensitive.
  if (new Set(names.map((n) => n.toLowerCase())).size !== names.length) throw new Error(`${helper}: names must differ in more than case: ${paths.join(", ")}`);
  const field = (parsed, path) => {
    if (!paths.includes(path)) throw new Error(`${helper}: ${path} is not one of ${paths.join(", ")}`);
    return `${parsed}."${path.slice(2)}"`;
  };
  return {
    field,
    structure: `{${names.map((n) => `"${n}":"${type}"`).join(",")}}`
  };
}

/**
 * Several top-level fields of one JSON text, read with one parse per row. BigQuery's JSON functions
 * take the text and a path as they are. DuckDB's each parse the whole text on every call, so on
 * DuckDB `parse` reads every field at once into a STRUCT (json_transform, each field as JSON text:
 * NULL when absent or JSON null; a repeated key keeps its first occurrence, as jsonValue does) and
 * `value`/`query` read one field of it:
 *
 *   const doc = jsonPaths(["$.a", "$.b"]);
 *   SELECT ${doc.value("fields", "$.a")}, ${doc.query("fields", "$.b")}
 *   FROM (SELECT ${doc.parse("text")} AS fields FROM ...)
 *
 * `value` and `query` give jsonValue's and jsonQuery's answers for the same text and path, NULL
 * when the text is not JSON. Paths are `$.name`, with names that differ in more than case.
 */
function jsonPaths(paths) {
  const {
    field,
    structure
  } = pathFields("jsonPaths", paths, "JSON");
  return {
    /** The per-row parse, selected once as a column; BigQuery: the text itself. json_transform
     * throws on text that is not JSON, so DuckDB guards it with json_valid (a second parse), unless
     * the caller knows the text is JSON or NULL (`{ valid: true }`: isJson accepted it). */
    parse: (json, {
      valid = false
    } = {}) => {
      if (!duckdb) return json;
      const transform = `json_transform(${json}, '${structure}')`;
      return valid ? transform : `(CASE WHEN json_valid(${json}) THEN ${transform} END)`;
    },
    /** Like jsonValue. A field is the minified JSON text DuckDB writes for the value, so its first
     * byte tells its type, and comparing the whole text with a one-character string is the cheapest
     * test of it (far cheaper than starts_with): below '#' is a string ('"'), from '{' an object,
     * from '[' and below ']' an array; numbers and booleans are the very text json_extract_string
     * gives. Only strings need a parse (of that small text), to unescape them. */
    value: (parsed, path) => {
      if (!duckdb) return `JSON_VALUE(${parsed}, '${path}')`;
      const f = `CAST(${field(parsed, path)} AS VARCHAR)`;
      return `(CASE WHEN ${f} < '#' THEN json_extract_string(${f}, '$') WHEN ${f} >= '{' OR (${f} >= '[' AND ${f} < ']') THEN NULL ELSE ${f} END)`;
    },
    /** Like jsonQuery. */
    query: (parsed, path) => duckdb ? `CAST(${field(parsed, path)} AS VARCHAR)` : `JSON_QUERY(${parsed}, '${path}')`,
  };
}

/**
 * Like jsonPaths' parse and value, for a JSON object whose values are strings, as Pub/Sub's message
 * attributes are (a map of strings). On DuckDB the parse reads every field as VARCHAR, which
 * unescapes strings as it reads them, so no field is parsed a second time (jsonPaths parses each
 * string field again to unescape it). A field that reads as an object or an array (its JSON text),
 * or a string starting with '[', '\\' or a character that sorts from '{' on (non-ASCII included),
 * is read again from `json` by jsonValue, so `value` gives jsonValue's answer for any text; `json`
 * must be in scope wherever `value` is used.
 */
function jsonStringPaths(json, paths) {
  const {
    field,
    structure
  } = pathFields("jsonStringPaths", paths, "VARCHAR");
  return {
    parse: () => duckdb ? `(CASE WHEN json_valid(${json}) THEN json_transform(${json}, '${structure}') END)` : json,
    value: (parsed, path) => {
      if (!duckdb) return `JSON_VALUE(${parsed}, '${path}')`;
      const f = field(parsed, path);
      return `(CASE WHEN ${f} >= '{' OR (${f} >= '[' AND ${f} < ']') THEN ${jsonValue(json, path)} ELSE ${f} END)`;
    },
  };
}

/** COUNTIF as an INT64 (DuckDB's returns a 128-bit HUGEINT). */
function countIf(condition) {
  return duckdb ? `CAST(COUNTIF(${condition}) AS BIGINT)` : `COUNTIF(${condition})`;
}

/** SUM of INT64 values as an INT64 (DuckDB's returns a 128-bit HUGEINT). */
function sumInt64(expression) {
  return duckdb ? `CAST(SUM(${expression}) AS BIGINT)` : `SUM(${expression})`;
}

/** An aggregate: `value` in the group's first row by `orderBy` (an ORDER BY list that orders the
 * group's rows completely, on keys that are never NULL), NULL included. One pass, where a
 * ROW_NUMBER window sorts every row. BigQuery's ARRAY_AGG fails on a NULL element, hence the STRUCT;
 * DuckDB's first keeps a NULL (its any_value would skip it). */
function firstBy(value, orderBy) {
  return duckdb ?
    `first(${value} ORDER BY ${orderBy})` :
    `ARRAY_AGG(STRUCT(${value} AS value) ORDER BY ${orderBy} LIMIT 1)[OFFSET(0)].value`;
}

/** The head of a WITH clause entry, `name AS`, for a CTE that each reference should compute anew.
 * DuckDB materializes a CTE referenced more than once (a full copy of its rows); BigQuery always
 * computes a CTE where it is referenced. Worth it where the references read few columns or rows. */
function inlinedCte(name) {
  return duckdb ? `${name} AS NOT MATERIALIZED` : `${name} AS`;
}

/** RE2 partial match; the pattern must not contain quotes or backslashes (use [.] for a dot). */
function regexpContains(text, pattern) {
  if (/['\\]/.test(pattern)) throw new Error(`regexpContains: pattern must not contain quotes or backslashes: ${pattern}`);
  return duckdb ? `regexp_matches(${text}, '${pattern}')` : `REGEXP_CONTAINS(${text}, r'${pattern}')`;
}

/** SAFE_CAST to INT64: optionally signed decimal or 0x-hex digits, surrounding ASCII white space
 * (tab to carriage return, space) allowed.
 * DuckDB's TRY_CAST would round '1.5' to 2 and read '1e3' as 1000 where BigQuery returns NULL, so it
 * only sees texts of that shape. */
function safeCastInt64(text) {
  return duckdb ?
    `(CASE WHEN regexp_full_match(${text}, '[\\t\\n\\v\\f\\r ]*[+-]?(0[xX][0-9a-fA-F]+|[0-9]+)[\\t\\n\\v\\f\\r ]*') THEN TRY_CAST(trim(${text}, ' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13)) AS BIGINT) END)` :
    `SAFE_CAST(${text} AS INT64)`;
}

/** An INT64 from a text of decimal digits only (a JSON integer or a string of digits); NULL for any
 * other text (signs, spaces, hex included) and on overflow. On DuckDB, TRY_CAST is exact on such a
 * text, so this costs one regular expression, where regexpContains + safeCastInt64 cost three. */
function digitsToInt64(text) {
  return duckdb ?
    `(CASE WHEN regexp_full_match(${text}, '[0-9]+') THEN TRY_CAST(${text} AS BIGINT) END)` :
    `IF(REGEXP_CONTAINS(${text}, r'^[0-9]+$'), SAFE_CAST(${text} AS INT64), NULL)`;
}

/** An RFC 3339 timestamp text as a TIMESTAMP (UTC), truncated to microseconds: YYYY-MM-DDTHH:MM:SS,
 * an optional fraction of any length, then Z or a UTC offset ±HH:MM up to 14:00, with T and Z in
 * upper case (upper-case the text first to accept them in lower case). NULL for any other text, and
 * where BigQuery's range ends: outside 0001-01-01 to 9999-12-31 23:59:59.999999 UTC. The pattern
 * anchors both ends, so no white space reaches DuckDB's cast, which reads a wider range and offsets
 * up to 23:59. A year from 0002 to 9998 cannot leave the range (an offset moves it by less than a
 * day), so only the others are cast twice: DuckDB does not share the cast between a CASE's condition
 * and its result. */
function rfc3339Timestamp(text) {
  const pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9]+)?(Z|[+-]((0[0-9]|1[0-3]):[0-5][0-9]|14:00))$";
  if (!duckdb) return `IF(REGEXP_CONTAINS(${text}, r'${pattern}'), SAFE_CAST(REGEXP_REPLACE(${text}, r'([.][0-9]{6})[0-9]+', r'\\1') AS TIMESTAMP), NULL)`;
  // Only a text with a fraction can need truncating: the others skip the regular expression.
  const cast = `(CASE WHEN contains(${text}, '.') THEN TRY_CAST(regexp_replace(${text}, '([.][0-9]{6})[0-9]+', '\\1') AS TIMESTAMPTZ) ` +
    `ELSE TRY_CAST(${text} AS TIMESTAMPTZ) END)`;
  return `(CASE WHEN NOT regexp_matches(${text}, '${pattern}') THEN NULL ` +
    `WHEN ${text} >= '0002' AND ${text} < '9999' THEN ${cast} ` +
    `WHEN ${cast} BETWEEN TIMESTAMPTZ '0001-01-01 00:00:00+00' AND TIMESTAMPTZ '9999-12-31 23:59:59.999999+00' THEN ${cast} END)`;
}

// Unicode's White_Space characters: what BigQuery's one-argument TRIM removes (measured on ZetaSQL's
// reference evaluator: tab to carriage return, space, U+0085, U+00A0, U+1680, U+2000 to U+200A,
// U+2028, U+2029, U+202F, U+205F, U+3000; not U+200B or U+FEFF).
const WHITE_SPACE = [0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005,
  0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000
];
/** Those characters as the text DuckDB's trim and ltrim take. */
const WHITE_SPACE_TEXT = WHITE_SPACE.map((c) => `chr(${c})`).join(" || ");
/** DuckDB: the first character of `text` is printable ASCII, so no white space to trim there. */
const startsPrintable = (text) => `ord(${text}) BETWEEN 33 AND 126`;

/** TRIM(text): Unicode white space removed from both ends. DuckDB's one-argument trim removes
 * spaces only, so it is given the characters; that costs 3 times as much, so a text that starts and
 * ends with a printable ASCII character (nearly all) is taken as it is. */
function trim(text) {
  if (!duckdb) return `TRIM(${text})`;
  return `(CASE WHEN ${startsPrintable(text)} AND ${startsPrintable(`right(${text}, 1)`)} THEN ${text} ` +
    `ELSE trim(${text}, ${WHITE_SPACE_TEXT}) END)`;
}

/** LTRIM(text): Unicode white space removed from the start only, as trim does at both ends. Where
 * only the start matters (what a text starts with), it spares trim's look at the last character. */
function trimStart(text) {
  if (!duckdb) return `LTRIM(${text})`;
  return `(CASE WHEN ${startsPrintable(text)} THEN ${text} ` +
    `ELSE ltrim(${text}, ${WHITE_SPACE_TEXT}) END)`;
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

/** ALTER TABLE adding each of `columns` ([name, type] pairs) that `table` lacks. BigQuery takes them
 * all in one statement: one job, and one of the table's metadata updates (BigQuery allows 5 per
 * 10 seconds per table). DuckDB takes one ADD COLUMN per ALTER, so it gets one statement each. */
function addColumnsIfNotExists(table, columns) {
  const additions = columns.map(([name, type]) => `ADD COLUMN IF NOT EXISTS ${name} ${type}`);
  return duckdb ?
    additions.map((addition) => `ALTER TABLE ${table} ${addition}`).join(";\n") :
    `ALTER TABLE ${table} ${additions.join(", ")}`;
}

/** A TIMESTAMP literal in UTC, e.g. timestampLiteral('1970-01-01 00:00:00+00'). */
function timestampLiteral(text) {
  return duckdb ? `TIMESTAMPTZ '${text}'` : `TIMESTAMP '${text}'`;
}

module.exports = {
  engine,
  isJson,
  jsonValue,
  jsonQuery,
  jsonIsObject,
  jsonPaths,
  jsonStringPaths,
  countIf,
  sumInt64,
  firstBy,
  inlinedCte,
  regexpContains,
  safeCastInt64,
  digitsToInt64,
  rfc3339Timestamp,
  trim,
  trimStart,
  sha256Hex,
  timestampDiffSeconds,
  timestampLiteral,
  addColumnsIfNotExists,
};

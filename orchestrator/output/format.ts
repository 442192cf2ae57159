import { Timestamp, type Row, type Value } from '../warehouse/warehouse.js';

/** A value as JSON text: BIGINTs as bare integers (never rounded), timestamps as RFC 3339 UTC. */
export function jsonValue(value: Value): string {
  if (value === null) return 'null';
  if (value instanceof Timestamp) return JSON.stringify(value.toRfc3339());
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') return Number.isFinite(value) ? JSON.stringify(value) : 'null';
  return JSON.stringify(value);
}

export function ndjsonLine(row: Row, columns: string[]): string {
  return `{${columns.map((c) => `${JSON.stringify(c)}:${jsonValue(row[c] ?? null)}`).join(',')}}`;
}

export function textValue(value: Value): string {
  if (value === null) return '';
  if (value instanceof Timestamp) return value.toRfc3339();
  return String(value);
}

function csvField(value: Value): string {
  const text = textValue(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function csvLine(values: Value[]): string {
  return values.map(csvField).join(',');
}

const NAMED_ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\\': '\\\\' };

/**
 * Text safe to print on a terminal: control characters (C0, DEL, C1: escape sequences, carriage
 * returns), the line separators and the bidirectional overrides are written as JSON-style escapes,
 * and so is the backslash, so what is shown reads back unambiguously.
 */
export function terminalSafe(text: string): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point: they are escaped
  return text.replace(/[\x00-\x1f\x7f-\x9f\\\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) =>
    NAMED_ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A plain aligned table for terminals; NULL shows as NULL, control characters escaped (terminalSafe). */
export function textTable(columns: string[], rows: Row[]): string {
  return textGrid(columns, rows.map((row) => columns.map((c) => row[c] ?? null)));
}

/** textTable of rows read by position: a query's result may name two columns alike (a join's `order_id`s). */
export function textGrid(columns: string[], rows: Value[][]): string {
  const header = columns.map(terminalSafe);
  const cells = rows.map((row) => row.map((value) => (value === null ? 'NULL' : terminalSafe(textValue(value)))));
  // A loop, not Math.max(...cells): a spread of many rows overflows the call stack.
  const widths = header.map((c, i) => Math.min(60, cells.reduce((width, r) => Math.max(width, r[i].length), c.length)));
  const clip = (text: string, width: number) => (text.length > width ? `${text.slice(0, width - 1)}…` : text.padEnd(width));
  const line = (values: string[]) => values.map((v, i) => clip(v, widths[i])).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

/** A value as plain JSON-serialisable data: timestamps as RFC 3339, BIGINTs as numbers while exact, else as text. */
function plainValue(value: Value): unknown {
  if (value instanceof Timestamp) return value.toRfc3339();
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  return value;
}

/** A row as plain JSON-serialisable values (for --json summaries; exports use ndjsonLine). */
export function plainRow(row: Row): Record<string, unknown> {
  return Object.fromEntries(Object.entries(row).map(([key, value]) => [key, plainValue(value)]));
}

/**
 * JSON keys for a result's columns, one per column: a name seen before gets `_2`, `_3`… (its
 * occurrence), skipping any key another column already has, so no column's value is lost.
 */
export function uniqueKeys(columns: string[]): string[] {
  const taken = new Set(columns);
  const seen = new Set<string>();
  return columns.map((name) => {
    if (!seen.has(name)) {
      seen.add(name);
      return name;
    }
    let occurrence = 2;
    while (taken.has(`${name}_${occurrence}`)) occurrence++;
    const key = `${name}_${occurrence}`;
    taken.add(key);
    return key;
  });
}

/** A row read by position as a JSON object under `keys` (uniqueKeys of its columns). */
export function plainRecord(keys: string[], values: Value[]): Record<string, unknown> {
  return Object.fromEntries(keys.map((key, i) => [key, plainValue(values[i])]));
}

/** `dataset.name` of an action's `project.dataset.name`. */
export const shortName = (fullName: string) => fullName.split('.').slice(1).join('.');

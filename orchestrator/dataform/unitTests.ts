import type { CompiledTest } from './compile.js';
import { Timestamp, type Row, type Value, type Warehouse } from '../warehouse/warehouse.js';

export interface UnitTestResult {
  name: string;
  fileName: string;
  ok: boolean;
  messages: string[];
}

/** A value as a BigQuery client hands it to `dataform test`: timestamps as `{ value }` objects, integers as numbers. */
export type ClientValue = null | string | number | boolean | { value: string };

export function asClientValue(value: Value): ClientValue {
  if (value instanceof Timestamp) return { value: value.toRfc3339() };
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  return value;
}

const normalizeColumnName = (name: string) => name.toUpperCase();

function normalizeRow(row: Row): Record<string, ClientValue> {
  return Object.fromEntries(Object.entries(row).map(([column, value]) => [normalizeColumnName(column), asClientValue(value)]));
}

/**
 * Compares a test's rows the way `dataform test` does (@dataform/cli 3.0.69, `runTest`): the same
 * row count, the same column names (case-insensitive), then row i against row i, column by column,
 * by type and value. Rows are compared in the order the queries return them, as Dataform does, so a
 * test with several output rows must make that order deterministic.
 */
export function compareTestRows(actualRows: Row[], expectedRows: Row[]): string[] {
  if (actualRows.length !== expectedRows.length) return [`Expected ${expectedRows.length} rows, but saw ${actualRows.length} rows.`];
  if (actualRows.length === 0) return [];
  const actualColumns = Object.keys(actualRows[0]);
  const expectedColumns = Object.keys(expectedRows[0]);
  const columnsDiffer = actualColumns.length !== expectedColumns.length ||
    expectedColumns.some((e) => !actualColumns.some((a) => normalizeColumnName(a) === normalizeColumnName(e)));
  if (columnsDiffer) return [`Expected columns "${expectedColumns.join(',')}", but saw "${actualColumns.join(',')}".`];
  const messages: string[] = [];
  actualRows.forEach((actualRow, i) => {
    const actual = normalizeRow(actualRow);
    const expected = normalizeRow(expectedRows[i]);
    for (const column of actualColumns) {
      const expectedValue = expected[normalizeColumnName(column)] ?? null;
      const actualValue = actual[normalizeColumnName(column)] ?? null;
      // Dataform puts the value in these two messages with a template literal: a timestamp shows as [object Object].
      const shown = (v: ClientValue) => (typeof v === 'object' && v !== null ? '[object Object]' : String(v));
      if (expectedValue === null && actualValue !== null) {
        messages.push(`For row ${i} and column "${column}": expected null, but saw "${shown(actualValue)}".`);
        break;
      }
      if (expectedValue !== null && actualValue === null) {
        messages.push(`For row ${i} and column "${column}": expected "${shown(expectedValue)}", but saw null.`);
        break;
      }
      if (typeof expectedValue !== typeof actualValue) {
        messages.push(`For row ${i} and column "${column}": expected type "${typeof expectedValue}", but saw type "${typeof actualValue}".`);
        break;
      }
      const comparable = (v: ClientValue) => (typeof v === 'object' ? JSON.stringify(v) : v);
      if (comparable(expectedValue) !== comparable(actualValue)) {
        messages.push(`For row ${i} and column "${column}": expected "${comparable(expectedValue)}", but saw "${comparable(actualValue)}".`);
      }
    }
  });
  return messages;
}

/** Runs each unit test's query and expected query on the warehouse and compares their rows. */
export async function runUnitTests(warehouse: Warehouse, tests: CompiledTest[]): Promise<UnitTestResult[]> {
  const results: UnitTestResult[] = [];
  for (const test of tests) {
    let messages: string[];
    try {
      const [actual, expected] = [await warehouse.query(test.testQuery), await warehouse.query(test.expectedOutputQuery)];
      messages = compareTestRows(actual.rows, expected.rows);
    } catch (error) {
      messages = [`Error thrown: ${error instanceof Error ? error.message : String(error)}.`];
    }
    results.push({ name: test.name, fileName: test.fileName, ok: messages.length === 0, messages });
  }
  return results;
}

// Runs SQL on ZetaSQL's reference evaluator and on DuckDB, and puts both answers in one canonical form.
import type { ZetaSqlServer } from '../../orchestrator/bigquery/zetasql.js';
import { textValue } from '../../orchestrator/output/format.js';
import { Timestamp, type Value } from '../../orchestrator/warehouse/warehouse.js';

/** ZetaSQL TypeKind numbers, and the DuckDB column types that stand for them. */
export const KIND = { INT64: 2, BOOL: 5, DOUBLE: 7, STRING: 8, DATE: 10, TIMESTAMP: 19 } as const;
const DUCKDB_TYPES: Record<string, number> = {
  VARCHAR: KIND.STRING, BIGINT: KIND.INT64, BOOLEAN: KIND.BOOL, DOUBLE: KIND.DOUBLE, DATE: KIND.DATE, 'TIMESTAMP WITH TIME ZONE': KIND.TIMESTAMP,
};
export const kindName = (kind: number) => Object.entries(KIND).find(([, k]) => k === kind)?.[0] ?? `kind ${kind}`;
export const duckTypeKind = (duckType: string) => DUCKDB_TYPES[duckType] ?? -1;

export interface ZetaTable {
  name: string;
  columns: { name: string; kind: number }[];
  rows: Value[][];
}

type Long = { low: number; high: number; unsigned?: boolean } | number | string;
const longToBigInt = (value: Long): bigint =>
  typeof value === 'object' ? (BigInt(value.high >>> 0) << 32n) + BigInt(value.low >>> 0) - (value.high < 0 && !value.unsigned ? 1n << 64n : 0n) : BigInt(value);

function encode(value: Value, kind: number): Record<string, unknown> {
  if (value === null) return {};
  switch (kind) {
    case KIND.STRING: return { stringValue: textValue(value) };
    case KIND.INT64: return { int64Value: textValue(value) };
    case KIND.BOOL: return { boolValue: Boolean(value) };
    case KIND.DOUBLE: return { doubleValue: Number(value) };
    case KIND.TIMESTAMP: {
      const { seconds, nanos } = (value as Timestamp).secondsAndNanos();
      return { timestampValue: { seconds: seconds.toString(), nanos } };
    }
    case KIND.DATE: return { dateValue: Math.round(Date.parse(`${textValue(value)}T00:00:00Z`) / 86_400_000) };
    default: throw new Error(`cannot encode type kind ${kind}`);
  }
}

/** One canonical text per value, the same whichever engine produced it. */
export function canonical(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (value instanceof Timestamp) return `timestamp:${value.toRfc3339()}`;
  if (typeof value === 'bigint') return `int:${value}`;
  if (typeof value === 'number') return Number.isInteger(value) ? `num:${value}` : `num:${value.toPrecision(12)}`;
  if (typeof value === 'boolean') return `bool:${value}`;
  if (typeof value === 'string') return `str:${value}`;
  return `json:${JSON.stringify(value)}`;
}

function decode(cell: Record<string, unknown> & { value?: string }): unknown {
  const field = cell.value;
  if (!field) return null;
  const raw = cell[field];
  switch (field) {
    case 'int64Value': return longToBigInt(raw as Long);
    case 'timestampValue': {
      const { seconds, nanos } = raw as { seconds: Long; nanos: number };
      return Timestamp.fromSecondsAndNanos(longToBigInt(seconds), nanos);
    }
    case 'dateValue': return new Date((raw as number) * 86_400_000).toISOString().slice(0, 10);
    case 'doubleValue': return Number(raw);
    default: return raw;
  }
}

export interface Evaluated {
  columns: { name: string; kind: number }[];
  rows: unknown[][];
}

/** Analyses then evaluates a BigQuery query over in-memory tables. */
export async function evaluate(server: ZetaSqlServer, sql: string, tables: ZetaTable[]): Promise<Evaluated> {
  const languageOptions = await server.bigQueryLanguageOptions(['RESOLVED_QUERY_STMT']);
  const simpleCatalog = {
    name: 'bigquery',
    table: tables.map((t) => ({ name: t.name, column: t.columns.map((c) => ({ name: c.name, type: { typeKind: c.kind } })) })),
    builtinFunctionOptions: { languageOptions },
  };
  const options = { languageOptions, defaultTimezone: 'UTC', errorMessageMode: 'ERROR_MESSAGE_ONE_LINE' as const };
  const analyzed = await server.analyze({ options, simpleCatalog, sqlStatement: sql } as Parameters<ZetaSqlServer['analyze']>[0]);
  const statement = analyzed?.resolvedStatement as unknown as { resolvedQueryStmtNode?: { outputColumnList?: { name: string; column?: { type?: { typeKind?: number } } }[] } };
  const columns = (statement.resolvedQueryStmtNode?.outputColumnList ?? []).map((c) => ({ name: c.name, kind: c.column?.type?.typeKind ?? 0 }));
  const tableContent = Object.fromEntries(tables.map((t) => [t.name, {
    tableData: { row: t.rows.map((row) => ({ cell: row.map((value, i) => encode(value, t.columns[i].kind)) })) },
  }]));
  const response = await server.evaluateQuery({ sql, options, simpleCatalog, tableContent } as Parameters<ZetaSqlServer['evaluateQuery']>[0]);
  const rows = (response.content?.tableData?.row ?? []).map((row) => row.cell.map((cell) => decode(cell as unknown as Record<string, unknown> & { value?: string })));
  return { columns, rows };
}

/** Rows as sorted canonical lines, so that two engines' answers compare as multisets. */
export function canonicalRows(rows: unknown[][]): string[] {
  return rows.map((row) => row.map(canonical).join(' | ')).sort();
}

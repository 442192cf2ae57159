import type { Target } from '../identifiers.js';

/** A TIMESTAMP value at microsecond precision, the resolution BigQuery and DuckDB share. */
export class Timestamp {
  constructor(readonly micros: bigint) {}

  /** From protobuf's Timestamp (Pub/Sub's publish time, ZetaSQL's values): nanoseconds beyond the microsecond are dropped. */
  static fromSecondsAndNanos(seconds: bigint, nanos: number): Timestamp {
    return new Timestamp(seconds * 1_000_000n + BigInt(Math.floor(nanos / 1000)));
  }

  /** As protobuf's Timestamp holds it: whole seconds, rounded down before 1970 too, and the nanoseconds after them. */
  secondsAndNanos(): { seconds: bigint; nanos: number } {
    const seconds = this.micros / 1_000_000n - (this.micros % 1_000_000n < 0n ? 1n : 0n);
    return { seconds, nanos: Number(this.micros - seconds * 1_000_000n) * 1000 };
  }

  /** RFC 3339 in UTC; fractional seconds only when non-zero, without trailing zeros. */
  toRfc3339(): string {
    const { seconds, nanos } = this.secondsAndNanos();
    const base = new Date(Number(seconds) * 1000).toISOString().slice(0, 19);
    const digits = nanos === 0 ? '' : `.${String(nanos / 1000).padStart(6, '0').replace(/0+$/, '')}`;
    return `${base}${digits}Z`;
  }
}

export type Value = null | string | number | bigint | boolean | Timestamp;
export type Row = Record<string, Value>;

export interface QueryResult {
  columns: string[];
  rows: Row[];
}

export interface TableOptions {
  /** BigQuery's partitioning of the table, if any (`bigquery.partitionBy`): a local warehouse, which has no partitions, may store the rows in its order. */
  partitionBy?: string;
}

/** One raw row exactly as a Pub/Sub BigQuery subscription with `writeMetadata` writes it. */
export interface RawRow {
  subscription_name: string;
  message_id: string;
  publish_time: Timestamp;
  data: string;
  /** The message attributes as a JSON object text. */
  attributes: string;
}

export const RAW_COLUMNS = [
  { name: 'subscription_name', type: 'STRING' },
  { name: 'message_id', type: 'STRING' },
  { name: 'publish_time', type: 'TIMESTAMP' },
  { name: 'data', type: 'STRING' },
  { name: 'attributes', type: 'STRING' },
] as const;

/**
 * The local stand-in for BigQuery's INFORMATION_SCHEMA.PARTITIONS of the raw table: rows per hourly
 * partition, kept by appendRawRows (includes/increment.js `rawPartitions` reads it on DuckDB).
 */
export const rawPartitionsTarget = (raw: Target): Target => ({ ...raw, name: `${raw.name}__partitions` });

/** What a MERGE changed, as BigQuery's DML statistics count it: target rows updated, source rows inserted. */
export interface MergeCounts {
  inserted: number;
  updated: number;
}

/**
 * What the runner needs from a warehouse engine. Each engine turns Dataform's compiled BigQuery
 * targets and statements into its own DDL/DML; the models' SQL itself comes from `includes/`.
 */
export interface Warehouse {
  ensureDataset(database: string, schema: string): Promise<void>;
  ensureRawTable(target: Target): Promise<void>;
  appendRawRows(target: Target, rows: RawRow[]): Promise<void>;
  relationKind(target: Target): Promise<'table' | 'view' | null>;
  columnNames(target: Target): Promise<string[]>;
  createOrReplaceTable(target: Target, query: string, options: TableOptions): Promise<void>;
  createOrReplaceView(target: Target, query: string): Promise<void>;
  drop(target: Target, kind: 'table' | 'view'): Promise<void>;
  /** Dataform's incremental MERGE: the target is aliased DATAFORM_DEST and the query DATAFORM_SOURCE,
   * as `predicates` (updatePartitionFilter, incrementalPredicates) expect. */
  mergeInto(target: Target, query: string, uniqueKey: string[], columns: string[], predicates?: string[]): Promise<MergeCounts>;
  /** Appends the query's rows; returns how many. */
  insertInto(target: Target, query: string, columns: string[]): Promise<number>;
  /** Forgets the script variables an action's pre-operations declared: on BigQuery each action is
   * its own script, so a variable never outlives the action that declared it. */
  resetScriptVariables(): Promise<void>;
  /** Runs a statement from the project (pre/post operations, operations). */
  execute(sql: string): Promise<void>;
  query(sql: string, limit?: number): Promise<QueryResult>;
  countRows(target: Target): Promise<number>;
  close(): Promise<void>;
}

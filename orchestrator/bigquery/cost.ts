// Offline estimate of the bytes BigQuery scans and bills for a statement: the columns each table
// scan reads (from ZetaSQL's resolved AST, scans.ts) times their logical sizes in the local tables,
// over the partitions and clustered blocks that the scan's constant conditions keep.
//
// Assumptions (README, "What a run costs"):
// - logical sizes as BigQuery counts them: STRING 2 bytes + UTF-8 length, INT64/FLOAT64/TIMESTAMP/DATE
//   8, BOOL 1, NULL 0;
// - partitions are pruned by comparisons, BETWEEN, IN and IN UNNEST of constants (literals and
//   script variables) on the partitioning column;
// - within a partition, rows are stored sorted by the clustering columns in blocks of `blockBytes`
//   (BigQuery does not document its block size; 64 MB by default here), and a block is skipped
//   when the min/max of its clustering columns rule the conditions out;
// - a MERGE with an UPDATE clause, and a DELETE, is billed for its reads plus every byte of the target
//   partitions it may change (the whole table when unpartitioned), as BigQuery's DML pricing says;
// - each table a statement references is billed at least 10 MB; INFORMATION_SCHEMA reads 10 MB.
import type { AstNode, Constant, Scalar, TableScan } from './scans.js';
import { functionCall } from './scans.js';
import { Timestamp } from '../warehouse/warehouse.js';

export const MIN_BILLED_BYTES_PER_TABLE = 10 * 1024 * 1024;
export const DEFAULT_BLOCK_BYTES = 64 * 1024 * 1024;

export type PartitionSpec =
  | { column: string; kind: 'hour' | 'day' }
  | { column: string; kind: 'range'; start: bigint; end: bigint; interval: bigint };

/** How a table is laid out on BigQuery: its partitioning and clustering, from the Dataform config. */
export interface TableLayout {
  partition?: PartitionSpec;
  clusterBy: string[];
  requirePartitionFilter: boolean;
}

/** Reads Dataform's `partitionBy` expressions the project uses; undefined for an unknown shape. */
export function parsePartitionBy(expression: string | undefined): PartitionSpec | undefined {
  if (!expression) return undefined;
  const text = expression.trim();
  let m = /^DATE\(\s*(\w+)\s*\)$/i.exec(text) ?? /^(\w+)$/.exec(text);
  if (m) return { column: m[1], kind: 'day' };
  m = /^TIMESTAMP_TRUNC\(\s*(\w+)\s*,\s*(HOUR|DAY)\s*\)$/i.exec(text);
  if (m) return { column: m[1], kind: m[2].toLowerCase() as 'hour' | 'day' };
  m = /^RANGE_BUCKET\(\s*(\w+)\s*,\s*GENERATE_ARRAY\(\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(\d+)\s*\)\s*\)$/i.exec(text);
  if (m) return { column: m[1], kind: 'range', start: BigInt(m[2]), end: BigInt(m[3]), interval: BigInt(m[4]) };
  return undefined;
}

/** The range of a column's values in a block: undefined bounds mean unbounded. */
export interface ColumnRange { min?: Scalar; max?: Scalar; hasNull: boolean; hasValues: boolean }

/** One clustered block of a partition, as the local table would be stored on BigQuery. */
export interface Block {
  partition: string;
  rows: number;
  /** Logical bytes per column. */
  bytes: Record<string, number>;
  /** Value ranges of the partitioning column (the partition's bounds) and the clustering columns (min/max). */
  ranges: Record<string, ColumnRange>;
}

export type Parameters = Map<string, Constant>;

function compare(a: Scalar, b: Scalar): number | undefined {
  if (typeof a === 'bigint' && typeof b === 'bigint') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  return undefined;
}

/** A constant argument: a literal, a script variable (query parameter), or a cast of one. */
function constantOf(node: AstNode, parameters: Parameters): { value: Constant } | undefined {
  const literal = node.resolvedLiteralNode as { value?: { value?: Record<string, unknown> } } | undefined;
  if (literal) return { value: literalValue(literal.value?.value) };
  const parameter = node.resolvedParameterNode as { name?: string } | undefined;
  if (parameter?.name !== undefined) return parameters.has(parameter.name) ? { value: parameters.get(parameter.name)! } : undefined;
  const cast = node.resolvedCastNode as { expr?: AstNode } | undefined;
  if (cast?.expr) return constantOf(cast.expr, parameters);
  return undefined;
}

function literalValue(value: Record<string, unknown> | undefined): Constant {
  if (!value) return null;
  const kind = value.value as string | undefined;
  const raw = kind ? value[kind] : undefined;
  if (raw === undefined || raw === null) return null;
  // protobufjs gives 64-bit integers as {low, high} pairs of 32-bit halves.
  const long = (v: unknown) => {
    if (typeof v === 'object' && v !== null && 'low' in v) {
      const { low, high } = v as { low: number; high: number };
      return (BigInt(high) << 32n) + BigInt(low >>> 0);
    }
    return BigInt(v as number | string);
  };
  switch (kind) {
    case 'int64Value': case 'uint64Value': case 'int32Value': return long(raw);
    // Days since the epoch, as µs at midnight UTC: the unit of a time partition's range.
    case 'dateValue': return long(raw) * DAY_US;
    case 'stringValue': return typeof raw === 'string' ? raw : null;
    case 'boolValue': return Boolean(raw);
    case 'timestampValue': {
      const { seconds, nanos } = raw as { seconds: unknown; nanos?: number };
      return Timestamp.fromSecondsAndNanos(long(seconds), nanos ?? 0).micros;
    }
    case 'arrayValue': return ((raw as { element?: Record<string, unknown>[] }).element ?? []).map(literalValue);
    default: return null;
  }
}

const HOUR_US = 3_600_000_000n;
const DAY_US = 86_400_000_000n;
const truncate = (value: Scalar | undefined, unit: bigint) => (typeof value === 'bigint' ? value - (((value % unit) + unit) % unit) : value);

/** The range of the expression `node` in a block: a column, or TIMESTAMP_TRUNC of one. */
function rangeOf(node: AstNode, scan: TableScan, block: Block): ColumnRange | undefined {
  const ref = node.resolvedColumnRefNode as { column?: { columnId: unknown } } | undefined;
  if (ref?.column) {
    const id = Number((ref.column.columnId as { low?: number }).low ?? ref.column.columnId);
    const name = scan.columnNames.get(id);
    return name === undefined ? undefined : block.ranges[name];
  }
  const call = functionCall(node);
  if (call?.name === 'timestamp_trunc' && call.args[0]) {
    const inner = rangeOf(call.args[0], scan, block);
    const part = (call.args[1]?.resolvedLiteralNode as { value?: { value?: { enumValue?: number } } } | undefined)?.value?.value?.enumValue;
    // ZetaSQL's DateTimestampPart: 7 HOUR, 3 DAY.
    const unit = part === 7 ? HOUR_US : part === 3 ? DAY_US : undefined;
    if (!inner || unit === undefined) return undefined;
    return { ...inner, min: truncate(inner.min, unit), max: truncate(inner.max, unit) };
  }
  return undefined;
}

/** May a value in `range` equal or order against `value` as `op` asks? Unknown -> true. */
function rangeMay(range: ColumnRange, op: string, value: Scalar): boolean {
  if (!range.hasValues) return false;
  const low = range.min === undefined ? undefined : compare(range.min, value);
  const high = range.max === undefined ? undefined : compare(range.max, value);
  switch (op) {
    case '$equal': return (low === undefined || low <= 0) && (high === undefined || high >= 0);
    case '$less': return low === undefined || low < 0;
    case '$less_or_equal': return low === undefined || low <= 0;
    case '$greater': return high === undefined || high > 0;
    case '$greater_or_equal': return high === undefined || high >= 0;
    default: return true;
  }
}

const MIRROR: Record<string, string> = { $less: '$greater', $less_or_equal: '$greater_or_equal', $greater: '$less', $greater_or_equal: '$less_or_equal', $equal: '$equal' };

/** False when `condition` cannot hold for any row of the block: the block is pruned. */
export function mayMatch(condition: AstNode, scan: TableScan, block: Block, parameters: Parameters): boolean {
  const call = functionCall(condition);
  if (!call) return true;
  const { name, args } = call;
  if (name === '$and') return args.every((a) => mayMatch(a, scan, block, parameters));
  if (name === '$or') return args.some((a) => mayMatch(a, scan, block, parameters));
  if (name === '$is_null') {
    const range = args[0] && rangeOf(args[0], scan, block);
    return range ? range.hasNull : true;
  }
  if (name in MIRROR && args.length === 2) {
    let [left, right] = args as [AstNode, AstNode];
    let op = name;
    if (!rangeOf(left, scan, block)) { [left, right] = [right, left]; op = MIRROR[name]!; }
    const range = rangeOf(left, scan, block);
    const constant = constantOf(right, parameters);
    if (!range || !constant) return true;
    if (constant.value === null || Array.isArray(constant.value)) return constant.value !== null;
    return rangeMay(range, op, constant.value);
  }
  if (name === '$between' && args.length === 3) {
    const range = rangeOf(args[0], scan, block);
    const low = constantOf(args[1], parameters);
    const high = constantOf(args[2], parameters);
    if (!range || !low || !high) return true;
    if (low.value === null || high.value === null) return false;
    if (Array.isArray(low.value) || Array.isArray(high.value)) return true;
    return rangeMay(range, '$greater_or_equal', low.value) && rangeMay(range, '$less_or_equal', high.value);
  }
  if (name === '$in_array' || name === '$in') {
    const range = args[0] && rangeOf(args[0], scan, block);
    if (!range) return true;
    const values: Constant[] = [];
    for (const arg of args.slice(1)) {
      const constant = constantOf(arg, parameters);
      if (!constant) return true;
      if (Array.isArray(constant.value)) values.push(...constant.value);
      else values.push(constant.value);
    }
    return values.some((v) => v !== null && !Array.isArray(v) && rangeMay(range, '$equal', v));
  }
  return true;
}

/** What a statement reads from one table: every scan of it in the statement together. */
export interface ScanCost {
  table: string;
  columns: string[];
  /** Logical bytes read from the kept blocks (each column of each block counted once per statement). */
  bytes: number;
  /** For a MERGE that updates: every byte of the partitions it may update. */
  dmlBytes: number;
  partitions: { kept: number; total: number };
  blocks: { kept: number; total: number };
}

/**
 * The cost of a statement's scans of one table (`scans` all name it). BigQuery reads each referenced
 * column of each unpruned block once per query, however often the query names the table.
 */
export function tableCost(table: string, scans: TableScan[], layout: TableLayout | undefined, blocks: Block[], parameters: Parameters): ScanCost {
  const kept = new Set<number>();
  const columns = new Set<string>();
  let updatedPartitions: Set<string> | undefined;
  for (const scan of scans) {
    // A scan through a view is pruned by the view's own conditions too, over the view's column ids.
    const view = scan.viewConditions;
    const viewScan = view ? { ...scan, columnNames: view.columnNames } : scan;
    const mayHold = (block: Block) => scan.conditions.every((c) => mayMatch(c, scan, block, parameters)) &&
      (view?.conditions ?? []).every((c) => mayMatch(c, viewScan, block, parameters));
    const scanKept = blocks.flatMap((block, i) => (mayHold(block) ? [i] : []));
    if (scan.dmlTarget === 'merge-update' || scan.dmlTarget === 'delete') {
      updatedPartitions = new Set(scanKept.map((i) => blocks[i].partition));
      if (!layout?.partition) updatedPartitions = new Set(blocks.map((b) => b.partition));
    }
    // Rows a MERGE only inserts are written, not read.
    if (scan.dmlTarget === 'merge-insert') continue;
    scanKept.forEach((i) => kept.add(i));
    scan.columns.forEach((c) => columns.add(c));
  }
  const sum = (list: Block[], names: string[]) => list.reduce((total, b) => total + names.reduce((s, c) => s + (b.bytes[c] ?? 0), 0), 0);
  const keptBlocks = [...kept].map((i) => blocks[i]);
  const allColumns = Object.keys(blocks[0]?.bytes ?? {});
  return {
    table,
    columns: [...columns],
    bytes: sum(keptBlocks, [...columns]),
    dmlBytes: updatedPartitions ? sum(blocks.filter((b) => updatedPartitions.has(b.partition)), allColumns) : 0,
    partitions: { kept: new Set(keptBlocks.map((b) => b.partition)).size, total: new Set(blocks.map((b) => b.partition)).size },
    blocks: { kept: kept.size, total: blocks.length },
  };
}

/** Bytes billed for a statement's scans: at least 10 MB per table referenced. */
export function billedBytes(costs: ScanCost[]): number {
  return costs.reduce((total, c) => total + Math.max(c.bytes + c.dmlBytes, MIN_BILLED_BYTES_PER_TABLE), 0);
}

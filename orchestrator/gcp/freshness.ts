import { type BigQuery, BigQueryTimestamp, type FormattedMetadata as TableResource } from '@google-cloud/bigquery';
import type { ProjectConfig } from '../config.js';
import { FINAL_TABLE } from '../contract.js';
import { validateIdentifier } from '../identifiers.js';
import { jobLabels } from './labels.js';
import type { GcpSettings } from './settings.js';

/** The final table's column holding the newest publish time behind each row (see its definition). */
export const FINAL_FRESHNESS_COLUMN = 'last_published_at';

/**
 * How far before raw's newest publish time the final table is searched. A lag beyond it is reported
 * as "more than" it; a --max-lag-minutes larger than it widens it, so the check always decides.
 */
export const LOOKBACK_HOURS = 24;

/**
 * A hard bound on each status query: BigQuery fails a job that would bill more, and bills nothing
 * for it. The queries below read a few partitions' one TIMESTAMP column (8 bytes a row): 1 GiB is
 * over 100 million rows, far beyond an hour of raw events or the order partitions of a day.
 */
export const STATUS_MAX_BYTES_BILLED = 1024 ** 3;

export interface Freshness {
  /** When the numbers were read (now). */
  checkedAt: string;
  /** The newest publish_time in the raw table (null: no row). */
  rawNewestPublishTime: string | null;
  /** The newest publish time the final table reflects (null: none since `finalSearchedSince`). */
  finalNewestPublishTime: string | null;
  /** `customer_courier_conversations.last_published_at`. */
  finalColumn: string;
  /** What was searched of the final table: rows written since this time. */
  finalSearchedSince: string | null;
  /** raw − final, in seconds; null when one side is unknown. */
  lagSeconds: number | null;
  /** When the final table has nothing as recent as `finalSearchedSince`: the lag is more than this. */
  lagAtLeastSeconds: number | null;
  /** BigQuery queries run (each billed at least 10 MB). */
  queries: number;
}

interface QueryContext {
  bigquery: BigQuery;
  project: ProjectConfig;
  settings: GcpSettings;
  queries: number;
}

/** BigQuery's TIMESTAMP literal of an instant, in UTC. */
export function timestampLiteral(iso: string): string {
  return `TIMESTAMP '${iso.replace('T', ' ').replace('Z', '+00')}'`;
}

type Row = Record<string, unknown>;

async function query(context: QueryContext, sql: string): Promise<Row[]> {
  const [rows] = await context.bigquery.query({
    query: sql,
    location: context.settings.location,
    labels: jobLabels(context.project, 'status'),
    maximumBytesBilled: String(STATUS_MAX_BYTES_BILLED),
  });
  context.queries += 1;
  return rows as Row[];
}

/** A TIMESTAMP column's value (the client's BigQueryTimestamp, RFC 3339 inside) as an ISO instant. */
function isoOfValue(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (!(value instanceof BigQueryTimestamp)) throw new Error(`expected a TIMESTAMP, got ${typeof value}`);
  return new Date(value.value).toISOString();
}

const textOf = (value: unknown): string | null => (typeof value === 'string' ? value : null);

/** The start of a partition from its id: YYYYMMDDHH (HOUR, as provisioned) or YYYYMMDD (DAY), in UTC. */
function hourPartitionStart(id: string): string {
  return `${id.slice(0, 4)}-${id.slice(4, 6)}-${id.slice(6, 8)}T${id.length >= 10 ? id.slice(8, 10) : '00'}:00:00.000Z`;
}

/**
 * Raw's newest publish time, in two queries: the newest non-empty hour partition from
 * INFORMATION_SCHEMA.PARTITIONS (metadata), then MAX(publish_time) from that hour on. Rows not yet
 * in a partition (just streamed) are read too, as every query reads them, and the newest row is in
 * that hour or among them. With no partition yet, the horizon bounds the read (the models read no
 * older row).
 */
async function rawNewest(context: QueryContext, now: Date): Promise<string | null> {
  const { settings, project } = context;
  const meta = (await query(context, [
    'SELECT MAX(partition_id) AS newest_partition',
    `FROM \`${settings.projectId}.${project.raw.schema}.INFORMATION_SCHEMA.PARTITIONS\``,
    `WHERE table_name = '${project.raw.name}' AND partition_id NOT IN ('__NULL__', '__UNPARTITIONED__') AND total_rows > 0`,
  ].join('\n'))).at(0);
  const partition = textOf(meta?.newest_partition);
  const horizonDays = Number((project.vars.horizonDays as string | undefined) ?? '7');
  const since = partition ? hourPartitionStart(partition) : new Date(now.getTime() - horizonDays * 86_400_000).toISOString();
  const row = (await query(context, [
    'SELECT MAX(publish_time) AS newest_publish_time',
    `FROM \`${settings.projectId}.${project.raw.schema}.${project.raw.name}\``,
    `WHERE publish_time >= ${timestampLiteral(since)}`,
  ].join('\n'))).at(0);
  return isoOfValue(row?.newest_publish_time);
}

interface RangePartitioning { field?: string; range?: { start?: string | number; end?: string | number; interval?: string | number } }

/**
 * A WHERE clause selecting the given partitions of an integer-range partitioned table by constant
 * ranges of its partitioning column (so that BigQuery prunes the others); adjacent partitions merge.
 */
export function partitionsFilter(partitionIds: string[], partitioning: RangePartitioning): string {
  const column = validateIdentifier('column', partitioning.field ?? '', 'the final table\'s rangePartitioning');
  const start = Number(partitioning.range?.start);
  const end = Number(partitioning.range?.end);
  const interval = Number(partitioning.range?.interval);
  const starts = partitionIds.filter((id) => /^-?[0-9]+$/.test(id)).map(Number).sort((a, b) => a - b);
  const ranges: [number, number][] = [];
  for (const s of starts) {
    const last = ranges.at(-1);
    if (last && last[1] === s) last[1] = s + interval;
    else ranges.push([s, s + interval]);
  }
  const terms = ranges.map(([lo, hi]) => `(${column} >= ${lo} AND ${column} < ${hi})`);
  if (partitionIds.includes('__UNPARTITIONED__')) terms.push(`(${column} < ${start} OR ${column} >= ${end})`);
  if (partitionIds.includes('__NULL__')) terms.push(`${column} IS NULL`);
  return terms.join(' OR ');
}

/**
 * The final table's newest `last_published_at`, reading only the partitions written since `since`.
 * A row whose publish time is `since` or later was written after that time, and writing a row sets
 * its partition's last_modified_time: so the partitions modified since `since` hold every such row.
 * The table is range-partitioned by order_id and a run rewrites the partitions of the orders it
 * touched (the newest orders, and old ones with late messages): those few are read, found through
 * INFORMATION_SCHEMA.PARTITIONS. Its metadata (free) says first whether anything was written since.
 */
async function finalNewest(context: QueryContext, table: TableResource, since: string): Promise<string | null> {
  const { settings, project } = context;
  if (Number(table.lastModifiedTime ?? 0) < Date.parse(since)) return null;
  const partitions = await query(context, [
    'SELECT partition_id',
    `FROM \`${settings.projectId}.${project.modelsDataset}.INFORMATION_SCHEMA.PARTITIONS\``,
    `WHERE table_name = '${FINAL_TABLE}' AND total_rows > 0 AND last_modified_time >= ${timestampLiteral(since)}`,
  ].join('\n'));
  if (partitions.length === 0) return null;
  const ids = partitions.map((p) => textOf(p.partition_id));
  const partitioning = (table as { rangePartitioning?: RangePartitioning }).rangePartitioning;
  // An unpartitioned table (partition_id NULL) is read whole; maximumBytesBilled still bounds it.
  const filter = partitioning && !ids.includes(null) ? partitionsFilter(ids as string[], partitioning) : '';
  const where = filter ? `\nWHERE ${filter}` : '';
  const row = (await query(context, `SELECT MAX(${FINAL_FRESHNESS_COLUMN}) AS newest_publish_time\nFROM \`${settings.projectId}.${project.modelsDataset}.${FINAL_TABLE}\`${where}`)).at(0);
  const newest = isoOfValue(row?.newest_publish_time);
  // Older than `since`: other partitions may hold a newer one, still older than `since`.
  return newest !== null && newest >= since ? newest : null;
}

/**
 * How far the final table is behind the raw table: each one's newest publish time and the gap,
 * from at most four queries, each bounded (see rawNewest and finalNewest) and capped by
 * STATUS_MAX_BYTES_BILLED, each labelled pipeline=<name>, step=status.
 */
export async function readFreshness(bigquery: BigQuery, project: ProjectConfig, settings: GcpSettings, finalTable: TableResource | null, options: { now: Date; maxLagMinutes?: number }): Promise<Freshness> {
  const context: QueryContext = { bigquery, project, settings, queries: 0 };
  const raw = await rawNewest(context, options.now);
  const lookbackSeconds = Math.max(LOOKBACK_HOURS * 3600, (options.maxLagMinutes ?? 0) * 60);
  const since = raw === null ? null : new Date(Date.parse(raw) - lookbackSeconds * 1000).toISOString();
  const final = since !== null && finalTable ? await finalNewest(context, finalTable, since) : null;
  return {
    checkedAt: options.now.toISOString(),
    rawNewestPublishTime: raw,
    finalNewestPublishTime: final,
    finalColumn: `${FINAL_TABLE}.${FINAL_FRESHNESS_COLUMN}`,
    finalSearchedSince: since,
    lagSeconds: raw !== null && final !== null ? (Date.parse(raw) - Date.parse(final)) / 1000 : null,
    lagAtLeastSeconds: raw !== null && final === null ? lookbackSeconds : null,
    queries: context.queries,
  };
}

// What the report shows, read from the analyst models with the same SQL on either warehouse: the
// local DuckDB file, or BigQuery. The queries only select and add up rows the models computed, in
// SQL both engines read alike; every statistic (percentiles included) comes from the models.
import type { BigQuery } from '@google-cloud/bigquery';
import type { ProjectConfig } from '../config.js';
import { Timestamp, type Warehouse } from '../warehouse/warehouse.js';

export type Role = 'courier' | 'customer';

export interface Statistics {
  conversations: number;
  answered: number;
  /** answered / conversations; null without conversations. */
  answeredShare: number | null;
  medianSeconds: number | null;
  p90Seconds: number | null;
  meanSeconds: number | null;
  messagesPerConversation: number | null;
}

export interface Summary extends Statistics {
  cities: number;
  /** ISO 8601 UTC, or null without conversations. */
  firstConversationStartedAt: string | null;
  lastConversationStartedAt: string | null;
  lastPublishedAt: string | null;
}

export interface CityRole extends Statistics {
  /** null: conversations whose order event has not arrived yet. */
  city: string | null;
  firstMessageBy: Role;
}

export interface Day extends Statistics {
  /** YYYY-MM-DD (UTC). */
  day: string;
}

export interface Bucket {
  bucket: number;
  label: string;
  firstMessageBy: Role;
  conversations: number;
}

export interface ReportData {
  summary: Summary;
  byCity: CityRole[];
  daily: Day[];
  distribution: Bucket[];
}

/** Where the report reads from: one name per relation, and a way to run a query. */
export interface ReportSource {
  /** Human-readable: the warehouse file, or the BigQuery dataset. */
  description: string;
  /** The fully qualified, backticked name of a model. */
  table(name: string): string;
  query(sql: string): Promise<Record<string, unknown>[]>;
}

/** The report's queries, as sent. */
export function reportQueries(table: (name: string) => string): Record<keyof ReportData, string> {
  const statistics = 'conversations, answered, answered_share, median_delay_seconds, p90_delay_seconds, mean_delay_seconds, messages_per_conversation';
  return {
    summary: `SELECT ${statistics}, cities, first_conversation_started_at, last_conversation_started_at, last_published_at FROM ${table('response_times_summary')}`,
    byCity: `SELECT city_code, first_message_by, ${statistics} FROM ${table('response_times_by_city')}`,
    daily: `SELECT day, ${statistics} FROM ${table('response_times_daily')} ORDER BY day`,
    distribution: `SELECT delay_bucket, delay_bucket_label, first_message_by, SUM(conversations) AS conversations
FROM ${table('response_time_distribution')}
GROUP BY delay_bucket, delay_bucket_label, first_message_by`,
  };
}

/** A number from either client: DuckDB gives BIGINT as bigint, BigQuery's client INT64 as number. */
function numberOf(value: unknown): number | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  // Text, or BigQuery's NUMERIC as a Big, whose value is its decimal text.
  return Number(value);
}

/** A text: DuckDB's timestamps are Timestamp, BigQuery's BigQueryTimestamp/BigQueryDate wrap `value`. */
function textOf(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Timestamp) return value.toRfc3339();
  if (typeof value === 'object' && 'value' in value) return String(value.value);
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  throw new Error(`unexpected ${typeof value} value where a text was expected`);
}

function timestampOf(value: unknown): string | null {
  const text = textOf(value);
  return text === null ? null : new Date(text).toISOString();
}

/** A fixed text order (localeCompare would depend on the machine's locale). */
const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function roleOf(value: unknown): Role {
  const role = textOf(value);
  if (role !== 'courier' && role !== 'customer') throw new Error(`unexpected first_message_by ${JSON.stringify(role)}`);
  return role;
}

function statisticsOf(row: Record<string, unknown>): Statistics {
  return {
    conversations: numberOf(row.conversations) ?? 0,
    answered: numberOf(row.answered) ?? 0,
    answeredShare: numberOf(row.answered_share),
    medianSeconds: numberOf(row.median_delay_seconds),
    p90Seconds: numberOf(row.p90_delay_seconds),
    meanSeconds: numberOf(row.mean_delay_seconds),
    messagesPerConversation: numberOf(row.messages_per_conversation),
  };
}

export async function readReportData(source: ReportSource): Promise<ReportData> {
  const queries = reportQueries((name) => source.table(name));
  // One after the other: a DuckDB connection runs one query at a time.
  const summaryRows = await source.query(queries.summary);
  const cityRows = await source.query(queries.byCity);
  const dayRows = await source.query(queries.daily);
  const bucketRows = await source.query(queries.distribution);
  const summaryRow = summaryRows.at(0);
  if (!summaryRow || summaryRows.length !== 1) throw new Error(`response_times_summary returned ${summaryRows.length} rows, expected 1`);
  return {
    summary: {
      ...statisticsOf(summaryRow),
      cities: numberOf(summaryRow.cities) ?? 0,
      firstConversationStartedAt: timestampOf(summaryRow.first_conversation_started_at),
      lastConversationStartedAt: timestampOf(summaryRow.last_conversation_started_at),
      lastPublishedAt: timestampOf(summaryRow.last_published_at),
    },
    // Sorted here, so that the page does not depend on the order an engine returns rows in.
    byCity: cityRows
      .map((row) => ({ city: textOf(row.city_code), firstMessageBy: roleOf(row.first_message_by), ...statisticsOf(row) }))
      .sort((a, b) => Number(a.city === null) - Number(b.city === null) || compareText(a.city ?? '', b.city ?? '') || compareText(a.firstMessageBy, b.firstMessageBy)),
    daily: dayRows.map((row) => ({ day: textOf(row.day)!, ...statisticsOf(row) })),
    distribution: bucketRows
      .map((row) => ({
        bucket: numberOf(row.delay_bucket)!, label: textOf(row.delay_bucket_label)!, firstMessageBy: roleOf(row.first_message_by), conversations: numberOf(row.conversations) ?? 0,
      }))
      .sort((a, b) => a.bucket - b.bucket || compareText(a.firstMessageBy, b.firstMessageBy)),
  };
}

/**
 * The models on BigQuery, through jobs.query (one request per query while results fit in one page),
 * each job carrying `labels` (pipeline and step, for the billing export).
 */
export function bigQuerySource(bigquery: BigQuery, projectId: string, dataset: string, location: string, labels: Record<string, string>): ReportSource {
  return {
    description: `BigQuery ${projectId}.${dataset}`,
    table: (name) => `\`${projectId}.${dataset}.${name}\``,
    query: async (sql) => {
      const [rows] = await bigquery.query({ query: sql, location, labels });
      return rows as Record<string, unknown>[];
    },
  };
}

/** The models in the local warehouse. */
export function localSource(warehouse: Warehouse, project: ProjectConfig, file: string): ReportSource {
  return {
    description: `local warehouse ${file}`,
    table: (name) => `\`${project.database}.${project.modelsDataset}.${name}\``,
    query: async (sql) => (await warehouse.query(sql)).rows,
  };
}

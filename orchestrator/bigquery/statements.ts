import type { Action } from '../dataform/graph.js';
import { type Target, targetKey } from '../identifiers.js';

/** One statement that `dataform run` sends to BigQuery for an action. */
export interface BigQueryStatement {
  /** What the statement is for: 'create table', 'merge', 'pre-operation', ... */
  purpose: string;
  sql: string;
}

const name = (target: Target) => `\`${targetKey(target)}\``;
const column = (c: string) => `\`${c}\``;

/** `CREATE OR REPLACE TABLE ... PARTITION BY ... CLUSTER BY ... AS`, as Dataform's BigQuery adapter writes it. */
export function createTableAs(target: Target, query: string, options: { partitionBy?: string; clusterBy?: string[] }): string {
  const partition = options.partitionBy ? `\nPARTITION BY ${options.partitionBy}` : '';
  const cluster = options.clusterBy?.length ? `\nCLUSTER BY ${options.clusterBy.map(column).join(', ')}` : '';
  return `CREATE OR REPLACE TABLE ${name(target)}${partition}${cluster}\nAS (\n${query}\n)`;
}

export function createView(target: Target, query: string): string {
  return `CREATE OR REPLACE VIEW ${name(target)} AS (\n${query}\n)`;
}

/** The incremental MERGE on the unique key (every column updated on a match, inserted otherwise). */
export function mergeInto(target: Target, query: string, uniqueKey: string[], columns: string[]): string {
  return [
    `MERGE ${name(target)} T`,
    `USING (\n${query}\n) S`,
    `ON ${uniqueKey.map((k) => `T.${column(k)} = S.${column(k)}`).join(' AND ')}`,
    `WHEN MATCHED THEN UPDATE SET ${columns.map((c) => `${column(c)} = S.${column(c)}`).join(', ')}`,
    `WHEN NOT MATCHED THEN INSERT (${columns.map(column).join(', ')}) VALUES (${columns.map((c) => `S.${column(c)}`).join(', ')})`,
  ].join('\n');
}

export function insertInto(target: Target, query: string, columns: string[]): string {
  const list = columns.map(column).join(', ');
  return `INSERT INTO ${name(target)} (${list})\nSELECT ${list} FROM (\n${query}\n)`;
}

const ops = (purpose: string, sqls: string[] | undefined): BigQueryStatement[] =>
  (sqls ?? []).filter((sql) => sql.trim() !== '').map((sql) => ({ purpose, sql }));

/**
 * Every statement a `dataform run` would execute on BigQuery for an action, in order. For an
 * incremental table that is both paths: the first (or full-refresh) run and the incremental MERGE.
 * `columns` are the table's columns, which the MERGE lists.
 */
export function statementsFor(action: Exclude<Action, { kind: 'declaration' }>, columns: string[]): BigQueryStatement[] {
  const { target } = action;
  if (action.kind === 'operation') return ops('operation', action.operation.queries);
  if (action.kind === 'assertion') {
    return [
      { purpose: 'assertion view', sql: createView(target, action.assertion.query) },
      { purpose: 'assertion check', sql: `SELECT SUM(1) AS row_count FROM ${name(target)}` },
    ];
  }
  const table = action.table;
  if (table.type === 'view') return [{ purpose: 'create view', sql: createView(target, table.query) }];
  const create = { purpose: 'create table', sql: createTableAs(target, table.query, table.bigquery ?? {}) };
  const full = [...ops('pre-operation', table.preOps), create, ...ops('post-operation', table.postOps)];
  if (table.type === 'table') return full;
  const incrementalQuery = table.incrementalQuery ?? table.query;
  const write = table.uniqueKey?.length
    ? { purpose: 'incremental merge', sql: mergeInto(target, incrementalQuery, table.uniqueKey, columns) }
    : { purpose: 'incremental insert', sql: insertInto(target, incrementalQuery, columns) };
  return [...full, ...ops('incremental pre-operation', table.incrementalPreOps), write, ...ops('incremental post-operation', table.incrementalPostOps)];
}

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { PACKAGE_ROOT } from '../orchestrator/config.js';
import type { CompiledGraph } from '../orchestrator/dataform/compile.js';

const run = promisify(execFile);

async function compile(...extra: string[]): Promise<CompiledGraph> {
  const cli = path.join(PACKAGE_ROOT, 'node_modules', '.bin', 'dataform');
  const { stdout } = await run(cli, ['compile', '--json', ...extra], { cwd: PACKAGE_ROOT, env: { ...process.env, METADATA_SERVER_DETECTION: 'none' } });
  return JSON.parse(stdout) as CompiledGraph;
}

const allSql = (graph: CompiledGraph) => JSON.stringify([graph.tables, graph.assertions, graph.operations]);

describe('dataform compile --json (the official CLI, offline)', () => {
  test('compiles for BigQuery by default with the expected actions', async () => {
    const graph = await compile();
    assert.deepEqual(graph.graphErrors?.compilationErrors ?? [], []);
    const tables = Object.fromEntries((graph.tables ?? []).map((t) => [t.target.name, t]));
    assert.deepEqual(Object.keys(tables).sort(), [
      'conversations', 'conversations_by_day', 'conversations_without_city', 'customer_courier_conversations', 'orders', 'rejected_events',
      'response_time_distribution', 'response_times_by_city', 'response_times_daily', 'response_times_daily_by_city', 'response_times_summary',
      'stg_events', 'stg_pending_deliveries', 'stg_raw_events', 'stg_raw_partitions',
    ]);
    for (const name of ['stg_events', 'orders', 'rejected_events', 'customer_courier_conversations']) {
      assert.equal(tables[name].type, 'incremental', name);
      assert.ok(tables[name].incrementalQuery && tables[name].incrementalQuery !== tables[name].query, `${name} reads only touched keys when incremental`);
      assert.match(tables[name].incrementalPreOps?.join('\n') ?? '', /DECLARE touched_\w+ ARRAY<(STRING|INT64)> DEFAULT/);
      assert.ok((tables[name].bigquery?.incrementalPredicates ?? []).some((p) => p.includes('DATAFORM_DEST.')), `${name}: the MERGE target is bounded`);
      assert.match(tables[name].incrementalPostOps?.join('\n') ?? '', /ASSERT NOT EXISTS/, `${name}: per-run checks`);
    }
    assert.equal(tables.stg_events.protected, true, 'the event log survives --full-refresh');
    assert.deepEqual(tables.customer_courier_conversations.uniqueKey, ['order_id']);
    // The messages are read from the event log, by its partitioning column: no second copy to merge into.
    assert.equal(tables.conversations.type, 'view');
    assert.match(tables.conversations.query, /order_key AS order_id/);
    assert.deepEqual(tables.stg_events.bigquery?.clusterBy, ['order_key', 'event_id']);
    assert.equal(tables.rejected_events.bigquery?.requirePartitionFilter, true);
    assert.match(tables.stg_raw_partitions.query, /INFORMATION_SCHEMA\.PARTITIONS/);
    const assertions = (graph.assertions ?? []).map((a) => a.target.name);
    for (const expected of ['assert_message_counts_reconcile', 'assert_every_event_accounted_for', 'assert_no_raw_rows_beyond_horizon',
      'audit_customer_courier_conversations_unique_key', 'audit_customer_courier_conversations_row_conditions']) {
      assert.ok(assertions.includes(expected), `assertion ${expected}`);
    }
    const raw = graph.declarations?.find((d) => d.target.name === 'raw_events');
    assert.deepEqual(raw?.target, { database: 'chat-pipeline-local', schema: 'chat_raw', name: 'raw_events' });
    const sql = allSql(graph);
    for (const duckdbOnly of ['getvariable', 'json_extract', 'strict_json_valid', 'TRY_CAST', 'epoch_us', 'TIMESTAMPTZ', 'regexp_matches']) {
      assert.ok(!sql.includes(duckdbOnly), `BigQuery SQL must not contain ${duckdbOnly}`);
    }
  });

  test('engine=duckdb swaps only the helpers, and vars override dataform.json', async () => {
    const graph = await compile('--vars=engine=duckdb,horizonDays=5,rawDataset=landing');
    const sql = allSql(graph);
    for (const bigQueryOnly of ['SAFE_CAST', 'JSON_VALUE(', 'TIMESTAMP_DIFF', 'DECLARE ', 'REGEXP_CONTAINS', 'SAFE.PARSE_JSON']) {
      assert.ok(!sql.includes(bigQueryOnly), `DuckDB SQL must not contain ${bigQueryOnly}`);
    }
    assert.match(sql, /INTERVAL \(-120\) HOUR/, 'horizonDays=5 is 120 hours');
    assert.match(sql, /`chat-pipeline-local\.landing\.raw_events`/);
  });

  test('a bad var fails the compile with a message', async () => {
    await assert.rejects(compile('--vars=engine=postgres'), /engine must be "bigquery" or "duckdb"/);
    await assert.rejects(compile('--vars=horizonDays=0'), /horizonDays must be a whole number of days from 1 to 36500/);
    // Dataform's own --vars reach the includes unchecked by the orchestrator.
    await assert.rejects(compile('--vars=orderIdPartitionEnd=99999999999999999999'), /var orderIdPartitionEnd must be a whole number below 2\^53/);
  });
});

import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { checkGraph } from '../orchestrator/bigquery/check.js';
import { ZetaSqlServer } from '../orchestrator/bigquery/zetasql.js';
import { PACKAGE_ROOT } from '../orchestrator/config.js';
import type { CompiledGraph, CompiledTable } from '../orchestrator/dataform/compile.js';
import { cli, cliOk } from './support/cli.js';

const temp = mkdtempSync(path.join(os.tmpdir(), 'orchestrator-check-'));
after(() => rmSync(temp, { recursive: true, force: true }));

/** A copy of the Dataform project with one file edited (Dataform needs @dataform/core beside it). */
function projectWith(file: string, edit: (text: string) => string): string {
  const dir = mkdtempSync(path.join(temp, 'project-'));
  for (const entry of ['definitions', 'includes', 'dataform.json', 'package.json']) cpSync(path.join(PACKAGE_ROOT, entry), path.join(dir, entry), { recursive: true });
  cpSync(path.join(PACKAGE_ROOT, 'node_modules', '@dataform', 'core'), path.join(dir, 'node_modules', '@dataform', 'core'), { recursive: true });
  const target = path.join(dir, file);
  const before = readFileSync(target, 'utf8');
  const after = edit(before);
  assert.notEqual(after, before, `the edit of ${file} changed nothing`);
  writeFileSync(target, after);
  return dir;
}

interface CheckOutput {
  ok: boolean;
  statements: number;
  results: { name: string; file: string; ok: boolean; skipped?: boolean; statements: { purpose: string; ok: boolean; message?: string; position?: string }[] }[];
}

async function check(projectDir = PACKAGE_ROOT): Promise<{ code: number | null; output: CheckOutput }> {
  const result = await cli(['check', '--project-dir', projectDir, '--json'], temp);
  return { code: result.code, output: JSON.parse(result.stdout) as CheckOutput };
}

function onlyError(output: CheckOutput) {
  const errors = output.results.filter((r) => !r.ok && !r.skipped);
  assert.equal(errors.length, 1, `exactly one action with errors: ${JSON.stringify(errors.map((e) => e.name))}`);
  return { action: errors[0], statement: errors[0].statements.find((s) => !s.ok)! };
}

describe('orchestrator check: every BigQuery statement through ZetaSQL', () => {
  test("the project passes: Dataform's scripts (CREATE TABLE ... PARTITION BY ... CLUSTER BY, MERGE, DECLARE, post-operations), views, assertions", async () => {
    const { code, output } = await check();
    assert.equal(code, 0);
    assert.equal(output.ok, true);
    const purposes = new Set(output.results.flatMap((r) => r.statements.map((s) => s.purpose.replace(/ \(DECLARE \w+\)/, ''))));
    for (const expected of ['create table', 'incremental pre-operation', 'incremental merge', 'create view', 'assertion view', 'assertion check']) {
      assert.ok(purposes.has(expected), `analysed a ${expected}`);
    }
    assert.ok(output.statements >= 60, `${output.statements} statements`);
    const text = await cliOk(['check'], temp);
    assert.match(text.stdout, /^ok +chat_models\.customer_courier_conversations \(\d+ statements\)$/m);
  });

  const cases: { name: string; file: string; edit: (s: string) => string; action: string; message: RegExp }[] = [
    {
      name: 'an unknown column',
      file: 'definitions/marts/orders.sqlx',
      edit: (s) => s.replace('    order_id,\n    city_code,\n    event_id,', '    order_id,\n    city_kode,\n    event_id,'),
      action: 'orders', message: /Unrecognized name: city_kode/,
    },
    {
      name: 'an unknown table',
      file: 'definitions/analytics/response_times_by_city.sqlx',
      edit: (s) => s.replace('ref("conversations_by_day")', '"`chat-pipeline-local.chat_models.conversations_by_dayz`"'),
      action: 'response_times_by_city', message: /Table not found: `?chat-pipeline-local\.chat_models\.conversations_by_dayz/,
    },
    {
      name: 'a wrong function signature',
      file: 'definitions/analytics/response_times_summary.sqlx',
      edit: (s) => s.replace('MIN(conversation_started_at) AS', 'MIN(LENGTH(conversation_started_at)) AS'),
      action: 'response_times_summary', message: /No matching signature for function LENGTH/,
    },
    {
      name: 'an ungrouped column',
      file: 'definitions/analytics/response_time_distribution.sqlx',
      edit: (s) => s.replace('    COUNT(*) AS conversations', '    order_id,\n    COUNT(*) AS conversations'),
      action: 'response_time_distribution', message: /SELECT list expression references column order_id which is neither grouped nor aggregated/,
    },
    {
      name: 'DuckDB syntax (SELECT * EXCLUDE)',
      file: 'definitions/monitoring/conversations_without_city.sqlx',
      edit: (s) => s.replace('SELECT\n  order_id,\n  conversation_started_at,\n  last_published_at', 'SELECT * EXCLUDE (city_code)'),
      action: 'conversations_without_city', message: /Syntax error/,
    },
    {
      name: 'a DuckDB function (epoch_us)',
      file: 'definitions/analytics/response_times_summary.sqlx',
      edit: (s) => s.replace('MAX(last_published_at) AS', 'MAX(epoch_us(last_published_at)) AS'),
      action: 'response_times_summary', message: /Function not found: epoch_us/,
    },
    {
      name: 'a column an upstream model no longer produces',
      file: 'definitions/marts/conversations.sqlx',
      edit: (s) => s.replace('  chat_started_by_message,\n  order_stage,', '  order_stage,'),
      action: 'customer_courier_conversations', message: /Unrecognized name: chat_started_by_message/,
    },
  ];

  for (const c of cases) {
    test(`catches ${c.name}`, async () => {
      const { code, output } = await check(projectWith(c.file, c.edit));
      assert.equal(code, 1);
      assert.equal(output.ok, false);
      const { action, statement } = onlyError(output);
      assert.ok(action.name.endsWith(`.${c.action}`), `error in ${action.name}`);
      assert.match(statement.message ?? '', c.message);
      assert.match(statement.position ?? '', /^\d+:\d+$/);
      if (c.file.endsWith(`${c.action}.sqlx`)) assert.equal(action.file, c.file);
    });
  }

  test('require_partition_filter: stg_pending_deliveries reading the stg_raw_events view (over the raw table) without a publish_time filter fails', async () => {
    const dir = projectWith('definitions/staging/stg_pending_deliveries.sqlx', (s) => s.replace(/\nWHERE\n {2}publish_time[\s\S]*?\n\n/, '\n\n'));
    const { code, output } = await check(dir);
    assert.equal(code, 1);
    const { action, statement } = onlyError(output);
    assert.ok(action.name.endsWith('.stg_pending_deliveries'), action.name);
    assert.equal(statement.purpose, 'create table');
    assert.equal(statement.message, 'scans chat-pipeline-local.chat_models.stg_raw_events without a filter on publish_time: the view reads chat-pipeline-local.chat_raw.raw_events unfiltered, which requires a filter on its partitioning column publish_time (require_partition_filter)');
    assert.ok(output.results.find((r) => r.name.endsWith('.stg_raw_events'))!.ok, 'creating the view itself is fine');
  });

  test("require_partition_filter: rejected_events' MERGE without the publish_time predicate on its target fails", async () => {
    const dir = projectWith('definitions/marts/rejected_events.sqlx', (s) => s.replace(/`DATAFORM_DEST\.publish_time >= [^`]*`,\s*/, ''));
    const { code, output } = await check(dir);
    assert.equal(code, 1);
    const { action, statement } = onlyError(output);
    assert.ok(action.name.endsWith('.rejected_events'), action.name);
    assert.equal(statement.purpose, 'incremental merge');
    assert.equal(statement.message, 'scans chat-pipeline-local.chat_models.rejected_events without a filter on its partitioning column publish_time (require_partition_filter)');
  });

  test('an error in the incremental MERGE path is caught even when the full-refresh query is fine', async () => {
    // The first incremental-only condition of the model's query gets an unknown column.
    const dir = projectWith('definitions/marts/rejected_events.sqlx', (s) => s.replace('${when(incremental(), `AND ', '${when(incremental(), `AND nonexistent_column IS NULL AND '));
    const { output } = await check(dir);
    const { action, statement } = onlyError(output);
    assert.ok(action.name.endsWith('.rejected_events'));
    assert.equal(statement.purpose, 'incremental merge');
    assert.match(statement.message ?? '', /Unrecognized name: nonexistent_column/);
    assert.ok(action.statements.some((s) => s.purpose === 'create table' && s.ok), 'the first run was analysed, and passed');
  });
});

describe('checkGraph on scripts: variables, blocks, INFORMATION_SCHEMA, require_partition_filter', () => {
  let server: ZetaSqlServer;
  before(async () => { server = await ZetaSqlServer.start(); });
  after(() => server.stop());

  const raw = { database: 'p-project', schema: 'raw', name: 'events' };
  const table = (name: string, fields: Partial<CompiledTable>): CompiledTable => ({
    type: 'table', target: { database: 'p-project', schema: 'm', name }, fileName: `definitions/${name}.sqlx`,
    dependencyTargets: [raw], query: "SELECT message_id, publish_time FROM `p-project.raw.events` WHERE publish_time >= TIMESTAMP '2024-01-01'", ...fields,
  });
  const checkTables = async (...tables: CompiledTable[]) => {
    const graph: CompiledGraph = {
      declarations: [{ target: raw, fileName: 'definitions/raw.sqlx' }],
      tables,
    };
    return checkGraph(server, graph, { key: 'p-project.raw.events' });
  };

  test('DECLARE with an inferred ARRAY type, a declared type, and SET; INFORMATION_SCHEMA.PARTITIONS resolves', async () => {
    const [result] = await checkTables(table('ids', {
      preOps: [
        "DECLARE ids DEFAULT (SELECT ARRAY_AGG(DISTINCT message_id) FROM `p-project.raw.events` WHERE publish_time > TIMESTAMP '2020-01-01');",
        "DECLARE since TIMESTAMP DEFAULT (SELECT MAX(last_modified_time) FROM `p-project.raw.INFORMATION_SCHEMA.PARTITIONS` WHERE table_name = 'events' AND partition_id != '__NULL__')",
        'DECLARE n INT64; SET n = (SELECT COUNT(*) FROM UNNEST(ids))',
      ],
      query: 'SELECT message_id, publish_time FROM `p-project.raw.events` WHERE message_id IN UNNEST(ids) AND publish_time > since AND n > 0',
    }));
    assert.deepEqual(result.statements, [
      { purpose: 'pre-operation (DECLARE ids)', ok: true },
      { purpose: 'pre-operation (DECLARE since)', ok: true },
      { purpose: 'pre-operation (DECLARE n)', ok: true },
      { purpose: 'pre-operation (SET n)', ok: true },
      { purpose: 'create table', ok: true },
    ]);
  });

  test('a DEFAULT of another type than declared fails, and the script stops there', async () => {
    const [result] = await checkTables(table('wrong', { preOps: ["DECLARE ids ARRAY<INT64> DEFAULT (SELECT ARRAY_AGG(message_id) FROM `p-project.raw.events` WHERE publish_time > TIMESTAMP '2020-01-01')"] }));
    assert.equal(result.ok, false);
    assert.equal(result.statements.length, 1);
    assert.match(result.statements[0].message ?? '', /ARRAY<STRING>, not coercible to the declared ARRAY<INT64>/);
  });

  test("INSERT_OVERWRITE's script: temporary table, BEGIN block, untyped DECLARE, MERGE ... NOT MATCHED BY SOURCE", async () => {
    const [result] = await checkTables(table('overwrite', { type: 'incremental', incrementalStrategy: 'INSERT_OVERWRITE', bigquery: { partitionBy: 'DATE(publish_time)' } }));
    assert.equal(result.ok, true, JSON.stringify(result.statements));
    assert.deepEqual(result.statements.map((s) => s.purpose), ['create table', 'insert overwrite', 'insert overwrite (DECLARE partitions_for_replacement)', 'insert overwrite', 'insert overwrite']);
  });

  test('what check cannot analyse is reported, not skipped', async () => {
    const results = await checkTables(
      table('branching', { preOps: ['IF TRUE THEN SELECT 1; END IF'] }),
      table('schema_change', { type: 'incremental', uniqueKey: ['message_id'], onSchemaChange: 'EXTEND' }),
    );
    const byName = new Map(results.map((r) => [r.name.split('.').pop(), r]));
    assert.match(byName.get('branching')!.statements.at(-1)!.message ?? '', /cannot analyse the scripting statement IF/);
    assert.match(byName.get('schema_change')!.statements.at(-1)!.message ?? '', /onSchemaChange: EXTEND is not supported/);
  });

  const RAW_UNFILTERED = 'scans p-project.raw.events without a filter on its partitioning column publish_time (require_partition_filter)';
  const byName = (results: Awaited<ReturnType<typeof checkTables>>) => new Map(results.map((r) => [r.name.split('.').pop()!, r]));
  const failure = (result: { ok: boolean; statements: { purpose: string; ok: boolean; message?: string }[] } | undefined) => {
    assert.ok(result && !result.ok, 'fails');
    const { purpose, ok, message } = result.statements.find((s) => !s.ok)!;
    return { purpose, ok, message };
  };
  const passes = (result: { ok: boolean; statements: unknown[] } | undefined, name: string) => assert.equal(result?.ok, true, `${name}: ${JSON.stringify(result?.statements)}`);
  const dependsOn = (...names: string[]) => ({ dependencyTargets: names.map((name) => ({ database: 'p-project', schema: 'm', name })) });

  test('require_partition_filter on the raw table: every scan needs a condition on publish_time (WHERE, through a join, in a DECLARE)', async () => {
    const results = byName(await checkTables(
      table('unfiltered', { query: 'SELECT message_id FROM `p-project.raw.events`' }),
      table('other_column', { query: "SELECT message_id FROM `p-project.raw.events` WHERE message_id = 'x'" }),
      table('filtered', {}),
      table('joined', { query: "SELECT e.message_id FROM `p-project.raw.events` e JOIN (SELECT 'x' AS message_id) k USING (message_id) WHERE e.publish_time > TIMESTAMP '2024-01-01'" }),
      table('self_joined', { query: "SELECT a.message_id FROM `p-project.raw.events` a JOIN `p-project.raw.events` b USING (message_id) WHERE a.publish_time > TIMESTAMP '2024-01-01'" }),
      table('in_declare', { preOps: ['DECLARE n DEFAULT (SELECT COUNT(*) FROM `p-project.raw.events`)'] }),
    ));
    assert.deepEqual(failure(results.get('unfiltered')), { purpose: 'create table', ok: false, message: RAW_UNFILTERED });
    assert.equal(failure(results.get('other_column')).message, RAW_UNFILTERED);
    passes(results.get('filtered'), 'filtered');
    passes(results.get('joined'), 'joined');
    // Each scan of the table needs its own filter: b has none.
    assert.equal(failure(results.get('self_joined')).message, RAW_UNFILTERED);
    assert.deepEqual(failure(results.get('in_declare')), { purpose: 'pre-operation (DECLARE n)', ok: false, message: RAW_UNFILTERED });
  });

  test('require_partition_filter on a table (bigquery.requirePartitionFilter): its readers and its incremental MERGE need a filter on its partitioning column', async () => {
    const required = { partitionBy: 'TIMESTAMP_TRUNC(publish_time, HOUR)', requirePartitionFilter: true };
    const results = byName(await checkTables(
      table('req', { bigquery: { partitionBy: 'DATE(publish_time)', requirePartitionFilter: true } }),
      table('reads_req', { ...dependsOn('req'), query: 'SELECT message_id FROM `p-project.m.req`' }),
      table('reads_req_filtered', { ...dependsOn('req'), query: "SELECT message_id FROM `p-project.m.req` WHERE DATE(publish_time) = '2024-03-01'" }),
      table('merge_unfiltered', { type: 'incremental', uniqueKey: ['message_id'], bigquery: required }),
      table('merge_filtered', { type: 'incremental', uniqueKey: ['message_id'], bigquery: { ...required, incrementalPredicates: ["DATAFORM_DEST.publish_time >= TIMESTAMP '2024-01-01'"] } }),
      // Without the option, nothing is required.
      table('not_required', { bigquery: { partitionBy: 'DATE(publish_time)' } }),
      table('reads_not_required', { ...dependsOn('not_required'), query: 'SELECT message_id FROM `p-project.m.not_required`' }),
    ));
    passes(results.get('req'), 'req');
    assert.deepEqual(failure(results.get('reads_req')), {
      purpose: 'create table', ok: false, message: 'scans p-project.m.req without a filter on its partitioning column publish_time (require_partition_filter)',
    });
    passes(results.get('reads_req_filtered'), 'reads_req_filtered');
    // The first run creates the table (no scan of it); the MERGE's ON condition must filter the target.
    const merge = results.get('merge_unfiltered')!;
    assert.ok(merge.statements.some((s) => s.purpose === 'create table' && s.ok));
    assert.deepEqual(failure(merge), {
      purpose: 'incremental merge', ok: false, message: 'scans p-project.m.merge_unfiltered without a filter on its partitioning column publish_time (require_partition_filter)',
    });
    passes(results.get('merge_filtered'), 'merge_filtered');
    passes(results.get('reads_not_required'), 'reads_not_required');
  });

  test('a view over the raw table: creating it is fine, a query on it must filter the column it passes through', async () => {
    const view = (name: string, query: string, deps: string[] = []) => table(name, { type: 'view', query, ...(deps.length ? dependsOn(...deps) : {}) });
    const results = byName(await checkTables(
      view('v', 'SELECT message_id, publish_time FROM `p-project.raw.events`'),
      table('from_v', { ...dependsOn('v'), query: 'SELECT message_id FROM `p-project.m.v`' }),
      table('from_v_filtered', { ...dependsOn('v'), query: "SELECT message_id FROM `p-project.m.v` WHERE publish_time >= TIMESTAMP '2024-01-01'" }),
      // Through a CTE and a view over the view, by name.
      view('vv', 'WITH c AS (SELECT * FROM `p-project.m.v`) SELECT * FROM c', ['v']),
      table('from_vv', { ...dependsOn('vv'), query: 'SELECT message_id FROM `p-project.m.vv`' }),
      table('from_vv_filtered', { ...dependsOn('vv'), query: "SELECT message_id FROM `p-project.m.vv` WHERE publish_time >= TIMESTAMP '2024-01-01'" }),
      // Renamed: the requirement follows the column.
      view('renamed', 'SELECT message_id, publish_time AS published FROM `p-project.raw.events`'),
      table('from_renamed', { ...dependsOn('renamed'), query: 'SELECT message_id FROM `p-project.m.renamed` WHERE message_id > "a"' }),
      table('from_renamed_filtered', { ...dependsOn('renamed'), query: "SELECT message_id FROM `p-project.m.renamed` WHERE published >= TIMESTAMP '2024-01-01'" }),
      // A view that filters itself requires nothing of its readers.
      view('v_filtered', "SELECT message_id, publish_time FROM `p-project.raw.events` WHERE publish_time >= TIMESTAMP '2024-01-01'"),
      table('from_v_filtered_view', { ...dependsOn('v_filtered'), query: 'SELECT message_id FROM `p-project.m.v_filtered`' }),
      // A view that drops the column could never be queried.
      view('v_lost', 'SELECT message_id FROM `p-project.raw.events`'),
      // Nor one that outputs a computed column in its place, whatever its name: a filter on it prunes nothing.
      view('v_computed', 'SELECT message_id, TIMESTAMP_ADD(publish_time, INTERVAL 1 HOUR) AS publish_time FROM `p-project.raw.events`'),
    ));
    passes(results.get('v'), 'v');
    assert.deepEqual(failure(results.get('from_v')), {
      purpose: 'create table', ok: false,
      message: 'scans p-project.m.v without a filter on publish_time: the view reads p-project.raw.events unfiltered, which requires a filter on its partitioning column publish_time (require_partition_filter)',
    });
    passes(results.get('from_v_filtered'), 'from_v_filtered');
    passes(results.get('vv'), 'vv');
    assert.match(failure(results.get('from_vv')).message ?? '', /^scans p-project\.m\.vv without a filter on publish_time: the view reads p-project\.raw\.events unfiltered/);
    passes(results.get('from_vv_filtered'), 'from_vv_filtered');
    assert.match(failure(results.get('from_renamed')).message ?? '', /^scans p-project\.m\.renamed without a filter on published: the view reads p-project\.raw\.events unfiltered, which requires a filter on its partitioning column publish_time/);
    passes(results.get('from_renamed_filtered'), 'from_renamed_filtered');
    passes(results.get('from_v_filtered_view'), 'from_v_filtered_view');
    assert.deepEqual(failure(results.get('v_lost')), {
      purpose: 'create view', ok: false,
      message: `${RAW_UNFILTERED}, and no output of the view copies publish_time: no query on the view could filter it`,
    });
    assert.deepEqual(failure(results.get('v_computed')), {
      purpose: 'create view', ok: false,
      message: `${RAW_UNFILTERED}, and no output of the view copies publish_time: no query on the view could filter it`,
    });
  });
});


describe('the ZetaSQL server lifecycle', () => {
  test('interrupted, check leaves no server running', async () => {
    const { spawnCli } = await import('./support/cli.js');
    const { execFileSync } = await import('node:child_process');
    // Only this check's own server counts: other processes on the machine may run ZetaSQL too.
    const serversUnder = (root: number): number[] => {
      const table = execFileSync('ps', ['-e', '-o', 'pid=,ppid=,args='], { encoding: 'utf8' }).trim().split('\n')
        .map((line) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line)!).map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), args: m[3] }));
      const descendants = new Set([root]);
      for (let grew = true; grew;) {
        grew = false;
        for (const p of table) if (descendants.has(p.ppid) && !descendants.has(p.pid)) { descendants.add(p.pid); grew = true; }
      }
      return table.filter((p) => descendants.has(p.pid) && p.args.includes('zetasql/remote_server')).map((p) => p.pid);
    };
    const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };
    const child = spawnCli(['check'], temp);
    let servers: number[] = [];
    while (servers.length === 0 && child.exitCode === null) {
      servers = serversUnder(child.pid!);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    assert.ok(servers.length > 0, 'the server was started');
    child.kill('SIGINT');
    const ended = await new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
    // check has no interrupt handling of its own: the server is killed, then the signal's default
    // action ends the process (a shell reports 130).
    assert.deepEqual(ended, { code: null, signal: 'SIGINT' });
    // The server may take a moment to die after the signal; it must not outlive a generous bound.
    for (const deadline = Date.now() + 10_000; servers.some(alive) && Date.now() < deadline;) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(servers.filter(alive), [], 'no ZetaSQL server left behind');
  });
});

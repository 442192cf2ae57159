import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ZetaSqlServer } from '../orchestrator/bigquery/zetasql.js';
import { PACKAGE_ROOT } from '../orchestrator/config.js';
import { compileProject, type CompiledGraph } from '../orchestrator/dataform/compile.js';
import { actionsInDependencyOrder } from '../orchestrator/dataform/graph.js';
import { targetKey } from '../orchestrator/identifiers.js';
import { textValue } from '../orchestrator/output/format.js';
import { openLocalWarehouse } from '../orchestrator/warehouse/local.js';
import type { RunSummary } from '../orchestrator/runner/run.js';
import type { Value } from '../orchestrator/warehouse/warehouse.js';
import { cliOk } from './support/cli.js';
import { KIND, canonicalRows, duckTypeKind, evaluate, kindName, type Evaluated, type ZetaTable } from './support/differential.js';
import { HOSTILE_CITY as HOSTILE, handWorkedDeliveries } from './support/analytics.js';
import { loadIncludes } from './support/includes.js';
import { message, order } from './support/fixtures.js';
import { LocalPipeline, anchorPath, delivery, fileDeliveries, pipelineFactory, type PlainRow } from './support/pipeline.js';
import type { Delivery } from './support/reference.js';

// The analyst models (definitions/analytics): exact percentiles equal BigQuery's PERCENTILE_DISC,
// hand-computed answers on a small warehouse, incremental runs equal a build from scratch while
// reading only the days they touch, DuckDB equals ZetaSQL's evaluator on the anchors, and the
// README's example queries run on both engines.

const pipeline = pipelineFactory();
let server: ZetaSqlServer | undefined;
before(async () => { server = await ZetaSqlServer.start(); });
after(() => server?.stop());

/** includes/dialect.js, increment.js and analytics.js, loaded as Dataform loads them, for one engine. */
const includes = (engine: 'bigquery' | 'duckdb') => loadIncludes(engine, ['dialect', 'increment', 'analytics']);

/** The response-time statistics of `responseTimes` over `cases`, grouped by `g`, on both engines. */
async function statisticsOnBothEngines(cases: [string | null, number | null][]): Promise<{ zeta: Evaluated; duck: unknown[][] }> {
  const sql = (engine: 'bigquery' | 'duckdb') => (includes(engine).analytics.responseTimes as (r: string, k: string[]) => string)('cases', ['g']);
  const zeta = await evaluate(server!, sql('bigquery'), [{
    name: 'cases',
    columns: [{ name: 'g', kind: KIND.STRING }, { name: 'first_responsetime_delay_seconds', kind: KIND.INT64 }, { name: 'messages', kind: KIND.INT64 }],
    rows: cases.map(([g, d]) => [g, d === null ? null : BigInt(d), 2n]),
  }]);
  const p = pipeline();
  const warehouse = await openLocalWarehouse(p.project, p.workdir);
  try {
    const values = cases.map(([g, d]) => `(${g === null ? 'NULL' : `'${g}'`}, ${d === null ? 'NULL' : d}::BIGINT, 2::BIGINT)`).join(', ');
    const result = await warehouse.query(`WITH cases(g, first_responsetime_delay_seconds, messages) AS (VALUES ${values}) SELECT * FROM (${sql("duckdb")})`);
    return { zeta, duck: result.rows.map((row) => result.columns.map((c) => row[c])) };
  } finally {
    await warehouse.close();
  }
}

describe('exact percentiles (analytics.responseTimes)', () => {
  test("equal BigQuery's PERCENTILE_DISC, and DuckDB computes the same", async () => {
    // Ties, one value, two values, only unanswered, unanswered mixed in, 10 and 11 values (where
    // p90's rank changes), a delay of 0, a NULL group, and 500 pseudo-random delays.
    let seed = 7;
    const random = () => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31; };
    const groups: Record<string, (number | null)[]> = {
      ties: [10, 10, 20, 40], one: [45], two: [20, 10], unanswered: [null, null], mixed: [null, 5, 7, 7, 100, null],
      ten: [...Array(10).keys()].map((i) => i + 1), eleven: [...Array(11).keys()].map((i) => 11 - i), zero: [0, 0, 3],
      big: [...Array(500).keys()].map(() => (random() < 0.1 ? null : Math.floor(random() ** 3 * 20_000))),
    };
    const cases: [string | null, number | null][] = [...Object.entries(groups).flatMap(([g, list]) => list.map((d): [string, number | null] => [g, d])), [null, 3], [null, 1], [null, 2]];
    const { zeta, duck } = await statisticsOnBothEngines(cases);
    assert.deepEqual(canonicalRows(duck), canonicalRows(zeta.rows), 'DuckDB equals ZetaSQL on the same SQL');

    const reference = await evaluate(server!, `SELECT g, ANY_VALUE(median) AS median, ANY_VALUE(p90) AS p90 FROM (
      SELECT g, PERCENTILE_DISC(first_responsetime_delay_seconds, 0.5) OVER (PARTITION BY g) AS median,
        PERCENTILE_DISC(first_responsetime_delay_seconds, 0.9) OVER (PARTITION BY g) AS p90 FROM cases) GROUP BY g`, [{
      name: 'cases', columns: [{ name: 'g', kind: KIND.STRING }, { name: 'first_responsetime_delay_seconds', kind: KIND.INT64 }],
      rows: cases.map(([g, d]) => [g, d === null ? null : BigInt(d)]),
    }]);
    const column = (name: string) => zeta.columns.findIndex((c) => c.name === name);
    const ours = canonicalRows(zeta.rows.map((r) => [r[0], r[column('median_delay_seconds')], r[column('p90_delay_seconds')]]));
    assert.deepEqual(ours, canonicalRows(reference.rows), "the histogram's percentiles are BigQuery's PERCENTILE_DISC");
    assert.equal(reference.rows.length, Object.keys(groups).length + 1);

    // By hand: 10, 10, 20, 40 -> median 10 (2 of 4 at or below), p90 40 (3 of 4 is not 90%).
    const ties = zeta.rows.find((r) => r[0] === 'ties')!;
    assert.deepEqual([ties[column('median_delay_seconds')], ties[column('p90_delay_seconds')], ties[column('mean_delay_seconds')]], [10n, 40n, 20]);
    const unanswered = zeta.rows.find((r) => r[0] === 'unanswered')!;
    assert.deepEqual([unanswered[column('conversations')], unanswered[column('answered')], unanswered[column('answered_share')], unanswered[column('median_delay_seconds')]], [2n, 0n, 0, null]);
  });
});

// ---------------------------------------------------------------------------------------------------
// A small warehouse whose every number is worked out by hand.
// ---------------------------------------------------------------------------------------------------

const STATISTICS = ['conversations', 'answered', 'answered_share', 'median_delay_seconds', 'p90_delay_seconds', 'mean_delay_seconds', 'messages_per_conversation'];
const statistics = (values: unknown[]) => Object.fromEntries(STATISTICS.map((c, i) => [c, values[i]]));

describe('the analyst models on a hand-worked warehouse', () => {
  let p: LocalPipeline;
  before(async () => {
    p = pipeline();
    await p.append(handWorkedDeliveries());
    await p.transform();
  });

  test('response_times_by_city: per city and who waited, the city with one conversation and the one never answered', async () => {
    const rows = await p.rows('response_times_by_city', ['city_code', 'first_message_by', ...STATISTICS], 'city_code NULLS LAST, first_message_by');
    const row = (city: string | null, role: string, values: unknown[]) => ({ city_code: city, first_message_by: role, ...statistics(values) });
    assert.deepEqual(rows, [
      row('<script>alert("x")</script>&\'', 'customer', [1, 1, 1, 30, 30, 30, 2]),
      row('BCN', 'courier', [1, 0, 0, null, null, null, 1]),
      row('BCN', 'customer', [2, 2, 1, 60, 120, 90, 2.5]),
      row('ONE', 'courier', [1, 1, 1, 45, 45, 45, 2]),
      row('UNA', 'courier', [1, 0, 0, null, null, null, 2]),
      row('UNA', 'customer', [1, 0, 0, null, null, null, 1]),
      row(null, 'courier', [1, 1, 1, 300, 300, 300, 2]),
    ]);
  });

  test('response_times_summary: one row, the headline numbers and the time range', async () => {
    // Answered delays 30, 45, 60, 120, 300: median 60 (3 of 5), p90 300 (4 of 5 is 80%), mean 111.
    assert.deepEqual(await p.rows('response_times_summary', [...STATISTICS, 'cities', 'first_conversation_started_at', 'last_conversation_started_at']), [{
      ...statistics([8, 5, 0.625, 60, 300, 111, 1.88]), cities: 4,
      first_conversation_started_at: '2024-02-01T10:00:00Z', last_conversation_started_at: '2024-02-02T12:00:00Z',
    }]);
  });

  test('the daily series: over all cities and by city, by UTC day of the first message', async () => {
    assert.deepEqual(await p.rows('response_times_daily', ['day', ...STATISTICS]), [
      { day: '2024-02-01', ...statistics([4, 3, 0.75, 60, 120, 70, 2.25]) },
      { day: '2024-02-02', ...statistics([4, 2, 0.5, 45, 300, 172.5, 1.5]) },
    ]);
    const byCity = await p.rows('response_times_daily_by_city', ['day', 'city_code', 'conversations', 'answered', 'median_delay_seconds'], 'day, city_code NULLS LAST');
    assert.deepEqual(byCity.map((r) => Object.values(r)), [
      ['2024-02-01', HOSTILE, 1, 1, 30], ['2024-02-01', 'BCN', 2, 2, 60], ['2024-02-01', 'UNA', 1, 0, null],
      ['2024-02-02', 'BCN', 1, 0, null], ['2024-02-02', 'ONE', 1, 1, 45], ['2024-02-02', 'UNA', 1, 0, null], ['2024-02-02', null, 1, 1, 300],
    ]);
  });

  test('response_time_distribution: answered conversations per bucket, with the bucket bounds', async () => {
    const rows = await p.rows('response_time_distribution', ['day', 'city_code', 'first_message_by', 'delay_bucket', 'delay_bucket_label', 'delay_from_seconds', 'delay_to_seconds', 'conversations'],
      'day, city_code NULLS LAST, first_message_by, delay_bucket');
    assert.deepEqual(rows.map((r) => Object.values(r)), [
      ['2024-02-01', HOSTILE, 'customer', 2, '30-60 s', 30, 60, 1],
      ['2024-02-01', 'BCN', 'customer', 3, '1-2 min', 60, 120, 1],
      ['2024-02-01', 'BCN', 'customer', 4, '2-5 min', 120, 300, 1],
      ['2024-02-02', 'ONE', 'courier', 2, '30-60 s', 30, 60, 1],
      ['2024-02-02', null, 'courier', 5, '5-10 min', 300, 600, 1],
    ]);
  });

  test('the audits hold, and each catches a broken rule', async () => {
    const audits = await p.transform({ tags: ['audit'] });
    assert.ok(audits.actions.some((a) => a.name.endsWith('.audit_analytics_reconcile')));
    assert.deepEqual(audits.actions.filter((a) => a.status !== 'ok').map((a) => a.name), []);
    const broken = p.clone();
    try {
      await broken.execute(`UPDATE ${broken.table('response_times_daily_by_city')} SET p90_delay_seconds = 1 WHERE city_code = 'BCN' AND day = DATE '2024-02-01'`);
      await broken.execute(`DELETE FROM ${broken.table('conversations_by_day')} WHERE order_id = 5`);
      const failed = await broken.transform({ tags: ['audit'], allowFailure: true });
      const status = (name: string) => failed.actions.find((a) => a.name.endsWith(`.${name}`))?.status;
      assert.equal(status('audit_response_times_daily_by_city_row_conditions'), 'failed', 'median <= p90');
      assert.equal(status('audit_analytics_reconcile'), 'failed', 'a conversation missing from conversations_by_day');
      assert.equal(status('audit_response_times_daily_row_conditions'), 'ok');
    } finally {
      broken.dispose();
    }
  });

  test("the README's example queries run on DuckDB and on ZetaSQL (BigQuery), with the same answers", async () => {
    const readme = readFileSync(path.join(PACKAGE_ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## For analysts'), readme.indexOf('\n## ', readme.indexOf('## For analysts') + 1));
    const queries = [...section.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1].trim());
    assert.ok(queries.length >= 3, `${queries.length} example queries in the README`);
    const warehouse = await openLocalWarehouse(p.project, p.workdir, true);
    try {
      // Every analytics relation as a ZetaSQL table, named as the examples name them (dataset.table).
      const tables: ZetaTable[] = [];
      for (const name of ['conversations_by_day', 'response_times_daily', 'response_times_daily_by_city', 'response_time_distribution', 'response_times_by_city', 'response_times_summary']) {
        const types = await warehouse.query(`SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'chat_models' AND table_name = '${name}' ORDER BY ordinal_position`);
        const columns = types.rows.map((r) => ({ name: textValue(r.column_name), kind: duckTypeKind(textValue(r.data_type)) }));
        const content = await warehouse.query(`SELECT * FROM ${p.table(name)}`);
        tables.push({ name: `chat_models.${name}`, columns, rows: content.rows.map((row) => columns.map((c) => row[c.name])) });
      }
      for (const sql of queries) {
        const duck = await warehouse.query(sql);
        assert.ok(duck.rows.length > 0, `rows from: ${sql}`);
        // ZetaSQL's catalog knows the tables by their one-part names: `chat_models.x` is BigQuery's chat_models.x.
        const zeta = await evaluate(server!, sql.replace(/\bchat_models\.(\w+)/g, '`chat_models.$1`'), tables);
        assert.deepEqual(duck.columns, zeta.columns.map((c) => c.name), `same columns: ${sql}`);
        assert.deepEqual(canonicalRows(duck.rows.map((row) => duck.columns.map((c) => row[c]))), canonicalRows(zeta.rows), `same rows: ${sql}`);
      }
    } finally {
      await warehouse.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------------
// Incremental runs.
// ---------------------------------------------------------------------------------------------------

const ANALYTICS: [string, string][] = [
  ['conversations_by_day', 'order_id'], ['response_times_daily', 'day'], ['response_times_daily_by_city', 'day, city_code NULLS FIRST'],
  ['response_time_distribution', 'day, city_code NULLS FIRST, first_message_by, delay_bucket'], ['response_times_by_city', 'city_code NULLS FIRST, first_message_by'],
  ['response_times_summary', 'conversations'],
];

async function snapshot(p: LocalPipeline): Promise<Record<string, PlainRow[]>> {
  const tables: Record<string, PlainRow[]> = {};
  for (const [table, orderBy] of ANALYTICS) tables[table] = await p.rows(table, undefined, orderBy);
  return tables;
}

const action = (summary: RunSummary, name: string) => summary.actions.find((a) => a.name.endsWith(`.${name}`));

describe('incremental runs of the analyst models', () => {
  const hour = (h: number, minute = 0) => new Date(Date.parse('2024-03-01T00:00:00Z') + h * 3_600_000 + minute * 60_000).toISOString();
  // Publish times an hour apart: each batch is a new raw partition, so a run reads that batch only.
  const batches: { name: string; deliveries: Delivery[] }[] = [
    { name: 'first build', deliveries: [
      delivery(message(10, 'courier', '2024-01-15T10:00:00Z'), hour(0)), delivery(message(10, 'customer', '2024-01-15T10:03:00Z'), hour(0, 1)), delivery(order(10, 'OLD'), hour(0, 2)),
      delivery(message(11, 'courier', '2024-02-01T10:00:00Z'), hour(0, 3)), delivery(message(11, 'customer', '2024-02-01T10:01:00Z'), hour(0, 4)), delivery(order(11, 'BCN'), hour(0, 5)),
      delivery(message(12, 'customer', '2024-02-02T09:00:00Z'), hour(0, 6)), delivery(message(12, 'courier', '2024-02-02T09:00:30Z'), hour(0, 7)),
      delivery(message(13, 'courier', '2024-02-02T15:00:00Z'), hour(0, 8)), delivery(order(13, 'MAD'), hour(0, 9)),
    ] },
    // Order 12's city arrives (its day's city-less group empties); an earlier message moves order 13
    // from 2024-02-02 to 2024-02-01 (MAD's group of the 2nd empties) and answers it.
    { name: 'a late city and a message that moves a conversation to the day before', deliveries: [
      delivery(order(12, 'BCN'), hour(2)), delivery(message(13, 'customer', '2024-02-01T22:00:00Z'), hour(2, 1)),
    ] },
    // A corrected city: BCN's group of the 1st loses its only conversation.
    { name: 'a corrected city', deliveries: [delivery(order(11, 'LIS'), hour(4))] },
  ];

  test('after every run the tables equal a build from scratch, and only the touched days were rewritten', async () => {
    const incremental = pipeline();
    const landed: Delivery[] = [];
    for (const [i, batch] of batches.entries()) {
      landed.push(...batch.deliveries);
      await incremental.append(batch.deliveries);
      // A copy with the day no run after the first touches (2024-01-15) tampered with: if a run
      // rewrote untouched days, the mark would be gone.
      if (i === 1) await incremental.execute(`UPDATE ${incremental.table('response_times_daily')} SET mean_delay_seconds = -1 WHERE day = DATE '2024-01-15'`);
      const summary = await incremental.transform();
      if (i > 0) {
        assert.equal(action(summary, 'conversations_by_day')?.mode, 'merged', `${batch.name}: merged`);
        for (const table of ['response_times_daily', 'response_times_daily_by_city', 'response_time_distribution']) {
          assert.equal(action(summary, table)?.mode, 'inserted', `${batch.name}: ${table} recomputed by days`);
        }
        const marked = await incremental.rows('response_times_daily', ['day', 'mean_delay_seconds'], 'day');
        assert.deepEqual(marked[0], { day: '2024-01-15', mean_delay_seconds: -1 }, `${batch.name}: an untouched day is not rewritten`);
      }
      const fresh = pipeline();
      await fresh.append(landed);
      await fresh.transform();
      const expected = await snapshot(fresh);
      if (i > 0) expected.response_times_daily = expected.response_times_daily.map((r) => (r.day === '2024-01-15' ? { ...r, mean_delay_seconds: -1 } : r));
      assert.deepEqual(await snapshot(incremental), expected, `after ${batch.name}`);
    }
    const byCity = await incremental.rows('response_times_daily_by_city', ['day', 'city_code', 'conversations'], 'day, city_code');
    assert.deepEqual(byCity.map((r) => Object.values(r)), [['2024-01-15', 'OLD', 1], ['2024-02-01', 'LIS', 1], ['2024-02-01', 'MAD', 1], ['2024-02-02', 'BCN', 1]]);
    const idle = await incremental.transform();
    assert.equal(action(idle, 'stg_pending_deliveries')?.rows, 0);
    assert.equal(action(idle, 'response_times_daily')?.rows, 3);
    assert.deepEqual((await incremental.rows('response_times_daily', ['day', 'mean_delay_seconds'], 'day'))[0], { day: '2024-01-15', mean_delay_seconds: -1 }, 'nothing rewritten');
  });

  test('check --cost: each incremental statement of the analyst models reads and rewrites only the touched days', async () => {
    const p = pipeline();
    await p.append(batches[0].deliveries);
    await p.transform();
    await p.append(batches[1].deliveries);
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'analytics-cost-'));
    try {
      const json = JSON.parse((await cliOk(['check', '--cost', '--json', '--workdir', p.workdir.dir], cwd)).stdout) as {
        ok: boolean;
        statements: { action: string; purpose: string; error?: string; scans: { table: string; partitions: { kept: number; total: number }; dmlBytes: number }[] }[];
      };
      assert.equal(json.ok, true, JSON.stringify(json.statements.filter((s) => s.error)));
      // Days with rows before the run: 2024-01-15, 02-01, 02-02. The run touches orders 12 and 13,
      // whose messages fall on 02-01 and 02-02: 2 of the 3 day partitions, never 01-15.
      const scan = (table: string, purpose: string) => json.statements
        .find((s) => s.action.endsWith(`.${table}`) && s.purpose === purpose)?.scans.find((c) => c.table.endsWith(`.${table}`));
      assert.deepEqual(scan('conversations_by_day', 'incremental merge')?.partitions, { kept: 2, total: 3 });
      assert.ok(scan('conversations_by_day', 'incremental merge')!.dmlBytes > 0);
      for (const table of ['response_times_daily', 'response_times_daily_by_city', 'response_time_distribution']) {
        const deletion = scan(table, 'incremental pre-operation');
        assert.ok(deletion && deletion.partitions.total === 3 && deletion.partitions.kept <= 2 && deletion.dmlBytes > 0, `${table}: the DELETE keeps the touched days (${JSON.stringify(deletion)})`);
        const insert = json.statements.find((s) => s.action.endsWith(`.${table}`) && s.purpose === 'incremental insert')!;
        assert.deepEqual(insert.scans.find((c) => c.table.endsWith('.conversations_by_day'))?.partitions, { kept: 2, total: 3 }, `${table} reads the touched days`);
      }
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------------
// DuckDB equals ZetaSQL's evaluator on the anchors.
// ---------------------------------------------------------------------------------------------------

describe('the analyst models on the anchors: DuckDB equals ZetaSQL’s reference evaluator', () => {
  test('Glovo data and the seed file, from the conversations DuckDB built (which tests/differential.test.ts compares itself)', async () => {
    const p = pipeline();
    await p.append([
      ...(await fileDeliveries(anchorPath('glovo/customer_courier_chat_messages.json'), '2024-03-01T09:00:00Z')),
      ...(await fileDeliveries(anchorPath('glovo/orders.json'), '2024-03-01T10:00:00Z')),
      ...(await fileDeliveries(anchorPath('seed-conversations.json'), '2024-03-01T11:00:00Z')),
    ]);
    await p.transform();
    const graph: CompiledGraph = await compileProject(PACKAGE_ROOT, { engine: 'bigquery' });
    const actions = actionsInDependencyOrder(graph);
    const warehouse = await openLocalWarehouse(p.project, p.workdir, true);
    try {
      const read = async (name: string): Promise<ZetaTable & { rows: Value[][] }> => {
        const types = await warehouse.query(`SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'chat_models' AND table_name = '${name}' ORDER BY ordinal_position`);
        const columns = types.rows.map((r) => ({ name: textValue(r.column_name), kind: duckTypeKind(textValue(r.data_type)) }));
        const content = await warehouse.query(`SELECT * FROM ${p.table(name)}`);
        return { name: `${p.project.database}.chat_models.${name}`, columns, rows: content.rows.map((row) => columns.map((c) => row[c.name])) };
      };
      const tables: ZetaTable[] = [await read('customer_courier_conversations')];
      assert.ok(tables[0].rows.length > 800, `${tables[0].rows.length} conversations`);
      for (const model of ['conversations_by_day', 'response_times_daily', 'response_times_daily_by_city', 'response_time_distribution', 'response_times_by_city', 'response_times_summary']) {
        const compiled = actions.find((a) => a.kind === 'table' && a.target.name === model);
        assert.ok(compiled && compiled.kind === 'table');
        const zeta = await evaluate(server!, compiled.table.query, tables);
        const duck = await read(model);
        assert.deepEqual(duck.columns.map((c) => `${c.name} ${kindName(c.kind)}`), zeta.columns.map((c) => `${c.name} ${kindName(c.kind)}`), `${model}: same columns and types`);
        const [expected, actual] = [canonicalRows(zeta.rows), canonicalRows(duck.rows)];
        const onlyZeta = expected.filter((r) => !actual.includes(r));
        assert.deepEqual(actual, expected, `${model}: BigQuery (ZetaSQL) ${onlyZeta[0] ?? ''} / DuckDB ${actual.find((r) => !expected.includes(r)) ?? ''}`);
        assert.ok(expected.length > 0, `${model} has rows`);
        tables.push({ name: targetKey(compiled.target), columns: zeta.columns, rows: zeta.rows as Value[][] });
      }
      assert.ok(tables.find((t) => t.name.endsWith('.response_times_by_city'))!.rows.length >= 60, 'many cities, both roles');
    } finally {
      await warehouse.close();
    }
  });
});


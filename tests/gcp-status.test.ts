import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { partitionsFilter } from '../orchestrator/gcp/freshness.js';
import { humanDuration } from '../orchestrator/gcp/statusText.js';
import { cli } from './support/cli.js';
import { FakeGoogleApis } from './support/fakeGoogle.js';
import { FakeMonitoringDataform, type FakeInvocation } from './support/fakeMonitoringDataform.js';
import { FakePubSub } from './support/fakePubSub.js';

// `status --target gcp` with the real client libraries against local endpoints that answer like the
// APIs and record every request: BigQuery (jobs.query, answered by evaluating the status queries on
// a small table model below), Cloud Monitoring and Dataform (REST, as the clients send it), and
// Pub/Sub (a gRPC server with BigQuery subscription states, which the emulator lacks).
const PROJECT = 'chat-pipeline-status';
const REGION = 'europe-west1';
const REPOSITORY = `projects/${PROJECT}/locations/${REGION}/repositories/chat-elt-pipeline`;
const temp = mkdtempSync(path.join(os.tmpdir(), 'orchestrator-gcp-status-'));
after(() => rmSync(temp, { recursive: true, force: true }));

const HOUR = 3_600_000;
const MINUTE = 60_000;
/** The data's clock: every time below is relative to it, and only Monitoring's window is relative to now. */
const T = Date.parse('2026-03-02T10:37:12.345Z');
const iso = (ms: number) => new Date(ms).toISOString();
const micros = (time: string) => String(BigInt(Date.parse(time)) * 1000n);

/** What the BigQuery tables hold, as far as the status queries read them. */
interface Tables {
  /** Raw rows' publish times; `streamed` rows are not in a partition yet (INFORMATION_SCHEMA shows them in __UNPARTITIONED__). */
  raw: { publishTime: string; streamed?: boolean }[];
  final: { orderId: number; lastPublishedAt: string }[];
  /** When each final partition (its range start) was last written. */
  finalModified: Map<number, string>;
}

const INTERVAL = 100_000;
const hourId = (time: string) => time.slice(0, 13).replace(/[-T]/g, '');

/**
 * jobs.query for the status queries, evaluated on `tables`: the four query shapes the orchestrator
 * sends, read for their constants; anything else is refused. Answers come back typed as jobs.query
 * returns them (TIMESTAMP as int64 microseconds: the client asks for useInt64Timestamp).
 */
function answerQueries(tables: Tables) {
  return (body: { query: string }) => new Promise<{ fields: { name: string; type: string }[]; rows: (string | null)[][] }>((resolve) => resolve(evaluate(tables, body.query)));
}

function evaluate(tables: Tables, sql: string) {
  const since = /TIMESTAMP '([^']+)'/.exec(sql)?.[1]?.replace(' ', 'T').replace('+00', 'Z');
  if (/INFORMATION_SCHEMA\.PARTITIONS[\s\S]*table_name = 'raw_events'/.test(sql)) {
    const ids = tables.raw.filter((r) => !r.streamed).map((r) => hourId(r.publishTime)).sort();
    return { fields: [{ name: 'newest_partition', type: 'STRING' }], rows: [[ids.at(-1) ?? null]] };
  }
  if (/^SELECT MAX\(publish_time\)[\s\S]*raw_events`\nWHERE publish_time >= TIMESTAMP/.test(sql) && since) {
    const newest = tables.raw.map((r) => r.publishTime).filter((t) => t >= since).sort().at(-1);
    return { fields: [{ name: 'newest_publish_time', type: 'TIMESTAMP' }], rows: [[newest ? micros(newest) : null]] };
  }
  if (/INFORMATION_SCHEMA\.PARTITIONS[\s\S]*table_name = 'customer_courier_conversations'/.test(sql) && since) {
    const withRows = new Set(tables.final.map((r) => Math.floor(r.orderId / INTERVAL) * INTERVAL));
    const ids = [...tables.finalModified].filter(([start, at]) => withRows.has(start) && at >= since).map(([start]) => [String(start)]);
    return { fields: [{ name: 'partition_id', type: 'STRING' }], rows: ids };
  }
  if (/^SELECT MAX\(last_published_at\)[\s\S]*customer_courier_conversations`/.test(sql)) {
    const ranges = [...sql.matchAll(/\(order_id >= (\d+) AND order_id < (\d+)\)/g)].map((m) => [Number(m[1]), Number(m[2])]);
    const newest = tables.final.filter((r) => ranges.some(([lo, hi]) => r.orderId >= lo && r.orderId < hi)).map((r) => r.lastPublishedAt).sort().at(-1);
    return { fields: [{ name: 'newest_publish_time', type: 'TIMESTAMP' }], rows: [[newest ? micros(newest) : null]] };
  }
  throw new Error(`the fake does not know this query: ${sql}`);
}

interface Fakes { bigquery: FakeGoogleApis; pubsub: FakePubSub; observability: FakeMonitoringDataform; env: Record<string, string> }

async function startFakes(): Promise<Fakes> {
  const bigquery = new FakeGoogleApis();
  const pubsub = new FakePubSub();
  const observability = new FakeMonitoringDataform();
  const endpoint = await bigquery.start();
  const restEndpoint = await observability.start();
  const env = {
    ORCHESTRATOR_BIGQUERY_ENDPOINT: endpoint, ORCHESTRATOR_STORAGE_ENDPOINT: endpoint, ORCHESTRATOR_PUBSUB_ENDPOINT: await pubsub.start(), PUBSUB_EMULATOR_HOST: '',
    ORCHESTRATOR_MONITORING_ENDPOINT: restEndpoint, ORCHESTRATOR_DATAFORM_ENDPOINT: restEndpoint,
  };
  return { bigquery, pubsub, observability, env };
}

function stopFakes(fakes: Fakes): void {
  fakes.bigquery.stop();
  fakes.pubsub.stop();
  fakes.observability.stop();
}

/** A provisioned pipeline: datasets in REGION, the raw and final tables, both subscriptions healthy. */
function provisioned(fakes: Fakes, tables: Tables): void {
  for (const dataset of ['chat_raw', 'chat_models', 'chat_assertions']) fakes.bigquery.datasets.set(dataset, { location: REGION });
  fakes.bigquery.tables.set('chat_raw.raw_events', { timePartitioning: { type: 'HOUR', field: 'publish_time' }, requirePartitionFilter: true });
  const lastWrite = [...tables.finalModified.values()].sort().at(-1);
  fakes.bigquery.tables.set('chat_models.customer_courier_conversations', {
    rangePartitioning: { field: 'order_id', range: { start: '0', end: '1000000000', interval: String(INTERVAL) } },
    lastModifiedTime: lastWrite ? String(Date.parse(lastWrite)) : '0',
  });
  fakes.bigquery.onQuery = answerQueries(tables);
  fakes.pubsub.subscriptions.set(`projects/${PROJECT}/subscriptions/chat-events-to-raw`, {
    name: `projects/${PROJECT}/subscriptions/chat-events-to-raw`, topic: `projects/${PROJECT}/topics/chat-events`,
    bigqueryConfig: { table: `${PROJECT}.chat_raw.raw_events`, writeMetadata: true, state: 'ACTIVE' },
    deadLetterPolicy: { deadLetterTopic: `projects/${PROJECT}/topics/chat-events-dead-letter`, maxDeliveryAttempts: 5 }, expirationPolicy: {},
  });
  fakes.pubsub.subscriptions.set(`projects/${PROJECT}/subscriptions/chat-events-dead-letter-inspect`, {
    name: `projects/${PROJECT}/subscriptions/chat-events-dead-letter-inspect`, topic: `projects/${PROJECT}/topics/chat-events-dead-letter`, expirationPolicy: {},
  });
}

async function status(fakes: Fakes, ...extra: string[]) {
  return cli(['status', '--target', 'gcp', '--project', PROJECT, '--location', REGION, ...extra], temp, fakes.env);
}

/** A fresh pipeline: raw's newest row is 4 min 30 s newer than what the final table reflects. */
function freshTables(): Tables {
  return {
    raw: [
      { publishTime: iso(T - 2 * HOUR) }, { publishTime: iso(T - 40 * MINUTE) }, { publishTime: iso(T - 10 * MINUTE) },
      // Just streamed, not in a partition yet: the newest.
      { publishTime: iso(T), streamed: true },
    ],
    final: [
      { orderId: 1_234_567, lastPublishedAt: iso(T - 3 * HOUR) },
      { orderId: 1_300_001, lastPublishedAt: iso(T - 20 * MINUTE) },
      // A late message for an old order: the newest publish time the final table reflects sits in an old partition.
      { orderId: 42, lastPublishedAt: iso(T - 4.5 * MINUTE) },
      // Written long ago: outside what the search reads, and older anyway.
      { orderId: 500_000, lastPublishedAt: iso(T - 30 * HOUR) },
    ],
    finalModified: new Map([[1_200_000, iso(T - 2.9 * HOUR)], [1_300_000, iso(T - 19 * MINUTE)], [0, iso(T - 4 * MINUTE)], [500_000, iso(T - 29 * HOUR)]]),
  };
}

const METRIC = 'pubsub.googleapis.com/subscription';

describe('status --target gcp: the operator view', () => {
  let fakes: Fakes;
  before(async () => { fakes = await startFakes(); });
  after(() => stopFakes(fakes));

  test('a fresh pipeline: freshness, backlog, dead letters, scheduled runs, with the exact requests; exit 0 within --max-lag-minutes', async () => {
    provisioned(fakes, freshTables());
    const now = Date.now();
    const point = (metric: string, subscription: string, agoSeconds: number, value: number) =>
      fakes.observability.points.push({ metricType: `${METRIC}/${metric}`, project: PROJECT, subscription, at: iso(now - agoSeconds * 1000), value });
    point('num_undelivered_messages', 'chat-events-to-raw', 70, 1234);
    point('num_undelivered_messages', 'chat-events-to-raw', 130, 999);
    point('num_undelivered_messages', 'chat-events-to-raw', 1200, 50_000); // before the window: not read
    point('oldest_unacked_message_age', 'chat-events-to-raw', 70, 95);
    point('num_undelivered_messages', 'chat-events-dead-letter-inspect', 70, 3);
    point('oldest_unacked_message_age', 'chat-events-dead-letter-inspect', 70, 7260);
    point('num_undelivered_messages', 'chat-events-elsewhere', 70, 777); // another subscription: not read
    const invocation = (id: string, value: FakeInvocation) => { fakes.observability.invocations.set(`${REPOSITORY}/workflowInvocations/${id}`, value); return `${REPOSITORY}/workflowInvocations/${id}`; };
    fakes.observability.repositories.set(REPOSITORY, new Map([
      ['incremental', { cronSchedule: '*/15 * * * *', timeZone: 'Etc/UTC', records: [
        { executionTime: iso(T - 7 * MINUTE), workflowInvocation: invocation('inc-3', { workflowConfig: `${REPOSITORY}/workflowConfigs/incremental`, state: 'SUCCEEDED', startTime: iso(T - 7 * MINUTE), endTime: iso(T - 5.5 * MINUTE) }) },
        { executionTime: iso(T - 22 * MINUTE), workflowInvocation: invocation('inc-2', { workflowConfig: `${REPOSITORY}/workflowConfigs/incremental`, state: 'SUCCEEDED', startTime: iso(T - 22 * MINUTE), endTime: iso(T - 21 * MINUTE) }) },
        { executionTime: iso(T - 37 * MINUTE), workflowInvocation: invocation('inc-1', { workflowConfig: `${REPOSITORY}/workflowConfigs/incremental`, state: 'SUCCEEDED', startTime: iso(T - 37 * MINUTE), endTime: iso(T - 36 * MINUTE) }) },
        { executionTime: iso(T - 52 * MINUTE), workflowInvocation: invocation('inc-0', { workflowConfig: `${REPOSITORY}/workflowConfigs/incremental`, state: 'FAILED', startTime: iso(T - 52 * MINUTE) }) },
      ] }],
    ]));
    const started = Math.floor(Date.now() / 1000);
    const result = await status(fakes, '--json', '--max-lag-minutes', '15');
    const ended = Math.ceil(Date.now() / 1000);
    assert.equal(result.code, 0, result.stderr);
    const view = JSON.parse(result.stdout);

    assert.deepEqual({ ...view.freshness, checkedAt: undefined }, {
      checkedAt: undefined,
      rawNewestPublishTime: iso(T),
      finalNewestPublishTime: iso(T - 4.5 * MINUTE),
      finalColumn: 'customer_courier_conversations.last_published_at',
      finalSearchedSince: iso(T - 24 * HOUR),
      lagSeconds: 270,
      lagAtLeastSeconds: null,
      queries: 4,
      maxLagMinutes: 15,
      lagExceeded: false,
    });
    assert.deepEqual(view.backlog, { subscription: 'chat-events-to-raw', unackedMessages: 1234, oldestUnackedAgeSeconds: 95, sampledAt: iso(now - 70_000) });
    assert.deepEqual(view.deadLetters, { subscription: 'chat-events-dead-letter-inspect', unackedMessages: 3, oldestUnackedAgeSeconds: 7260, sampledAt: iso(now - 70_000) });
    assert.equal(view.scheduledRuns.scheduled, true);
    assert.equal(view.scheduledRuns.repository, REPOSITORY);
    assert.deepEqual(view.scheduledRuns.workflows.map((w: { workflowConfig: string; cronSchedule: string; invocations: { state: string }[] }) => [w.workflowConfig, w.cronSchedule, w.invocations.map((i) => i.state)]),
      [['incremental', '*/15 * * * *', ['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']]], 'the last three, newest first');
    assert.deepEqual(view.scheduledRuns.workflows[0].invocations[0], {
      scheduledAt: iso(T - 7 * MINUTE), invocation: `${REPOSITORY}/workflowInvocations/inc-3`, state: 'SUCCEEDED',
      startTime: iso(T - 7 * MINUTE), endTime: iso(T - 5.5 * MINUTE), durationSeconds: 90,
    });
    assert.deepEqual(view.problems, []);

    // BigQuery: four jobs.query requests, each labelled and capped; the partition filters are constants.
    const queries = fakes.bigquery.requests.filter((r) => r.method === 'POST' && r.path === `/bigquery/v2/projects/${PROJECT}/queries`);
    const bodies = queries.map((r) => r.body as Record<string, unknown>);
    assert.deepEqual(bodies.map((b) => b.query), [
      `SELECT MAX(partition_id) AS newest_partition\nFROM \`${PROJECT}.chat_raw.INFORMATION_SCHEMA.PARTITIONS\`\nWHERE table_name = 'raw_events' AND partition_id NOT IN ('__NULL__', '__UNPARTITIONED__') AND total_rows > 0`,
      `SELECT MAX(publish_time) AS newest_publish_time\nFROM \`${PROJECT}.chat_raw.raw_events\`\nWHERE publish_time >= TIMESTAMP '2026-03-02 10:00:00.000+00'`,
      `SELECT partition_id\nFROM \`${PROJECT}.chat_models.INFORMATION_SCHEMA.PARTITIONS\`\nWHERE table_name = 'customer_courier_conversations' AND total_rows > 0 AND last_modified_time >= TIMESTAMP '2026-03-01 10:37:12.345+00'`,
      `SELECT MAX(last_published_at) AS newest_publish_time\nFROM \`${PROJECT}.chat_models.customer_courier_conversations\`\nWHERE (order_id >= 0 AND order_id < 100000) OR (order_id >= 1200000 AND order_id < 1400000)`,
    ]);
    for (const body of bodies) {
      assert.deepEqual({ ...body, query: undefined, requestId: undefined }, {
        query: undefined, requestId: undefined, useLegacySql: false, location: REGION, formatOptions: { useInt64Timestamp: true },
        labels: { pipeline: 'chat-elt-pipeline', step: 'status' }, maximumBytesBilled: String(1024 ** 3),
      });
    }

    // Monitoring: one timeSeries.list per metric, for both subscriptions of this project, over the last 10 minutes, raw points.
    const monitoring = fakes.observability.requests.filter((r) => r.path.startsWith('/v3/'));
    assert.deepEqual(monitoring.map((r) => [r.method, r.path, r.query.filter]), ['num_undelivered_messages', 'oldest_unacked_message_age'].map((metric) => [
      'GET', `/v3/projects/${PROJECT}/timeSeries`,
      `metric.type = "${METRIC}/${metric}" AND resource.type = "pubsub_subscription" AND resource.labels.project_id = "${PROJECT}" AND `
        + '(resource.labels.subscription_id = "chat-events-to-raw" OR resource.labels.subscription_id = "chat-events-dead-letter-inspect")',
    ]));
    for (const r of monitoring) {
      const [start, end] = [Date.parse(r.query['interval.startTime']) / 1000, Date.parse(r.query['interval.endTime']) / 1000];
      assert.equal(end - start, 600);
      assert.ok(end >= started && end <= ended, `the window ends when status ran (${end} in ${started}..${ended})`);
      assert.equal(r.query.view, '0', 'FULL (enums go as numbers: $alt=json;enum-encoding=int)');
      assert.ok(!Object.keys(r.query).some((k) => k.startsWith('aggregation')), 'no aggregation: the newest raw point');
    }
    // Dataform: the workflow configurations, then each invocation shown; no action query for a run that did not fail.
    assert.deepEqual(fakes.observability.requests.filter((r) => r.path.startsWith('/v1/')).map((r) => `${r.method} ${r.path}`), [
      `GET /v1/${REPOSITORY}/workflowConfigs`,
      ...['inc-3', 'inc-2', 'inc-1'].map((id) => `GET /v1/${REPOSITORY}/workflowInvocations/${id}`),
    ]);

    // The same, for people: rounded.
    const text = await status(fakes, '--max-lag-minutes', '15');
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /raw, newest publish_time +2026-03-02 10:37 UTC \(.+ ago\)/);
    assert.match(text.stdout, /customer_courier_conversations +2026-03-02 10:32 UTC \(newest last_published_at\)/);
    assert.match(text.stdout, /lag +5 min \(--max-lag-minutes 15: within\)/);
    assert.match(text.stdout, /chat-events-to-raw +1,234 unacked, oldest 2 min \(sampled \d\d:\d\d UTC\)/);
    assert.match(text.stdout, /chat-events-dead-letter-inspect +3 waiting, oldest 2 h/);
    assert.match(text.stdout, /incremental \(\*\/15 \* \* \* \* Etc\/UTC\) +SUCCEEDED at 2026-03-02 10:30 UTC in 2 min\n +before: SUCCEEDED, SUCCEEDED/);
    assert.match(text.stdout, /Problems: none/);
  });

  test('lag over --max-lag-minutes exits 1 and says by how much; no newer write in the last 24 h is "more than 24 h"', async () => {
    const tables = freshTables();
    tables.final = tables.final.filter((r) => r.orderId !== 42 && r.orderId !== 1_300_001);
    tables.finalModified.delete(0);
    tables.finalModified.delete(1_300_000);
    provisioned(fakes, tables);
    const over = await status(fakes, '--json', '--max-lag-minutes', '60');
    assert.equal(over.code, 1);
    const view = JSON.parse(over.stdout);
    assert.equal(view.freshness.lagSeconds, 3 * 3600);
    assert.equal(view.freshness.lagExceeded, true);
    assert.deepEqual(view.problems, ['customer_courier_conversations is 180 minutes behind raw, over --max-lag-minutes 60']);
    const within = await status(fakes, '--json', '--max-lag-minutes', '180');
    assert.equal(within.code, 0, 'a lag equal to the limit is within it');

    // Nothing written to the final table in the 24 h before raw's newest row: the table's metadata says
    // so, and no query of it is run.
    tables.final = [{ orderId: 500_000, lastPublishedAt: iso(T - 30 * HOUR) }];
    tables.finalModified = new Map([[500_000, iso(T - 29 * HOUR)]]);
    provisioned(fakes, tables);
    const before = fakes.bigquery.requests.length;
    const stale = await status(fakes, '--max-lag-minutes', '60');
    assert.equal(stale.code, 1);
    assert.match(stale.stdout, /customer_courier_conversations +nothing published since 2026-03-01 10:37 UTC\n +lag +more than 24 h \(--max-lag-minutes 60: OVER\)/);
    assert.match(stale.stdout, /Problems \(exit 1\):\n {2}- customer_courier_conversations reflects nothing published since 2026-03-01T10:37:12\.345Z: more than 1440 minutes behind raw, over --max-lag-minutes 60/);
    const queries = fakes.bigquery.requests.slice(before).filter((r) => r.path.endsWith('/queries'));
    assert.equal(queries.length, 2, 'raw only');

    // Without the flag, the same lag is shown and does not fail.
    assert.equal((await status(fakes)).code, 0);
  });

  test('a failed run names the failing action and its reason; a run the scheduler could not start says why', async () => {
    provisioned(fakes, freshTables());
    fakes.observability.invocations.set(`${REPOSITORY}/workflowInvocations/audit-2`, {
      workflowConfig: `${REPOSITORY}/workflowConfigs/nightly-audit`, state: 'FAILED', startTime: iso(T - 8 * HOUR), endTime: iso(T - 7.9 * HOUR),
      actions: [
        { target: { database: PROJECT, schema: 'chat_assertions', name: 'audit_conversations_unique' }, state: 'SUCCEEDED' },
        { target: { database: PROJECT, schema: 'chat_assertions', name: 'audit_message_counts' }, state: 'FAILED', failureReason: 'Assertion failed: query returned 3 row(s).\nmore detail' },
        { target: { database: PROJECT, schema: 'chat_assertions', name: 'audit_after' }, state: 'SKIPPED' },
      ],
    });
    fakes.observability.repositories.set(REPOSITORY, new Map([
      ['nightly-audit', { cronSchedule: '0 2 * * *', records: [
        { executionTime: iso(T - 8 * HOUR), workflowInvocation: `${REPOSITORY}/workflowInvocations/audit-2` },
        { executionTime: iso(T - 32 * HOUR), errorStatus: { code: 9, message: 'compilation of the release failed' } },
      ] }],
    ]));
    const before = fakes.observability.requests.length;
    const result = await status(fakes, '--json');
    assert.equal(result.code, 0, 'a failed scheduled run is shown; the exit code is for the lag and the subscriptions');
    const [audit] = JSON.parse(result.stdout).scheduledRuns.workflows;
    assert.equal(audit.workflowConfig, 'nightly-audit');
    assert.deepEqual(audit.invocations[0].failedActions, [{ action: `${PROJECT}.chat_assertions.audit_message_counts`, reason: 'Assertion failed: query returned 3 row(s).\nmore detail' }]);
    assert.deepEqual(audit.invocations[1], { scheduledAt: iso(T - 32 * HOUR), invocation: null, state: 'NOT_STARTED', startTime: null, endTime: null, durationSeconds: null, error: 'compilation of the release failed' });
    assert.deepEqual(fakes.observability.requests.slice(before).filter((r) => r.path.startsWith('/v1/')).map((r) => r.path), [
      `/v1/${REPOSITORY}/workflowConfigs`, `/v1/${REPOSITORY}/workflowInvocations/audit-2`, `/v1/${REPOSITORY}/workflowInvocations/audit-2:query`,
    ]);
    const text = await status(fakes);
    assert.match(text.stdout, new RegExp(`nightly-audit \\(0 2 \\* \\* \\*\\) +FAILED at 2026-03-02 02:37 UTC in 6 min: ${PROJECT}\\.chat_assertions\\.audit_message_counts: Assertion failed: query returned 3 row\\(s\\)\\.\\n +before: NOT_STARTED`));
  });

  test('no repository: "not scheduled", not a failure; a multi-region location says to set the repository region', async () => {
    provisioned(fakes, freshTables());
    fakes.observability.repositories.clear();
    const result = await status(fakes, '--json');
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout).scheduledRuns, { repository: REPOSITORY, scheduled: false, reason: `no Dataform repository ${REPOSITORY}`, workflows: [] });
    assert.match((await status(fakes)).stdout, /Scheduled Dataform runs\n {2}not scheduled +no Dataform repository/);

    const config = path.join(temp, 'eu.json');
    writeFileSync(config, JSON.stringify({ projectId: PROJECT, location: 'EU' }));
    const eu = await cli(['status', '--target', 'gcp', '--config', config, '--json'], temp, fakes.env);
    const view = JSON.parse(eu.stdout);
    assert.match(view.scheduledRuns.reason, /Dataform has no multi-region location EU: set "dataformRegion" in --config/);
    assert.equal(eu.code, 1, 'the datasets are in europe-west1, not EU: a problem, as before');
  });

  test('Monitoring with no sample in the window, and a part that cannot be read, are said, not hidden', async () => {
    provisioned(fakes, freshTables());
    fakes.observability.points.length = 0;
    fakes.bigquery.onQuery = () => Promise.reject(new Error('Query exceeded limit for bytes billed: 1073741824. 2147483648 or higher required.'));
    const result = await status(fakes, '--json', '--max-lag-minutes', '30');
    assert.equal(result.code, 1, 'a lag that cannot be measured fails the check');
    const view = JSON.parse(result.stdout);
    assert.match(view.freshness.error, /Query exceeded limit for bytes billed/);
    assert.deepEqual(view.problems, [`freshness unknown (${view.freshness.error}): cannot check --max-lag-minutes 30`]);
    assert.deepEqual(view.backlog, { subscription: 'chat-events-to-raw', unackedMessages: null, oldestUnackedAgeSeconds: null, sampledAt: null });
    assert.match((await status(fakes)).stdout, /chat-events-to-raw +no sample in the last 10 min/);
  });

  test('--max-lag-minutes is checked, and needs --target gcp', async () => {
    const bad = await status(fakes, '--max-lag-minutes', '0');
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /--max-lag-minutes must be a positive number, got 0/);
    const local = await cli(['status', '--max-lag-minutes', '5', '--workdir', path.join(temp, 'local')], temp);
    assert.equal(local.code, 1);
    assert.match(local.stderr, /--max-lag-minutes needs --target gcp/);
  });
});

describe('status helpers', () => {
  test('the final table is read by constant ranges of its partitions; adjacent ones merge', () => {
    const partitioning = { field: 'order_id', range: { start: '0', end: '1000000000', interval: '100000' } };
    assert.equal(partitionsFilter(['1300000', '0', '1200000', '__UNPARTITIONED__', '__NULL__'], partitioning),
      '(order_id >= 0 AND order_id < 100000) OR (order_id >= 1200000 AND order_id < 1400000) OR (order_id < 0 OR order_id >= 1000000000) OR order_id IS NULL');
    assert.throws(() => partitionsFilter(['0'], { field: 'order_id; DROP', range: partitioning.range }), /invalid column name/);
  });

  test('durations are rounded for people', () => {
    assert.deepEqual([12.4, 270, 5399, 5400, 10_800, 86_400 * 3.26].map(humanDuration), ['12 s', '5 min', '90 min', '1.5 h', '3 h', '3.3 days']);
  });
});

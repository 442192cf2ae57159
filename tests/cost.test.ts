import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { AnalyzeRequest } from '@fivetrandevelopers/zetasql';
import { MIN_BILLED_BYTES_PER_TABLE, billedBytes, mayMatch, tableCost, type Block, type ColumnRange, type Parameters, type TableLayout } from '../orchestrator/bigquery/cost.js';
import { throughView, viewBaseOf } from '../orchestrator/bigquery/estimate.js';
import { tableScans, type Constant, type TableScan } from '../orchestrator/bigquery/scans.js';
import { ZetaSqlServer } from '../orchestrator/bigquery/zetasql.js';
import { message, order } from './support/fixtures.js';
import { assertCleanError, cli, cliOk } from './support/cli.js';
import { LocalPipeline, delivery } from './support/pipeline.js';

// ---------------------------------------------------------------------------------------------
// cost.ts pruning on hand-made blocks, with the conditions taken from ZetaSQL's resolved AST of
// real SQL (as estimate.ts analyses a statement: BigQuery product mode, script variables as
// query parameters, unused columns pruned).
// ---------------------------------------------------------------------------------------------

const TABLE = 'p.d.t';
const HOUR = 3_600_000_000n;
const T0 = BigInt(Date.parse('2024-03-01T00:00:00Z')) * 1000n;

type ParameterType = 'INT64' | 'TIMESTAMP' | 'ARRAY<INT64>' | 'ARRAY<TIMESTAMP>';
const KINDS = { INT64: 2, TIMESTAMP: 19 } as const;
const typeProto = (type: ParameterType) => {
  const element = /^ARRAY<(\w+)>$/.exec(type)?.[1] as keyof typeof KINDS | undefined;
  return element ? { typeKind: 16, arrayType: { elementType: { typeKind: KINDS[element] } } } : { typeKind: KINDS[type as keyof typeof KINDS] };
};

/** A block's value range of one column. */
const range = (min: bigint | undefined, max: bigint | undefined, nulls = false): ColumnRange => ({ min, max, hasNull: nulls, hasValues: min !== undefined });

/** A block of `rows` rows, 8 bytes per INT64/TIMESTAMP and 100 per payload. */
function block(partition: string, rows: number, ranges: Record<string, ColumnRange>): Block {
  return { partition, rows, bytes: { order_id: rows * 8, publish_time: rows * 8, payload: rows * 100 }, ranges };
}

describe('cost.ts: partition and block pruning from resolved conditions', () => {
  let server: ZetaSqlServer;
  let languageOptions: Awaited<ReturnType<ZetaSqlServer['bigQueryLanguageOptions']>>;
  before(async () => {
    server = await ZetaSqlServer.start();
    languageOptions = await server.bigQueryLanguageOptions(['RESOLVED_QUERY_STMT', 'RESOLVED_MERGE_STMT']);
  });
  after(() => server.stop());

  /** The scans of `sql` over `p.d.t (order_id INT64, publish_time TIMESTAMP, payload STRING)`. */
  async function scansOf(sql: string, parameters: Record<string, ParameterType> = {}): Promise<TableScan[]> {
    const request = {
      options: {
        languageOptions, errorMessageMode: 'ERROR_MESSAGE_ONE_LINE', defaultTimezone: 'UTC', pruneUnusedColumns: true,
        queryParameters: Object.entries(parameters).map(([name, type]) => ({ name, type: typeProto(type) })),
      },
      simpleCatalog: {
        name: 'bigquery',
        table: [{ name: TABLE, column: [{ name: 'order_id', type: { typeKind: 2 } }, { name: 'publish_time', type: { typeKind: 19 } }, { name: 'payload', type: { typeKind: 8 } }] }],
        builtinFunctionOptions: { languageOptions },
      },
      sqlStatement: sql,
    };
    const response = await server.analyze(request as unknown as AnalyzeRequest);
    return tableScans(response?.resolvedStatement).filter((s) => s.table === TABLE);
  }

  /** Which blocks every condition of the (only) scan of `where` may match. */
  async function kept(where: string, blocks: Block[], parameters: Parameters = new Map(), types: Record<string, ParameterType> = {}): Promise<boolean[]> {
    const [scan, ...others] = await scansOf(`SELECT payload FROM \`${TABLE}\` WHERE ${where}`, types);
    assert.equal(others.length, 0);
    assert.ok(scan.conditions.length > 0, `a pruning condition for ${where}`);
    return blocks.map((b) => scan.conditions.every((c) => mayMatch(c, scan, b, parameters)));
  }

  // Three blocks of ids 0-99, 100-199 and 200-299, and a block holding only NULL ids.
  const byId = [
    block('0', 10, { order_id: range(0n, 99n) }),
    block('1', 10, { order_id: range(100n, 199n) }),
    block('2', 10, { order_id: range(200n, 299n) }),
    block('NULL', 10, { order_id: { hasNull: true, hasValues: false } }),
  ];

  test('IN UNNEST(array parameter): the blocks holding one of the values', async () => {
    const types = { ids: 'ARRAY<INT64>' } as const;
    assert.deepEqual(await kept('order_id IN UNNEST(@ids)', byId, new Map([['ids', [5n, 250n]]]), types), [true, false, true, false]);
    assert.deepEqual(await kept('order_id IN UNNEST(@ids)', byId, new Map([['ids', []]]), types), [false, false, false, false]);
    // A NULL element matches nothing (NULL = x is never TRUE).
    assert.deepEqual(await kept('order_id IN UNNEST(@ids)', byId, new Map([['ids', [null, 150n]]]), types), [false, true, false, false]);
    // A parameter whose value is unknown prunes nothing.
    assert.deepEqual(await kept('order_id IN UNNEST(@ids)', byId, new Map(), types), [true, true, true, true]);
    // IN of a list of literals too.
    assert.deepEqual(await kept('order_id IN (1, 299)', byId), [true, false, true, false]);
  });

  test('ranges: comparisons either way round, with literals and parameters', async () => {
    assert.deepEqual(await kept('order_id >= 100 AND order_id < 200', byId), [false, true, false, false]);
    assert.deepEqual(await kept('150 < order_id', byId), [false, true, true, false]);
    assert.deepEqual(await kept('order_id <= @last', byId, new Map([['last', 100n]]), { last: 'INT64' }), [true, true, false, false]);
    assert.deepEqual(await kept('order_id = 200', byId), [false, false, true, false]);
    // A NULL constant matches no row.
    assert.deepEqual(await kept('order_id > @last', byId, new Map([['last', null]]), { last: 'INT64' }), [false, false, false, false]);
    // A condition over something else than a column and a constant prunes nothing.
    assert.deepEqual(await kept('order_id + 1 > 1000', byId), [true, true, true, true]);
  });

  test('BETWEEN', async () => {
    assert.deepEqual(await kept('order_id BETWEEN 150 AND 210', byId), [false, true, true, false]);
    assert.deepEqual(await kept('order_id BETWEEN 50 AND 120', byId), [true, true, false, false]);
    assert.deepEqual(await kept('order_id BETWEEN @low AND @high', byId, new Map([['low', 300n], ['high', 400n]]), { low: 'INT64', high: 'INT64' }), [false, false, false, false]);
  });

  test('IS NULL OR ...: the NULL block is kept, with the blocks the other side keeps', async () => {
    assert.deepEqual(await kept('order_id IS NULL OR order_id = 5', byId), [true, false, false, true]);
    const withNulls = [block('0', 10, { order_id: range(0n, 99n, true) }), ...byId.slice(1)];
    assert.deepEqual(await kept('order_id IS NULL OR order_id > 250', withNulls), [true, false, true, true]);
  });

  test('TIMESTAMP_TRUNC(publish_time, HOUR) IN UNNEST(hours), and a TIMESTAMP range, on hourly partitions', async () => {
    // Hourly partitions: each block's publish_time range is its partition's bounds.
    const hours = [0n, 1n, 2n].map((h) => block(`h${h}`, 10, { publish_time: range(T0 + h * HOUR, T0 + (h + 1n) * HOUR - 1n) }));
    const types = { pending_hours: 'ARRAY<TIMESTAMP>', pending_from: 'TIMESTAMP', pending_until: 'TIMESTAMP' } as const;
    const values: Parameters = new Map<string, Constant>([['pending_hours', [T0 + 2n * HOUR]], ['pending_from', T0 + HOUR + 5n], ['pending_until', T0 + 3n * HOUR]]);
    assert.deepEqual(await kept('TIMESTAMP_TRUNC(publish_time, HOUR) IN UNNEST(@pending_hours)', hours, values, types), [false, false, true]);
    // The project's shape: a range of two variables, and the pending hours inside it.
    assert.deepEqual(await kept('publish_time >= @pending_from AND publish_time < @pending_until', hours, values, types), [false, true, true]);
    assert.deepEqual(await kept('publish_time >= @pending_from AND publish_time < @pending_until AND TIMESTAMP_TRUNC(publish_time, HOUR) IN UNNEST(@pending_hours)', hours, values, types), [false, false, true]);
    // A literal in the middle of an hour keeps that hour.
    assert.deepEqual(await kept("TIMESTAMP_TRUNC(publish_time, HOUR) = TIMESTAMP '2024-03-01 01:00:00+00'", hours), [false, true, false]);
    assert.deepEqual(await kept("publish_time < TIMESTAMP '2024-03-01 00:30:00+00'", hours), [true, false, false]);
  });

  const mergeSql = (whenMatched: string) => `
    MERGE \`${TABLE}\` T
    USING (SELECT 150 AS order_id, TIMESTAMP '2024-03-01 00:00:00+00' AS publish_time, 'new' AS payload) S
    ON T.order_id = S.order_id AND T.order_id IN UNNEST(@ids)
    ${whenMatched}
    WHEN NOT MATCHED THEN INSERT ROW`;
  // Two range partitions of 100 ids, two clustered blocks each.
  const partitioned: TableLayout = { partition: { column: 'order_id', kind: 'range', start: 0n, end: 1000n, interval: 100n }, clusterBy: ['order_id'], requirePartitionFilter: false };
  const merged = [
    block('0', 10, { order_id: range(0n, 49n) }), block('0', 10, { order_id: range(50n, 99n) }),
    block('1', 10, { order_id: range(100n, 149n) }), block('1', 20, { order_id: range(150n, 199n) }),
  ];
  const allBytes = (blocks: Block[]) => blocks.reduce((sum, b) => sum + b.bytes.order_id + b.bytes.publish_time + b.bytes.payload, 0);

  test('a MERGE that updates bills its reads plus every byte of the partitions it may update', async () => {
    const ids: Parameters = new Map([['ids', [150n]]]);
    const [target] = await scansOf(mergeSql('WHEN MATCHED THEN UPDATE SET payload = S.payload'), { ids: 'ARRAY<INT64>' });
    assert.equal(target.dmlTarget, 'merge-update');
    const cost = tableCost(TABLE, [target], partitioned, merged, ids);
    // Read: the one block the ON condition keeps, in the columns the MERGE reads.
    assert.deepEqual(cost.blocks, { kept: 1, total: 4 });
    assert.deepEqual(cost.partitions, { kept: 1, total: 2 });
    assert.equal(cost.bytes, cost.columns.reduce((sum, c) => sum + (merged[3].bytes[c] ?? 0), 0));
    assert.ok(cost.columns.includes('order_id'));
    // DML: partition 1 whole (both its blocks, every column), not partition 0.
    assert.equal(cost.dmlBytes, allBytes(merged.slice(2)));
    assert.equal(billedBytes([cost]), Math.max(cost.bytes + cost.dmlBytes, MIN_BILLED_BYTES_PER_TABLE));

    // Unpartitioned, the same MERGE may update any row: the whole table is billed, even when its
    // ON condition rules out every block.
    const unpartitioned = { clusterBy: ['order_id'], requirePartitionFilter: false };
    const whole = merged.map((b) => ({ ...b, partition: 'all' }));
    const some = tableCost(TABLE, [target], unpartitioned, whole, ids);
    assert.equal(some.dmlBytes, allBytes(merged));
    assert.deepEqual(some.blocks, { kept: 1, total: 4 });
    const none = tableCost(TABLE, [target], unpartitioned, whole, new Map([['ids', [5000n]]]));
    assert.deepEqual(none.blocks, { kept: 0, total: 4 });
    assert.equal(none.dmlBytes, allBytes(merged));
    // Partitioned, that MERGE updates no partition.
    assert.equal(tableCost(TABLE, [target], partitioned, merged, new Map([['ids', [5000n]]])).dmlBytes, 0);
  });

  test('a MERGE that only inserts reads nothing of its target and bills no DML bytes', async () => {
    const [target] = await scansOf(mergeSql(''), { ids: 'ARRAY<INT64>' });
    assert.equal(target.dmlTarget, 'merge-insert');
    const cost = tableCost(TABLE, [target], partitioned, merged, new Map([['ids', [150n]]]));
    assert.equal(cost.bytes, 0);
    assert.equal(cost.dmlBytes, 0);
    assert.equal(billedBytes([cost]), MIN_BILLED_BYTES_PER_TABLE, 'a table referenced is billed 10 MB at least');
  });

  test('two scans of one table in a statement read each kept block once', async () => {
    const scans = await scansOf(`SELECT a.payload FROM \`${TABLE}\` a JOIN \`${TABLE}\` b USING (order_id) WHERE a.order_id < 100 AND b.order_id < 50`);
    assert.equal(scans.length, 2);
    const cost = tableCost(TABLE, scans, partitioned, merged, new Map());
    assert.deepEqual(cost.blocks, { kept: 2, total: 4 });
    assert.equal(cost.bytes, merged[0].bytes.order_id + merged[0].bytes.payload + merged[1].bytes.order_id + merged[1].bytes.payload);
  });

  test('a scan of a view over the table: pruned by the view\'s WHERE and through the columns it copies, never through a computed one', async () => {
    const VIEW = 'p.d.v';
    const columnsOf = { order_id: { typeKind: 2 }, publish_time: { typeKind: 19 }, payload: { typeKind: 8 } } as const;
    const resolved = async (sql: string, view: Record<string, keyof typeof columnsOf>) => (await server.analyze({
      options: { languageOptions, errorMessageMode: 'ERROR_MESSAGE_ONE_LINE', defaultTimezone: 'UTC', pruneUnusedColumns: true },
      simpleCatalog: {
        name: 'bigquery',
        table: [TABLE, VIEW].map((name) => ({
          name,
          column: Object.entries(name === TABLE ? { order_id: 'order_id', publish_time: 'publish_time', payload: 'payload' } : view)
            .map(([column, type]) => ({ name: column, type: columnsOf[type as keyof typeof columnsOf] })),
        })),
        builtinFunctionOptions: { languageOptions },
      },
      sqlStatement: sql,
    } as unknown as AnalyzeRequest))?.resolvedStatement;
    /** Blocks kept and columns billed when `query` reads the view `viewSql` (output name -> type). */
    const read = async (viewSql: string, view: Record<string, keyof typeof columnsOf>, query: string) => {
      const base = viewBaseOf(await resolved(viewSql, {}));
      assert.ok(base, viewSql);
      const scans = tableScans(await resolved(query, view)).map((s) => (s.table === VIEW ? throughView(s, base) : s));
      const cost = tableCost(TABLE, scans, partitioned, byId, new Map());
      return { blocks: cost.blocks.kept, columns: [...cost.columns].sort() };
    };
    // A rename, through a WITH query: the view's WHERE drops the ids below 100 and the NULL block,
    // the filter on the renamed column keeps the block of 150.
    const renamed = `WITH c AS (SELECT order_id AS k, payload FROM \`${TABLE}\` WHERE order_id >= 100) SELECT k AS id, payload FROM c`;
    assert.deepEqual(await read(renamed, { id: 'order_id', payload: 'payload' }, `SELECT payload FROM \`${VIEW}\``), { blocks: 2, columns: ['order_id', 'payload'] });
    assert.deepEqual(await read(renamed, { id: 'order_id', payload: 'payload' }, `SELECT payload FROM \`${VIEW}\` WHERE id = 150`), { blocks: 1, columns: ['order_id', 'payload'] });
    // COUNT(*) still reads the column the view filters on.
    assert.deepEqual(await read(renamed, { id: 'order_id', payload: 'payload' }, `SELECT COUNT(*) FROM \`${VIEW}\``), { blocks: 2, columns: ['order_id'] });
    // A computed column of the table's column's name prunes nothing, and bills every column the view reads.
    const computed = `SELECT order_id + 100 AS order_id, payload FROM \`${TABLE}\``;
    assert.deepEqual(await read(computed, { order_id: 'order_id', payload: 'payload' }, `SELECT payload FROM \`${VIEW}\` WHERE order_id = 150`), { blocks: 4, columns: ['order_id', 'payload'] });
    // One WITH name in two scopes (ZetaSQL names the inner one c_1): the outer reference copies the
    // outer query's column, not the inner constant.
    const shadowed = `WITH c AS (SELECT order_id AS k, payload FROM \`${TABLE}\`) SELECT k AS id, payload FROM c WHERE EXISTS (WITH c AS (SELECT 1 AS k) SELECT k FROM c)`;
    assert.deepEqual(await read(shadowed, { id: 'order_id', payload: 'payload' }, `SELECT payload FROM \`${VIEW}\` WHERE id = 150`), { blocks: 1, columns: ['order_id', 'payload'] });
    // A view that reads the table twice: a block one side skips, the other may read.
    const twice = `SELECT order_id, payload FROM \`${TABLE}\` WHERE order_id < 100 UNION ALL SELECT order_id, payload FROM \`${TABLE}\``;
    assert.deepEqual(await read(twice, { order_id: 'order_id', payload: 'payload' }, `SELECT payload FROM \`${VIEW}\` WHERE order_id = 150`), { blocks: 4, columns: ['order_id', 'payload'] });
  });
});

// ---------------------------------------------------------------------------------------------
// orchestrator check --cost on a small local warehouse.
// ---------------------------------------------------------------------------------------------

interface CostOutput {
  ok: boolean;
  assumptions: { blockBytes: number; minBilledBytesPerTable: number };
  statements: { action: string; purpose: string; bytes: number; billedBytes: number; error?: string; scans: { table: string; columns: string[]; bytes: number; dmlBytes: number; partitions: { kept: number; total: number }; blocks: { kept: number; total: number } }[] }[];
  bytes: number;
  billedBytes: number;
  run: { ok: boolean };
}

describe('orchestrator check --cost', () => {
  const pipeline = new LocalPipeline();
  const cwd = mkdtempSync(path.join(os.tmpdir(), 'orchestrator-cost-'));
  after(() => {
    pipeline.dispose();
    rmSync(cwd, { recursive: true, force: true });
  });
  const hash = () => createHash('sha256').update(readFileSync(pipeline.workdir.warehouseFile)).digest('hex');
  let costJson: CostOutput;

  before(async () => {
    // Three orders in three order-id partitions (100,000 ids each), built; then, an hour later, a
    // new order in the last of those partitions only.
    await pipeline.append([100_001, 200_001, 300_001].flatMap((id, i) => [
      delivery(message(id, 'courier', `2024-03-01T09:0${i}:00Z`), `2024-03-01T09:0${i}:30.000Z`),
      delivery(message(id, 'customer', `2024-03-01T09:0${i}:10Z`), `2024-03-01T09:0${i}:40.000Z`),
      delivery(order(id, 'BCN'), `2024-03-01T09:0${i}:50.000Z`),
    ]).concat([delivery('{not json', '2024-03-01T09:10:00.000Z')]));
    await pipeline.transform();
    await pipeline.append([
      delivery(message(300_002, 'courier', '2024-03-01T10:01:00Z'), '2024-03-01T10:01:30.000Z'),
      delivery(order(300_002, 'MAD'), '2024-03-01T10:02:00.000Z'),
      delivery('{not json either', '2024-03-01T10:03:00.000Z'),
    ]);
  });

  test('--json: every statement of the next run, a MERGE that keeps only the touched partitions, a positive total, and the warehouse left unchanged', async () => {
    const before = hash();
    const conversationsBefore = await pipeline.rows('customer_courier_conversations');
    const result = await cliOk(['check', '--cost', '--json', '--workdir', pipeline.workdir.dir], cwd);
    costJson = JSON.parse(result.stdout) as CostOutput;
    assert.equal(costJson.ok, true, JSON.stringify(costJson.statements.filter((s) => s.error)));
    assert.equal(costJson.run.ok, true);
    assert.deepEqual(costJson.assumptions.blockBytes, 64 * 1024 * 1024);
    assert.equal(costJson.assumptions.minBilledBytesPerTable, 10 * 1024 * 1024);

    const statement = (action: string, purpose: string) => costJson.statements.find((s) => s.action.endsWith(`.${action}`) && s.purpose === purpose);
    for (const action of ['stg_pending_deliveries', 'stg_events', 'orders', 'customer_courier_conversations', 'rejected_events']) {
      assert.ok(costJson.statements.some((s) => s.action.endsWith(`.${action}`)), `${action} is estimated`);
    }
    for (const action of ['stg_events', 'orders', 'customer_courier_conversations']) {
      const merge = statement(action, 'incremental merge');
      assert.ok(merge, `${action}: its incremental MERGE is estimated`);
      const target = merge.scans.find((c) => c.table.endsWith(`.${action}`))!;
      assert.ok(target.partitions.total >= 3, `${action} has a partition per order-id range (${target.partitions.total})`);
      assert.ok(target.partitions.kept < target.partitions.total, `${action}: the MERGE keeps ${target.partitions.kept}/${target.partitions.total} partitions`);
    }
    // The new order 300,002 can only be in the partition of 300,001 (and its block's order_id range,
    // 300,001 alone, rules it out): the MERGE keeps at most that one of the three.
    const ccc = statement('customer_courier_conversations', 'incremental merge')!.scans.find((c) => c.table.endsWith('.customer_courier_conversations'))!;
    assert.equal(ccc.partitions.total, 3);
    assert.ok(ccc.partitions.kept <= 1);
    // It reads the messages through the conversations view: the event log, pruned by order_key (the
    // view's order_id), and only the columns behind what it reads plus the view's own filter columns.
    const log = statement('customer_courier_conversations', 'incremental merge')!.scans.find((c) => c.table.endsWith('.stg_events'))!;
    assert.ok(log, 'the MERGE reads the event log under the view');
    assert.equal(log.partitions.total, 4, 'order_key 0 (the rejects) and the three order-id partitions');
    assert.equal(log.partitions.kept, 1);
    assert.deepEqual([...log.columns].sort(), ['chat_started_by_message', 'event_id', 'event_type', 'last_published_at', 'order_key', 'order_stage', 'reject_reason', 'sender_role', 'sent_at']);
    // The per-run check after the MERGE reads the rows it wrote: the new order's partition.
    const check = statement('customer_courier_conversations', 'incremental post-operation')!.scans.find((c) => c.table.endsWith('.customer_courier_conversations'))!;
    assert.deepEqual(check.partitions, { kept: 1, total: 3 });
    // rejected_events' MERGE updates: it bills every byte of the (one, daily) partition it may update.
    const rejects = statement('rejected_events', 'incremental merge')!.scans.find((c) => c.table.endsWith('.rejected_events'))!;
    assert.deepEqual(rejects.partitions, { kept: 1, total: 1 });
    assert.ok(rejects.dmlBytes > 0);
    // The raw table: only the new publish hour is read. The hour read before gained no row, so the
    // recheck of the hours read before reads none.
    const rawScan = (action: string) => costJson.statements.filter((s) => s.action.endsWith(`.${action}`)).flatMap((s) => s.scans).find((c) => c.table.endsWith('.raw_events'))!;
    assert.deepEqual(rawScan('stg_pending_deliveries').partitions, { kept: 1, total: 2 });
    assert.deepEqual(rawScan('stg_raw_partitions').partitions, { kept: 0, total: 2 });

    assert.ok(costJson.bytes > 0);
    assert.ok(costJson.billedBytes >= costJson.bytes);
    assert.equal(costJson.bytes, costJson.statements.reduce((sum, s) => sum + s.bytes, 0));
    assert.equal(costJson.billedBytes, costJson.statements.reduce((sum, s) => sum + s.billedBytes, 0));
    assert.ok(costJson.statements.every((s) => s.billedBytes === 0 || s.billedBytes >= 10 * 1024 * 1024), 'each table referenced is billed 10 MB at least');

    // The estimate replayed the run on a copy: the warehouse is byte for byte what it was, and the
    // next real run still has the new rows to process.
    assert.equal(hash(), before, 'the warehouse file is unchanged');
    assert.deepEqual(await pipeline.rows('customer_courier_conversations'), conversationsBefore);
  });

  test('the text table: one row per table read, and a total line; --block-mb changes the blocks', async () => {
    const result = await cliOk(['check', '--cost', '--workdir', pipeline.workdir.dir, '--block-mb', '0.0001'], cwd);
    const lines = result.stdout.trimEnd().split('\n');
    assert.match(lines[0], /^action +purpose +table +partitions +blocks +MB read +MB DML +MB billed$/);
    assert.ok(lines.some((l) => /^chat_models\.customer_courier_conversations +incremental merge +customer_courier_conversations +\d+\/3 +\d+\/\d+ +\d+\.\d\d/.test(l)), result.stdout);
    assert.match(lines.at(-1)!, /^total: \d+ statements, \d+\.\d\d MB read, \d+\.\d\d MB of partitions a MERGE may update, \d+\.\d\d MB billed$/);
    assert.match(result.stderr, /blocks of 0\.0001 MB/);
    // 100-byte blocks: stg_events (a few hundred bytes a row) spreads over more blocks than rows/partitions.
    const small = JSON.parse((await cliOk(['check', '--cost', '--json', '--workdir', pipeline.workdir.dir, '--block-mb', '0.0001'], cwd)).stdout) as CostOutput;
    const blocks = (json: CostOutput) => json.statements.flatMap((s) => s.scans).filter((c) => c.table.endsWith('.stg_events')).reduce((max, c) => Math.max(max, c.blocks.total), 0);
    assert.ok(blocks(small) > blocks(costJson), `${blocks(small)} blocks of 100 bytes, ${blocks(costJson)} of 64 MB`);
  });

  test('a row landing among the rows already read: the recheck reads that hour\'s publish_time, and the hour is read again whole', async () => {
    // Published at 09:00:45, among the rows the first run read; the 10:00 rows are still pending too.
    await pipeline.append([delivery(message(100_001, 'customer', '2024-03-01T09:00:20Z'), '2024-03-01T09:00:45.000Z')]);
    const json = JSON.parse((await cliOk(['check', '--cost', '--json', '--workdir', pipeline.workdir.dir], cwd)).stdout) as CostOutput;
    const rawScan = (action: string) => json.statements.filter((s) => s.action.endsWith(`.${action}`)).flatMap((s) => s.scans).find((c) => c.table.endsWith('.raw_events'))!;
    const recheck = rawScan('stg_raw_partitions');
    assert.deepEqual(recheck.partitions, { kept: 1, total: 2 });
    assert.deepEqual(recheck.columns, ['publish_time']);
    assert.deepEqual(rawScan('stg_pending_deliveries').partitions, { kept: 2, total: 2 });
  });

  test('a first build (raw rows only): every statement is estimated, the post-operations after their table exists', async () => {
    const fresh = new LocalPipeline();
    try {
      await fresh.append([delivery(message(5, 'courier', '2024-03-01T09:00:00Z'), '2024-03-01T09:00:30.000Z'), delivery(order(5, 'BCN'), '2024-03-01T09:01:00.000Z')]);
      const json = JSON.parse((await cliOk(['check', '--cost', '--json', '--workdir', fresh.workdir.dir], cwd)).stdout) as CostOutput;
      assert.deepEqual(json.statements.filter((s) => s.error).map((s) => `${s.action} ${s.purpose}: ${s.error}`), []);
      assert.equal(json.ok, true);
      const post = json.statements.find((s) => s.action.endsWith('.customer_courier_conversations') && s.purpose === 'post-operation')!;
      assert.deepEqual(post.scans.map((c) => [c.table.split('.').pop(), c.partitions]), [['customer_courier_conversations', { kept: 1, total: 1 }]]);
    } finally {
      fresh.dispose();
    }
  });

  test('without a local warehouse: one clear line, non-zero exit', async () => {
    const empty = mkdtempSync(path.join(cwd, 'empty-'));
    assertCleanError(await cli(['check', '--cost', '--workdir', empty], cwd), /no local warehouse at .*warehouse\.duckdb/);
    assertCleanError(await cli(['check', '--cost', '--workdir', pipeline.workdir.dir, '--block-mb', '0'], cwd), /--block-mb must be a positive number/);
  });
});

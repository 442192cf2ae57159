import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { UserError } from '../orchestrator/errors.js';
import { throwIfInterrupted, type RunSummary } from '../orchestrator/runner/run.js';
import { message, order } from './support/fixtures.js';
import { LocalPipeline, delivery, pipelineFactory, type PlainRow } from './support/pipeline.js';
import type { Delivery } from './support/reference.js';

const pipeline = pipelineFactory();

const TABLES: [string, string][] = [
  ['customer_courier_conversations', 'order_id'], ['conversations', 'event_id'], ['orders', 'order_id'],
  ['rejected_events', 'event_id'], ['stg_events', 'event_id'],
];

async function snapshot(p: LocalPipeline): Promise<Record<string, PlainRow[]>> {
  const tables: Record<string, PlainRow[]> = {};
  for (const [table, orderBy] of TABLES) tables[table] = await p.rows(table, undefined, orderBy);
  return tables;
}

/** What one first build over every delivery so far gives: the reference an incremental history must equal. */
async function builtAtOnce(deliveries: Delivery[]): Promise<Record<string, PlainRow[]>> {
  const fresh = pipeline();
  await fresh.append(deliveries);
  await fresh.transform();
  return snapshot(fresh);
}

const action = (summary: RunSummary, name: string) => summary.actions.find((a) => a.name.endsWith(`.${name}`));
const at = (iso: string, minutes: number) => new Date(Date.parse(iso) + minutes * 60_000).toISOString();

describe('incremental runs read what changed, and equal a build from scratch', () => {
  const T0 = '2024-03-01T09:00:00.000Z';
  const first = message(31, 'courier', '2024-02-01T10:00:10Z', { orderStage: 'PICKUP' });
  const cityBcn = order(31, 'BCN');

  test('late-landing rows, duplicates inside and beyond the horizon, a late and a corrected city', async () => {
    const incremental = pipeline();
    const landed: Delivery[] = [];
    const bad = delivery('{bad', at(T0, 2));
    // `reads`: the raw rows the run parses, all in the hourly partitions that changed since the last run.
    const batches: { name: string; deliveries: Delivery[]; reads: number }[] = [
      { name: 'first batch', deliveries: [delivery(first, at(T0, 0)), delivery(message(32, 'customer', '2024-02-01T11:00:00Z'), at(T0, 1)), bad], reads: 3 },
      // A redelivery published later in the same hour: no row has landed among the rows read, so the
      // run reads from the latest publish time read (09:02, read again: publish times can be shared) on.
      { name: 'later rows in an hour already read', deliveries: [delivery(first, at(T0, 10))], reads: 2 },
      // Another delivery published at that same 09:10 (one publish request, landing in two writes):
      // no row landed before 09:10, so this is no late landing; the run reads the two 09:10 rows.
      { name: 'a row sharing the latest publish time read', deliveries: [{ ...delivery(first, at(T0, 10)), messageId: 'same-time' }], reads: 2 },
      // Published at 09:00:30 and 09:01:30 but landing only now, among rows already read (a stalled
      // subscription): the hour gained rows before the point it was read to, so the run reads it
      // again whole, 5 + 2 rows.
      { name: 'late-landing message and city', deliveries: [delivery(message(31, 'customer', '2024-02-01T10:00:00Z'), at(T0, 0.5)), delivery(cityBcn, at(T0, 1.5))], reads: 7 },
      // A day later: a redelivery of the first message inside the horizon, an answer for order 32.
      { name: 'duplicate inside the horizon', deliveries: [delivery(first, at(T0, 24 * 60)), delivery(message(32, 'courier', '2024-02-01T11:03:00Z', { orderStage: 'DONE' }), at(T0, 24 * 60 + 1))], reads: 2 },
      // Two hours already read gain rows: the first among the rows read (read again whole, 7 + 1), the
      // second after them. The run reads from the first hour's start, so the second hour's 2 rows
      // read before are read again (harmless), 2 + 1, and must not be counted twice: the next batch
      // reads only its own rows.
      { name: 'a late row in one hour, later rows in another', deliveries: [
        delivery(message(32, 'customer', '2024-02-01T11:00:00Z'), at(T0, 0.75)),
        delivery(message(32, 'courier', '2024-02-01T11:03:00Z', { orderStage: 'DONE' }), at(T0, 24 * 60 + 30)),
      ], reads: 11 },
      // Twelve days later: the same first message and the same bad record again (beyond the 7-day
      // horizon), the old city re-published (same event: it must not win) and a corrected city.
      { name: 'duplicates beyond the horizon, corrected city', deliveries: [
        delivery(first, at(T0, 12 * 24 * 60)), delivery(cityBcn, at(T0, 12 * 24 * 60 + 1)),
        delivery(order(31, 'MAD'), at(T0, 12 * 24 * 60 + 2)),
        { ...bad, messageId: 'bad-again', publishTime: at(T0, 12 * 24 * 60 + 3) },
      ], reads: 4 },
    ];
    for (const batch of batches) {
      landed.push(...batch.deliveries);
      await incremental.append(batch.deliveries);
      const summary = await incremental.transform();
      if (landed.length > batch.deliveries.length) {
        assert.equal(action(summary, 'stg_events')?.mode, 'merged', `${batch.name}: merged, not rebuilt`);
        assert.equal(action(summary, 'stg_pending_deliveries')?.rows, batch.reads, `${batch.name}: only the changed partitions are read`);
      }
      assert.deepEqual(await snapshot(incremental), await builtAtOnce(landed), `after ${batch.name}`);
    }
    const rows = await incremental.conversations();
    assert.deepEqual(rows.map((r) => [r.order_id, r.city_code, r.num_messages_courier, r.num_messages_customer, r.first_responsetime_delay_seconds]),
      [[31, 'MAD', 1, 1, 10], [32, null, 1, 1, 180]]);
    assert.equal((await incremental.rows('rejected_events', ['event_id'], 'event_id')).length, 1, 'the bad record is one reject');

    // Nothing new: the next run reads no raw row and changes nothing.
    const idle = await incremental.transform();
    assert.equal(action(idle, 'stg_pending_deliveries')?.rows, 0);
    assert.deepEqual(await snapshot(incremental), await builtAtOnce(landed));
  });

  test('the commit never runs without the models it depends on, so rows a partial run parsed stay pending', async () => {
    const p = pipeline();
    const firstBatch = [delivery(first, at(T0, 0))];
    await p.append(firstBatch);
    await p.transform();
    const secondBatch = [delivery(message(32, 'customer', '2024-02-01T11:00:00Z'), at(T0, 5)), delivery(order(32, 'MAD'), at(T0, 6))];
    await p.append(secondBatch);
    // A partial run parses the new rows into stg_pending_deliveries and merges them nowhere.
    await p.transform({ actions: ['stg_pending_deliveries'], includeDependencies: true });
    // Committing now would mark them read, and no later run would read them again.
    for (const selection of [{ actions: ['commit_raw_partitions'] }, { tags: ['state'] }, { actions: ['stg_events', 'commit_raw_partitions'] }]) {
      await assert.rejects(p.transform(selection), (error: Error) => error instanceof UserError &&
        /^commit_raw_partitions .* \(missing: .*conversations.*\): add --include-deps/.test(error.message), JSON.stringify(selection));
    }
    await p.transform({ actions: ['commit_raw_partitions'], includeDependencies: true });
    assert.deepEqual(await snapshot(p), await builtAtOnce([...firstBatch, ...secondBatch]));
  });

  test('an interrupted run skips the actions it had not started, and the next run does their work', async () => {
    const p = pipeline();
    const firstBatch = [delivery(first, at(T0, 0))];
    await p.append(firstBatch);
    await p.transform();
    const before = await snapshot(p);
    const secondBatch = [delivery(message(32, 'customer', '2024-02-01T11:00:00Z'), at(T0, 5))];
    await p.append(secondBatch);
    const signal = AbortSignal.abort();
    const interrupted = await p.transform({ signal, allowFailure: true });
    assert.equal(interrupted.ok, false);
    assert.ok(interrupted.actions.length > 0 && interrupted.actions.every((a) => a.status === 'skipped' && a.error === 'interrupted before it started'));
    // What `transform` and `up` exit with.
    const all = interrupted.actions.length;
    assert.throws(() => throwIfInterrupted(interrupted, signal, ' while running the models'), (error: Error) => error instanceof UserError && error.exitCode === 130 &&
      error.message === `interrupted while running the models: ${all} of ${all} actions did not run (the next transform runs them)`);
    assert.deepEqual(await snapshot(p), before);
    const resumed = await p.transform();
    assert.doesNotThrow(() => throwIfInterrupted(resumed, signal), 'a run that skipped nothing is not reported as interrupted');
    assert.deepEqual(await snapshot(p), await builtAtOnce([...firstBatch, ...secondBatch]));
  });

  test('a row landing late inside the landing window re-reads the window, not the hour', async () => {
    const p = pipeline();
    const landed: Delivery[] = [];
    const T1 = '2024-03-02T10:00:00.000Z';
    const answer = (orderId: number, minute: number) => delivery(message(orderId, 'courier', `2024-02-02T10:${String(minute).padStart(2, '0')}:00Z`), at(T1, minute));
    const batches: { name: string; deliveries: Delivery[]; reads: number }[] = [
      // Read to 10:20; the landing window (5 minutes by default) starts at 10:15, with 3 rows before it.
      { name: 'four rows', deliveries: [answer(51, 0), answer(52, 5), answer(53, 10), answer(54, 20)], reads: 4 },
      // Published at 10:18, landing after the run that read to 10:20 (a subscription writing in
      // batches): the rows before 10:15 still number 3, so the run reads from 10:15 (10:18, 10:20).
      { name: 'a late row inside the window', deliveries: [answer(55, 18)], reads: 2 },
      // Published at 10:12, before the window: the hour is read again whole.
      { name: 'a late row before the window', deliveries: [answer(56, 12)], reads: 6 },
    ];
    for (const batch of batches) {
      landed.push(...batch.deliveries);
      await p.append(batch.deliveries);
      const summary = await p.transform();
      assert.equal(action(summary, 'stg_pending_deliveries')?.rows, batch.reads, `${batch.name}: rows read`);
      assert.deepEqual(await snapshot(p), await builtAtOnce(landed), `after ${batch.name}`);
    }
    assert.equal(action(await p.transform(), 'stg_pending_deliveries')?.rows, 0, 'every row counted once: nothing is pending');
  });

  test('raw_partitions_processed from an earlier version gains its columns, and its partitions are read whole once', async () => {
    const p = pipeline();
    const T2 = '2024-03-03T10:00:00.000Z';
    const first = [delivery(message(61, 'courier', '2024-02-03T10:00:00Z'), at(T2, 0)), delivery(order(61, 'BCN'), at(T2, 1))];
    await p.append(first);
    await p.transform();
    // The table as the first version wrote it: no read point, no landing window.
    const processed = p.table('raw_partitions_processed');
    await p.execute(`CREATE OR REPLACE TABLE ${processed} AS SELECT partition_id, total_rows, processed_at FROM ${processed}`);
    const later = [delivery(message(61, 'customer', '2024-02-03T10:00:30Z'), at(T2, 2))];
    await p.append(later);
    const migrated = await p.transform();
    assert.equal(action(migrated, 'stg_pending_deliveries')?.rows, 3, 'no read point: the hour is read whole');
    assert.deepEqual(await snapshot(p), await builtAtOnce([...first, ...later]));
    const [point] = await p.rows('raw_partitions_processed', ['rows_before_read_until', 'rows_before_landing_window']);
    assert.deepEqual([Number(point.rows_before_read_until), Number(point.rows_before_landing_window)], [2, 0], 'read to 10:02; the window starts at 10:00');
    await p.append([delivery(message(61, 'courier', '2024-02-03T10:00:50Z'), at(T2, 3))]);
    assert.equal(action(await p.transform(), 'stg_pending_deliveries')?.rows, 2, 'then read from the read point again');
  });

  test('a row landing beyond the horizon is reported loudly, not read, and a wider horizon reads it', async () => {
    const p = pipeline();
    const early = [delivery(message(41, 'courier', '2024-02-01T10:00:00Z'), at(T0, 0))];
    const recent = [delivery(message(42, 'courier', '2024-02-10T10:00:00Z'), at(T0, 10 * 24 * 60))];
    await p.append([...early, ...recent]);
    await p.transform();
    // Published on day 0, landing on day 10: 10 days older than the newest partition.
    const stalled = [delivery(message(41, 'customer', '2024-02-01T10:00:30Z'), at(T0, 30))];
    await p.append(stalled);
    const reported = await p.transform({ allowFailure: true });
    const horizon = action(reported, 'assert_no_raw_rows_beyond_horizon');
    assert.equal(horizon?.status, 'failed', 'the run fails loudly');
    assert.equal(horizon.sample?.[0]?.unread_rows, 1n, 'and says how many rows it did not read');
    assert.equal(action(reported, 'customer_courier_conversations')?.status, 'ok', 'the rest of the pipeline goes on');
    assert.equal((await p.conversations()).find((r) => r.order_id === 41)?.num_messages_customer, 0, 'the stalled row is not read silently');

    const caughtUp = await p.transform({ vars: { horizonDays: '30' } });
    assert.equal(caughtUp.ok, true);
    assert.deepEqual(await snapshot(p), await builtAtOnce([...early, ...recent, ...stalled]));
    assert.equal((await p.transform()).ok, true, 'once read, the partition is processed: the next run is clean');
  });

  test('--full-refresh keeps the protected event log, even after raw partitions expired', async () => {
    const p = pipeline();
    await p.append([delivery(first, at(T0, 0)), delivery(cityBcn, at(T0, 1)), delivery(message(31, 'customer', '2024-02-01T10:00:05Z'), at(T0, 2))]);
    await p.transform();
    const before = await snapshot(p);
    // Partition expiration on the raw table removes the oldest hours.
    await p.execute(`DELETE FROM \`${p.project.raw.database}.${p.project.raw.schema}.${p.project.raw.name}\``);
    const refreshed = await p.transform({ fullRefresh: true });
    assert.equal(action(refreshed, 'stg_events')?.mode, 'merged', 'protected: merged into, not rebuilt');
    assert.equal(action(refreshed, 'customer_courier_conversations')?.mode, 'replaced', 'the marts are rebuilt, from the event log');
    assert.deepEqual(await snapshot(p), before);
  });

  test('a per-run check fails the run that touches a bad row, and the run is repeated until it passes', async () => {
    const p = pipeline();
    await p.append([delivery(first, at(T0, 0))]);
    await p.transform();
    // A bad message in the event log, which the next run's recompute of order 31 reads (conversations is a view over the log).
    await p.execute(`UPDATE ${p.table('stg_events')} SET sender_role = 'robot' WHERE order_key = 31`);
    await p.append([delivery(message(31, 'customer', '2024-02-01T10:00:20Z'), at(T0, 60))]);
    const failed = await p.transform({ allowFailure: true });
    assert.equal(action(failed, 'customer_courier_conversations')?.status, 'failed');
    assert.match(action(failed, 'customer_courier_conversations')?.error ?? '', /per-run check failed: customer_courier_conversations unique key or row conditions/);
    assert.equal(action(failed, 'commit_raw_partitions')?.status, 'skipped', 'the partitions stay pending');
    await p.execute(`UPDATE ${p.table('stg_events')} SET sender_role = 'courier' WHERE order_key = 31 AND sender_role = 'robot'`);
    const repeated = await p.transform();
    assert.equal(action(repeated, 'stg_pending_deliveries')?.rows, 1, 'the failed run is repeated');
    assert.equal((await p.conversations())[0]?.num_messages_customer, 1);
  });
});


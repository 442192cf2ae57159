import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { LocalPipeline, anchorPath, delivery, fileDeliveries } from './support/pipeline.js';

// Each case corrupts a copy of a healthy warehouse the way a model bug would, then runs the
// assertions alone: the named assertion must fail (and show the offending rows), the rest may pass.
const CCC = 'customer_courier_conversations';
const VALID_MESSAGE = "event_type = 'message' AND reject_reason IS NULL";
const cases: { name: string; tamper: (t: (table: string) => string) => string; fails: string; condition?: string }[] = [
  { name: 'duplicate order_id', tamper: (t) => `INSERT INTO ${t(CCC)} SELECT * FROM ${t(CCC)} LIMIT 1`, fails: `audit_${CCC}_unique_key` },
  { name: 'NULL order_id', tamper: (t) => `UPDATE ${t(CCC)} SET order_id = NULL WHERE order_id = (SELECT MIN(order_id) FROM ${t(CCC)})`, fails: `audit_${CCC}_row_conditions`, condition: 'order_id IS NOT NULL' },
  { name: 'unknown role', tamper: (t) => `UPDATE ${t(CCC)} SET first_message_by = 'robot'`, fails: `audit_${CCC}_row_conditions`, condition: "first_message_by IN ('courier', 'customer')" },
  { name: 'negative count', tamper: (t) => `UPDATE ${t(CCC)} SET num_messages_customer = -1 WHERE num_messages_customer = 0`, fails: `audit_${CCC}_row_conditions`, condition: 'num_messages_courier >= 0 AND num_messages_customer >= 0' },
  { name: 'no message at all', tamper: (t) => `UPDATE ${t(CCC)} SET num_messages_courier = 0, num_messages_customer = 0`, fails: `audit_${CCC}_row_conditions`, condition: 'num_messages_courier + num_messages_customer >= 1' },
  { name: 'started after the last message', tamper: (t) => `UPDATE ${t(CCC)} SET last_message_time = conversation_started_at - INTERVAL 1 HOUR`, fails: `audit_${CCC}_row_conditions`, condition: 'conversation_started_at <= last_message_time' },
  { name: 'courier time without courier messages', tamper: (t) => `UPDATE ${t(CCC)} SET first_courier_message = NULL WHERE num_messages_courier > 0`, fails: `audit_${CCC}_row_conditions`, condition: '(first_courier_message IS NULL) = (num_messages_courier = 0)' },
  { name: 'customer count without customer time', tamper: (t) => `UPDATE ${t(CCC)} SET num_messages_customer = 0 WHERE num_messages_customer > 0 AND num_messages_courier > 0`, fails: `audit_${CCC}_row_conditions`, condition: '(first_customer_message IS NULL) = (num_messages_customer = 0)' },
  { name: 'first_message_by inconsistent with first messages', tamper: (t) => `UPDATE ${t(CCC)} SET first_message_by = IF(first_message_by = 'courier', 'customer', 'courier') WHERE num_messages_courier > 0 AND num_messages_customer > 0`, fails: `audit_${CCC}_row_conditions`, condition: "IF(first_message_by = 'courier', first_courier_message, first_customer_message) = conversation_started_at" },
  { name: '0 instead of NULL for an unanswered chat', tamper: (t) => `UPDATE ${t(CCC)} SET first_responsetime_delay_seconds = 0 WHERE first_responsetime_delay_seconds IS NULL`, fails: `audit_${CCC}_row_conditions`, condition: "(first_responsetime_delay_seconds IS NULL) = (IF(first_message_by = 'courier', first_customer_message, first_courier_message) IS NULL)" },
  { name: 'negative delay', tamper: (t) => `UPDATE ${t(CCC)} SET first_responsetime_delay_seconds = -5 WHERE first_responsetime_delay_seconds IS NOT NULL`, fails: `audit_${CCC}_row_conditions`, condition: 'first_responsetime_delay_seconds IS NULL OR first_responsetime_delay_seconds >= 0' },
  // conversations is a view over the event log: a bad message row comes from stg_events.
  { name: 'duplicate message', tamper: (t) => `INSERT INTO ${t('stg_events')} SELECT * FROM ${t('stg_events')} WHERE ${VALID_MESSAGE} LIMIT 1`, fails: 'audit_conversations_unique_key' },
  { name: 'message with an unknown role', tamper: (t) => `UPDATE ${t('stg_events')} SET sender_role = 'robot' WHERE ${VALID_MESSAGE} AND order_key = (SELECT MIN(order_id) FROM ${t('conversations')})`, fails: 'audit_conversations_row_conditions', condition: "sender_role IN ('courier', 'customer')" },
  { name: 'two cities for one order', tamper: (t) => `INSERT INTO ${t('orders')} SELECT * FROM ${t('orders')} LIMIT 1`, fails: 'audit_orders_unique_key' },
  { name: 'order without city', tamper: (t) => `UPDATE ${t('orders')} SET city_code = NULL`, fails: 'audit_orders_row_conditions', condition: 'city_code IS NOT NULL' },
  { name: 'reject without reason', tamper: (t) => `UPDATE ${t('rejected_events')} SET reason = NULL`, fails: 'audit_rejected_events_row_conditions', condition: 'reason IS NOT NULL' },
  { name: 'event deduplicated twice', tamper: (t) => `INSERT INTO ${t('stg_events')} SELECT * FROM ${t('stg_events')} LIMIT 1`, fails: 'audit_stg_events_unique_key' },
  { name: 'a message missing from the final table', tamper: (t) => `INSERT INTO ${t('stg_events')} SELECT * REPLACE ('extra' AS event_id) FROM ${t('stg_events')} WHERE ${VALID_MESSAGE} LIMIT 1`, fails: 'assert_message_counts_reconcile' },
  { name: 'a reject dropped silently', tamper: (t) => `DELETE FROM ${t('rejected_events')}`, fails: 'assert_every_event_accounted_for' },
];

describe('assertions fail on bad rows', () => {
  let healthy: LocalPipeline;
  const copies: LocalPipeline[] = [];
  before(async () => {
    healthy = new LocalPipeline();
    await healthy.append([
      ...(await fileDeliveries(anchorPath('glovo-sample.ndjson'), '2024-03-01T00:00:00Z')),
      delivery('{not json', '2024-03-01T00:00:01Z'),
    ]);
    await healthy.transform();
  });
  after(() => [healthy, ...copies].forEach((p) => p.dispose()));

  test('a healthy warehouse passes every assertion', async () => {
    const summary = await healthy.transform({ assertionsOnly: true });
    assert.ok(summary.actions.length >= 12, `expected all assertions, ran ${summary.actions.length}`);
    assert.ok(summary.actions.every((a) => a.kind === 'assertion' && a.status === 'ok'));
  });

  for (const c of cases) {
    test(`${c.fails} catches: ${c.name}`, async () => {
      const p = healthy.clone();
      copies.push(p);
      await p.execute(c.tamper((table) => p.table(table)));
      const summary = await p.transform({ assertionsOnly: true, allowFailure: true });
      const failed = summary.actions.find((a) => a.name.endsWith(`.${c.fails}`) || a.name.endsWith(`.chat_models_${c.fails}`));
      assert.ok(failed, `assertion ${c.fails} exists`);
      assert.equal(failed.status, 'failed', `${failed.name} should fail`);
      assert.ok((failed.rows ?? 0) > 0 && (failed.sample?.length ?? 0) > 0, 'the failure shows its rows');
      if (c.condition) {
        const conditions = failed.sample!.map((row) => row.failing_row_condition);
        assert.ok(conditions.includes(c.condition), `expected ${c.condition} among ${JSON.stringify(conditions)}`);
      }
      assert.equal(summary.ok, false);
    });
  }
});

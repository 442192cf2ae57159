import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { eventId } from '../orchestrator/events/eventId.js';
import { message, order } from './support/fixtures.js';
import { anchorPath, delivery, fileDeliveries, pipelineFactory } from './support/pipeline.js';

const pipeline = pipelineFactory();

const T0 = '2024-03-01T09:00:00.000Z';

describe('customer_courier_conversations on hand-computed fixtures', () => {
  test('the challenge sample: out of order, one chat without chatStartedByMessage = true', async () => {
    const p = pipeline();
    await p.append(await fileDeliveries(anchorPath('glovo-sample.ndjson'), T0));
    await p.transform();
    assert.deepEqual(await p.conversations(), [
      {
        order_id: 59528038, city_code: 'MAD',
        first_courier_message: '2019-08-19T07:59:33Z', first_customer_message: null,
        num_messages_courier: 1, num_messages_customer: 0, first_message_by: 'courier',
        conversation_started_at: '2019-08-19T07:59:33Z', first_responsetime_delay_seconds: null,
        last_message_time: '2019-08-19T07:59:33Z', last_message_order_stage: 'ADDRESS_DELIVERY',
      },
      {
        order_id: 59528555, city_code: 'BCN',
        first_courier_message: '2019-08-19T08:01:04Z', first_customer_message: '2019-08-19T08:00:04Z',
        num_messages_courier: 1, num_messages_customer: 2, first_message_by: 'customer',
        conversation_started_at: '2019-08-19T08:00:04Z', first_responsetime_delay_seconds: 60,
        last_message_time: '2019-08-19T08:01:47Z', last_message_order_stage: 'PICKING_UP',
      },
    ]);
  });

  test('first message by time, ties broken by chatStartedByMessage, sender role rules, offsets and fractions', async () => {
    const p = pipeline();
    // The flagged message gets the larger event_id, so that only the flag can put it first.
    const tieCourier = message(2, 'courier', '2024-02-01T10:00:00Z', { orderStage: 'C2' });
    let tieCustomer = message(2, 'customer', '2024-02-01T10:00:00Z', { chatStartedByMessage: true, orderStage: 'K2' });
    for (let n = 0; eventId(tieCustomer) < eventId(tieCourier); n++) tieCustomer = { ...tieCustomer, toId: n };
    await p.append([
      // 2: same second; the customer's message carries the flag, so it is first; the courier's is last.
      delivery(tieCourier, T0),
      delivery(tieCustomer, T0),
      // 3: the flag is wrong; time decides.
      delivery(message(3, 'courier', '2024-02-01T10:05:00Z', { chatStartedByMessage: true }), T0),
      delivery(message(3, 'customer', '2024-02-01T10:01:00Z', { orderStage: 'K3' }), T0),
      // 4: one-sided chat.
      delivery(message(4, 'courier', '2024-02-01T11:00:00Z'), T0),
      delivery(message(4, 'courier', '2024-02-01T11:02:00Z', { orderStage: 'LAST4' }), T0),
      // 5: a single message without orderStage.
      delivery(message(5, 'customer', '2024-02-01T12:00:00Z', { orderStage: undefined }), T0),
      // 6: roles from fromId when senderAppType says nothing; prefixes trimmed and case-insensitive.
      delivery(message(6, 'courier', '2024-02-01T13:00:00Z', { senderAppType: 'Web' }), T0),
      delivery(message(6, 'customer', '2024-02-01T13:00:07Z', { senderAppType: undefined }), T0),
      delivery(message(6, 'customer', '2024-02-01T13:00:09Z', { senderAppType: '  CUSTOMER web', fromId: 1 }), T0),
      // 7: offsets, fractions (truncated to microseconds, delay truncated to whole seconds).
      delivery(message(7, 'courier', '2024-02-01T12:00:00.1234567+02:00'), T0),
      delivery(message(7, 'customer', '2024-02-01T10:00:02.0000001Z'), T0),
      delivery(message(7, 'customer', '2024-02-01t05:00:02.5-05:00', { orderStage: 'K7' }), T0),
      // 8: orderId as a string of digits (leading zeros allowed), city as a separate event.
      delivery(message('0008', 'customer', '2024-02-01T14:00:00Z'), T0),
      delivery(order('8', 'BCN'), T0),
    ]);
    await p.transform();
    const rows = await p.conversations();
    assert.deepEqual(rows, [
      {
        order_id: 2, city_code: null, first_courier_message: '2024-02-01T10:00:00Z', first_customer_message: '2024-02-01T10:00:00Z',
        num_messages_courier: 1, num_messages_customer: 1, first_message_by: 'customer', conversation_started_at: '2024-02-01T10:00:00Z',
        first_responsetime_delay_seconds: 0, last_message_time: '2024-02-01T10:00:00Z', last_message_order_stage: 'C2',
      },
      {
        order_id: 3, city_code: null, first_courier_message: '2024-02-01T10:05:00Z', first_customer_message: '2024-02-01T10:01:00Z',
        num_messages_courier: 1, num_messages_customer: 1, first_message_by: 'customer', conversation_started_at: '2024-02-01T10:01:00Z',
        first_responsetime_delay_seconds: 240, last_message_time: '2024-02-01T10:05:00Z', last_message_order_stage: 'COURIER_STAGE',
      },
      {
        order_id: 4, city_code: null, first_courier_message: '2024-02-01T11:00:00Z', first_customer_message: null,
        num_messages_courier: 2, num_messages_customer: 0, first_message_by: 'courier', conversation_started_at: '2024-02-01T11:00:00Z',
        first_responsetime_delay_seconds: null, last_message_time: '2024-02-01T11:02:00Z', last_message_order_stage: 'LAST4',
      },
      {
        order_id: 5, city_code: null, first_courier_message: null, first_customer_message: '2024-02-01T12:00:00Z',
        num_messages_courier: 0, num_messages_customer: 1, first_message_by: 'customer', conversation_started_at: '2024-02-01T12:00:00Z',
        first_responsetime_delay_seconds: null, last_message_time: '2024-02-01T12:00:00Z', last_message_order_stage: null,
      },
      {
        order_id: 6, city_code: null, first_courier_message: '2024-02-01T13:00:00Z', first_customer_message: '2024-02-01T13:00:07Z',
        num_messages_courier: 1, num_messages_customer: 2, first_message_by: 'courier', conversation_started_at: '2024-02-01T13:00:00Z',
        first_responsetime_delay_seconds: 7, last_message_time: '2024-02-01T13:00:09Z', last_message_order_stage: 'CUSTOMER_STAGE',
      },
      {
        order_id: 7, city_code: null, first_courier_message: '2024-02-01T10:00:00.123456Z', first_customer_message: '2024-02-01T10:00:02Z',
        num_messages_courier: 1, num_messages_customer: 2, first_message_by: 'courier', conversation_started_at: '2024-02-01T10:00:00.123456Z',
        first_responsetime_delay_seconds: 1, last_message_time: '2024-02-01T10:00:02.5Z', last_message_order_stage: 'K7',
      },
      {
        order_id: 8, city_code: 'BCN', first_courier_message: null, first_customer_message: '2024-02-01T14:00:00Z',
        num_messages_courier: 0, num_messages_customer: 1, first_message_by: 'customer', conversation_started_at: '2024-02-01T14:00:00Z',
        first_responsetime_delay_seconds: null, last_message_time: '2024-02-01T14:00:00Z', last_message_order_stage: 'CUSTOMER_STAGE',
      },
    ]);
  });

  test('duplicates: re-published, keys reordered, or a bad record delivered twice, are counted once', async () => {
    const p = pipeline();
    const first = message(11, 'courier', '2024-02-01T10:00:00Z');
    const reordered = Object.fromEntries(Object.entries(first).reverse());
    const garbage = delivery('garbage line', '2024-03-01T09:00:06Z');
    const garbageElsewhere = delivery('garbage line', '2024-03-01T09:00:08Z');
    await p.append([
      delivery(first, '2024-03-01T09:00:00Z'),
      delivery(message(11, 'customer', '2024-02-01T10:00:30Z'), '2024-03-01T09:00:01Z'),
      delivery(order(11, 'LIS'), '2024-03-01T09:00:02Z'),
      delivery(first, '2024-03-01T09:00:03Z'),
      delivery(JSON.stringify(reordered, null, 2), '2024-03-01T09:00:04Z'),
      delivery(order(11, 'LIS'), '2024-03-01T09:00:05Z'),
      garbage,
      // The same bad record delivered again, and an identical bad line elsewhere in the file.
      { ...garbage, messageId: 'redelivered', publishTime: '2024-03-01T09:00:07Z' },
      garbageElsewhere,
    ]);
    await p.transform();
    const row = (await p.conversations()).at(0);
    assert.equal(row?.num_messages_courier, 1);
    assert.equal(row.num_messages_customer, 1);
    assert.equal(row.first_responsetime_delay_seconds, 30);
    assert.equal(row.city_code, 'LIS');
    assert.equal((await p.rows('conversations', ['event_id'])).length, 2);
    assert.equal((await p.rows('orders', ['order_id', 'order_events'])).at(0)?.order_events, 1);
    const rejected = await p.rows('rejected_events', ['reason', 'raw_data', 'message_id', 'publish_time'], 'publish_time');
    assert.deepEqual(rejected, [
      { reason: 'invalid_json', raw_data: 'garbage line', message_id: garbage.messageId, publish_time: '2024-03-01T09:00:06Z' },
      { reason: 'invalid_json', raw_data: 'garbage line', message_id: garbageElsewhere.messageId, publish_time: '2024-03-01T09:00:08Z' },
    ]);
    assert.equal((await p.rows('stg_events', ['event_id'])).length, 5);
  });

  test('every kind of invalid event is rejected with its reason, and nothing else is lost', async () => {
    const p = pipeline();
    const cases: [string | object, string][] = [
      ['not json at all', 'invalid_json'],
      ['{"orderId": 1, "cityCode": "X",}', 'invalid_json'],
      ['{"orderId": NaN, "cityCode": "X"}', 'invalid_json'],
      ['[1, 2]', 'not_an_object'],
      ['"a string"', 'not_an_object'],
      ['null', 'not_an_object'],
      [{ orderId: 12 }, 'unknown_event_type'],
      [{ orderId: 13, messageSentTime: null, cityCode: null }, 'unknown_event_type'],
      [order(-1, 'X'), 'invalid_order_id'],
      [order(0, 'X'), 'invalid_order_id'],
      [order(1.5, 'X'), 'invalid_order_id'],
      [order('12a', 'X'), 'invalid_order_id'],
      [order('99999999999999999999', 'X'), 'invalid_order_id'],
      [order(true, 'X'), 'invalid_order_id'],
      [{ cityCode: 'X' }, 'invalid_order_id'],
      [message(14, 'courier', 'yesterday'), 'invalid_message_sent_time'],
      [message(14, 'courier', '2024-02-30T10:00:00Z'), 'invalid_message_sent_time'],
      [message(14, 'courier', '2024-02-01 10:00:00Z'), 'invalid_message_sent_time'],
      [message(14, 'courier', '2024-02-01T24:00:00Z'), 'invalid_message_sent_time'],
      [message(14, 'courier', '2024-02-01T10:00:00'), 'invalid_message_sent_time'],
      [message(14, 'courier', 1706781600), 'invalid_message_sent_time'],
      // Outside BigQuery's TIMESTAMP range (0001-01-01 to 9999-12-31 23:59:59.999999 UTC).
      [message(14, 'courier', '0000-01-01T00:00:00Z'), 'invalid_message_sent_time'],
      [message(14, 'courier', '9999-12-31T23:00:00-05:00'), 'invalid_message_sent_time'],
      // A UTC offset beyond BigQuery's 14:00.
      [message(14, 'courier', '2024-02-01T10:00:00+14:30'), 'invalid_message_sent_time'],
      [message(15, 'courier', '2024-02-01T10:00:00Z', { senderAppType: 'Web', fromId: 1 }), 'unknown_sender'],
      [message(15, 'courier', '2024-02-01T10:00:00Z', { senderAppType: null, fromId: null }), 'unknown_sender'],
      [order(16, ''), 'invalid_city_code'],
      [order(16, '   '), 'invalid_city_code'],
      [order(16, '\t\u3000\u2028'), 'invalid_city_code'],
      [order(16, 123), 'invalid_city_code'],
      [order(16, { code: 'X' }), 'invalid_city_code'],
    ];
    await p.append([
      ...cases.map(([data], i) => delivery(data, new Date(Date.parse(T0) + i * 1000).toISOString())),
      delivery(message(17, 'courier', '2024-02-01T10:00:00Z'), T0),
      // White space around the sender app type is trimmed (SPEC), tab and ideographic space included.
      delivery(message(17, 'customer', '2024-02-01T10:01:00Z', { senderAppType: '\tCustomer iOS\u3000', fromId: 0 }), T0),
    ]);
    await p.transform();
    const rejected = await p.rows('rejected_events', ['position', 'reason', 'raw_data'], 'publish_time, position');
    assert.deepEqual(
      rejected.map((r) => [r.raw_data, r.reason]),
      cases.map(([data, reason]) => [typeof data === 'string' ? data : JSON.stringify(data), reason]),
    );
    assert.ok(rejected.every((r) => typeof r.position === 'number'), 'rejects keep their position in the file');
    assert.deepEqual((await p.rows('conversations', ['order_id', 'sender_role'], 'sent_at')).map((r) => [r.order_id, r.sender_role]), [[17, 'courier'], [17, 'customer']]);
    assert.deepEqual(await p.rows('orders', ['order_id']), []);
  });
});

describe('incremental runs', () => {
  test('late events across runs update their row, and every run equals a full refresh', async () => {
    const incremental = pipeline();
    const full = pipeline();
    const m1 = message(21, 'courier', '2024-02-01T10:00:10Z', { orderStage: 'PICKUP' });
    const cityBcn = order(21, 'BCN');
    const batches = [
      [delivery(m1, '2024-03-01T09:00:00Z'), delivery(message(22, 'customer', '2024-02-01T11:00:00Z'), '2024-03-01T09:00:01Z')],
      // A late FIRST message (sent earlier, published later) and the city arrive.
      [delivery(message(21, 'customer', '2024-02-01T10:00:00Z'), '2024-03-01T10:00:00Z'), delivery(cityBcn, '2024-03-01T10:00:01Z')],
      // The city is corrected, message 1 is redelivered, order 22 gets an answer.
      [delivery(order(21, 'MAD'), '2024-03-01T11:00:00Z'), delivery(m1, '2024-03-01T11:00:01Z'),
        delivery(message(22, 'courier', '2024-02-01T11:03:00Z', { orderStage: 'DONE' }), '2024-03-01T11:00:02Z')],
      // The old city event is re-published: it is the same event, so it does not win again.
      [delivery(cityBcn, '2024-03-01T12:00:00Z')],
    ];
    const expectedAfter = [
      { 21: ['courier', null, null, 1, 0, 'PICKUP'], 22: ['customer', null, null, 0, 1, 'CUSTOMER_STAGE'] },
      { 21: ['customer', 'BCN', 10, 1, 1, 'PICKUP'], 22: ['customer', null, null, 0, 1, 'CUSTOMER_STAGE'] },
      { 21: ['customer', 'MAD', 10, 1, 1, 'PICKUP'], 22: ['customer', null, 180, 1, 1, 'DONE'] },
      { 21: ['customer', 'MAD', 10, 1, 1, 'PICKUP'], 22: ['customer', null, 180, 1, 1, 'DONE'] },
    ];
    for (const [i, batch] of batches.entries()) {
      await incremental.append(batch);
      await full.append(batch);
      const summary = await incremental.transform();
      if (i > 0) {
        const ccc = summary.actions.find((a) => a.name.endsWith('.customer_courier_conversations'));
        assert.equal(ccc?.mode, 'merged', 'later runs merge instead of rebuilding');
      }
      await full.transform({ fullRefresh: true });
      const rows = await incremental.conversations();
      const observed = Object.fromEntries(rows.map((r) => [r.order_id, [r.first_message_by, r.city_code,
        r.first_responsetime_delay_seconds, r.num_messages_courier, r.num_messages_customer, r.last_message_order_stage]]));
      assert.deepEqual(observed, expectedAfter[i], `after batch ${i + 1}`);
      for (const table of ['customer_courier_conversations', 'conversations', 'orders', 'rejected_events', 'stg_events']) {
        const orderBy = table === 'customer_courier_conversations' || table === 'orders' ? 'order_id' : 'event_id';
        assert.deepEqual(await incremental.rows(table, undefined, orderBy), await full.rows(table, undefined, orderBy), `${table} after batch ${i + 1}`);
      }
    }
    const report = await incremental.transform();
    const withoutCity = report.actions.find((a) => a.name.endsWith('.conversations_without_city'));
    assert.equal(withoutCity?.rows, 1, 'order 22 has no city: reported');
    assert.equal(withoutCity.status, 'ok', 'a conversation without a city is not a failure');
  });
});

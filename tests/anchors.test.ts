import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { expectedResult, type Delivery } from './support/reference.js';
import { LocalPipeline, anchorPath, fileDeliveries } from './support/pipeline.js';

const pipelines: LocalPipeline[] = [];
after(() => pipelines.forEach((p) => p.dispose()));

async function runOn(deliveries: Delivery[]) {
  const p = new LocalPipeline();
  pipelines.push(p);
  await p.append(deliveries);
  await p.transform();
  return p;
}

describe('anchor files from other solutions, checked against an independent reading of SPEC', () => {
  for (const [label, files] of [
    ['seed NDJSON (1,801 events)', ['seed-conversations.json']],
    ['older seed NDJSON', ['seed-conversations.older.json']],
    ['order events after their conversation', ['order-event-last.json']],
    ['Glovo JSON arrays (messages, then orders)', ['glovo/customer_courier_chat_messages.json', 'glovo/orders.json']],
  ] as const) {
    test(label, async () => {
      const deliveries = (await Promise.all(files.map((f, i) => fileDeliveries(anchorPath(f), `2024-03-01T0${i}:00:00Z`)))).flat();
      const expected = expectedResult(deliveries);
      assert.ok(expected.rows.length > 0);
      const p = await runOn(deliveries);
      assert.deepEqual(await p.conversations(), expected.rows);
      assert.equal((await p.rows('rejected_events', ['event_id'])).length, expected.rejected);
      assert.equal((await p.rows('conversations', ['event_id'])).length, expected.messages);
    });
  }

  test('seed file: known totals (1,401 messages in 400 conversations, every order has a city)', async () => {
    const p = await runOn(await fileDeliveries(anchorPath('seed-conversations.json'), '2024-03-01T00:00:00Z'));
    const rows = await p.conversations();
    assert.equal(rows.length, 400);
    assert.equal(rows.reduce((sum, r) => sum + r.num_messages_courier + r.num_messages_customer, 0), 1401);
    assert.ok(rows.every((r) => r.city_code !== null));
  });

  test('the same anchor in five incremental batches equals one full refresh, and re-ingesting it changes nothing', async () => {
    const deliveries = await fileDeliveries(anchorPath('seed-conversations.json'), '2024-03-01T00:00:00Z');
    const incremental = new LocalPipeline();
    pipelines.push(incremental);
    const size = Math.ceil(deliveries.length / 5);
    for (let start = 0; start < deliveries.length; start += size) {
      await incremental.append(deliveries.slice(start, start + size));
      await incremental.transform();
    }
    const expected = expectedResult(deliveries).rows;
    assert.deepEqual(await incremental.conversations(), expected);
    // The whole file again, an hour later: every event is a duplicate.
    const again = await fileDeliveries(anchorPath('seed-conversations.json'), '2024-03-01T01:00:00Z');
    await incremental.append(again);
    await incremental.transform();
    assert.deepEqual(await incremental.conversations(), expected);
    const before = await incremental.rows('customer_courier_conversations');
    await incremental.transform({ fullRefresh: true });
    assert.deepEqual(await incremental.rows('customer_courier_conversations'), before);
  });
});

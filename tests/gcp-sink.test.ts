import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PubSub } from '@google-cloud/pubsub';
import { INSERT_ALL_MAX_BYTES, splitInsertAll } from '../orchestrator/gcp/sink.js';
import { emulatorSubscriber } from '../orchestrator/pubsub/clients.js';
import { Timestamp, type RawRow } from '../orchestrator/warehouse/warehouse.js';
import { cli, cliOk } from './support/cli.js';
import { emulatorFolder } from './support/folders.js';

// `sink --target gcp` (pull landing): messages from the real emulator, streamed into the recording
// BigQuery endpoint, which answers insertAll as BigQuery does (per-row insertErrors, skipInvalidRows,
// the 10 MB request limit).
process.env.METADATA_SERVER_DETECTION = 'none';
const emulator = emulatorFolder('gcp-sink');
const { dir: temp } = emulator;

const row = (id: number, data: string): RawRow => ({
  subscription_name: 'chat-events-to-raw', message_id: String(id), publish_time: new Timestamp(1_700_000_000_000_000n), data, attributes: '{}',
});

describe('insertAll requests within BigQuery\'s limits', () => {
  test('at most 500 rows per request, in order', () => {
    const { requests, tooLarge } = splitInsertAll(Array.from({ length: 1234 }, (_, i) => row(i, 'x')));
    assert.deepEqual(requests.map((r) => r.rows.length), [500, 500, 234]);
    assert.deepEqual(requests.flatMap((r) => r.indexes), Array.from({ length: 1234 }, (_, i) => i));
    assert.equal(tooLarge.size, 0);
  });

  test('under 10 MB per request; a row that alone exceeds it is refused, not sent', () => {
    const rows = [row(0, 'a'.repeat(4_000_000)), row(1, 'b'.repeat(4_000_000)), row(2, 'c'.repeat(4_000_000)), row(3, 'd'.repeat(11_000_000)), row(4, 'e')];
    const { requests, tooLarge } = splitInsertAll(rows);
    assert.deepEqual(requests.map((r) => r.indexes), [[0, 1], [2, 4]]);
    for (const request of requests) {
      assert.ok(Buffer.byteLength(JSON.stringify({ rows: request.rows })) < INSERT_ALL_MAX_BYTES);
    }
    assert.deepEqual([...tooLarge.keys()], [3]);
    assert.match(tooLarge.get(3)!, /^tooLarge: the row is 11000\d{3} bytes/);
  });
});

describe('sink --target gcp', () => {
  test('a refused row is nacked with BigQuery\'s own reason and dead-lettered; every other row lands once, in requests within the limits', async () => {
    const project = 'chat-pipeline-sink';
    await emulator.withGoogle(async (fake, env) => {
      fake.refuseRow = (json) => (String(json.data).startsWith('REFUSE-ME')
        ? { location: 'data', message: `Field data: no such value in row ${String(json.message_id)}` } : undefined);
      await cliOk(['provision', '--target', 'gcp', '--project', project, '--landing', 'pull', '--json'], temp, env);
      const pubsub = new PubSub({ projectId: project, apiEndpoint: emulator.host, emulatorMode: true });
      const topic = pubsub.topic('chat-events', { batching: { maxMessages: 100 } });
      const small = Array.from({ length: 1100 }, (_, i) => JSON.stringify({ orderId: i, messageSentTime: '2024-01-01T00:00:00Z', from: 'courier' }));
      const large = Array.from({ length: 8 }, (_, i) => `${i}`.padEnd(3_000_000, 'x'));
      const refused = ['REFUSE-ME 1', 'REFUSE-ME 2', 'REFUSE-ME 3'];
      const refusedIds = await Promise.all(refused.map((data) => topic.publishMessage({ data: Buffer.from(data) })));
      await Promise.all([...small, ...large].map((data) => topic.publishMessage({ data: Buffer.from(data) })));

      // Idle is a time, so a loaded machine may end a run early: run again until every refused message is dead-lettered.
      const summary = { rows: 0, rejected: 0 };
      let stderr = '';
      for (let run = 0; run < 5 && summary.rejected < 15; run++) {
        const result = await cli(['sink', '--target', 'gcp', '--project', project, '--until-idle', '--idle-seconds', '1', '--json'], temp, env);
        const landed = JSON.parse(result.stdout) as { rows: number; rejected: number };
        assert.equal(result.code, landed.rejected ? 1 : 0, 'refused rows make the exit code non-zero');
        summary.rows += landed.rows;
        summary.rejected += landed.rejected;
        stderr += result.stderr;
      }
      assert.equal(summary.rows, 1108);
      assert.equal(summary.rejected, 15, 'each refused message, on each of its 5 delivery attempts');
      for (const id of refusedIds) {
        assert.match(stderr, new RegExp(`BigQuery refused message ${id} \\(nacked; dead-lettered after its last delivery attempt\\): invalid at data: Field data: no such value in row ${id}\\n`));
      }

      const inserted = fake.inserted.get('chat_raw.raw_events') ?? [];
      assert.equal(inserted.length, 1108);
      assert.equal(new Set(inserted.map((r) => r.insertId)).size, 1108, 'each accepted row once');
      assert.deepEqual(new Set(inserted.map((r) => String(r.json.data))), new Set([...small, ...large]));
      assert.ok(fake.insertAllCalls.every((c) => c.rows <= 500 && c.bytes < 10 * 1024 * 1024 && c.skipInvalidRows), JSON.stringify(fake.insertAllCalls));
      assert.ok(fake.insertAllCalls.reduce((sum, c) => sum + c.bytes, 0) > 24_000_000, 'the 24 MB of large rows went in several requests');

      const deadLetters = emulatorSubscriber(emulator.host, project);
      const received: { data: string; attempts?: string }[] = [];
      while (received.length < 3) {
        const [response] = await deadLetters.pull({ subscription: `projects/${project}/subscriptions/chat-events-dead-letter-inspect`, maxMessages: 10 });
        for (const m of response.receivedMessages ?? []) {
          received.push({ data: Buffer.from(m.message!.data as Uint8Array).toString(), attempts: m.message!.attributes?.CloudPubSubDeadLetterSourceDeliveryCount });
        }
      }
      await deadLetters.close();
      await pubsub.close();
      assert.deepEqual(received.map((m) => m.data).sort(), refused);
      assert.ok(received.every((m) => m.attempts === '5'));
    });
  });
});

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { MAX_RECORD_BYTES } from '../orchestrator/events/message.js';
import { localSourceName } from '../orchestrator/events/reader.js';
import { cli, cliOk } from './support/cli.js';
import { message, order } from './support/fixtures.js';

// Records at and over Pub/Sub's 10 MB message limit, on the real emulator and the real DuckDB file.
const temp = mkdtempSync(path.join(os.tmpdir(), 'orchestrator-large-'));
const workdirs: string[] = [];
after(async () => {
  for (const dir of workdirs) await cli(['emulator', 'stop', '--workdir', dir], temp);
  rmSync(temp, { recursive: true, force: true });
});

// Order 7001: a 5 MB courier message, a customer answer just under the limit (multi-byte text), and
// one over it (which must not count). Order 7002 comes after the oversized record, so nothing after
// it may be lost.
const fiveMb = message(7001, 'courier', '2024-02-01T10:00:00Z', { chatStartedByMessage: true, note: 'x'.repeat(5_000_000) });
const justUnder = message(7001, 'customer', '2024-02-01T10:00:40Z', { note: 'é'.repeat(Math.floor((MAX_RECORD_BYTES - 400) / 2)) });
const overLimit = message(7001, 'customer', '2024-02-01T10:00:20Z', { note: 'y'.repeat(MAX_RECORD_BYTES) });
const records = [order(7001, 'BCN'), fiveMb, overLimit, justUnder, order(7002, 'MAD'), message(7002, 'courier', '2024-02-01T11:00:00Z')];
const file = path.join(temp, 'large.ndjson');
writeFileSync(file, records.map((r) => JSON.stringify(r)).join('\n') + '\n');

async function query(workdir: string, sql: string): Promise<Record<string, unknown>[]> {
  return JSON.parse((await cliOk(['query', sql, '--workdir', workdir, '--json'], temp)).stdout);
}

async function assertWarehouse(workdir: string, source: string): Promise<void> {
  assert.deepEqual(
    await query(workdir, `SELECT order_id, num_messages_courier, num_messages_customer, first_responsetime_delay_seconds AS delay
      FROM chat_models.customer_courier_conversations ORDER BY order_id`),
    [
      { order_id: 7001, num_messages_courier: 1, num_messages_customer: 1, delay: 40 },
      { order_id: 7002, num_messages_courier: 1, num_messages_customer: 0, delay: null },
    ],
    'the 5 MB and the just-under-the-limit messages count; the oversized one does not',
  );
  assert.deepEqual(
    await query(workdir, `SELECT reason, source_uri, position, length(raw_data) AS kept_chars,
        json_extract_string(attributes, '$.bytes') AS bytes
      FROM chat_models.rejected_events WHERE publish_time > TIMESTAMP '1970-01-01'`),
    [{ reason: 'too_large', source_uri: source, position: 3, kept_chars: 1024, bytes: String(Buffer.byteLength(JSON.stringify(overLimit))) }],
  );
}

describe('records up to and over Pub/Sub\'s message limit', () => {
  test('up: a 5 MB event lands and counts, an oversized one is rejected as too_large, and the run exits 0', async () => {
    const workdir = path.join(temp, 'up');
    workdirs.push(workdir);
    const summary = JSON.parse((await cliOk(['up', '--input', file, '--workdir', workdir, '--json'], temp)).stdout);
    assert.equal(summary.publish.records, records.length);
    assert.equal(summary.publish.published, records.length, 'the oversized record is published as its small stand-in');
    assert.equal(summary.publish.tooLarge, 1);
    assert.equal(summary.rejectsInTotal, 1);
    await assertWarehouse(workdir, 'gs://chat-pipeline-local-landing/large.ndjson');
  });

  test('load gives the same warehouse without Pub/Sub', async () => {
    const workdir = path.join(temp, 'load');
    const loaded = JSON.parse((await cliOk(['load', file, '--workdir', workdir, '--json'], temp)).stdout);
    assert.equal(loaded.tooLarge, 1);
    await cliOk(['transform', '--workdir', workdir], temp);
    await assertWarehouse(workdir, localSourceName(file));
  });
});

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { resolveWorkdir } from '../orchestrator/config.js';
import { emulatorClients, type PubSubClients } from '../orchestrator/pubsub/clients.js';
import { start, stop } from '../orchestrator/pubsub/emulator.js';
import { runSink } from '../orchestrator/pubsub/sink.js';
import type { RawRow } from '../orchestrator/warehouse/warehouse.js';

// The sink on the real emulator, which answers at most 100 messages per pull: with a write batch, one
// write gathers several pulls, and a write that fails acknowledges nothing.
const temp = mkdtempSync(path.join(os.tmpdir(), 'sink-batches-'));
const workdir = resolveWorkdir(path.join(temp, 'work'));
let clients: PubSubClients;

before(async () => {
  process.env.METADATA_SERVER_DETECTION = 'none';
  const { state } = await start(workdir);
  clients = emulatorClients(`${state.host}:${state.port}`, 'sink-batches');
});

after(async () => {
  await clients.close();
  await stop(workdir);
  rmSync(temp, { recursive: true, force: true });
});

async function published(name: string, count: number) {
  const [topic] = await clients.pubsub.createTopic(name);
  const [subscription] = await topic.createSubscription(`${name}-sub`, { ackDeadlineSeconds: 10 });
  await Promise.all(Array.from({ length: count }, (_, i) => topic.publishMessage({ data: Buffer.from(`{"n":${i}}`) })));
  return subscription;
}

/** What is left on a subscription: pulled and acknowledged, counted. */
async function leftOn(subscription: string): Promise<number> {
  let left = 0;
  for (;;) {
    const [response] = await clients.subscriber.pull({ subscription, maxMessages: 100, returnImmediately: true });
    const messages = response.receivedMessages ?? [];
    if (messages.length === 0) return left;
    left += messages.length;
    await clients.subscriber.acknowledge({ subscription, ackIds: messages.map((m) => m.ackId!) });
  }
}

test('a write gathers several 100-message pulls, up to its bound, and what it wrote is acknowledged', async () => {
  const subscription = await published('gathered', 2_500);
  const writes: number[] = [];
  const seen = new Set<string>();
  const summary = await runSink({
    subscriber: clients.subscriber,
    subscriptionPath: subscription.name,
    writeBatch: { messages: 1_000, bytes: 32 * 1024 * 1024, seconds: 9 },
    idleSeconds: 0,
    write: (rows: RawRow[]) => {
      writes.push(rows.length);
      for (const row of rows) seen.add(row.data);
      return Promise.resolve(undefined);
    },
  });
  assert.equal(summary.rows, 2_500);
  assert.equal(seen.size, 2_500, 'each message written once');
  assert.deepEqual(writes, [1_000, 1_000, 500], 'writes of several pulls, cut at the bound');
  assert.equal(await leftOn(subscription.name), 0, 'everything written was acknowledged');
});

test('a write that fails acknowledges nothing: its messages come back', async () => {
  const subscription = await published('failing', 300);
  const failed = runSink({
    subscriber: clients.subscriber,
    subscriptionPath: subscription.name,
    writeBatch: { messages: 1_000, bytes: 32 * 1024 * 1024, seconds: 9 },
    idleSeconds: 0,
    write: () => Promise.reject(new Error('disk full')),
  });
  await assert.rejects(failed, /disk full/);
  // The 300 leased messages were never acknowledged: once their 10-second deadline passes they are
  // delivered again, inside the 15 seconds of emptiness this sink waits for before it ends.
  const summary = await runSink({ subscriber: clients.subscriber, subscriptionPath: subscription.name, idleSeconds: 15, write: () => Promise.resolve(undefined) });
  assert.equal(summary.rows, 300, 'all of the failed write came back');
});

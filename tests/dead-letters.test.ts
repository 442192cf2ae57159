import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PACKAGE_ROOT, loadProjectConfig } from '../orchestrator/config.js';
import { localSourceName } from '../orchestrator/events/reader.js';
import { emulatorSubscriber } from '../orchestrator/pubsub/clients.js';
import { assertCleanError, cli, cliOk } from './support/cli.js';
import { anchorPath } from './support/pipeline.js';

// Dead letters on the real emulator: a message a consumer keeps failing reaches the dead-letter
// topic, `list` shows it without acknowledging it, and `replay` puts it back on the main topic once.
process.env.METADATA_SERVER_DETECTION = 'none';
const project = loadProjectConfig(PACKAGE_ROOT);
const temp = mkdtempSync(path.join(os.tmpdir(), 'orchestrator-dead-letters-'));
const workdir = path.join(temp, 'work');
let emulatorHost: string;
const run = (...args: string[]) => cliOk([...args, '--workdir', workdir], temp);

before(async () => {
  const started = JSON.parse((await run('emulator', 'start', '--json')).stdout);
  emulatorHost = `${started.host}:${started.port}`;
  await run('provision');
});
after(async () => {
  await cli(['emulator', 'stop', '--workdir', workdir], temp);
  rmSync(temp, { recursive: true, force: true });
});

interface Listed { messageId: string; deliveryAttempts: number; sourceSubscription: string; data: string; bytes: number; attributes: Record<string, string> }

describe('dead-letters', () => {
  test('a message that keeps failing is dead-lettered; list shows it and acknowledges nothing; replay puts it back once, and it lands', async () => {
    const lines = readFileSync(anchorPath('glovo-sample.ndjson'), 'utf8').trim().split('\n');
    const first = path.join(temp, 'first.ndjson');
    const rest = path.join(temp, 'rest.ndjson');
    writeFileSync(first, `${lines[0]}\n`);
    writeFileSync(rest, `${lines.slice(1).join('\n')}\n`);
    await run('ingest', '--input', first);

    // A consumer that cannot handle the message: it nacks every delivery, until Pub/Sub gives up on it.
    const rawSubscription = `projects/${project.database}/subscriptions/${project.resources.rawSubscription}`;
    const consumer = emulatorSubscriber(emulatorHost, project.database);
    for (let attempt = 1; attempt <= 5; attempt++) {
      const [response] = await consumer.pull({ subscription: rawSubscription, maxMessages: 10 }, { timeout: 30_000 });
      const received = response.receivedMessages ?? [];
      assert.deepEqual(received.map((m) => m.deliveryAttempt), [attempt]);
      await consumer.modifyAckDeadline({ subscription: rawSubscription, ackIds: [received[0].ackId!], ackDeadlineSeconds: 0 });
    }
    // The emulator moves it to the dead-letter topic when it would deliver it a sixth time.
    const [sixth] = await consumer.pull({ subscription: rawSubscription, maxMessages: 10, returnImmediately: true });
    assert.deepEqual(sixth.receivedMessages ?? [], [], 'no longer delivered');
    await consumer.close();
    await run('ingest', '--input', rest);

    const listed = JSON.parse((await run('dead-letters', 'list', '--json')).stdout) as Listed[];
    assert.equal(listed.length, 1);
    assert.equal(listed[0].data, lines[0].slice(0, 120));
    assert.equal(listed[0].bytes, Buffer.byteLength(lines[0]));
    assert.equal(listed[0].deliveryAttempts, 5);
    assert.equal(listed[0].sourceSubscription, project.resources.rawSubscription, 'Pub/Sub names the source by its id (and its project in another attribute)');
    assert.deepEqual(Object.keys(listed[0].attributes).sort(), ['event_id', 'line', 'position', 'source']);
    assert.equal(listed[0].attributes.source, localSourceName(first));
    const again = JSON.parse((await run('dead-letters', 'list', '--json')).stdout) as Listed[];
    assert.deepEqual(again, listed, 'listing acknowledged nothing');
    const viaGcpTarget = await cliOk(['dead-letters', 'list', '--target', 'gcp', '--project', project.database, '--json', '--workdir', workdir], temp, { PUBSUB_EMULATOR_HOST: emulatorHost });
    assert.deepEqual(JSON.parse(viaGcpTarget.stdout), listed, '--target gcp runs the same code through the Google Cloud clients');
    const text = (await run('dead-letters', 'list', '--data-bytes', '10')).stdout;
    assert.match(text, new RegExp(`^${listed[0].messageId}\\s+\\S+Z\\s+5\\s+${listed[0].bytes}\\s+`, 'm'));
    assert.match(text, /1 message waiting on chat-events-dead-letter \(shown, not acknowledged\)\n$/);

    const replayed = JSON.parse((await run('dead-letters', 'replay', '--json')).stdout);
    assert.equal(replayed.replayed.length, 1);
    assert.equal(replayed.replayed[0].deadLetterId, listed[0].messageId);
    assert.deepEqual(replayed.failed, []);
    assert.deepEqual(JSON.parse((await run('dead-letters', 'list', '--json')).stdout), [], 'acknowledged after its republish');
    assert.deepEqual(JSON.parse((await run('dead-letters', 'replay', '--json')).stdout), { replayed: [], failed: [] }, 'replayed once');

    await run('sink', '--until-idle', '--idle-seconds', '1');
    const raw = JSON.parse((await run('query', 'SELECT message_id, data, attributes FROM chat_raw.raw_events', '--json')).stdout) as { message_id: string; data: string; attributes: string }[];
    assert.deepEqual(raw.map((r) => r.data).sort(), [...lines].sort(), 'every record landed once, the replayed one with the others');
    const landed = raw.find((r) => r.message_id === replayed.replayed[0].messageId)!;
    assert.equal(landed.data, lines[0]);
    assert.deepEqual(JSON.parse(landed.attributes), listed[0].attributes, 'with the publisher\'s attributes');
  });

  test('a bad --limit is one clear line', async () => {
    assertCleanError(await cli(['dead-letters', 'list', '--limit', '0', '--workdir', workdir], temp), /--limit must be a whole number above 0/);
  });
});

import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { loadProjectConfig, PACKAGE_ROOT, resolveWorkdir } from '../orchestrator/config.js';
import { emulatorClients } from '../orchestrator/pubsub/clients.js';
import { readState } from '../orchestrator/pubsub/emulator.js';
import { openLocalWarehouse } from '../orchestrator/warehouse/local.js';
import { assertCleanError, cli, cliOk, spawnCli } from './support/cli.js';
import { message } from './support/fixtures.js';
import { testFolder } from './support/folders.js';
import { anchorPath, fileDeliveries } from './support/pipeline.js';
import { lockPid, waitFor } from './support/wait.js';
import { expectedResult, type SpecRow } from './support/reference.js';

// Everything here runs on the real Pub/Sub emulator, started and stopped by the commands under test.
const { dir: temp, newWorkdir } = testFolder('streaming');
const project = loadProjectConfig(PACKAGE_ROOT);

async function exported(workdir: string): Promise<SpecRow[]> {
  const { stdout } = await cliOk(['export', 'customer_courier_conversations', '--workdir', workdir], temp);
  return stdout.trimEnd().split('\n').filter(Boolean).map((line) => JSON.parse(line) as SpecRow);
}

async function expectedFor(...files: string[]) {
  const deliveries = [];
  for (const [i, file] of files.entries()) deliveries.push(...(await fileDeliveries(file, `2024-03-01T0${i}:00:00Z`)));
  return expectedResult(deliveries);
}

async function rawRowCount(workdir: string): Promise<number> {
  const warehouse = await openLocalWarehouse(project, resolveWorkdir(workdir), true);
  try {
    return await warehouse.countRows(project.raw);
  } finally {
    await warehouse.close();
  }
}

describe('the emulator, owned by the work directory', () => {
  test('start, status, stop', async () => {
    const workdir = newWorkdir();
    const started = JSON.parse((await cliOk(['emulator', 'start', '--workdir', workdir, '--json'], temp)).stdout);
    assert.equal(started.running, true);
    assert.equal(started.started, true);
    const again = JSON.parse((await cliOk(['emulator', 'start', '--workdir', workdir, '--json'], temp)).stdout);
    assert.deepEqual([again.started, again.pid, again.port], [false, started.pid, started.port], 'a second start reuses it');
    const response = await fetch(`http://${started.host}:${started.port}/`);
    assert.equal((await response.text()).trim(), 'Ok');
    assert.equal(JSON.parse((await cliOk(['emulator', 'status', '--workdir', workdir, '--json'], temp)).stdout).running, true);
    assert.equal(JSON.parse((await cliOk(['emulator', 'stop', '--workdir', workdir, '--json'], temp)).stdout).stopped, true);
    const status = await cli(['emulator', 'status', '--workdir', workdir, '--json'], temp);
    assert.equal(status.code, 3);
    assert.equal(JSON.parse(status.stdout).running, false);
    assert.throws(() => process.kill(started.pid, 0), 'the emulator process is gone');
  });

  test('commands that need it say so when it is not running', async () => {
    const workdir = newWorkdir();
    for (const args of [['provision'], ['ingest', '--input', anchorPath('glovo-sample.ndjson')], ['sink', '--until-idle']]) {
      assertCleanError(await cli([...args, '--workdir', workdir], temp), /Pub\/Sub emulator is not running for .*: run 'orchestrator emulator start'/);
    }
  });
});

describe('end to end through Pub/Sub: file -> topic -> raw table -> models', () => {
  test('up on the seed NDJSON equals SPEC, and the same file again changes nothing', async () => {
    const workdir = newWorkdir();
    const first = JSON.parse((await cliOk(['up', '--input', anchorPath('seed-conversations.json'), '--workdir', workdir, '--json'], temp)).stdout);
    assert.equal(first.publish.published, 1801);
    assert.equal(first.sink.rows, 1801);
    assert.equal(first.transform.ok, true);
    assert.deepEqual(first.assertions, { passed: first.assertions.passed, failed: 0 });
    assert.equal(first.emulatorStarted, true);
    const expected = (await expectedFor(anchorPath('seed-conversations.json'))).rows;
    assert.deepEqual(await exported(workdir), expected);

    await cliOk(['up', '--input', anchorPath('seed-conversations.json'), '--workdir', workdir], temp);
    assert.deepEqual(await exported(workdir), expected, 'ingesting the same file twice changes nothing');
    assert.equal(await rawRowCount(workdir), 2 * 1801, 'the raw table is append-only: both deliveries are there');
  });

  test('the Glovo JSON arrays, one file per run: the second run adds incrementally', async () => {
    const workdir = newWorkdir();
    const messages = anchorPath('glovo/customer_courier_chat_messages.json');
    const orders = anchorPath('glovo/orders.json');
    await cliOk(['up', '--input', messages, '--workdir', workdir], temp);
    const withoutCities = await exported(workdir);
    assert.ok(withoutCities.every((row) => row.city_code === null));
    const second = JSON.parse((await cliOk(['up', '--input', orders, '--workdir', workdir, '--json'], temp)).stdout);
    const ccc = second.transform.actions.find((a: { name: string }) => a.name.endsWith('.customer_courier_conversations'));
    assert.equal(ccc.mode, 'merged');
    // Every one of the 490 conversations gets its city, and no order event makes a conversation.
    assert.deepEqual([ccc.inserted, ccc.updated, ccc.rowsInTable], [0, 490, 490]);
    assert.deepEqual(await exported(workdir), (await expectedFor(messages, orders)).rows);
  });

  test('concatenated pretty-printed objects with commas, and bad lines kept as rejects', async () => {
    const workdir = newWorkdir();
    const events = readFileSync(anchorPath('order-event-last.json'), 'utf8').trim().split('\n').map((line) => JSON.parse(line));
    const file = path.join(temp, 'concatenated.json');
    writeFileSync(file, events.map((e) => JSON.stringify(e, null, 2)).join(',\n'));
    const ndjson = path.join(temp, 'with-bad-lines.ndjson');
    writeFileSync(ndjson, `${readFileSync(anchorPath('glovo-sample.ndjson'), 'utf8')}not json\n{"orderId": "x", "cityCode": "BCN"}\n{"orderId": 1,\n`);
    const summary = JSON.parse((await cliOk(['up', '--input', file, '--workdir', workdir, '--json'], temp)).stdout);
    assert.equal(summary.publish.published, events.length);
    const bad = JSON.parse((await cliOk(['up', '--input', ndjson, '--workdir', workdir, '--json'], temp)).stdout);
    assert.equal(bad.publish.published, 9);
    assert.equal(bad.publish.notJson, 2);
    assert.equal(bad.rejectsInTotal, 3);
    assert.deepEqual(await exported(workdir), (await expectedFor(file, ndjson)).rows);
    const rejects = JSON.parse((await cliOk(['query', 'SELECT reason, position, source_uri FROM chat_models.rejected_events ORDER BY position', '--workdir', workdir, '--json'], temp)).stdout);
    assert.deepEqual(rejects, [
      { reason: 'invalid_json', position: 7, source_uri: 'gs://chat-pipeline-local-landing/with-bad-lines.ndjson' },
      { reason: 'invalid_order_id', position: 8, source_uri: 'gs://chat-pipeline-local-landing/with-bad-lines.ndjson' },
      { reason: 'invalid_json', position: 9, source_uri: 'gs://chat-pipeline-local-landing/with-bad-lines.ndjson' },
    ]);
  });
});

describe('the sink', () => {
  const workdir = newWorkdir();
  const file = path.join(temp, 'generated.ndjson');
  before(async () => {
    await cliOk(['generate', '--conversations', '25000', '--seed', '7', '--output', file], temp);
    await cliOk(['emulator', 'start', '--workdir', workdir], temp);
    await cliOk(['provision', '--workdir', workdir], temp);
  });

  test('provision is idempotent and reports drift instead of changing it', async () => {
    const steps = JSON.parse((await cliOk(['provision', '--workdir', workdir, '--json'], temp)).stdout);
    assert.ok(steps.every((s: { status: string }) => s.status === 'exists'), JSON.stringify(steps));
  });

  test('killed with SIGKILL mid-stream and restarted, nothing is lost', async () => {
    const published = JSON.parse((await cliOk(['ingest', '--input', file, '--workdir', workdir, '--json'], temp)).stdout);
    // Killed once it has committed a batch: the warehouse file and its write-ahead log have grown.
    const stored = () => ['warehouse.duckdb', 'warehouse.duckdb.wal']
      .reduce((bytes, name) => bytes + (existsSync(path.join(workdir, name)) ? statSync(path.join(workdir, name)).size : 0), 0);
    const before = stored();
    const sink = spawnCli(['sink', '--workdir', workdir], temp);
    await waitFor('the sink to commit a batch', () => stored() > before + 64 * 1024);
    sink.kill('SIGKILL');
    await new Promise((resolve) => sink.on('close', resolve));
    const landedBeforeKill = await rawRowCount(workdir);
    assert.ok(landedBeforeKill > 0 && landedBeforeKill < published.published, `killed mid-stream (${landedBeforeKill} of ${published.published} landed)`);
    // Past the 10 s ack deadline, the batch the killed sink held is delivered again, and the next sink
    // is not idle before then, however short its idle time.
    await cliOk(['sink', '--until-idle', '--idle-seconds', '1', '--workdir', workdir], temp);
    assert.ok(await rawRowCount(workdir) >= published.published, `${await rawRowCount(workdir)} of ${published.published} landed`);
    await cliOk(['transform', '--workdir', workdir], temp);
    const expected = await expectedFor(file);
    assert.deepEqual(await exported(workdir), expected.rows);
  });

  test('an until-idle sink waits out the ack deadline of what another consumer pulled and never acknowledged', async () => {
    const workdir = newWorkdir();
    await cliOk(['emulator', 'start', '--workdir', workdir], temp);
    await cliOk(['provision', '--workdir', workdir], temp);
    const published = JSON.parse((await cliOk(['ingest', '--input', anchorPath('seed-conversations.json'), '--workdir', workdir, '--json'], temp)).stdout).published as number;
    // A consumer that dies holding a batch: pulled, never acknowledged. Its messages come back only
    // once the subscription's 10 s ack deadline has passed.
    const state = readState(resolveWorkdir(workdir))!;
    const clients = emulatorClients(`${state.host}:${state.port}`, project.database);
    try {
      const [pulled] = await clients.subscriber.pull({ subscription: clients.subscriber.subscriptionPath(project.database, project.resources.rawSubscription), maxMessages: 100 });
      assert.ok((pulled.receivedMessages ?? []).length > 0);
    } finally {
      await clients.close();
    }
    await cliOk(['sink', '--until-idle', '--idle-seconds', '1', '--workdir', workdir], temp);
    assert.equal(await rawRowCount(workdir), published, 'the leased messages landed too');
    await cliOk(['emulator', 'stop', '--workdir', workdir], temp);
  });

  test('SIGINT drains and exits cleanly', async () => {
    const sink = spawnCli(['sink', '--workdir', workdir], temp);
    let stderr = '';
    sink.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    // It handles SIGINT from before it takes the work directory.
    await waitFor('the sink to take the work directory', () => lockPid(workdir) === sink.pid);
    sink.kill('SIGINT');
    const code = await new Promise((resolve) => sink.on('close', resolve));
    assert.equal(code, 0, stderr);
    assert.match(stderr, /draining/);
  });
});

describe('generate and ingest options', () => {
  test('generate is deterministic for a seed and shaped like the challenge', async () => {
    const a = path.join(temp, 'a.ndjson');
    const b = path.join(temp, 'b.ndjson');
    const c = path.join(temp, 'c.ndjson');
    const summary = JSON.parse((await cliOk(['generate', '--conversations', '300', '--seed', '5', '--output', a, '--json'], temp)).stdout);
    await cliOk(['generate', '--conversations', '300', '--seed', '5', '--output', b], temp);
    await cliOk(['generate', '--conversations', '300', '--seed', '6', '--output', c], temp);
    assert.equal(readFileSync(a, 'utf8'), readFileSync(b, 'utf8'));
    assert.notEqual(readFileSync(a, 'utf8'), readFileSync(c, 'utf8'));
    const events = readFileSync(a, 'utf8').trim().split('\n').map((line) => JSON.parse(line));
    assert.equal(events.length, summary.events);
    const orders = events.filter((e) => 'cityCode' in e);
    const messages = events.filter((e) => 'messageSentTime' in e);
    assert.equal(orders.length, 300);
    const perOrder = new Map<number, number>();
    for (const m of messages) perOrder.set(m.orderId, (perOrder.get(m.orderId) ?? 0) + 1);
    assert.equal(perOrder.size, 300);
    assert.ok([...perOrder.values()].every((n) => n >= 2 && n <= 5));
    const firstOrderIndex = events.findIndex((e) => 'cityCode' in e);
    assert.equal(events[firstOrderIndex - 1].orderId, events[firstOrderIndex].orderId, 'the order event follows the first message');
    const times = messages.map((m) => Date.parse(m.messageSentTime));
    assert.ok(times.every((t, i) => i === 0 || t >= times[i - 1]), 'events are written in time order');

    // Order ids: two seeds never share one, and --first-conversation continues a seed's earlier file.
    const d = path.join(temp, 'd.ndjson');
    const more = JSON.parse((await cliOk(['generate', '--conversations', '300', '--seed', '5', '--first-conversation', '300', '--output', d, '--json'], temp)).stdout);
    const orderIds = (file: string) => new Set(readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line).orderId as number));
    const [ofA, ofC, ofD] = [orderIds(a), orderIds(c), orderIds(d)];
    assert.deepEqual([...ofA].filter((id) => ofC.has(id)), [], 'seeds 5 and 6 share no order id');
    assert.equal(Math.min(...ofD), more.orderIds.first);
    assert.ok(Math.min(...ofD) > Math.max(...ofA) && Math.max(...ofD) === more.orderIds.last, 'the second file continues the first');
    assert.deepEqual([summary.orderIds.first, summary.orderIds.last], [Math.min(...ofA), Math.max(...ofA)]);
    const big = await cli(['generate', '--conversations', '1', '--seed', '1000000', '--output', d], temp);
    assertCleanError(big, /--seed must be a whole number from 0 to 999999, got 1000000/);
    assert.equal(big.code, 2, 'a bad flag value');
  });

  test('generated dirt: duplicates, late events and bad lines', async () => {
    const file = path.join(temp, 'dirty.ndjson');
    const summary = JSON.parse((await cliOk(['generate', '--conversations', '500', '--seed', '9', '--duplicates', '0.05', '--late', '0.05', '--bad-lines', '0.05', '--output', file, '--json'], temp)).stdout);
    assert.ok(summary.duplicates > 0 && summary.late > 0 && summary.badLines > 0);
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    assert.equal(lines.length, summary.events);
    const workdir = newWorkdir();
    const up = JSON.parse((await cliOk(['up', '--input', file, '--workdir', workdir, '--json'], temp)).stdout);
    const expected = await expectedFor(file);
    assert.ok(up.rejectsInTotal >= 1 && up.rejectsInTotal <= summary.badLines);
    assert.equal(up.rejectsInTotal, expected.rejected);
    assert.equal(up.rowsInTotal.customer_courier_conversations, 500);
    assert.deepEqual(await exported(workdir), expected.rows);
  });

  test('--replay-speed paces events by messageSentTime', async () => {
    const workdir = newWorkdir();
    await cliOk(['emulator', 'start', '--workdir', workdir], temp);
    await cliOk(['provision', '--workdir', workdir], temp);
    // Three messages 10 s apart in event time, replayed 10x faster: about 2 s.
    const file = path.join(temp, 'paced.ndjson');
    writeFileSync(file, ['10:00:00', '10:00:10', '10:00:20'].map((t, i) => JSON.stringify(message(900 + i, 'courier', `2024-02-01T${t}Z`))).join('\n'));
    const summary = JSON.parse((await cliOk(['ingest', '--input', file, '--replay-speed', '10', '--workdir', workdir, '--json'], temp)).stdout);
    assert.equal(summary.published, 3);
    assert.ok(summary.seconds >= 1.9 && summary.seconds < 10, `paced: published over ${summary.seconds}s`);
    await cliOk(['emulator', 'stop', '--workdir', workdir], temp);
  });

  test('ingest: a missing file and a bad gs:// URI are clear errors; upload then ingest from the bucket works', async () => {
    const workdir = newWorkdir();
    await cliOk(['emulator', 'start', '--workdir', workdir], temp);
    await cliOk(['provision', '--workdir', workdir], temp);
    assertCleanError(await cli(['ingest', '--input', path.join(temp, 'nope.json'), '--workdir', workdir], temp), /input file not found/);
    assertCleanError(await cli(['upload', temp, '--workdir', workdir], temp), /is a folder, not a file/);
    // up checks its input before it starts an emulator.
    const up = await cli(['up', '--input', temp, '--workdir', newWorkdir()], temp);
    assertCleanError(up, /is a folder, not a file/);
    assert.doesNotMatch(up.stderr, /emulator/);
    assertCleanError(await cli(['ingest', '--input', 'gs://chat-pipeline-local-landing/missing.json', '--workdir', workdir], temp), /object not found: gs:\/\/chat-pipeline-local-landing\/missing\.json/);
    assertCleanError(await cli(['ingest', '--input', 'gs://Bad_Bucket/x.json', '--workdir', workdir], temp), /invalid bucket name/);
    const uploaded = JSON.parse((await cliOk(['upload', anchorPath('glovo-sample.ndjson'), '--workdir', workdir, '--json'], temp)).stdout);
    assert.equal(uploaded.uri, 'gs://chat-pipeline-local-landing/glovo-sample.ndjson');
    const summary = JSON.parse((await cliOk(['ingest', '--input', uploaded.uri, '--workdir', workdir, '--json'], temp)).stdout);
    assert.equal(summary.published, 6);
    assert.equal(summary.source, uploaded.uri);
    await cliOk(['emulator', 'stop', '--workdir', workdir], temp);
  });
});

describe("the emulator's memory: it keeps every message until its subscription is recycled", () => {
  // With -Xmx128m the emulator holds ~85k chat events before it runs out of heap and stalls.
  const env = { JAVA_OPTS: '-Xmx128m' };
  const large = path.join(temp, 'large.ndjson');
  const medium = path.join(temp, 'medium.ndjson');
  before(async () => {
    await cliOk(['generate', '--conversations', '25000', '--seed', '3', '--output', large], temp);
    await cliOk(['generate', '--conversations', '9000', '--seed', '4', '--output', medium], temp);
  });

  test('up lands a file larger than the emulator can hold, exactly, recycling the subscription as it goes', async () => {
    const workdir = newWorkdir();
    const result = await cliOk(['up', '--input', large, '--workdir', workdir, '--json'], temp, env);
    const summary = JSON.parse(result.stdout);
    assert.equal(summary.publish.published, summary.publish.records);
    assert.ok(summary.publish.published > 110_000, `${summary.publish.published} events`);
    assert.ok(summary.sink.recycles >= 2, `recycled ${summary.sink.recycles} times`);
    assert.equal(summary.sink.rows, summary.publish.published, 'every message landed once: the publisher waits while the subscription is recycled');
    assert.doesNotMatch(result.stderr, /MaxListenersExceededWarning/);
    assert.deepEqual(await exported(workdir), (await expectedFor(large)).rows);
  });

  test('ingest refuses up front what the emulator cannot hold; the sink frees what it landed', async () => {
    const workdir = newWorkdir();
    await cliOk(['emulator', 'start', '--workdir', workdir], temp, env);
    await cliOk(['provision', '--workdir', workdir], temp);
    const sink = async () => JSON.parse((await cliOk(['sink', '--until-idle', '--idle-seconds', '1', '--workdir', workdir, '--json'], temp)).stdout);
    const landed = async () => (await sink()).rows;

    const refused = await cli(['ingest', '--input', large, '--workdir', workdir], temp);
    assertCleanError(refused, new RegExp(`^orchestrator: the Pub/Sub emulator cannot hold ${large}: ~\\d+ events need ~\\d+ MB of its heap, more than the 96 MB it has for messages .* use 'orchestrator up --input ${large}' .* or 'orchestrator load ${large}'`));
    assert.equal(refused.stderr.trim().split('\n').length, 1);
    assert.equal(await landed(), 0, 'refused before publishing anything');

    const first = JSON.parse((await cliOk(['ingest', '--input', medium, '--workdir', workdir, '--json'], temp)).stdout) as { published: number };
    // Alone it fits; on top of the first copy, which no sink has landed yet, it does not.
    assertCleanError(await cli(['ingest', '--input', medium, '--workdir', workdir], temp), new RegExp(`on top of ~\\d+ MB for ${first.published} messages it still holds`));
    assert.deepEqual(await sink().then((s) => [s.rows, s.recycles]), [first.published, 1]);
    // The recreated subscription kept its settings (dead-letter policy, never expiring): provision finds it as it made it.
    const steps = JSON.parse((await cliOk(['provision', '--workdir', workdir, '--json'], temp)).stdout);
    assert.ok(steps.every((s: { status: string }) => s.status === 'exists'), JSON.stringify(steps));
    // The sink caught up and recycled the subscription: the emulator has room again.
    const second = JSON.parse((await cliOk(['ingest', '--input', medium, '--workdir', workdir, '--json'], temp)).stdout) as { published: number };
    assert.equal(await landed(), second.published);
    await cliOk(['transform', '--workdir', workdir], temp);
    assert.deepEqual(await exported(workdir), (await expectedFor(medium)).rows);
    assert.equal(await rawRowCount(workdir), first.published + second.published);
    await cliOk(['emulator', 'stop', '--workdir', workdir], temp);
  });
});

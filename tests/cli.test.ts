import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { assertCleanError, cli as runCli } from './support/cli.js';
import { SPEC_COLUMNS, anchorPath } from './support/pipeline.js';

const temp = mkdtempSync(path.join(os.tmpdir(), 'orchestrator-cli-'));
after(() => rmSync(temp, { recursive: true, force: true }));
const cli = (args: string[]) => runCli(args, temp);

describe('orchestrator CLI, as a newcomer uses it', () => {
  const workdir = path.join(temp, 'state');

  test('load, transform, export, query', async () => {
    const load = await cli(['load', anchorPath('seed-conversations.json'), '--workdir', workdir, '--json']);
    assert.equal(load.code, 0, load.stderr);
    assert.equal(JSON.parse(load.stdout).records, 1801);

    const transform = await cli(['transform', '--workdir', workdir, '--json']);
    assert.equal(transform.code, 0, transform.stderr);
    const summary = JSON.parse(transform.stdout);
    assert.equal(summary.ok, true);
    assert.equal(typeof summary.seconds, 'number');
    const ccc = summary.actions.find((a: { name: string }) => a.name.endsWith('.customer_courier_conversations'));
    assert.deepEqual([ccc.kind, ccc.status, ccc.mode, ccc.inserted, ccc.updated, ccc.rowsInTable], ['incremental', 'ok', 'created', 400, 0, 400]);
    assert.match(transform.stderr, /ok\s+chat_models\.customer_courier_conversations/, 'progress on stderr');

    const exported = await cli(['export', 'customer_courier_conversations', '--workdir', workdir]);
    assert.equal(exported.code, 0, exported.stderr);
    const lines = exported.stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, 400);
    assert.ok(lines.every((row) => JSON.stringify(Object.keys(row)) === JSON.stringify(SPEC_COLUMNS)));
    assert.deepEqual(lines.map((r) => r.order_id), [...lines.map((r) => r.order_id)].sort((a, b) => a - b));
    assert.match(lines[0].conversation_started_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    const csvFile = path.join(temp, 'ccc.csv');
    const csv = await cli(['export', 'customer_courier_conversations', '--format', 'csv', '--output', csvFile, '--workdir', workdir]);
    assert.equal(csv.code, 0, csv.stderr);
    const csvLines = readFileSync(csvFile, 'utf8').trimEnd().split('\n');
    assert.equal(csvLines[0], SPEC_COLUMNS.join(','));
    assert.equal(csvLines.length, 401);

    const query = await cli(['query', 'SELECT COUNT(*) AS n FROM chat_models.conversations', '--workdir', workdir, '--json']);
    assert.equal(query.code, 0, query.stderr);
    assert.deepEqual(JSON.parse(query.stdout), [{ n: 1401 }]);

    const status = JSON.parse((await cli(['status', '--workdir', workdir, '--json'])).stdout);
    assert.equal(status.emulator, 'not running');
    assert.deepEqual([status.warehouse.rawRows, status.warehouse.customer_courier_conversations], [1801, 400]);
    assert.match(status.warehouse.latestPublishTime, /^\d{4}-\d\d-\d\dT/);
    assert.deepEqual([status.lastModelRun.ok, status.lastModelRun.actions, status.lastModelRun.failed], [true, 19, []]);

    const table = await cli(['query', 'SELECT city_code, conversations FROM chat_models.response_times_by_city ORDER BY city_code LIMIT 2', '--workdir', workdir]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^city_code\s+conversations\n-+\s+-+\n/);

    // The same file again: every event and order is already there, so the models update, never add.
    const reload = await cli(['load', anchorPath('seed-conversations.json'), '--workdir', workdir]);
    assert.equal(reload.code, 0, reload.stderr);
    assert.match(reload.stdout, /^this run: loaded 1,801 records .* in \d[\d.,]* m?s\nin total: 3,602 rows in chat_raw\.raw_events\n$/);
    const again = await cli(['transform', '--workdir', workdir]);
    assert.equal(again.code, 0, again.stderr);
    const row = (name: string) => again.stdout.split('\n').find((line) => line.startsWith(`chat_models.${name} `))?.split(/\s{2,}/);
    // action, type, status, this run, rows in total, seconds
    assert.deepEqual(row('customer_courier_conversations')?.slice(0, 5), ['chat_models.customer_courier_conversations', 'incremental', 'ok', '0 inserted, 400 updated', '400']);
    assert.deepEqual(row('stg_events')?.slice(3, 5), ['0 inserted, 1,801 updated', '1,801']);
    assert.match(again.stdout, /^this run: 19 actions \(19 ok, 0 failed, 0 skipped\), [\d,]+ rows inserted and [\d,]+ updated across the tables, in \d[\d.,]* m?s \(compile \d[\d.,]* m?s\)$/m);
    assert.match(again.stderr, /^ok {6}chat_models\.customer_courier_conversations \(incremental, \d[\d.,]* m?s\): 0 inserted, 400 updated$/m);
    assert.doesNotMatch(again.stdout + again.stderr, /\d\.\d{4}/, 'no unrounded numbers');
  });

  test('selection: --actions with --include-deps runs just that part of the graph; assert runs assertions only', async () => {
    const partial = await cli(['transform', '--actions', 'orders', '--include-deps', '--workdir', workdir, '--json']);
    assert.equal(partial.code, 0, partial.stderr);
    const names = JSON.parse(partial.stdout).actions.map((a: { name: string }) => a.name.split('.').pop());
    assert.deepEqual(names, ['stg_raw_events', 'raw_partitions_processed', 'stg_raw_partitions', 'stg_pending_deliveries',
      'chat_models_stg_pending_deliveries_assertions_rowConditions', 'stg_events', 'orders']);

    const asserted = await cli(['assert', '--workdir', workdir, '--json']);
    assert.equal(asserted.code, 0, asserted.stderr);
    const kinds = new Set(JSON.parse(asserted.stdout).actions.map((a: { kind: string }) => a.kind));
    assert.deepEqual([...kinds], ['assertion']);
    const assertionNames = JSON.parse(asserted.stdout).actions.map((a: { name: string }) => a.name.split('.').pop());
    assert.ok(assertionNames.includes('audit_customer_courier_conversations_row_conditions'), 'assert runs the full-table audits too');

    const audit = await cli(['transform', '--tags', 'audit', '--workdir', workdir, '--json']);
    assert.equal(audit.code, 0, audit.stderr);
    const audited = JSON.parse(audit.stdout).actions.map((a: { name: string }) => a.name.split('.').pop());
    assert.ok(audited.length >= 12 && audited.every((name: string) => name.startsWith('audit_') || name.startsWith('assert_')), audited.join(' '));
  });

  test('query is read-only', async () => {
    const result = await cli(['query', 'DELETE FROM chat_models.orders', '--workdir', workdir]);
    assertCleanError(result, /query failed: .*read-only/i);
  });

  test('user errors: one clear line, non-zero exit, no stack trace', async () => {
    assertCleanError(await cli(['load', path.join(temp, 'missing.json'), '--workdir', workdir]), /^orchestrator: input file not found: .*missing\.json\n$/);
    assertCleanError(await cli(['export', 'customer_courier_conversations', '--workdir', path.join(temp, 'empty')]), /no warehouse at|no table/);
    assertCleanError(await cli(['export', 'orders;drop', '--workdir', workdir]), /invalid table name/);
    assertCleanError(await cli(['frobnicate']), /Unknown argument|Unknown command/i);
    const badProject = path.join(temp, 'bad-project');
    rmSync(badProject, { recursive: true, force: true });
    await import('node:fs/promises').then((fs) => fs.mkdir(badProject));
    writeFileSync(path.join(badProject, 'dataform.json'), '{ "defaultDatabase": ');
    assertCleanError(await cli(['transform', '--project-dir', badProject, '--workdir', workdir]), /dataform\.json is not valid JSON/);
    writeFileSync(path.join(badProject, 'dataform.json'), JSON.stringify({ defaultDatabase: 'Bad Project!', defaultSchema: 'x', assertionSchema: 'y', vars: { rawDataset: 'r', rawTable: 't' } }));
    assertCleanError(await cli(['transform', '--project-dir', badProject, '--workdir', workdir]), /invalid project name "Bad Project!"/);
  });

  test('every command has --help', async () => {
    for (const command of ['up', 'generate', 'emulator', 'provision', 'upload', 'ingest', 'sink', 'load', 'transform', 'assert', 'export', 'query', 'status', 'check', 'report']) {
      const help = await cli([command, '--help']);
      assert.equal(help.code, 0);
      assert.match(help.stdout, command === 'generate' ? /--output/ : /--workdir/);
    }
  });
});

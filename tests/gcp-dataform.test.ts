import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PACKAGE_ROOT } from '../orchestrator/config.js';
import { compileProject, dataformCliPath } from '../orchestrator/dataform/compile.js';
import { runDataform } from '../orchestrator/gcp/dataform.js';
import { assertCleanError, cli, cliOk } from './support/cli.js';
import { FakeGoogleApis } from './support/fakeGoogle.js';

// `transform` and `assert --target gcp` run the real Dataform CLI (3.0.69). Its credentials file holds
// a project, a location and optionally a key, with no endpoint; the BigQuery client library it uses
// reads BIGQUERY_EMULATOR_HOST, which points it at the local endpoint here. So what is asserted is
// what Dataform itself selected and sent: the query jobs the endpoint received.
process.env.METADATA_SERVER_DETECTION = 'none';
const PROJECT = 'chat-pipeline-prod';
const temp = mkdtempSync(path.join(os.tmpdir(), 'orchestrator-gcp-dataform-'));
const workdir = path.join(temp, 'work');
const config = path.join(temp, 'gcp.json');
const fake = new FakeGoogleApis();
let env: Record<string, string>;

before(async () => {
  const endpoint = await fake.start();
  env = { BIGQUERY_EMULATOR_HOST: `${endpoint}/bigquery/v2`, ORCHESTRATOR_BIGQUERY_ENDPOINT: endpoint, GOOGLE_APPLICATION_CREDENTIALS: '' };
  writeFileSync(config, JSON.stringify({ projectId: PROJECT, location: 'europe-west1' }));
});
after(() => {
  fake.stop();
  rmSync(temp, { recursive: true, force: true });
});

/** The datasets as `provision` leaves them. */
function provisioned(location: string) {
  for (const id of ['chat_raw', 'chat_models', 'chat_assertions']) {
    fake.datasets.set(id, { id: `${PROJECT}:${id}`, location, datasetReference: { projectId: PROJECT, datasetId: id } });
  }
}

/** The assertions Dataform checked: its `select sum(1) as row_count from X` jobs since `from`. */
const checkedAssertions = (from: number) => fake.jobs.slice(from)
  .map((j) => /^select sum\(1\) as row_count from `([^`]+)`$/.exec(j.query.trim())?.[1]).filter((t): t is string => Boolean(t));

/** Every assertion of the project, named as a run on PROJECT names them. */
async function projectAssertions(): Promise<string[]> {
  const graph = await compileProject(PACKAGE_ROOT, { engine: 'bigquery' }, { defaultDatabase: PROJECT });
  return (graph.assertions ?? []).filter((a) => !a.disabled).map((a) => `${a.target.database}.${a.target.schema}.${a.target.name}`).sort();
}

describe('assert and transform --target gcp run what Dataform selects', () => {
  test('the names the old command line gave (dataset.name) make Dataform run nothing, exit 0; the wrapper calls that an error', async () => {
    const credentials = path.join(temp, 'bare.df-credentials.json');
    writeFileSync(credentials, JSON.stringify({ projectId: PROJECT, location: 'europe-west1' }));
    const command = [process.execPath, dataformCliPath(), 'run', PACKAGE_ROOT, `--credentials=${credentials}`, `--default-database=${PROJECT}`,
      '--vars=engine=bigquery', '--actions', 'chat_assertions.assert_message_counts_reconcile'];
    const jobsBefore = fake.jobs.length;
    const direct = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = spawn(command[0], command.slice(1), { env: { ...process.env, ...env } });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
      child.on('close', (code) => resolve({ code, stdout }));
    });
    assert.equal(direct.code, 0, 'Dataform reports success');
    assert.match(direct.stdout, /No actions to run\./);
    assert.equal(fake.jobs.length, jobsBefore, 'and sent no query');
    const guarded = await runDataform(command);
    assert.deepEqual(guarded, { code: 0, ranNothing: true });
  });

  test('assert --target gcp: every assertion of the project is checked on the configured project and location', async () => {
    provisioned('europe-west1');
    const jobsBefore = fake.jobs.length;
    const result = await cliOk(['assert', '--target', 'gcp', '--config', config, '--json', '--workdir', workdir], temp, env);
    const summary = JSON.parse(result.stdout);
    const expected = await projectAssertions();
    assert.ok(expected.length >= 14, expected.join(' '));
    assert.deepEqual([...summary.actions].sort(), expected);
    assert.deepEqual(checkedAssertions(jobsBefore).sort(), expected, 'Dataform checked each assertion, on the Google Cloud project (not dataform.json\'s)');
    assert.ok(fake.jobs.slice(jobsBefore).every((j) => j.location === 'europe-west1' && !j.dryRun));
    assert.equal(summary.ok, true);
  });

  test('an assertion that finds rows fails the command', async () => {
    provisioned('europe-west1');
    const failing = `${PROJECT}.chat_assertions.assert_message_counts_reconcile`;
    fake.assertionRows.set(failing, 3);
    try {
      const result = await cli(['assert', '--target', 'gcp', '--config', config, '--actions', 'assert_message_counts_reconcile', '--workdir', workdir], temp, env);
      assertCleanError(result, /dataform run failed \(exit 1\)/);
      assert.match(result.stderr, /Assertion failed: query returned 3 row\(s\)/);
    } finally {
      fake.assertionRows.delete(failing);
    }
  });

  test('transform --target gcp --actions chat_models.orders --dry-run: Dataform dry-runs orders and nothing else', async () => {
    provisioned('europe-west1');
    const jobsBefore = fake.jobs.length;
    const result = await cliOk(['transform', '--target', 'gcp', '--config', config, '--actions', 'chat_models.orders', '--dry-run', '--json', '--workdir', workdir], temp, env);
    assert.deepEqual(JSON.parse(result.stdout).actions, [`${PROJECT}.chat_models.orders`]);
    const jobs = fake.jobs.slice(jobsBefore);
    assert.ok(jobs.length > 0 && jobs.every((j) => j.dryRun), 'dry-run jobs only');
    const written = new Set(jobs.flatMap((j) => [...j.query.matchAll(/(?:create or replace table|merge|insert into)\s+`([^`]+)`/gi)].map((m) => m[1])));
    assert.deepEqual([...written], [`${PROJECT}.chat_models.orders`]);
  });

  test('--print-command writes the credentials file it names, and the printed command runs as printed', async () => {
    provisioned('europe-west1');
    const printDir = path.join(temp, 'printed');
    const { stdout } = await cliOk(['assert', '--target', 'gcp', '--config', config, '--actions', 'assert_no_raw_rows_beyond_horizon', '--print-command', '--workdir', printDir], temp, env);
    const credentials = path.join(printDir, '.df-credentials.json');
    assert.ok(existsSync(credentials), 'written by --print-command');
    assert.equal(statSync(credentials).mode & 0o777, 0o600);
    // Run the printed line by hand, from another folder, through a shell.
    const jobsBefore = fake.jobs.length;
    const byHand = await new Promise<number | null>((resolve) => {
      spawn('sh', ['-c', stdout.trim()], { cwd: os.tmpdir(), env: { ...process.env, ...env }, stdio: 'ignore' }).on('close', resolve);
    });
    assert.equal(byHand, 0);
    assert.deepEqual(checkedAssertions(jobsBefore), [`${PROJECT}.chat_assertions.assert_no_raw_rows_beyond_horizon`]);
  });

  test('a location other than the datasets\' is refused before a run, and names where it came from', async () => {
    provisioned('EU');
    const jobsBefore = fake.jobs.length;
    const fromConfig = await cli(['assert', '--target', 'gcp', '--config', config, '--workdir', workdir], temp, env);
    assertCleanError(fromConfig, /location europe-west1 \(from "location" in .*gcp\.json\) does not match: dataset chat_raw is in EU, dataset chat_models is in EU, dataset chat_assertions is in EU/);
    const fromDefault = await cli(['transform', '--target', 'gcp', '--project', PROJECT, '--dry-run', '--workdir', workdir], temp, { ...env, GOOGLE_CLOUD_PROJECT: PROJECT });
    assert.equal(fromDefault.code, 0, `dataform.json's EU matches: ${fromDefault.stderr}`);
    const flag = await cli(['transform', '--target', 'gcp', '--project', PROJECT, '--location', 'US', '--workdir', workdir], temp, env);
    assertCleanError(flag, /location US \(from --location\) does not match/);
    fake.datasets.clear();
    const none = await cli(['transform', '--target', 'gcp', '--config', config, '--workdir', workdir], temp, env);
    assertCleanError(none, /dataset chat_raw does not exist in chat-pipeline-prod: run 'orchestrator provision --target gcp' first/);
    assert.ok(fake.jobs.slice(jobsBefore).every((j) => j.dryRun), 'only the run whose location matched sent anything, and it was a dry run');
  });
});

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { PubSub } from '@google-cloud/pubsub';
import { assertCleanError, cli, cliOk } from './support/cli.js';
import { FakeGoogleApis } from './support/fakeGoogle.js';
import { emulatorFolder } from './support/folders.js';
import { anchorPath } from './support/pipeline.js';

// Provisioning on Google Cloud with the real client libraries: Cloud Storage and BigQuery against a
// local endpoint that records their requests, Pub/Sub against the emulator.
process.env.METADATA_SERVER_DETECTION = 'none';
const PROJECT = 'chat-pipeline-test';
const AGENT = 'serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com';
const emulator = emulatorFolder('gcp');
const { dir: temp, workdir } = emulator;

interface Step { resource: string; name: string; status: string; settings?: Record<string, unknown>; detail?: string }

async function provision(endpoint: string, project: string, ...extra: string[]) {
  const result = await cli(['provision', '--target', 'gcp', '--project', project, '--location', 'EU', '--json', ...extra], temp, emulator.googleEnv(endpoint));
  return { code: result.code, stderr: result.stderr, steps: result.stdout ? (JSON.parse(result.stdout) as Step[]) : [] };
}

describe('provision --target gcp', () => {
  const fake = new FakeGoogleApis();
  let endpoint: string;
  before(async () => { endpoint = await fake.start(); });
  after(() => fake.stop());

  test('--plan lists every resource and writes nothing', async () => {
    const { code, steps } = await provision(endpoint, PROJECT, '--plan', '--partition-expiration-days', '30');
    assert.equal(code, 0);
    assert.deepEqual(fake.writes(), [], 'no write request');
    const byName = Object.fromEntries(steps.map((s) => [`${s.resource} ${s.name}`, s]));
    assert.deepEqual(Object.keys(byName).sort(), [
      'BigQuery dataset chat_assertions', 'BigQuery dataset chat_models', 'BigQuery dataset chat_raw', 'BigQuery table chat_raw.raw_events',
      'IAM on BigQuery table chat_raw.raw_events', 'IAM on Pub/Sub subscription chat-events-to-raw', 'IAM on Pub/Sub topic chat-events-dead-letter',
      'Pub/Sub service agent service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com',
      'Pub/Sub subscription chat-events-dead-letter-inspect', 'Pub/Sub subscription chat-events-to-raw', 'Pub/Sub topic chat-events',
      'Pub/Sub topic chat-events-dead-letter', 'bucket chat-pipeline-local-landing',
    ]);
    assert.ok(steps.filter((s) => !s.resource.startsWith('IAM on Pub/Sub')).every((s) => s.status === 'create' || s.status === 'grant'));
    assert.deepEqual(byName['Pub/Sub subscription chat-events-to-raw'].settings?.bigqueryConfig, {
      table: `${PROJECT}.chat_raw.raw_events`, writeMetadata: true, useTopicSchema: false, useTableSchema: false, dropUnknownFields: false,
    });
    for (const name of ['chat-events-to-raw', 'chat-events-dead-letter-inspect']) {
      assert.deepEqual(byName[`Pub/Sub subscription ${name}`].settings?.expirationPolicy, {}, `${name} never expires`);
    }
    const pubsub = new PubSub({ projectId: PROJECT, apiEndpoint: emulator.host, emulatorMode: true });
    assert.deepEqual((await pubsub.getTopics())[0], [], 'no topic created by --plan');
    await pubsub.close();
  });

  test('creates everything with the exact requests, then finds it all in place', async () => {
    const { code, steps, stderr } = await provision(endpoint, PROJECT, '--partition-expiration-days', '30');
    assert.equal(code, 0, stderr);
    const writes = fake.writes().map((r) => ({ method: r.method, path: r.path, body: r.body }));
    assert.deepEqual(writes[0], {
      method: 'POST', path: '/storage/v1/b',
      body: { name: 'chat-pipeline-local-landing', location: 'EU', iamConfiguration: { uniformBucketLevelAccess: { enabled: true }, publicAccessPrevention: 'enforced' } },
    });
    for (const [i, dataset] of ['chat_raw', 'chat_models', 'chat_assertions'].entries()) {
      assert.deepEqual(writes[1 + i], { method: 'POST', path: `/bigquery/v2/projects/${PROJECT}/datasets`, body: { location: 'EU', datasetReference: { datasetId: dataset } } });
    }
    assert.deepEqual(writes[4], {
      method: 'POST', path: `/bigquery/v2/projects/${PROJECT}/datasets/chat_raw/tables`,
      body: {
        schema: { fields: [
          { name: 'subscription_name', type: 'STRING', mode: 'NULLABLE' }, { name: 'message_id', type: 'STRING', mode: 'NULLABLE' },
          { name: 'publish_time', type: 'TIMESTAMP', mode: 'NULLABLE' }, { name: 'data', type: 'STRING', mode: 'NULLABLE' },
          { name: 'attributes', type: 'STRING', mode: 'NULLABLE' },
        ] },
        timePartitioning: { type: 'HOUR', field: 'publish_time', expirationMs: String(30 * 86_400_000) },
        clustering: { fields: ['publish_time'] },
        requirePartitionFilter: true,
        tableReference: { projectId: PROJECT, datasetId: 'chat_raw', tableId: 'raw_events' },
      },
    });
    // The service agent is made sure of (Service Usage; the operation is polled) before the table is granted to it.
    assert.deepEqual(writes[5], { method: 'POST', path: `/v1beta1/projects/${PROJECT}/services/pubsub.googleapis.com:generateServiceIdentity`, body: undefined });
    assert.ok(fake.requests.some((r) => r.method === 'GET' && r.path === '/v1beta1/operations/generate-identity-1'), 'the running operation was polled');
    assert.equal(writes[6].path, `/bigquery/v2/projects/${PROJECT}/datasets/chat_raw/tables/raw_events:setIamPolicy`);
    assert.deepEqual((writes[6].body as { policy: { bindings: unknown } }).policy.bindings, [{ role: 'roles/bigquery.dataEditor', members: [AGENT] }]);
    assert.equal(writes.length, 7, 'nothing else is written through HTTP');
    assert.equal(steps.find((s) => s.resource === 'Pub/Sub service agent')?.status, 'ensured');

    const pubsub = new PubSub({ projectId: PROJECT, apiEndpoint: emulator.host, emulatorMode: true });
    const [raw] = await pubsub.subscription('chat-events-to-raw').getMetadata();
    assert.equal(raw.topic, `projects/${PROJECT}/topics/chat-events`);
    assert.equal(raw.bigqueryConfig?.table, `${PROJECT}.chat_raw.raw_events`);
    assert.equal(raw.bigqueryConfig.writeMetadata, true);
    assert.deepEqual([raw.deadLetterPolicy?.deadLetterTopic, raw.deadLetterPolicy?.maxDeliveryAttempts], [`projects/${PROJECT}/topics/chat-events-dead-letter`, 5]);
    const [inspect] = await pubsub.subscription('chat-events-dead-letter-inspect').getMetadata();
    assert.equal(inspect.topic, `projects/${PROJECT}/topics/chat-events-dead-letter`);
    // A policy without a ttl: never deleted for inactivity (no policy would mean Pub/Sub's 31 days).
    assert.deepEqual([raw.expirationPolicy, inspect.expirationPolicy], [{ ttl: null }, { ttl: null }]);
    await pubsub.close();
    assert.ok(steps.filter((s) => s.resource.startsWith('IAM on Pub/Sub')).every((s) => s.status === 'skipped'), 'the emulator has no IAM: said, not hidden');

    const before = fake.requests.length;
    const again = await provision(endpoint, PROJECT);
    assert.equal(again.code, 0);
    assert.deepEqual(fake.writes().length, 7, 'a second run writes nothing');
    assert.ok(fake.requests.length > before);
    assert.ok(again.steps.filter((s) => s.status !== 'skipped').every((s) => s.status === 'exists'), JSON.stringify(again.steps));
  });

  test('drift is reported, never changed: a pull subscription where a BigQuery one belongs, a raw table of another shape', async () => {
    const project = 'chat-pipeline-drift';
    const pubsub = new PubSub({ projectId: project, apiEndpoint: emulator.host, emulatorMode: true });
    const [topic] = await pubsub.createTopic('chat-events');
    await topic.createSubscription('chat-events-to-raw');
    const [deadLetterTopic] = await pubsub.createTopic('chat-events-dead-letter');
    await deadLetterTopic.createSubscription('chat-events-dead-letter-inspect', { expirationPolicy: { ttl: { seconds: 7 * 86_400 } } });
    await pubsub.close();
    const drifted = new FakeGoogleApis();
    const driftEndpoint = await drifted.start();
    drifted.datasets.set('chat_raw', { location: 'EU' });
    drifted.tables.set('chat_raw.raw_events', { schema: { fields: [{ name: 'data', type: 'BYTES' }] } });
    try {
      const { code, steps } = await provision(driftEndpoint, project);
      assert.equal(code, 1);
      const table = steps.find((s) => s.resource === 'BigQuery table')!;
      assert.equal(table.status, 'differs');
      assert.match(table.detail ?? '', /column data STRING missing or of another type/);
      assert.match(table.detail ?? '', /not partitioned by publish_time/);
      assert.match(table.detail ?? '', /not clustered by publish_time/);
      const subscription = steps.find((s) => s.name === 'chat-events-to-raw' && s.resource === 'Pub/Sub subscription')!;
      assert.equal(subscription.status, 'differs');
      assert.match(subscription.detail ?? '', /a pull subscription where a BigQuery subscription is expected/);
      assert.match(subscription.detail ?? '', /expires after 31 days without activity \(Pub\/Sub's default\)/);
      const inspect = steps.find((s) => s.name === 'chat-events-dead-letter-inspect')!;
      assert.equal(inspect.status, 'differs');
      assert.match(inspect.detail ?? '', /expires after 7 days without activity: gcloud pubsub subscriptions update chat-events-dead-letter-inspect --expiration-period=never/);
      assert.ok(!drifted.writes().some((w) => w.path.includes('/tables/raw_events') && !w.path.endsWith(':setIamPolicy')), 'the table is left alone');
    } finally {
      drifted.stop();
    }
  });

  test('user errors: no project, a bad location', async () => {
    const noProject = await cli(['provision', '--target', 'gcp', '--plan'], temp, { GOOGLE_CLOUD_PROJECT: '', GCLOUD_PROJECT: '' });
    assert.equal(noProject.code, 1);
    assert.match(noProject.stderr, /no Google Cloud project: pass --project/);
    const badLocation = await cli(['provision', '--target', 'gcp', '--plan', '--project', PROJECT, '--location', 'mars'], temp);
    assert.match(badLocation.stderr, /invalid location "mars"/);
  });
});

describe('transform and assert --target gcp: the dataform run command line', () => {
  test('project, location, vars, credentials file, and every selected action by its full name', async () => {
    const { stdout } = await cliOk(['transform', '--target', 'gcp', '--project', PROJECT, '--location', 'europe-west1', '--print-command', '--json',
      '--full-refresh', '--actions', 'chat_models.orders', '--include-deps', '--vars', 'horizonDays=15', '--workdir', workdir], temp);
    const plan = JSON.parse(stdout);
    const [node, cliPath, ...args] = plan.command as string[];
    assert.equal(node, process.execPath);
    assert.match(cliPath, /node_modules\/@dataform\/cli\/bundle\.js$/);
    const actionsAt = args.indexOf('--actions');
    assert.deepEqual(args.slice(0, actionsAt), ['run', path.resolve(cliPath, '..', '..', '..', '..'), `--credentials=${path.join(workdir, '.df-credentials.json')}`,
      `--default-database=${PROJECT}`, '--default-location=europe-west1', '--vars=horizonDays=15,engine=bigquery',
      '--job-labels=pipeline=chat-elt-pipeline,step=transform', '--full-refresh']);
    // Dataform matches a dotted name only in full (project.dataset.name): dependencies are resolved here, in dependency order.
    assert.deepEqual(args.slice(actionsAt + 1), plan.actions);
    assert.deepEqual(plan.actions, ['stg_raw_events', 'raw_partitions_processed', 'stg_raw_partitions', 'stg_pending_deliveries',
      'chat_models_stg_pending_deliveries_assertions_rowConditions', 'stg_events', 'orders'].map((name) =>
      `${PROJECT}.${name.endsWith('rowConditions') ? 'chat_assertions' : 'chat_models'}.${name}`));
    assert.deepEqual(plan.credentials, { file: path.join(workdir, '.df-credentials.json'), projectId: PROJECT, location: 'europe-west1' });

    const scheduled = JSON.parse((await cliOk(['transform', '--target', 'gcp', '--project', PROJECT, '--print-command', '--dry-run', '--json', '--workdir', workdir], temp)).stdout);
    const scheduledArgs = scheduled.command as string[];
    assert.equal(scheduledArgs[scheduledArgs.indexOf('--actions') - 1], '--dry-run', "--dry-run is Dataform's own");
    assert.equal(scheduled.actions.length, 19, 'a plain run: the pipeline, without the full-table audits');
    assert.ok(scheduled.actions.includes(`${PROJECT}.chat_assertions.assert_no_raw_rows_beyond_horizon`));
    assert.ok(!scheduled.actions.some((a: string) => /\.audit_/.test(a)), JSON.stringify(scheduled.actions));

    const assertPlan = JSON.parse((await cliOk(['assert', '--target', 'gcp', '--project', PROJECT, '--print-command', '--json', '--workdir', workdir], temp)).stdout);
    const actions = (assertPlan.command as string[]).slice((assertPlan.command as string[]).indexOf('--actions') + 1);
    assert.ok(actions.length >= 12 && actions.every((a) => a.startsWith(`${PROJECT}.chat_assertions.`)), JSON.stringify(actions));
    assert.ok(actions.some((a) => /\.audit_/.test(a)), 'assert runs the full-table audits too');
  });

  test('a var value holding "=" is refused on both targets (Dataform would cut it at the "=")', async () => {
    const gcp = await cli(['transform', '--target', 'gcp', '--project', PROJECT, '--print-command', '--vars', 'horizonDays=7=8', '--workdir', workdir], temp);
    assertCleanError(gcp, /--vars takes key=value pairs separated by commas, with no '=' or ',' in a value; got "horizonDays=7=8"/);
    const local = await cli(['transform', '--vars', 'horizonDays=7=8', '--workdir', path.join(temp, 'vars-local')], temp);
    assertCleanError(local, /--vars takes key=value pairs separated by commas, with no '=' or ',' in a value; got "horizonDays=7=8"/);
  });

  test('a var value out of range is refused before anything runs: a usage error when it is no whole number', async () => {
    for (const value of ['-1', '99999999999999999999', '7d']) {
      const result = await cli(['transform', '--vars', `horizonDays=${value}`, '--workdir', path.join(temp, 'vars-range')], temp);
      assertCleanError(result, new RegExp(`--vars: horizonDays must be a whole number below 2\\^53, got "${value}"`));
      assert.equal(result.code, 2, value);
    }
    for (const [pair, message] of [['horizonDays=0', /var horizonDays must be a whole number of days from 1 to 36500, got 0/],
      ['horizonDays=36501', /var horizonDays must be a whole number of days from 1 to 36500, got 36501/],
      ['landingWindowMinutes=61', /var landingWindowMinutes must be at most 60 \(a raw partition is an hour\), got 61/]] as const) {
      assertCleanError(await cli(['transform', '--vars', pair, '--workdir', path.join(temp, 'vars-range')], temp), message);
    }
  });

  test('the commit of the raw partitions is refused without the actions it depends on, on both targets', async () => {
    const refused = /commit_raw_partitions marks the raw rows a run read as processed, so it runs only with every action it depends on \(missing: stg_raw_events, .*stg_events, .*customer_courier_conversations.*\): add --include-deps/;
    assertCleanError(await cli(['transform', '--target', 'gcp', '--project', PROJECT, '--print-command', '--tags', 'state', '--workdir', workdir], temp), refused);
    assertCleanError(await cli(['transform', '--actions', 'commit_raw_partitions', '--workdir', path.join(temp, 'commit-local')], temp), refused);
    const plan = JSON.parse((await cliOk(['transform', '--target', 'gcp', '--project', PROJECT, '--print-command', '--json', '--actions', 'commit_raw_partitions', '--include-deps', '--workdir', workdir], temp)).stdout);
    assert.equal(plan.actions.at(-1), `${PROJECT}.chat_models.commit_raw_partitions`);
  });

  test('a selection of nothing is an error on both targets, not a run that did nothing', async () => {
    const gcp = await cli(['transform', '--target', 'gcp', '--project', PROJECT, '--print-command', '--tags', 'no_such_tag', '--workdir', workdir], temp);
    assertCleanError(gcp, /no action has the tag no_such_tag \(tags: [a-z, ]+\)/);
    const local = await cli(['transform', '--tags', 'no_such_tag', '--workdir', path.join(temp, 'empty-local')], temp);
    assertCleanError(local, /no action has the tag no_such_tag \(tags: [a-z, ]+\)/);
    const assertion = await cli(['assert', '--target', 'gcp', '--project', PROJECT, '--print-command', '--actions', 'conversations_without_city', '--workdir', workdir], temp);
    assertCleanError(assertion, /nothing to run: --actions conversations_without_city --include-dependents selects no assertion/);
  });
});

describe('upload and ingest --target gcp', () => {
  test('a resumable upload to the bucket, checked with CRC32C, then streamed from gs:// into the topic', async () => {
    const project = 'chat-pipeline-upload';
    await emulator.withGoogle(async (fake, env) => {
      fake.buckets.set('chat-pipeline-local-landing', { name: 'chat-pipeline-local-landing', location: 'EU' });
      const file = anchorPath('glovo-sample.ndjson');
      const uploaded = JSON.parse((await cliOk(['upload', file, '--target', 'gcp', '--project', project, '--json'], temp, env)).stdout);
      assert.equal(uploaded.uri, 'gs://chat-pipeline-local-landing/glovo-sample.ndjson');
      assert.deepEqual(fake.objects.get('chat-pipeline-local-landing/glovo-sample.ndjson'), readFileSync(file));
      const start = fake.requests.find((r) => r.method === 'POST' && r.path.startsWith('/upload/'));
      assert.ok(start, 'a resumable upload session was opened');
      assert.ok(fake.requests.some((r) => r.method === 'PUT' && r.path.startsWith('/upload/')), 'the bytes were sent to the session');

      const pubsub = new PubSub({ projectId: project, apiEndpoint: emulator.host, emulatorMode: true });
      const [topic] = await pubsub.createTopic('chat-events');
      const [subscription] = await topic.createSubscription('check-ingest');
      const summary = JSON.parse((await cliOk(['ingest', '--target', 'gcp', '--project', project, '--input', uploaded.uri, '--json'], temp, env)).stdout);
      assert.deepEqual([summary.published, summary.failed, summary.source], [6, 0, uploaded.uri]);
      const received: { data: string; position: string }[] = [];
      await new Promise<void>((resolve) => {
        subscription.on('message', (m) => { received.push({ data: m.data.toString(), position: m.attributes.position }); m.ack(); if (received.length === 6) resolve(); });
      });
      await subscription.close();
      await pubsub.close();
      assert.deepEqual(received.map((r) => r.data).sort(), readFileSync(file, 'utf8').trim().split('\n').sort());
    });
  });
});

describe('sink --target gcp (pull landing)', () => {
  test('drains the pull subscription into the raw table with insertAll, insert ids from message ids', async () => {
    const project = 'chat-pipeline-pull';
    await emulator.withGoogle(async (fake, env) => {
      const steps = JSON.parse((await cliOk(['provision', '--target', 'gcp', '--project', project, '--landing', 'pull', '--json'], temp, env)).stdout) as Step[];
      assert.ok(!steps.some((s) => s.resource === 'IAM on BigQuery table'), 'no table grant for the Pub/Sub agent with pull landing');
      const pubsub = new PubSub({ projectId: project, apiEndpoint: emulator.host, emulatorMode: true });
      const [metadata] = await pubsub.subscription('chat-events-to-raw').getMetadata();
      await pubsub.close();
      assert.ok(!metadata.bigqueryConfig?.table, 'a pull subscription');
      assert.equal(metadata.deadLetterPolicy?.maxDeliveryAttempts, 5);

      await cliOk(['ingest', '--target', 'gcp', '--project', project, '--input', anchorPath('glovo-sample.ndjson')], temp, env);
      const landed = JSON.parse((await cliOk(['sink', '--target', 'gcp', '--project', project, '--until-idle', '--idle-seconds', '1', '--json'], temp, env)).stdout);
      assert.equal(landed.rows, 6);
      const rows = fake.inserted.get('chat_raw.raw_events') ?? [];
      assert.equal(rows.length, 6);
      assert.equal(new Set(rows.map((r) => r.insertId)).size, 6);
      for (const row of rows) {
        assert.deepEqual(Object.keys(row.json).sort(), ['attributes', 'data', 'message_id', 'publish_time', 'subscription_name']);
        assert.equal(row.insertId, row.json.message_id);
        assert.equal(row.json.subscription_name, 'chat-events-to-raw');
        assert.match(String(row.json.publish_time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
        assert.equal(JSON.parse(String(row.json.attributes)).source, pathToFileURL(anchorPath('glovo-sample.ndjson')).href);
      }
      const status = JSON.parse((await cliOk(['status', '--target', 'gcp', '--project', project, '--json'], temp, env)).stdout);
      assert.deepEqual(status.raw, { rows: 6, lastModified: new Date(1700000000000).toISOString() });
      assert.equal(status.subscriptions['chat-events-to-raw'].kind, 'pull');
      assert.equal(status.lastModelRun.exists, false);
      const other = new PubSub({ projectId: 'chat-pipeline-bqsub', apiEndpoint: emulator.host, emulatorMode: true });
      const [otherTopic] = await other.createTopic('chat-events');
      await otherTopic.createSubscription('chat-events-to-raw', { bigqueryConfig: { table: 'chat-pipeline-bqsub.chat_raw.raw_events', writeMetadata: true } });
      await other.close();
      const again = await cli(['sink', '--target', 'gcp', '--project', 'chat-pipeline-bqsub', '--until-idle', '--idle-seconds', '1'], temp, env);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /is a BigQuery subscription: it lands rows by itself/);
    });
  });
});

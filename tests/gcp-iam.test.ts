import { status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { PACKAGE_ROOT, loadProjectConfig } from '../orchestrator/config.js';
import { UserError } from '../orchestrator/errors.js';
import { gcpClients } from '../orchestrator/gcp/clients.js';
import { type GcpStep, provisionGcp } from '../orchestrator/gcp/provision.js';
import { type GcpOptions, resolveGcpSettings } from '../orchestrator/gcp/settings.js';
import { cli } from './support/cli.js';
import { FakeGoogleApis } from './support/fakeGoogle.js';
import { FakePubSub } from './support/fakePubSub.js';

// Provisioning's IAM, the BigQuery subscription's state and the wait for IAM to propagate, with the
// real client libraries: Cloud Storage, BigQuery and Service Usage against the recording HTTP
// endpoint, Pub/Sub against a recording gRPC server that has IAM (the emulator has none).
process.env.METADATA_SERVER_DETECTION = 'none';
const project = loadProjectConfig(PACKAGE_ROOT);
const temp = mkdtempSync(path.join(os.tmpdir(), 'orchestrator-gcp-iam-'));
after(() => rmSync(temp, { recursive: true, force: true }));

const AGENT = 'serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com';
const NO_WAIT = { timeoutSeconds: 600, intervalSeconds: 0 };

interface Fakes { http: FakeGoogleApis; pubsub: FakePubSub; env: Record<string, string> }

/** Fresh fakes, with the environment that points the clients (in this process and in a spawned CLI) at them. */
async function withFakes(run: (fakes: Fakes) => Promise<void>): Promise<void> {
  const http = new FakeGoogleApis();
  const pubsub = new FakePubSub();
  const endpoint = await http.start();
  const env = {
    ORCHESTRATOR_STORAGE_ENDPOINT: endpoint, ORCHESTRATOR_BIGQUERY_ENDPOINT: endpoint, ORCHESTRATOR_SERVICEUSAGE_ENDPOINT: endpoint,
    ORCHESTRATOR_PUBSUB_ENDPOINT: await pubsub.start(), PUBSUB_EMULATOR_HOST: '',
  };
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  delete process.env.PUBSUB_EMULATOR_HOST;
  try {
    await run({ http, pubsub, env });
  } finally {
    for (const [key, value] of Object.entries(saved)) {
      // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- deleting is how a variable is unset in process.env
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    http.stop();
    pubsub.stop();
  }
}

async function provision(options: GcpOptions, plan = false, log: string[] = [], wait = NO_WAIT): Promise<GcpStep[]> {
  const settings = resolveGcpSettings(project, { location: 'EU', ...options });
  const clients = gcpClients(settings);
  try {
    return await provisionGcp(project, settings, clients, { plan, log: (line) => log.push(line), wait, agentPollSeconds: 0 });
  } finally {
    await clients.close();
  }
}

const policyOf = (fakes: Fakes, resource: string) => fakes.pubsub.calls.filter((c) => c.method === 'SetIamPolicy' && c.request.resource === resource).map((c) => c.request.policy.bindings
  .map((b: { role: string; members: string[] }) => ({ role: b.role, members: b.members })));
const creations = (fakes: Fakes, name: string) => fakes.pubsub.calls.filter((c) => c.method === 'CreateSubscription' && c.request.name.endsWith(`/${name}`));

describe('provision --target gcp: IAM on a new project', () => {
  test('the Pub/Sub service agent is made sure of before anything is granted to it; --plan and a second run write nothing', () => withFakes(async (fakes) => {
    const id = 'chat-pipeline-iam';
    const planned = await provision({ project: id }, true);
    assert.deepEqual([fakes.http.writes(), fakes.pubsub.writes()], [[], []], '--plan writes nothing');
    assert.equal(planned.find((s) => s.resource === 'Pub/Sub service agent')?.status, 'create');

    const steps = await provision({ project: id });
    const identity = fakes.http.requests.find((r) => r.path.endsWith('/services/pubsub.googleapis.com:generateServiceIdentity'))!;
    assert.equal(identity.path, `/v1beta1/projects/${id}/services/pubsub.googleapis.com:generateServiceIdentity`);
    const grants = [...fakes.http.requests.filter((r) => r.path.endsWith(':setIamPolicy')), ...fakes.pubsub.calls.filter((c) => c.method === 'SetIamPolicy')];
    assert.equal(grants.length, 3);
    assert.ok(grants.every((g) => g.at > identity.at), 'every grant after the agent exists');
    assert.deepEqual((fakes.http.writes().find((r) => r.path.endsWith(':setIamPolicy'))!.body as { policy: { bindings: unknown } }).policy.bindings,
      [{ role: 'roles/bigquery.dataEditor', members: [AGENT] }], 'Data Editor on the raw table only');
    assert.deepEqual(policyOf(fakes, `projects/${id}/topics/chat-events-dead-letter`), [[{ role: 'roles/pubsub.publisher', members: [AGENT] }]]);
    assert.deepEqual(policyOf(fakes, `projects/${id}/subscriptions/chat-events-to-raw`), [[{ role: 'roles/pubsub.subscriber', members: [AGENT] }]]);
    const [raw] = creations(fakes, 'chat-events-to-raw');
    assert.deepEqual(raw.request.bigqueryConfig, {
      table: `${id}.chat_raw.raw_events`, writeMetadata: true, useTopicSchema: false, useTableSchema: false, dropUnknownFields: false, state: 'STATE_UNSPECIFIED', serviceAccountEmail: '',
    });
    assert.deepEqual(raw.request.expirationPolicy, { ttl: null }, 'a policy without ttl: never expires');
    assert.deepEqual(creations(fakes, 'chat-events-dead-letter-inspect')[0].request.expirationPolicy, { ttl: null });
    assert.deepEqual(raw.request.deadLetterPolicy, { deadLetterTopic: `projects/${id}/topics/chat-events-dead-letter`, maxDeliveryAttempts: 5 });
    assert.equal(steps.find((s) => s.resource === 'Pub/Sub service agent')?.status, 'ensured');

    const [httpWrites, grpcWrites] = [fakes.http.writes().length, fakes.pubsub.writes().length];
    const again = await provision({ project: id });
    assert.deepEqual([fakes.http.writes().length, fakes.pubsub.writes().length], [httpWrites, grpcWrites], 'a second run writes nothing');
    assert.ok(again.every((s) => s.status === 'exists'), JSON.stringify(again.filter((s) => s.status !== 'exists')));
  }));

  test('a refused BigQuery subscription is retried while the table grant propagates, with progress', () => withFakes(async (fakes) => {
    fakes.pubsub.createSubscriptionErrors.set('chat-events-to-raw', [
      { code: status.PERMISSION_DENIED, details: 'The caller does not have permission' },
      { code: status.FAILED_PRECONDITION, details: 'The service account does not have permission to write to the BigQuery table' },
    ]);
    const log: string[] = [];
    const steps = await provision({ project: 'chat-pipeline-wait' }, false, log);
    assert.equal(creations(fakes, 'chat-events-to-raw').length, 3);
    assert.equal(steps.find((s) => s.name === 'chat-events-to-raw' && s.resource === 'Pub/Sub subscription')?.status, 'created');
    assert.equal(log.length, 2);
    assert.match(log[0], /^waiting for IAM to propagate the table grant \(0m0\ds of up to 10m00s, attempt 1\): The caller does not have permission$/);
    assert.match(log[1], /attempt 2\): The service account does not have permission/);
  }));

  test('a permission the caller lacks stops at once instead of waiting ten minutes', () => withFakes(async (fakes) => {
    fakes.pubsub.createSubscriptionErrors.set('chat-events-to-raw', [{ code: status.PERMISSION_DENIED, details: 'User not authorized to perform this action.' }]);
    await assert.rejects(provision({ project: 'chat-pipeline-denied' }), (error: Error) =>
      error instanceof UserError && /cannot create subscription chat-events-to-raw: User not authorized to perform this action\. \(a permission you lack/.test(error.message));
    assert.equal(creations(fakes, 'chat-events-to-raw').length, 1);

    fakes.pubsub.createSubscriptionErrors.set('chat-events-to-raw', [{ code: status.PERMISSION_DENIED, details: 'The caller does not have permission' }]);
    fakes.pubsub.deniedPermissions.add('pubsub.topics.attachSubscription');
    await assert.rejects(provision({ project: 'chat-pipeline-denied' }), /you lack pubsub\.topics\.attachSubscription on its topic/);
    assert.equal(creations(fakes, 'chat-events-to-raw').length, 2);
    assert.ok(fakes.pubsub.calls.some((c) => c.method === 'TestIamPermissions' && c.request.resource === 'projects/chat-pipeline-denied/topics/chat-events'));
  }));

  test('a grant that never propagates gives up with the last error', () => withFakes(async (fakes) => {
    fakes.pubsub.createSubscriptionErrors.set('chat-events-to-raw', Array.from({ length: 5 }, () => ({ code: status.FAILED_PRECONDITION, details: 'still no permission on the table' })));
    await assert.rejects(provision({ project: 'chat-pipeline-stuck' }, false, [], { timeoutSeconds: 0, intervalSeconds: 0 }),
      /cannot create subscription chat-events-to-raw: still refused after 0m00s \(still no permission on the table\)/);
  }));
});

describe('provision --target gcp: a dedicated service account writes the raw table', () => {
  test('Data Editor on the table goes to it, not to the shared agent; the agent keeps the dead-letter grants; a change is drift', () => withFakes(async (fakes) => {
    const id = 'chat-pipeline-sa';
    const writer = `raw-writer@${id}.iam.gserviceaccount.com`;
    await provision({ project: id, 'subscription-service-account': writer });
    const tableGrant = fakes.http.writes().find((r) => r.path.endsWith(':setIamPolicy'))!;
    assert.deepEqual((tableGrant.body as { policy: { bindings: unknown } }).policy.bindings, [{ role: 'roles/bigquery.dataEditor', members: [`serviceAccount:${writer}`] }]);
    assert.equal(creations(fakes, 'chat-events-to-raw')[0].request.bigqueryConfig.serviceAccountEmail, writer);
    assert.deepEqual(policyOf(fakes, `projects/${id}/topics/chat-events-dead-letter`), [[{ role: 'roles/pubsub.publisher', members: [AGENT] }]]);
    const identity = fakes.http.requests.find((r) => r.path.endsWith(':generateServiceIdentity'))!;
    assert.ok(fakes.pubsub.calls.filter((c) => c.method === 'SetIamPolicy').every((c) => c.at > identity.at));

    const writes = fakes.pubsub.writes().length;
    const drift = await provision({ project: id });
    const raw = drift.find((s) => s.name === 'chat-events-to-raw' && s.resource === 'Pub/Sub subscription')!;
    assert.equal(raw.status, 'differs');
    assert.equal(raw.detail, `writes as ${writer}, expected the Pub/Sub service agent`);
    assert.equal(fakes.pubsub.writes().length, writes, 'the subscription is left alone');
  }));

  test('an invalid service account is refused before any call', () => {
    assert.throws(() => resolveGcpSettings(project, { project: 'chat-pipeline-sa', 'subscription-service-account': 'not-an-account' }), /invalid service account "not-an-account"/);
  });
});

describe('a BigQuery subscription that writes nothing', () => {
  for (const state of ['PERMISSION_DENIED', 'NOT_FOUND', 'SCHEMA_MISMATCH', 'ACTIVE']) {
    test(`state ${state}: ${state === 'ACTIVE' ? 'healthy' : 'reported by provision and fails status'}`, () => withFakes(async (fakes) => {
      const id = 'chat-pipeline-state';
      await provision({ project: id });
      const name = `projects/${id}/subscriptions/chat-events-to-raw`;
      fakes.pubsub.subscriptions.set(name, { ...fakes.pubsub.subscriptions.get(name), bigqueryConfig: { ...fakes.pubsub.subscriptions.get(name).bigqueryConfig, state } });
      const steps = await provision({ project: id });
      const raw = steps.find((s) => s.name === 'chat-events-to-raw' && s.resource === 'Pub/Sub subscription')!;
      const status = await cli(['status', '--target', 'gcp', '--project', id, '--location', 'EU', '--json'], temp, fakes.env);
      const report = JSON.parse(status.stdout);
      assert.equal(report.subscriptions['chat-events-to-raw'].state, state);
      if (state === 'ACTIVE') {
        assert.equal(raw.status, 'exists');
        assert.equal(status.code, 0, status.stderr);
        assert.deepEqual(report.problems, []);
        return;
      }
      assert.equal(raw.status, 'unhealthy');
      assert.match(raw.detail ?? '', new RegExp(`^state ${state}: .*; nothing lands in the raw table until it is fixed$`));
      assert.equal(status.code, 1);
      assert.deepEqual(report.problems, [`subscription chat-events-to-raw: ${raw.detail}`]);
    }));
  }
});

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PACKAGE_ROOT } from '../orchestrator/config.js';
import { compileProject } from '../orchestrator/dataform/compile.js';
import { assertCleanError, cli } from './support/cli.js';
import { FakeDataformApis } from './support/fakeDataform.js';
import { FakeGoogleApis } from './support/fakeGoogle.js';

// `schedule --target gcp` with the official clients (Dataform and Secret Manager on their REST
// transport, BigQuery, IAM and Resource Manager over REST) against a local endpoint that answers like
// the APIs and records every request. Each request is checked field by field against the REST
// references (Dataform v1, Secret Manager v1, IAM v1, Resource Manager v1, BigQuery v2).
process.env.METADATA_SERVER_DETECTION = 'none';
const PROJECT = 'chat-pipeline-prod';
const NUMBER = '123456789012';
const REGION = 'europe-west1';
const RUNNER = `dataform-runner@${PROJECT}.iam.gserviceaccount.com`;
const AGENT = `serviceAccount:service-${NUMBER}@gcp-sa-dataform.iam.gserviceaccount.com`;
const SECRET = `projects/${PROJECT}/secrets/git-token`;
const REPOSITORY = `projects/${PROJECT}/locations/${REGION}/repositories/chat-elt-pipeline`;
const RELEASE = `${REPOSITORY}/releaseConfigs/production`;
const temp = mkdtempSync(path.join(os.tmpdir(), 'orchestrator-schedule-'));
const config = path.join(temp, 'gcp.json');
const settings = {
  projectId: PROJECT, location: 'EU', projectNumber: NUMBER, dataformRegion: REGION,
  gitRemoteUrl: 'https://github.com/acme/chat-pipeline.git', gitTokenSecretVersion: `${SECRET}/versions/3`,
};
writeFileSync(config, JSON.stringify(settings));
after(() => rmSync(temp, { recursive: true, force: true }));

interface Step { resource: string; name: string; status: string; settings?: Record<string, unknown>; detail?: string }
interface Output { ok: boolean; plan: boolean; steps: Step[]; workflows: { id: string; cron: string; timeZone: string; tags: string[]; actions: string[] }[] }

function endpoints(endpoint: string) {
  return {
    ORCHESTRATOR_DATAFORM_ENDPOINT: endpoint, ORCHESTRATOR_SECRETMANAGER_ENDPOINT: endpoint, ORCHESTRATOR_IAM_ENDPOINT: endpoint,
    ORCHESTRATOR_RESOURCEMANAGER_ENDPOINT: endpoint, ORCHESTRATOR_BIGQUERY_ENDPOINT: endpoint, GOOGLE_APPLICATION_CREDENTIALS: '',
  };
}

async function schedule(endpoint: string, ...extra: string[]) {
  const result = await cli(['schedule', '--target', 'gcp', '--config', config, '--json', ...extra], temp, endpoints(endpoint));
  return { ...result, output: result.stdout ? (JSON.parse(result.stdout) as Output) : undefined };
}

/** A project as `provision` leaves it, with the git token's secret created (the one manual step). */
async function freshProject(): Promise<{ fake: FakeDataformApis; endpoint: string }> {
  const fake = new FakeDataformApis(PROJECT, NUMBER);
  const endpoint = await fake.start();
  fake.provisioned('EU', 'chat_raw', 'chat_models', 'chat_assertions');
  fake.secrets.add(SECRET);
  // An existing conditional binding of the same role must survive the project policy update untouched.
  const conditional = { role: 'roles/bigquery.jobUser', members: ['user:analyst@example.com'], condition: { title: 'until 2030', expression: 'request.time < timestamp("2030-01-01T00:00:00Z")' } };
  fake.policies.set(`project:${PROJECT}`, { version: 3, etag: Buffer.from('p0').toString('base64'), bindings: [{ role: 'roles/owner', members: ['user:admin@example.com'] }, conditional] });
  return { fake, endpoint };
}

const expectedRelease = (vars: Record<string, string>) => ({
  gitCommitish: 'main',
  codeCompilationConfig: { defaultDatabase: PROJECT, defaultLocation: 'EU', vars },
  cronSchedule: '55 * * * *',
  timeZone: 'UTC',
});
const expectedWorkflow = (tag: string, cron: string) => ({
  releaseConfig: RELEASE,
  invocationConfig: {
    includedTags: [tag], transitiveDependenciesIncluded: false, transitiveDependentsIncluded: false,
    fullyRefreshIncrementalTablesEnabled: false, serviceAccount: RUNNER,
  },
  cronSchedule: cron,
  timeZone: 'UTC',
});
/** dataform.json's vars with the engine, as the release must compile them. */
const releaseVars = { ...(JSON.parse(JSON.stringify((await import('../orchestrator/config.js')).loadProjectConfig(PACKAGE_ROOT).vars)) as Record<string, string>), engine: 'bigquery' };

describe('schedule --target gcp', () => {
  let fake: FakeDataformApis;
  let endpoint: string;
  before(async () => ({ fake, endpoint } = await freshProject()));
  after(() => fake.stop());

  test('--plan lists every resource and setting, and writes nothing', async () => {
    const { code, output, stderr } = await schedule(endpoint, '--plan');
    assert.equal(code, 0, stderr);
    assert.deepEqual(fake.writes(), [], 'no write request');
    const steps = output!.steps;
    assert.deepEqual(steps.map((s) => `${s.status} ${s.resource} ${s.name}`), [
      `create service account ${RUNNER}`,
      'grant IAM on BigQuery dataset chat_models', 'grant IAM on BigQuery dataset chat_assertions', 'grant IAM on BigQuery dataset chat_raw',
      `grant IAM on project ${PROJECT}`,
      `create Dataform repository ${REPOSITORY}`,
      `grant IAM on secret ${SECRET}`,
      `grant IAM on service account ${RUNNER}`,
      `create Dataform release configuration ${RELEASE}`,
      `create Dataform compilation result ${RELEASE}`,
      `create Dataform workflow configuration ${REPOSITORY}/workflowConfigs/incremental`,
      `create Dataform workflow configuration ${REPOSITORY}/workflowConfigs/nightly-audit`,
    ]);
    const runner = `serviceAccount:${RUNNER}`;
    assert.deepEqual(steps.map((s) => s.settings), [
      { accountId: 'dataform-runner', serviceAccount: { displayName: 'Dataform scheduled runs', description: 'Runs the chat-elt-pipeline Dataform workflows' } },
      { role: 'roles/bigquery.dataEditor', member: runner }, { role: 'roles/bigquery.dataEditor', member: runner }, { role: 'roles/bigquery.dataViewer', member: runner },
      { role: 'roles/bigquery.jobUser', member: runner },
      { gitRemoteSettings: { url: settings.gitRemoteUrl, defaultBranch: 'main', authenticationTokenSecretVersion: settings.gitTokenSecretVersion } },
      { role: 'roles/secretmanager.secretAccessor', member: AGENT },
      { role: 'roles/iam.serviceAccountTokenCreator', member: AGENT },
      expectedRelease(releaseVars),
      { releaseConfig: RELEASE },
      expectedWorkflow('pipeline', '*/15 * * * *'),
      expectedWorkflow('audit', '0 3 * * *'),
    ]);
  });

  test('the workflows run what a run without selection runs, and the audits, as the release compiles them', async () => {
    const { output } = await schedule(endpoint, '--plan');
    const graph = await compileProject(PACKAGE_ROOT, releaseVars, { defaultDatabase: PROJECT, defaultLocation: 'EU' });
    const all = [...(graph.tables ?? []), ...(graph.assertions ?? []), ...(graph.operations ?? [])].filter((a) => !a.disabled);
    const named = (a: { target: { database: string; schema: string; name: string } }) => `${a.target.database}.${a.target.schema}.${a.target.name}`;
    const [incremental, audit] = output!.workflows;
    assert.deepEqual([...incremental.actions].sort(), all.filter((a) => !(a.tags ?? []).includes('audit')).map(named).sort());
    assert.deepEqual([...audit.actions].sort(), all.filter((a) => (a.tags ?? []).includes('audit')).map(named).sort());
    assert.ok(incremental.actions.includes(`${PROJECT}.chat_models.customer_courier_conversations`));
    assert.ok(audit.actions.length > 0 && audit.actions.every((a) => a.startsWith(`${PROJECT}.chat_assertions.`)), 'the audits are assertions only');
  });

  test('creates everything with the exact requests, in an order that works on a new project', async () => {
    const { code, output, stderr } = await schedule(endpoint);
    assert.equal(code, 0, stderr);
    assert.ok(output!.steps.every((s) => ['created', 'granted'].includes(s.status)), JSON.stringify(output!.steps));
    const writes = fake.writes().map((r) => ({ method: r.method, path: r.path, body: r.body, ...(r.query.repositoryId || r.query.releaseConfigId || r.query.workflowConfigId || r.query.updateMask
      ? { id: r.query.repositoryId ?? r.query.releaseConfigId ?? r.query.workflowConfigId ?? `mask:${r.query.updateMask}` } : {}) }));
    const runner = `serviceAccount:${RUNNER}`;
    // IAM projects.serviceAccounts.create: POST v1/projects/{project}/serviceAccounts {accountId, serviceAccount}.
    assert.deepEqual(writes[0], { method: 'POST', path: `/v1/projects/${PROJECT}/serviceAccounts`, body: output!.steps[0].settings });
    // BigQuery datasets.patch: the access list read, plus one entry; an entry's role may be a predefined dataset role.
    for (const [i, dataset, role] of [[1, 'chat_models', 'roles/bigquery.dataEditor'], [2, 'chat_assertions', 'roles/bigquery.dataEditor'], [3, 'chat_raw', 'roles/bigquery.dataViewer']] as const) {
      assert.equal(writes[i].method, 'PATCH');
      assert.equal(writes[i].path, `/bigquery/v2/projects/${PROJECT}/datasets/${dataset}`);
      assert.deepEqual(writes[i].body, { access: [
        { role: 'OWNER', specialGroup: 'projectOwners' }, { role: 'WRITER', specialGroup: 'projectWriters' }, { role: 'READER', specialGroup: 'projectReaders' },
        { role, userByEmail: RUNNER },
      ] });
    }
    // Resource Manager projects.setIamPolicy: version 3 (conditions kept), the etag read, a new unconditional binding.
    assert.deepEqual(writes[4], { method: 'POST', path: `/v1/projects/${PROJECT}:setIamPolicy`, body: { policy: {
      version: 3, etag: Buffer.from('p0').toString('base64'),
      bindings: [
        { role: 'roles/owner', members: ['user:admin@example.com'] },
        { role: 'roles/bigquery.jobUser', members: ['user:analyst@example.com'], condition: { title: 'until 2030', expression: 'request.time < timestamp("2030-01-01T00:00:00Z")' } },
        { role: 'roles/bigquery.jobUser', members: [runner] },
      ],
    } } });
    const getPolicy = fake.requests.find((r) => r.path === `/v1/projects/${PROJECT}:getIamPolicy`);
    assert.deepEqual(getPolicy?.body, { options: { requestedPolicyVersion: 3 } }, 'the project policy is read in version 3');
    // Dataform projects.locations.repositories.create: POST v1/{parent}/repositories?repositoryId= with a Repository.
    assert.equal(writes[5].method, 'POST');
    assert.equal(writes[5].path, `/v1/projects/${PROJECT}/locations/${REGION}/repositories`);
    assert.equal(writes[5].id, 'chat-elt-pipeline');
    assert.deepEqual(writes[5].body.gitRemoteSettings, { url: settings.gitRemoteUrl, defaultBranch: 'main', authenticationTokenSecretVersion: `${SECRET}/versions/3` });
    assert.deepEqual(Object.keys(writes[5].body).filter((k) => k !== 'labels').sort(), ['gitRemoteSettings'], 'nothing else is set');
    assert.deepEqual(writes[5].body.labels ?? {}, {});
    // Secret Manager secrets.setIamPolicy (on the secret, not the version): the agent may read the token.
    assert.equal(writes[6].path, `/v1/${SECRET}:setIamPolicy`);
    assert.deepEqual(writes[6].body.policy.bindings, [{ role: 'roles/secretmanager.secretAccessor', members: [AGENT] }]);
    // IAM projects.serviceAccounts.setIamPolicy: the agent may mint the runner's tokens.
    assert.equal(writes[7].path, `/v1/projects/-/serviceAccounts/${RUNNER}:setIamPolicy`);
    assert.deepEqual(writes[7].body.policy.bindings, [{ role: 'roles/iam.serviceAccountTokenCreator', members: [AGENT] }]);
    // Dataform releaseConfigs.create, then a first compilation made its release (compilationResults.create, releaseConfigs.patch).
    assert.deepEqual(writes[8], { method: 'POST', path: `/v1/${REPOSITORY}/releaseConfigs`, id: 'production', body: expectedRelease(releaseVars) });
    assert.deepEqual(writes[9], { method: 'POST', path: `/v1/${REPOSITORY}/compilationResults`, body: { releaseConfig: RELEASE } });
    const result = fake.dataform.get(RELEASE).releaseCompilationResult as string;
    assert.match(result, new RegExp(`^${REPOSITORY}/compilationResults/`));
    assert.deepEqual(writes[10], { method: 'PATCH', path: `/v1/${RELEASE}`, id: 'mask:release_compilation_result', body: { ...expectedRelease(releaseVars), releaseCompilationResult: result } });
    // Dataform workflowConfigs.create: the incremental graph every 15 minutes, the audits nightly, as the runner.
    assert.deepEqual(writes[11], { method: 'POST', path: `/v1/${REPOSITORY}/workflowConfigs`, id: 'incremental', body: expectedWorkflow('pipeline', '*/15 * * * *') });
    assert.deepEqual(writes[12], { method: 'POST', path: `/v1/${REPOSITORY}/workflowConfigs`, id: 'nightly-audit', body: expectedWorkflow('audit', '0 3 * * *') });
    assert.equal(writes.length, 13);
  });

  test('a second run finds everything in place and writes nothing', async () => {
    const before = fake.writes().length;
    const { code, output, stderr } = await schedule(endpoint);
    assert.equal(code, 0, stderr);
    assert.equal(fake.writes().length, before, 'no write request');
    assert.deepEqual(output!.steps.map((s) => s.status), Array(12).fill('exists'), 'BigQuery answers WRITER for dataEditor: still recognised');
    assert.deepEqual(output!.steps.find((s) => s.resource === 'git access token'), { resource: 'git access token', name: `${SECRET}/versions/3`, status: 'exists' });
    assert.ok(fake.requests.some((r) => r.method === 'GET' && r.path === `/v1/${REPOSITORY}:computeAccessTokenStatus`));
  });

  test('a token the git provider refuses makes the schedule unhealthy: exit 1, nothing written', async () => {
    fake.tokenStatus = 2;
    try {
      const before = fake.writes().length;
      const { code, output } = await schedule(endpoint);
      assert.equal(code, 1);
      assert.equal(fake.writes().length, before);
      assert.deepEqual(output!.steps.find((s) => s.resource === 'git access token'), {
        resource: 'git access token', name: `${SECRET}/versions/3`, status: 'unhealthy',
        detail: `the git provider refuses it for ${settings.gitRemoteUrl}: expired, revoked, or without access to the repository`,
      });
    } finally {
      fake.tokenStatus = 3;
    }
  });

  test('a resource that differs is reported with exit 1, and never changed', async () => {
    const repository = fake.dataform.get(REPOSITORY);
    repository.gitRemoteSettings.url = 'https://github.com/someone/else.git';
    const incremental = fake.dataform.get(`${REPOSITORY}/workflowConfigs/incremental`);
    Object.assign(incremental, { cronSchedule: '0 * * * *' });
    incremental.invocationConfig.includedTags = ['pipeline', 'audit'];
    const audit = fake.dataform.get(`${REPOSITORY}/workflowConfigs/nightly-audit`);
    audit.invocationConfig.serviceAccount = '';
    fake.dataform.get(RELEASE).codeCompilationConfig.vars.horizonDays = '30';
    const writesBefore = fake.writes().length;
    const { code, output } = await schedule(endpoint);
    assert.equal(code, 1);
    assert.equal(output!.ok, false);
    assert.equal(fake.writes().length, writesBefore, 'nothing written');
    const detail = (name: string) => output!.steps.find((s) => s.name === name);
    assert.deepEqual(detail(REPOSITORY), { resource: 'Dataform repository', name: REPOSITORY, status: 'differs', detail: `git remote https://github.com/someone/else.git, expected ${settings.gitRemoteUrl}` });
    assert.equal(detail(`${REPOSITORY}/workflowConfigs/incremental`)?.detail, 'tags pipeline,audit, expected pipeline; cron 0 * * * *, expected */15 * * * *');
    assert.equal(detail(`${REPOSITORY}/workflowConfigs/nightly-audit`)?.detail, `runs as the Dataform service agent, expected ${RUNNER}`);
    assert.equal(detail(RELEASE)?.detail, 'var horizonDays=30, expected 7');
    assert.equal(fake.dataform.get(REPOSITORY).gitRemoteSettings.url, 'https://github.com/someone/else.git', 'left as found');
  });
});

describe('schedule --target gcp on a project that is not ready', () => {
  test('a release that does not compile on Dataform is reported unhealthy, and not made the release', async () => {
    const { fake, endpoint } = await freshProject();
    try {
      fake.compilationErrors = [{ path: 'package.json', message: 'npm install failed' }];
      const { code, output } = await schedule(endpoint);
      assert.equal(code, 1);
      const step = output!.steps.find((s) => s.resource === 'Dataform compilation result');
      assert.deepEqual([step?.status, step?.detail], ['unhealthy', 'the release does not compile: package.json: npm install failed']);
      assert.equal(fake.dataform.get(RELEASE).releaseCompilationResult, undefined);
      assert.ok(!fake.writes().some((r) => r.method === 'PATCH' && r.path.includes('/releaseConfigs/')));
    } finally {
      fake.stop();
    }
  });

  test('a missing secret or dataset is one line naming what to do', async () => {
    const { fake, endpoint } = await freshProject();
    try {
      fake.secrets.clear();
      assertCleanError(await cli(['schedule', '--target', 'gcp', '--config', config], temp, endpoints(endpoint)),
        /^orchestrator: the secret projects\/chat-pipeline-prod\/secrets\/git-token does not exist: create it with the git provider's token/m);
      fake.datasets.delete('chat_models');
      assertCleanError(await cli(['schedule', '--target', 'gcp', '--config', config, '--plan'], temp, endpoints(endpoint)),
        /^orchestrator: dataset chat_models does not exist: run 'orchestrator provision --target gcp' first\n$/m);
      fake.provisioned('europe-west1', 'chat_models');
      assertCleanError(await cli(['schedule', '--target', 'gcp', '--config', config, '--plan'], temp, endpoints(endpoint)),
        /^orchestrator: location EU \(from "location" in .*gcp\.json\) does not match: dataset chat_models is in europe-west1/m);
    } finally {
      fake.stop();
    }
  });

  test('bad settings give one line and a non-zero exit, before any request', async () => {
    const fake = new FakeDataformApis(PROJECT, NUMBER);
    const endpoint = await fake.start();
    try {
      const cases: [Record<string, unknown>, string[], RegExp][] = [
        [{ ...settings, gitRemoteUrl: undefined }, [], /schedule needs --git-remote-url or "gitRemoteUrl" in --config/],
        [{ ...settings, gitRemoteUrl: 'http://github.com/acme/x.git' }, [], /must be https:\/\/ without credentials/],
        [{ ...settings, gitRemoteUrl: 'https://user:token@github.com/acme/x.git' }, [], /must be https:\/\/ without credentials/],
        [{ ...settings, gitTokenSecretVersion: 'git-token' }, [], /invalid secret version "git-token": expected projects\/PROJECT\/secrets\/SECRET\/versions\/NUMBER/],
        [{ ...settings, dataformRegion: undefined }, [], /the BigQuery location EU is a multi-region .* set --dataform-region or "dataformRegion" in --config \(e\.g\. europe-west1\)/],
        [{ ...settings, incrementalEveryMinutes: 25 }, [], /whole number of minutes dividing 60/],
        [settings, ['--every-minutes', '0'], /--every-minutes must be a whole number >= 1/],
        [{ ...settings, auditCron: '0 3 * *' }, [], /the audit cron must be a cron schedule of 5 fields/],
        [{ ...settings, scheduleTimeZone: 'Mars/Olympus' }, [], /unknown time zone "Mars\/Olympus"/],
        [{ ...settings, dataformServiceAccount: 'runner@gmail.com' }, [], /invalid service account/],
        [{ ...settings, gitRemoteUrll: 'x' }, [], /unknown setting gitRemoteUrll/],
        // A value of the wrong type is an error, not a setting left out (the project would come from the environment).
        [{ ...settings, projectId: 5 }, [], /"projectId" must be a non-empty string, got 5/],
        [{ ...settings, location: '' }, [], /"location" must be a non-empty string, got ""/],
        [{ ...settings, incrementalEveryMinutes: '30' }, [], /"incrementalEveryMinutes" must be a number, got "30"/],
      ];
      for (const [file, flags, pattern] of cases) {
        writeFileSync(path.join(temp, 'bad.json'), JSON.stringify(file));
        const result = await cli(['schedule', '--target', 'gcp', '--config', path.join(temp, 'bad.json'), ...flags], temp, endpoints(endpoint));
        assertCleanError(result, pattern);
        assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
      }
      assertCleanError(await cli(['schedule', '--config', config], temp, endpoints(endpoint)), /schedule needs --target gcp/);
      const help = await cli(['schedule', '--help'], temp);
      assert.equal(help.code, 0);
      for (const flag of ['--plan', '--git-remote-url', '--git-token-secret-version', '--every-minutes', '--audit-cron', '--time-zone']) assert.ok(help.stdout.includes(flag), flag);
      assert.deepEqual(fake.requests, [], 'no request was made');
    } finally {
      fake.stop();
    }
  });

  test('flags win over the file: 30-minute runs, another branch, a time zone', async () => {
    const { fake, endpoint } = await freshProject();
    try {
      const { code, output } = await schedule(endpoint, '--plan', '--every-minutes', '30', '--git-branch', 'release', '--time-zone', 'Europe/Madrid');
      assert.equal(code, 0);
      const byResource = (resource: string) => output!.steps.filter((s) => s.resource === resource).map((s) => s.settings);
      assert.deepEqual(byResource('Dataform workflow configuration').map((s) => [s?.cronSchedule, s?.timeZone]), [['*/30 * * * *', 'Europe/Madrid'], ['0 3 * * *', 'Europe/Madrid']]);
      assert.equal((byResource('Dataform release configuration')[0] as { gitCommitish: string }).gitCommitish, 'release');
      assert.deepEqual(fake.writes(), []);
    } finally {
      fake.stop();
    }
  });
});

describe('job labels on the Dataform runs of transform and assert --target gcp', () => {
  // The real Dataform CLI against the recording BigQuery endpoint: the labels asserted are those of
  // the jobs Dataform itself inserted.
  const bigquery = new FakeGoogleApis();
  let env: Record<string, string>;
  before(async () => {
    const endpoint = await bigquery.start();
    env = { BIGQUERY_EMULATOR_HOST: `${endpoint}/bigquery/v2`, ORCHESTRATOR_BIGQUERY_ENDPOINT: endpoint, GOOGLE_APPLICATION_CREDENTIALS: '' };
    for (const id of ['chat_raw', 'chat_models', 'chat_assertions']) {
      bigquery.datasets.set(id, { id: `${PROJECT}:${id}`, location: 'EU', datasetReference: { projectId: PROJECT, datasetId: id } });
    }
  });
  after(() => bigquery.stop());

  const jobLabels = (from: number) => bigquery.requests.slice(from)
    .filter((r) => r.method === 'POST' && /\/bigquery\/v2\/projects\/[^/]+\/jobs$/.test(r.path))
    .map((r) => (r.body as { configuration?: { labels?: Record<string, string> } }).configuration?.labels);

  test('every query job of a transform carries pipeline and step=transform', async () => {
    const from = bigquery.requests.length;
    const result = await cli(['transform', '--target', 'gcp', '--project', PROJECT, '--location', 'EU', '--dry-run', '--workdir', path.join(temp, 'work')], temp, env);
    assert.equal(result.code, 0, result.stderr);
    const labels = jobLabels(from);
    assert.ok(labels.length >= 19, `one job per statement at least, got ${labels.length}`);
    assert.deepEqual(new Set(labels.map((l) => JSON.stringify(l))), new Set([JSON.stringify({ pipeline: 'chat-elt-pipeline', step: 'transform' })]));
  });

  test('every query job of assert carries step=assert', async () => {
    const from = bigquery.requests.length;
    const result = await cli(['assert', '--target', 'gcp', '--project', PROJECT, '--location', 'EU', '--workdir', path.join(temp, 'work')], temp, env);
    assert.equal(result.code, 0, result.stderr);
    const labels = jobLabels(from);
    assert.ok(labels.length > 0);
    assert.deepEqual(new Set(labels.map((l) => JSON.stringify(l))), new Set([JSON.stringify({ pipeline: 'chat-elt-pipeline', step: 'assert' })]));
  });
});

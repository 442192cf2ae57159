import type { DatasetResource } from '@google-cloud/bigquery';
import type { protos } from '@google-cloud/dataform';
import { status as grpcStatus } from '@grpc/grpc-js';
import type { ProjectConfig } from '../config.js';
import { compileProject } from '../dataform/compile.js';
import { AUDIT_TAG, PIPELINE_TAG, actionsInDependencyOrder, selectActions } from '../dataform/graph.js';
import { UserError, errorMessage } from '../errors.js';
import { type GcpClients, GoogleApiError, type ScheduleClients, isNotFound } from './clients.js';
import { bigqueryVars } from './dataform.js';
import { checkLocation } from './location.js';
import type { GcpStep } from './provision.js';
import { type ScheduleSettings, type GcpSettings, incrementalCron } from './settings.js';

type ReleaseConfig = protos.google.cloud.dataform.v1.IReleaseConfig;
type WorkflowConfig = protos.google.cloud.dataform.v1.IWorkflowConfig;

/** The release configuration that compiles the default branch, and the two workflows that run it. */
export const RELEASE_CONFIG_ID = 'production';
export const INCREMENTAL_WORKFLOW_ID = 'incremental';
export const AUDIT_WORKFLOW_ID = 'nightly-audit';

/** The identity Dataform itself acts as: it reads the git token and mints tokens for the runner. */
export const dataformServiceAgent = (projectNumber: string) => `service-${projectNumber}@gcp-sa-dataform.iam.gserviceaccount.com`;

/** What the runner needs, at the narrowest scope BigQuery offers for each (Dataform's required-access page). */
export const RUNNER_DATASET_ROLES = { models: 'roles/bigquery.dataEditor', assertions: 'roles/bigquery.dataEditor', raw: 'roles/bigquery.dataViewer' } as const;
export const RUNNER_PROJECT_ROLE = 'roles/bigquery.jobUser';
export const AGENT_SERVICE_ACCOUNT_ROLE = 'roles/iam.serviceAccountTokenCreator';
export const AGENT_SECRET_ROLE = 'roles/secretmanager.secretAccessor';

/** BigQuery answers a dataset's access entries with the basic role a predefined dataset role maps to. */
const DATASET_ROLE_ALIASES: Record<string, string> = { 'roles/bigquery.dataViewer': 'READER', 'roles/bigquery.dataEditor': 'WRITER', 'roles/bigquery.dataOwner': 'OWNER' };

export interface ScheduledWorkflow {
  id: string;
  cron: string;
  timeZone: string;
  tags: string[];
  /** The actions it runs, as the release compiles them (`project.dataset.name`). */
  actions: string[];
}

export interface ScheduleResult {
  steps: GcpStep[];
  workflows: ScheduledWorkflow[];
}

export interface ScheduleRunOptions {
  /** Read only, and report what would be written. */
  plan: boolean;
  log: (line: string) => void;
}

interface Policy { version?: number | null; etag?: string | Uint8Array | null; bindings?: { role?: string | null; members?: string[] | null; condition?: { expression?: string | null; title?: string | null } | null }[] | null }

/**
 * The policy with `member` holding `role` unconditionally, or undefined when it does already. A
 * binding with a condition is left alone: adding the member there would grant the role only under
 * someone else's condition.
 */
export function withUnconditionalMember(policy: Policy, role: string, member: string): Policy | undefined {
  const bindings = policy.bindings ?? [];
  if (bindings.some((b) => b.role === role && !b.condition && (b.members ?? []).includes(member))) return undefined;
  const index = bindings.findIndex((b) => b.role === role && !b.condition);
  return {
    ...policy,
    bindings: index >= 0
      ? bindings.map((b, i) => (i === index ? { ...b, members: [...(b.members ?? []), member] } : b))
      : [...bindings, { role, members: [member] }],
  };
}

const isPermissionDenied = (error: unknown) => [grpcStatus.PERMISSION_DENIED, 403].includes((error as { code?: number }).code ?? 0);
const sameSet = (a: readonly string[], b: readonly string[]) => a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');
const orEmpty = (value: string | null | undefined) => value ?? '';

/**
 * The actions each workflow runs, from the project compiled exactly as the release compiles it. The
 * incremental workflow selects the `pipeline` tag; a run without selection (local or `transform
 * --target gcp`) runs everything but the audits: a difference between the two is refused here, so
 * the scheduled run is the run that was tested.
 */
export async function scheduledActions(project: ProjectConfig, gcp: GcpSettings, vars: Record<string, string>) {
  const graph = await compileProject(project.projectDir, vars, { defaultDatabase: gcp.projectId, defaultLocation: gcp.location });
  const ordered = actionsInDependencyOrder(graph);
  const names = (tags?: string[]) => selectActions(ordered, { tags }).map((a) => a.name);
  const incremental = names([PIPELINE_TAG]);
  const unselected = names();
  if (!sameSet(incremental, unselected)) {
    const missing = unselected.filter((a) => !incremental.includes(a));
    const extra = incremental.filter((a) => !unselected.includes(a));
    throw new UserError(`the tag ${PIPELINE_TAG} does not select what a run without selection runs: ${[
      missing.length ? `untagged ${missing.join(', ')}` : '', extra.length ? `tagged but excluded ${extra.join(', ')}` : ''].filter(Boolean).join('; ')}`);
  }
  return { incremental, audit: names([AUDIT_TAG]) };
}

/**
 * Sets up scheduled runs with Dataform's own scheduler, with the official clients: the runner service
 * account and its grants, the repository linked to git, the release configuration and the two
 * workflow configurations, and the Dataform service agent's access to the git token and to the
 * runner. Idempotent: what exists is read and compared; a difference is reported (`differs`), never
 * changed or deleted. With `plan`, only reads are made.
 */
export async function scheduleGcp(
  project: ProjectConfig, gcp: GcpSettings, schedule: ScheduleSettings, clients: GcpClients, sc: ScheduleClients, options: ScheduleRunOptions,
): Promise<ScheduleResult> {
  const { plan } = options;
  const steps: GcpStep[] = [];
  const act = async (step: GcpStep, write: () => Promise<unknown>) => {
    steps.push(step);
    if (plan) return;
    await write();
    step.status = step.status === 'create' ? 'created' : step.status === 'grant' ? 'granted' : step.status;
  };

  // The release compiles with this location: the datasets must be there, as for `transform --target gcp`.
  await checkLocation(project, gcp, clients.bigquery);
  const vars = bigqueryVars(project.vars);
  const selected = await scheduledActions(project, gcp, vars);
  const projectNumber = gcp.projectNumber ?? (await lookUpProjectNumber(sc, gcp.projectId));
  const agent = `serviceAccount:${dataformServiceAgent(projectNumber)}`;
  const runnerEmail = schedule.serviceAccount;
  const runner = `serviceAccount:${runnerEmail}`;

  // The runner service account: created when it belongs to this project and is missing.
  const accountPath = `v1/projects/-/serviceAccounts/${runnerEmail}`;
  let runnerExists = true;
  try {
    await sc.rest('iam', 'GET', accountPath);
    steps.push({ resource: 'service account', name: runnerEmail, status: 'exists' });
  } catch (error) {
    if (!isNotFound(error)) throw apiError(`cannot read the service account ${runnerEmail}`, error);
    runnerExists = false;
    const [accountId, domain] = runnerEmail.split('@');
    if (domain !== `${gcp.projectId}.iam.gserviceaccount.com`) {
      throw new UserError(`the service account ${runnerEmail} does not exist, and only one of project ${gcp.projectId} is created here: create it, or name one of this project`);
    }
    const body = { accountId, serviceAccount: { displayName: 'Dataform scheduled runs', description: `Runs the ${schedule.repository} Dataform workflows` } };
    await act({ resource: 'service account', name: runnerEmail, status: 'create', settings: body }, async () => {
      await sc.rest('iam', 'POST', `v1/projects/${gcp.projectId}/serviceAccounts`, body);
      runnerExists = true;
    });
  }

  // The runner's BigQuery roles: data on the pipeline's datasets only, jobs on the project.
  for (const [datasetId, role] of [[project.modelsDataset, RUNNER_DATASET_ROLES.models], [project.assertionsDataset, RUNNER_DATASET_ROLES.assertions], [project.raw.schema, RUNNER_DATASET_ROLES.raw]] as const) {
    const dataset = clients.bigquery.dataset(datasetId);
    const [exists] = await dataset.exists();
    if (!exists) throw new UserError(`dataset ${datasetId} does not exist: run 'orchestrator provision --target gcp' first`);
    const metadata = (await dataset.getMetadata())[0] as DatasetResource;
    const access = metadata.access ?? [];
    const holds = access.some((entry) => (entry.role === role || entry.role === DATASET_ROLE_ALIASES[role]) &&
      (entry.userByEmail === runnerEmail || entry.iamMember === runner));
    const settings = { role, member: runner };
    if (holds) steps.push({ resource: 'IAM on BigQuery dataset', name: datasetId, status: 'exists', settings });
    else await act({ resource: 'IAM on BigQuery dataset', name: datasetId, status: 'grant', settings }, () => dataset.setMetadata({ access: [...access, { role, userByEmail: runnerEmail }] }));
  }
  await grantOnPolicy(steps, act, { resource: 'IAM on project', name: gcp.projectId, role: RUNNER_PROJECT_ROLE, member: runner }, {
    // Version 3 keeps the conditional bindings of the policy intact on the way back.
    get: () => sc.rest<Policy>('cloudresourcemanager', 'POST', `v1/projects/${gcp.projectId}:getIamPolicy`, { options: { requestedPolicyVersion: 3 } }),
    set: (policy) => sc.rest('cloudresourcemanager', 'POST', `v1/projects/${gcp.projectId}:setIamPolicy`, { policy: { ...policy, version: 3 } }),
  }, true);

  // The repository, linked to the git remote. Creating the first repository also creates the Dataform service agent.
  const parent = `projects/${gcp.projectId}/locations/${schedule.region}`;
  const repositoryName = `${parent}/repositories/${schedule.repository}`;
  const gitRemoteSettings = { url: schedule.gitRemoteUrl, defaultBranch: schedule.gitDefaultBranch, authenticationTokenSecretVersion: schedule.gitTokenSecretVersion };
  const repository = await getOrUndefined(() => sc.dataform.getRepository({ name: repositoryName }), `the Dataform repository ${repositoryName}`);
  if (!repository) {
    await act({ resource: 'Dataform repository', name: repositoryName, status: 'create', settings: { gitRemoteSettings } },
      () => sc.dataform.createRepository({ parent, repositoryId: schedule.repository, repository: { gitRemoteSettings } }));
  } else {
    const found = repository.gitRemoteSettings;
    const differences = [
      orEmpty(found?.url) !== gitRemoteSettings.url ? `git remote ${orEmpty(found?.url) || 'none'}, expected ${gitRemoteSettings.url}` : '',
      orEmpty(found?.defaultBranch) !== gitRemoteSettings.defaultBranch ? `default branch ${orEmpty(found?.defaultBranch) || 'none'}, expected ${gitRemoteSettings.defaultBranch}` : '',
      orEmpty(found?.authenticationTokenSecretVersion) !== gitRemoteSettings.authenticationTokenSecretVersion
        ? `token secret ${orEmpty(found?.authenticationTokenSecretVersion) || 'none'}, expected ${gitRemoteSettings.authenticationTokenSecretVersion}` : '',
    ].filter(Boolean);
    steps.push(differs('Dataform repository', repositoryName, differences));
  }

  // The Dataform service agent reads the git token, and mints the runner's tokens.
  const secretName = schedule.gitTokenSecretVersion.replace(/\/versions\/[^/]+$/, '');
  await grantOnPolicy(steps, act, { resource: 'IAM on secret', name: secretName, role: AGENT_SECRET_ROLE, member: agent }, {
    get: async () => {
      try {
        return (await sc.secrets.getIamPolicy({ resource: secretName }))[0];
      } catch (error) {
        if (isNotFound(error)) {
          throw new UserError(`the secret ${secretName} does not exist: create it with the git provider's token (the one manual step, see the README's "Scheduled runs")`);
        }
        throw apiError(`cannot read the IAM policy of ${secretName}`, error);
      }
    },
    set: (policy) => sc.secrets.setIamPolicy({ resource: secretName, policy }),
  }, true);
  await grantOnPolicy(steps, act, { resource: 'IAM on service account', name: runnerEmail, role: AGENT_SERVICE_ACCOUNT_ROLE, member: agent }, {
    get: () => sc.rest<Policy>('iam', 'POST', `${accountPath}:getIamPolicy`),
    set: (policy) => sc.rest('iam', 'POST', `${accountPath}:setIamPolicy`, { policy }),
  }, runnerExists);

  // An existing repository: does its token work? (Right after creation the agent's grant may still be propagating.)
  if (repository && !steps.some((step) => step.name === repositoryName && step.status === 'differs')) {
    const [{ tokenStatus }] = await sc.dataform.computeRepositoryAccessTokenStatus({ name: repositoryName });
    const status = typeof tokenStatus === 'number' ? ['TOKEN_STATUS_UNSPECIFIED', 'NOT_FOUND', 'INVALID', 'VALID'][tokenStatus] : tokenStatus;
    const problems: Record<string, string> = {
      NOT_FOUND: 'Dataform cannot read it: the secret version is missing or the Dataform service agent may not access it',
      INVALID: `the git provider refuses it for ${schedule.gitRemoteUrl}: expired, revoked, or without access to the repository`,
    };
    const problem = problems[String(status)];
    steps.push({ resource: 'git access token', name: schedule.gitTokenSecretVersion, status: problem ? 'unhealthy' : 'exists', detail: problem });
  }

  // The release configuration: compiles the default branch as `transform --target gcp` compiles it.
  const releaseName = `${repositoryName}/releaseConfigs/${RELEASE_CONFIG_ID}`;
  const release = {
    gitCommitish: schedule.gitDefaultBranch,
    codeCompilationConfig: { defaultDatabase: gcp.projectId, defaultLocation: gcp.location, vars },
    cronSchedule: schedule.releaseCron,
    timeZone: schedule.timeZone,
  };
  const existingRelease = repository ? await getOrUndefined(() => sc.dataform.getReleaseConfig({ name: releaseName }), `the release configuration ${releaseName}`) : undefined;
  if (!existingRelease) {
    await act({ resource: 'Dataform release configuration', name: releaseName, status: 'create', settings: release },
      () => sc.dataform.createReleaseConfig({ parent: repositoryName, releaseConfigId: RELEASE_CONFIG_ID, releaseConfig: release }));
  } else {
    steps.push(differs('Dataform release configuration', releaseName, releaseDifferences(existingRelease, release)));
  }
  if (!existingRelease?.releaseCompilationResult) await firstCompilation(act, sc, repositoryName, { name: releaseName, ...release });

  // The workflows: the incremental graph every N minutes, the audits nightly; both as the runner.
  const workflows: ScheduledWorkflow[] = [
    { id: INCREMENTAL_WORKFLOW_ID, cron: incrementalCron(schedule.incrementalEveryMinutes), timeZone: schedule.timeZone, tags: [PIPELINE_TAG], actions: selected.incremental },
    { id: AUDIT_WORKFLOW_ID, cron: schedule.auditCron, timeZone: schedule.timeZone, tags: [AUDIT_TAG], actions: selected.audit },
  ];
  for (const workflow of workflows) {
    const name = `${repositoryName}/workflowConfigs/${workflow.id}`;
    const config = {
      releaseConfig: releaseName,
      invocationConfig: {
        includedTags: workflow.tags, transitiveDependenciesIncluded: false, transitiveDependentsIncluded: false,
        fullyRefreshIncrementalTablesEnabled: false, serviceAccount: runnerEmail,
      },
      cronSchedule: workflow.cron,
      timeZone: workflow.timeZone,
    };
    const existing = repository ? await getOrUndefined(() => sc.dataform.getWorkflowConfig({ name }), `the workflow configuration ${name}`) : undefined;
    if (existing) {
      steps.push(differs('Dataform workflow configuration', name, workflowDifferences(existing, config)));
      continue;
    }
    await act({ resource: 'Dataform workflow configuration', name, status: 'create', settings: config }, async () => {
      try {
        await sc.dataform.createWorkflowConfig({ parent: repositoryName, workflowConfigId: workflow.id, workflowConfig: config });
      } catch (error) {
        // Strict act-as mode: whoever creates a workflow that runs as a service account must be allowed to act as it.
        if (isPermissionDenied(error)) {
          throw new UserError(`cannot create the workflow configuration ${workflow.id}: ${errorMessage(error)} (creating a workflow that runs as ${runnerEmail} needs iam.serviceAccounts.actAs on it: Service Account User)`);
        }
        throw error;
      }
    });
  }
  return { steps, workflows };
}

function differs(resource: string, name: string, differences: string[]): GcpStep {
  return { resource, name, status: differences.length ? 'differs' : 'exists', detail: differences.join('; ') || undefined };
}

/** What a release and a workflow configuration share: when they run, and whether at all. */
function timingDifferences(found: ReleaseConfig | WorkflowConfig, expected: { cronSchedule: string; timeZone: string }): string[] {
  return [
    orEmpty(found.cronSchedule) !== expected.cronSchedule ? `cron ${orEmpty(found.cronSchedule) || '(none)'}, expected ${expected.cronSchedule}` : '',
    (orEmpty(found.timeZone) || 'UTC') !== expected.timeZone ? `time zone ${orEmpty(found.timeZone) || 'UTC'}, expected ${expected.timeZone}` : '',
    found.disabled ? 'disabled' : '',
  ];
}

function releaseDifferences(found: ReleaseConfig, expected: { gitCommitish: string; codeCompilationConfig: { defaultDatabase: string; defaultLocation: string; vars: Record<string, string> }; cronSchedule: string; timeZone: string }): string[] {
  const config = found.codeCompilationConfig;
  const foundVars = config?.vars ?? {};
  const varDifferences = [...new Set([...Object.keys(foundVars), ...Object.keys(expected.codeCompilationConfig.vars)])].sort()
    .filter((key) => foundVars[key] !== expected.codeCompilationConfig.vars[key])
    .map((key) => `var ${key}=${foundVars[key] ?? '(unset)'}, expected ${expected.codeCompilationConfig.vars[key] ?? '(unset)'}`);
  return [
    orEmpty(found.gitCommitish) !== expected.gitCommitish ? `compiles ${orEmpty(found.gitCommitish)}, expected ${expected.gitCommitish}` : '',
    orEmpty(config?.defaultDatabase) !== expected.codeCompilationConfig.defaultDatabase ? `default database ${orEmpty(config?.defaultDatabase) || '(unset)'}, expected ${expected.codeCompilationConfig.defaultDatabase}` : '',
    orEmpty(config?.defaultLocation) !== expected.codeCompilationConfig.defaultLocation ? `default location ${orEmpty(config?.defaultLocation) || '(unset)'}, expected ${expected.codeCompilationConfig.defaultLocation}` : '',
    ...['defaultSchema', 'assertionSchema', 'databaseSuffix', 'schemaSuffix', 'tablePrefix'].filter((key) => orEmpty((config as Record<string, string> | null | undefined)?.[key]))
      .map((key) => `${key} is set, overriding dataform.json`),
    ...varDifferences,
    ...timingDifferences(found, expected),
  ].filter(Boolean);
}

function workflowDifferences(found: WorkflowConfig, expected: { releaseConfig: string; invocationConfig: { includedTags: string[]; serviceAccount: string }; cronSchedule: string; timeZone: string }): string[] {
  const invocation = found.invocationConfig;
  const tags = invocation?.includedTags ?? [];
  return [
    orEmpty(found.releaseConfig) !== expected.releaseConfig ? `runs ${orEmpty(found.releaseConfig)}, expected ${expected.releaseConfig}` : '',
    !sameSet(tags, expected.invocationConfig.includedTags) ? `tags ${tags.join(',') || '(all actions)'}, expected ${expected.invocationConfig.includedTags.join(',')}` : '',
    invocation?.includedTargets?.length ? `also selects ${invocation.includedTargets.length} action(s) by name` : '',
    invocation?.transitiveDependenciesIncluded ? 'includes dependencies' : '',
    invocation?.transitiveDependentsIncluded ? 'includes dependents' : '',
    invocation?.fullyRefreshIncrementalTablesEnabled ? 'fully refreshes incremental tables' : '',
    orEmpty(invocation?.serviceAccount) !== expected.invocationConfig.serviceAccount
      ? `runs as ${orEmpty(invocation?.serviceAccount) || 'the Dataform service agent'}, expected ${expected.invocationConfig.serviceAccount}` : '',
    ...timingDifferences(found, expected),
  ].filter(Boolean);
}

/**
 * A release has nothing to run until its cron first compiles: the workflows' runs before that fail.
 * So a release without a compilation result is compiled once now, and that result becomes its
 * release; the compilation's errors (a package Dataform could not install, a compile error) are
 * reported here rather than by the first scheduled run.
 */
async function firstCompilation(act: (step: GcpStep, write: () => Promise<unknown>) => Promise<void>, sc: ScheduleClients, repositoryName: string, release: ReleaseConfig & { name: string }) {
  const releaseName = release.name;
  const step: GcpStep = { resource: 'Dataform compilation result', name: releaseName, status: 'create', settings: { releaseConfig: releaseName }, detail: 'the release has none yet: compiled now, then set as its release' };
  await act(step, async () => {
    const [result] = await sc.dataform.createCompilationResult({ parent: repositoryName, compilationResult: { releaseConfig: releaseName } });
    const errors = result.compilationErrors ?? [];
    if (errors.length) {
      step.status = 'unhealthy';
      step.detail = `the release does not compile: ${errors.slice(0, 3).map((e) => `${e.path ?? '?'}: ${e.message ?? ''}`).join('; ')}`;
      return;
    }
    // The mask limits the update to the release; the rest is sent as it is, since the API requires gitCommitish.
    await sc.dataform.updateReleaseConfig({ releaseConfig: { ...release, releaseCompilationResult: result.name }, updateMask: { paths: ['release_compilation_result'] } });
    step.detail = `${result.name} is the release`;
  });
}

interface GrantTarget { resource: string; name: string; role: string; member: string }

/** Adds `member` to `role` on a resource's IAM policy (read, then written back whole with its etag). */
async function grantOnPolicy(
  steps: GcpStep[], act: (step: GcpStep, write: () => Promise<unknown>) => Promise<void>, target: GrantTarget,
  iam: { get: () => Promise<Policy>; set: (policy: Policy) => Promise<unknown> }, resourceExists: boolean,
): Promise<void> {
  const { resource, name, role, member } = target;
  const settings = { role, member };
  // Only when planning: a real run has created the resource by now.
  if (!resourceExists) {
    steps.push({ resource, name, status: 'grant', settings, detail: 'after it is created' });
    return;
  }
  const updated = withUnconditionalMember(await iam.get(), role, member);
  if (!updated) {
    steps.push({ resource, name, status: 'exists', settings });
    return;
  }
  await act({ resource, name, status: 'grant', settings }, async () => {
    try {
      await iam.set(updated);
    } catch (error) {
      // A grant to a service agent or account IAM does not know yet (just created) is refused with 400.
      if (/does not exist|not found/i.test(errorMessage(error))) {
        throw new UserError(`cannot grant ${role} on ${name} to ${member}: ${errorMessage(error)} (an identity created moments ago can take a minute to be known: run schedule again)`);
      }
      throw apiError(`cannot grant ${role} on ${name}`, error);
    }
  });
}

async function getOrUndefined<T>(get: () => Promise<[T, ...unknown[]]>, what: string): Promise<T | undefined> {
  try {
    return (await get())[0];
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw apiError(`cannot read ${what}`, error);
  }
}

async function lookUpProjectNumber(sc: ScheduleClients, projectId: string): Promise<string> {
  try {
    const project = await sc.rest<{ projectNumber?: string }>('cloudresourcemanager', 'GET', `v1/projects/${projectId}`);
    if (project.projectNumber) return project.projectNumber;
  } catch (error) {
    throw apiError(`cannot find the number of project ${projectId} (pass --project-number)`, error);
  }
  throw new UserError(`cannot find the number of project ${projectId}: pass --project-number`);
}

/** A refusal by an API is the user's to fix (permissions, quota, a wrong name): one line. */
function apiError(what: string, error: unknown): Error {
  if (error instanceof GoogleApiError || typeof (error as { code?: unknown }).code === 'number') return new UserError(`${what}: ${errorMessage(error)}`);
  return error as Error;
}

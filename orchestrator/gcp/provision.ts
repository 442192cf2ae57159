import type { DatasetResource, FormattedMetadata as TableResource } from '@google-cloud/bigquery';
import type { ProjectConfig } from '../config.js';
import { UserError, errorMessage } from '../errors.js';
import { MAX_DELIVERY_ATTEMPTS } from '../pipeline/provision.js';
import { RAW_COLUMNS } from '../warehouse/warehouse.js';
import { type GcpClients, isNotFound } from './clients.js';
import { DEFAULT_PROPAGATION_WAIT, type IamPolicy, type PropagationWait, createWithIamPropagation, ensurePubSubServiceAgent, pubsubServiceAgent, withMember } from './iam.js';
import type { GcpSettings } from './settings.js';
import { type SubscriptionMetadata, checkSubscription } from './subscriptionHealth.js';

export interface GcpStep {
  resource: string;
  name: string;
  /**
   * create/grant: needed (done unless planning); ensured: made sure of (created if it was missing);
   * exists: as expected; differs: reported, left alone; unhealthy: as configured, but not working.
   */
  status: 'create' | 'created' | 'grant' | 'granted' | 'ensured' | 'exists' | 'differs' | 'unhealthy' | 'skipped';
  settings?: Record<string, unknown>;
  detail?: string;
}

export interface ProvisionOptions {
  /** Read only, and report what would be written. */
  plan: boolean;
  /** Progress (the IAM propagation wait). */
  log: (line: string) => void;
  wait?: Omit<PropagationWait, 'log'>;
  /** Seconds between polls of the service agent's creation. */
  agentPollSeconds?: number;
}

/** Never-expiring: without a policy Pub/Sub deletes a subscription after 31 days without activity. */
const NEVER_EXPIRE = { expirationPolicy: {} };


/**
 * BigQuery allows 10,000 partitions per table: 416 days of hourly partitions. Raw partitions expire
 * after this many days unless configured otherwise; the protected stg_events keeps the history.
 */
export const DEFAULT_RAW_PARTITION_EXPIRATION_DAYS = 400;

/**
 * The raw table as the BigQuery subscription writes it: the subscription's metadata columns,
 * partitioned by the hour of publish_time (the unit an incremental run reads) and clustered by it (a
 * run that reads the rest of an hour it has read before skips the blocks it read), and every query
 * must filter on publish_time, so nothing scans the whole landing history by accident.
 */
export function rawTableResource(settings: GcpSettings) {
  const expirationDays = settings.rawPartitionExpirationDays ?? DEFAULT_RAW_PARTITION_EXPIRATION_DAYS;
  return {
    schema: { fields: RAW_COLUMNS.map((c) => ({ name: c.name, type: c.type, mode: 'NULLABLE' })) },
    timePartitioning: { type: 'HOUR', field: 'publish_time', expirationMs: String(expirationDays * 86_400_000) },
    clustering: { fields: ['publish_time'] },
    requirePartitionFilter: true,
  };
}


/**
 * Creates, with the client libraries only, what the pipeline needs on Google Cloud: the bucket, the
 * datasets and the raw table, the topics, the BigQuery subscription into the raw table, a
 * subscription on the dead-letter topic, and the IAM the writing identity and the Pub/Sub service
 * agent need, at the narrowest scope. Idempotent: an existing resource is checked, and a difference
 * that matters is reported (status `differs`), never changed or deleted. With `plan`, only reads are made.
 */
export async function provisionGcp(project: ProjectConfig, settings: GcpSettings, clients: GcpClients, options: ProvisionOptions): Promise<GcpStep[]> {
  const { plan } = options;
  const steps: GcpStep[] = [];
  const names = project.resources;
  const { storage, bigquery, pubsub } = clients;
  const act = async (step: GcpStep, write: () => Promise<unknown>) => {
    if (!plan) {
      await write();
      step.status = step.status === 'create' ? 'created' : step.status === 'grant' ? 'granted' : step.status;
    }
    steps.push(step);
  };

  // Cloud Storage: the landing bucket.
  const bucket = storage.bucket(names.bucket);
  const bucketSettings = { location: settings.location, iamConfiguration: { uniformBucketLevelAccess: { enabled: true }, publicAccessPrevention: 'enforced' } };
  const [bucketExists] = await bucket.exists();
  if (!bucketExists) {
    await act({ resource: 'bucket', name: names.bucket, status: 'create', settings: bucketSettings }, () => storage.createBucket(names.bucket, bucketSettings));
  } else {
    const [metadata] = await bucket.getMetadata();
    const differences = [
      (metadata.location ?? '').toUpperCase() !== settings.location.toUpperCase() ? `location ${String(metadata.location)}, expected ${settings.location}` : '',
      metadata.iamConfiguration?.uniformBucketLevelAccess?.enabled ? '' : 'uniform bucket-level access is off',
    ].filter(Boolean);
    steps.push({ resource: 'bucket', name: names.bucket, status: differences.length ? 'differs' : 'exists', detail: differences.join('; ') || undefined });
  }

  // BigQuery: datasets in one location, then the raw table.
  for (const datasetId of [project.raw.schema, project.modelsDataset, project.assertionsDataset]) {
    const dataset = bigquery.dataset(datasetId);
    const [exists] = await dataset.exists();
    if (!exists) {
      await act({ resource: 'BigQuery dataset', name: datasetId, status: 'create', settings: { location: settings.location } }, () => bigquery.createDataset(datasetId, { location: settings.location }));
      continue;
    }
    const metadata = (await dataset.getMetadata())[0] as DatasetResource;
    const location = metadata.location ?? '';
    const differs = location.toUpperCase() !== settings.location.toUpperCase();
    steps.push({ resource: 'BigQuery dataset', name: datasetId, status: differs ? 'differs' : 'exists', detail: differs ? `location ${location}, expected ${settings.location}` : undefined });
  }
  const rawName = `${project.raw.schema}.${project.raw.name}`;
  const table = bigquery.dataset(project.raw.schema).table(project.raw.name);
  const tableResource = rawTableResource(settings);
  const [tableExists] = await table.exists();
  if (!tableExists) {
    await act({ resource: 'BigQuery table', name: rawName, status: 'create', settings: tableResource }, () => bigquery.dataset(project.raw.schema).createTable(project.raw.name, tableResource));
  } else {
    const metadata = (await table.getMetadata())[0] as TableResource;
    const fields = metadata.schema?.fields ?? [];
    const differences = RAW_COLUMNS.filter((c) => !fields.some((f) => f.name === c.name && f.type === c.type)).map((c) => `column ${c.name} ${c.type} missing or of another type`);
    if (metadata.timePartitioning?.field !== 'publish_time') differences.push('not partitioned by publish_time');
    else if (metadata.timePartitioning.type !== 'HOUR') differences.push(`partitioned by ${metadata.timePartitioning.type}, expected HOUR: incremental runs would read whole ${String(metadata.timePartitioning.type).toLowerCase()}s`);
    if (metadata.requirePartitionFilter !== true) differences.push('does not require a partition filter');
    if (metadata.clustering?.fields?.[0] !== 'publish_time') differences.push('not clustered by publish_time: a run that reads the rest of an hour it has read before scans the whole hour');
    steps.push({ resource: 'BigQuery table', name: rawName, status: differences.length ? 'differs' : 'exists', detail: differences.join('; ') || undefined });
  }

  // Pub/Sub topics.
  const topicsKnown = new Set<string>();
  for (const topicName of [names.topic, names.deadLetterTopic]) {
    const [exists] = await pubsub.topic(topicName).exists();
    if (exists) {
      topicsKnown.add(topicName);
      steps.push({ resource: 'Pub/Sub topic', name: topicName, status: 'exists' });
    } else {
      await act({ resource: 'Pub/Sub topic', name: topicName, status: 'create' }, async () => { await pubsub.createTopic(topicName); topicsKnown.add(topicName); });
    }
  }

  // IAM. The Pub/Sub service agent forwards to the dead-letter topic (and writes the raw table, unless
  // a dedicated service account does). On a new project the agent may not exist until Pub/Sub needs
  // it, so it is made sure of before anything is granted to it.
  const projectNumber = settings.projectNumber ?? (await serviceAgentProjectNumber(clients));
  const agentEmail = pubsubServiceAgent(projectNumber);
  const agent = `serviceAccount:${agentEmail}`;
  const writer = settings.subscriptionServiceAccount ? `serviceAccount:${settings.subscriptionServiceAccount}` : agent;
  const agentStep: GcpStep = { resource: 'Pub/Sub service agent', name: agentEmail, status: 'skipped', detail: 'no grant to it is checked (the emulator has no IAM)' };
  steps.push(agentStep);
  let agentMadeSure = false;
  const beforeGranting = async (member: string) => {
    if (member !== agent || agentMadeSure) return;
    agentMadeSure = true;
    agentStep.status = plan ? 'create' : 'ensured';
    agentStep.detail = 'Service Usage generateServiceIdentity (creates it if the project has none yet), before its first grant';
    if (!plan) await ensurePubSubServiceAgent(clients, settings.projectId, agentEmail, options.agentPollSeconds);
  };
  const grant = async (resource: string, name: string, role: string, member: string, iam: { get: () => Promise<IamPolicy>; set: (p: IamPolicy) => Promise<unknown> } | undefined, known: boolean) => {
    const grantSettings = { role, member };
    if (!iam) {
      steps.push({ resource, name, status: 'skipped', settings: grantSettings, detail: 'the Pub/Sub emulator has no IAM' });
      return;
    }
    if (!known) {
      await beforeGranting(member);
      steps.push({ resource, name, status: 'grant', settings: grantSettings, detail: 'after it is created' });
      return;
    }
    const updated = withMember(await iam.get(), role, member);
    if (!updated) {
      if (member === agent && !agentMadeSure) Object.assign(agentStep, { status: 'exists', detail: 'it holds grants already' });
      steps.push({ resource, name, status: 'exists', settings: grantSettings });
      return;
    }
    await beforeGranting(member);
    await act({ resource, name, status: 'grant', settings: grantSettings }, () => iam.set(updated));
  };
  const pubsubIam = (iam: { getPolicy(): Promise<[IamPolicy, ...unknown[]]>; setPolicy(policy: never): Promise<unknown> }) => (clients.pubsubEmulated ? undefined : {
    get: async () => (await iam.getPolicy())[0],
    set: (policy: IamPolicy) => iam.setPolicy(policy as never),
  });
  // With pull landing the sink writes the table with the operator's own credentials.
  if (settings.landing === 'bigquery') {
    await grant('IAM on BigQuery table', rawName, 'roles/bigquery.dataEditor', writer, {
      get: async () => (await table.getIamPolicy())[0],
      set: (policy) => table.setIamPolicy(policy as never),
    }, tableExists || !plan);
  }
  const deadLetterTopic = pubsub.topic(names.deadLetterTopic);
  await grant('IAM on Pub/Sub topic', names.deadLetterTopic, 'roles/pubsub.publisher', agent, pubsubIam(deadLetterTopic.iam), topicsKnown.has(names.deadLetterTopic));

  // Subscriptions: the dead-letter inspection one (nobody pulls it, so it must never expire), then the raw one.
  await ensureSubscription(clients, steps, act, names.deadLetterSubscription, names.deadLetterTopic, { ackDeadlineSeconds: 60, ...NEVER_EXPIRE }, (metadata) =>
    metadata.bigqueryConfig?.table ? ['a BigQuery subscription where a pull subscription is expected'] : []);

  const bigqueryTable = `${settings.projectId}.${project.raw.schema}.${project.raw.name}`;
  const deadLetterPolicy = { deadLetterTopic: deadLetterTopic.name, maxDeliveryAttempts: MAX_DELIVERY_ATTEMPTS };
  const bigqueryConfig = {
    table: bigqueryTable, writeMetadata: true, useTopicSchema: false, useTableSchema: false, dropUnknownFields: false,
    ...(settings.subscriptionServiceAccount ? { serviceAccountEmail: settings.subscriptionServiceAccount } : {}),
  };
  const subscriptionSettings = settings.landing === 'pull'
    ? { ackDeadlineSeconds: 60, deadLetterPolicy, ...NEVER_EXPIRE }
    : { bigqueryConfig, deadLetterPolicy, ...NEVER_EXPIRE };
  const writerName = (email: string | null | undefined) => email || `the Pub/Sub service agent`;
  const rawSubscriptionKnown = await ensureSubscription(clients, steps, act, names.rawSubscription, names.topic, subscriptionSettings, (metadata) => {
    const config = metadata.bigqueryConfig;
    if (settings.landing === 'pull') {
      return [
        config?.table ? 'a BigQuery subscription where a pull subscription is expected (--landing pull)' : '',
        metadata.deadLetterPolicy?.deadLetterTopic !== deadLetterTopic.name ? 'no dead-letter policy to the dead-letter topic' : '',
      ].filter(Boolean);
    }
    if (!config?.table) return ['a pull subscription where a BigQuery subscription is expected'];
    return [
      config.table.replace(':', '.') !== bigqueryTable ? `writes to ${config.table}, expected ${bigqueryTable}` : '',
      config.writeMetadata ? '' : 'writeMetadata is off',
      (config.serviceAccountEmail || undefined) !== settings.subscriptionServiceAccount
        ? `writes as ${writerName(config.serviceAccountEmail)}, expected ${writerName(settings.subscriptionServiceAccount)}` : '',
      metadata.deadLetterPolicy?.deadLetterTopic !== deadLetterTopic.name ? 'no dead-letter policy to the dead-letter topic' : '',
    ].filter(Boolean);
  }, settings.landing === 'bigquery' ? { ...(options.wait ?? DEFAULT_PROPAGATION_WAIT), log: options.log } : undefined);
  await grant('IAM on Pub/Sub subscription', names.rawSubscription, 'roles/pubsub.subscriber', agent, pubsubIam(pubsub.subscription(names.rawSubscription).iam), rawSubscriptionKnown);
  return steps;
}

async function ensureSubscription(
  clients: GcpClients,
  steps: GcpStep[],
  act: (step: GcpStep, write: () => Promise<unknown>) => Promise<void>,
  name: string,
  topicName: string,
  settings: Record<string, unknown>,
  differences: (metadata: SubscriptionMetadata) => string[],
  /** A BigQuery subscription: its creation waits for the writer's fresh table grant to propagate. */
  propagation?: PropagationWait,
): Promise<boolean> {
  const checked = await checkSubscription(clients.pubsub, name, topicName, differences);
  if (checked) {
    steps.push({ resource: 'Pub/Sub subscription', name, ...checked });
    return true;
  }
  const topic = clients.pubsub.topic(topicName);
  let created = false;
  await act({ resource: 'Pub/Sub subscription', name, status: 'create', settings: { topic: topicName, ...settings } }, async () => {
    const create = () => topic.createSubscription(name, settings);
    if (!propagation) await create();
    else {
      await createWithIamPropagation(`subscription ${name}`, create, async () => {
        if (clients.pubsubEmulated) return true;
        const [permissions] = await topic.iam.testPermissions(['pubsub.topics.attachSubscription']);
        return permissions['pubsub.topics.attachSubscription'];
      }, propagation);
    }
    created = true;
  });
  return created;
}

/** The project number, read from Cloud Storage's service agent (service-NUMBER@gs-project-accounts...). */
async function serviceAgentProjectNumber(clients: GcpClients): Promise<string> {
  try {
    const [account] = await clients.storage.getServiceAccount();
    const match = /^service-(\d+)@/.exec(account.emailAddress ?? '');
    if (match) return match[1];
  } catch (error) {
    if (!isNotFound(error)) throw new UserError(`cannot find the project number (pass --project-number): ${errorMessage(error)}`);
  }
  throw new UserError('cannot find the project number: pass --project-number');
}

import type { ProjectConfig } from '../config.js';
import { UserError, errorMessage } from '../errors.js';
import { MAX_DELIVERY_ATTEMPTS } from '../pipeline/provision.js';
import { RAW_COLUMNS } from '../warehouse/warehouse.js';
import type { GcpClients } from './clients.js';
import type { GcpSettings } from './settings.js';

export interface GcpStep {
  resource: string;
  name: string;
  /** create/grant: needed (done unless planning); exists: as expected; differs: reported, left alone. */
  status: 'create' | 'created' | 'grant' | 'granted' | 'exists' | 'differs' | 'skipped';
  settings?: Record<string, unknown>;
  detail?: string;
}

interface IamPolicy { bindings?: { role?: string | null; members?: string[] | null }[] | null; etag?: unknown }

const isNotFound = (error: unknown) => (error as { code?: number }).code === 404 || (error as { code?: number }).code === 5;

/**
 * BigQuery allows 10,000 partitions per table: 416 days of hourly partitions. Raw partitions expire
 * after this many days unless configured otherwise; the protected stg_events keeps the history.
 */
export const DEFAULT_RAW_PARTITION_EXPIRATION_DAYS = 400;

/**
 * The raw table as the BigQuery subscription writes it: the subscription's metadata columns,
 * partitioned by the hour of publish_time (the unit an incremental run reads), and every query must
 * filter on publish_time, so nothing scans the whole landing history by accident.
 */
export function rawTableResource(settings: GcpSettings) {
  const expirationDays = settings.rawPartitionExpirationDays ?? DEFAULT_RAW_PARTITION_EXPIRATION_DAYS;
  return {
    schema: { fields: RAW_COLUMNS.map((c) => ({ name: c.name, type: c.type, mode: 'NULLABLE' })) },
    timePartitioning: { type: 'HOUR', field: 'publish_time', expirationMs: String(expirationDays * 86_400_000) },
    requirePartitionFilter: true,
  };
}

function withMember(policy: IamPolicy, role: string, member: string): IamPolicy | undefined {
  const bindings = policy.bindings ?? [];
  if (bindings.some((b) => b.role === role && (b.members ?? []).includes(member))) return undefined;
  const existing = bindings.find((b) => b.role === role);
  return {
    ...policy,
    bindings: existing
      ? bindings.map((b) => (b === existing ? { ...b, members: [...(b.members ?? []), member] } : b))
      : [...bindings, { role, members: [member] }],
  };
}

/**
 * Creates, with the client libraries only, what the pipeline needs on Google Cloud: the bucket, the
 * datasets and the raw table, the topics, the BigQuery subscription into the raw table, a
 * subscription on the dead-letter topic, and the IAM the Pub/Sub service agent needs at the narrowest
 * scope. Idempotent: an existing resource is checked, and a difference that matters is reported
 * (status `differs`), never changed or deleted. With `plan`, only reads are made.
 */
export async function provisionGcp(project: ProjectConfig, settings: GcpSettings, clients: GcpClients, plan: boolean): Promise<GcpStep[]> {
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
      String(metadata.location ?? '').toUpperCase() !== settings.location.toUpperCase() ? `location ${String(metadata.location)}, expected ${settings.location}` : '',
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
    const [metadata] = await dataset.getMetadata();
    const location = String(metadata.location ?? '');
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
    const [metadata] = await table.getMetadata();
    const fields = (metadata.schema?.fields ?? []) as { name: string; type: string }[];
    const differences = RAW_COLUMNS.filter((c) => !fields.some((f) => f.name === c.name && f.type === c.type)).map((c) => `column ${c.name} ${c.type} missing or of another type`);
    if (metadata.timePartitioning?.field !== 'publish_time') differences.push('not partitioned by publish_time');
    else if (metadata.timePartitioning.type !== 'HOUR') differences.push(`partitioned by ${metadata.timePartitioning.type}, expected HOUR: incremental runs would read whole ${String(metadata.timePartitioning.type).toLowerCase()}s`);
    if (metadata.requirePartitionFilter !== true) differences.push('does not require a partition filter');
    steps.push({ resource: 'BigQuery table', name: rawName, status: differences.length ? 'differs' : 'exists', detail: differences.join('; ') || undefined });
  }

  // IAM for the Pub/Sub service agent: it writes the raw table and forwards to the dead-letter topic.
  const projectNumber = settings.projectNumber ?? (await serviceAgentProjectNumber(clients));
  const agent = `serviceAccount:service-${projectNumber}@gcp-sa-pubsub.iam.gserviceaccount.com`;
  const grant = async (resource: string, name: string, role: string, iam: { get: () => Promise<IamPolicy>; set: (p: IamPolicy) => Promise<unknown> }, known: boolean) => {
    if (!known) {
      steps.push({ resource, name, status: 'grant', settings: { role, member: agent }, detail: 'after it is created' });
      return;
    }
    const updated = withMember(await iam.get(), role, agent);
    if (!updated) steps.push({ resource, name, status: 'exists', settings: { role, member: agent } });
    else await act({ resource, name, status: 'grant', settings: { role, member: agent } }, () => iam.set(updated));
  };
  // With pull landing the sink writes the table with the operator's own credentials.
  if (settings.landing === 'bigquery') {
    await grant('IAM on BigQuery table', rawName, 'roles/bigquery.dataEditor', {
      get: async () => (await table.getIamPolicy())[0] as IamPolicy,
      set: (policy) => table.setIamPolicy(policy as never),
    }, tableExists || !plan);
  }

  // Pub/Sub: topics, the dead-letter subscription, the BigQuery subscription.
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
  const deadLetterTopic = pubsub.topic(names.deadLetterTopic);
  await pubsubGrant(clients, steps, plan, 'IAM on Pub/Sub topic', names.deadLetterTopic, 'roles/pubsub.publisher', agent, deadLetterTopic.iam, topicsKnown.has(names.deadLetterTopic));

  await ensureSubscription(clients, steps, act, names.deadLetterSubscription, names.deadLetterTopic, { ackDeadlineSeconds: 60 }, (metadata) =>
    metadata.bigqueryConfig?.table ? ['a BigQuery subscription where a pull subscription is expected'] : []);

  const bigqueryTable = `${settings.projectId}.${project.raw.schema}.${project.raw.name}`;
  const deadLetterPolicy = { deadLetterTopic: deadLetterTopic.name, maxDeliveryAttempts: MAX_DELIVERY_ATTEMPTS };
  const subscriptionSettings = settings.landing === 'pull'
    ? { ackDeadlineSeconds: 60, deadLetterPolicy }
    : { bigqueryConfig: { table: bigqueryTable, writeMetadata: true, useTopicSchema: false, useTableSchema: false, dropUnknownFields: false }, deadLetterPolicy };
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
      metadata.deadLetterPolicy?.deadLetterTopic !== deadLetterTopic.name ? 'no dead-letter policy to the dead-letter topic' : '',
    ].filter(Boolean);
  });
  await pubsubGrant(clients, steps, plan, 'IAM on Pub/Sub subscription', names.rawSubscription, 'roles/pubsub.subscriber', agent, pubsub.subscription(names.rawSubscription).iam, rawSubscriptionKnown);
  return steps;
}

type SubscriptionMetadata = { topic?: string | null; bigqueryConfig?: { table?: string | null; writeMetadata?: boolean | null } | null; deadLetterPolicy?: { deadLetterTopic?: string | null } | null };

async function ensureSubscription(
  clients: GcpClients,
  steps: GcpStep[],
  act: (step: GcpStep, write: () => Promise<unknown>) => Promise<void>,
  name: string,
  topicName: string,
  settings: Record<string, unknown>,
  differences: (metadata: SubscriptionMetadata) => string[],
): Promise<boolean> {
  const subscription = clients.pubsub.subscription(name);
  const [exists] = await subscription.exists();
  if (!exists) {
    let created = false;
    await act({ resource: 'Pub/Sub subscription', name, status: 'create', settings: { topic: topicName, ...settings } }, async () => {
      await withIamPropagation(() => clients.pubsub.topic(topicName).createSubscription(name, settings));
      created = true;
    });
    return created;
  }
  const [metadata] = await subscription.getMetadata();
  const found = [
    metadata.topic !== clients.pubsub.topic(topicName).name ? `reads ${metadata.topic}, expected topic ${topicName}` : '',
    ...differences(metadata as SubscriptionMetadata),
  ].filter(Boolean);
  steps.push({ resource: 'Pub/Sub subscription', name, status: found.length ? 'differs' : 'exists', detail: found.join('; ') || undefined });
  return true;
}

/**
 * A BigQuery subscription is refused until the table grant made moments before has propagated
 * (PERMISSION_DENIED or FAILED_PRECONDITION): try again for up to two minutes.
 */
async function withIamPropagation<T>(create: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await create();
    } catch (error) {
      const code = (error as { code?: number }).code;
      if ((code !== 7 && code !== 9) || attempt >= 12) throw error;
      await new Promise((resolve) => setTimeout(resolve, 10_000));
    }
  }
}

interface PubSubIam { getPolicy(): Promise<[IamPolicy, ...unknown[]]>; setPolicy(policy: never): Promise<unknown> }

async function pubsubGrant(clients: GcpClients, steps: GcpStep[], plan: boolean, resource: string, name: string, role: string, member: string, iam: PubSubIam, known: boolean): Promise<void> {
  const settings = { role, member };
  if (clients.pubsubEmulated) {
    steps.push({ resource, name, status: 'skipped', settings, detail: 'the Pub/Sub emulator has no IAM' });
    return;
  }
  if (!known) {
    steps.push({ resource, name, status: 'grant', settings, detail: 'after it is created' });
    return;
  }
  const updated = withMember((await iam.getPolicy())[0], role, member);
  if (!updated) {
    steps.push({ resource, name, status: 'exists', settings });
    return;
  }
  if (!plan) await iam.setPolicy(updated as never);
  steps.push({ resource, name, status: plan ? 'grant' : 'granted', settings });
}

/** The project number, read from Cloud Storage's service agent (service-NUMBER@gs-project-accounts...). */
async function serviceAgentProjectNumber(clients: GcpClients): Promise<string> {
  try {
    const [account] = await clients.storage.getServiceAccount();
    const match = /^service-(\d+)@/.exec(account.emailAddress ?? '');
    if (match) return match[1]!;
  } catch (error) {
    if (!isNotFound(error)) throw new UserError(`cannot find the project number (pass --project-number): ${errorMessage(error)}`);
  }
  throw new UserError('cannot find the project number: pass --project-number');
}

import type { ProjectConfig, Workdir } from '../config.js';
import { checkSubscription } from '../gcp/subscriptionHealth.js';
import type { PubSubClients } from '../pubsub/clients.js';
import { LocalBuckets } from '../storage/bucket.js';
import type { Warehouse } from '../warehouse/warehouse.js';

export interface ProvisionStep {
  resource: string;
  name: string;
  status: 'created' | 'exists' | 'differs' | 'unhealthy';
  detail?: string;
}

/** How many deliveries a raw message gets before it is parked on the dead-letter topic. */
export const MAX_DELIVERY_ATTEMPTS = 5;
/** The sink acks within milliseconds of a pull; a short deadline makes a crashed sink's batch come back quickly. */
export const RAW_ACK_DEADLINE_SECONDS = 10;

async function ensureTopic(clients: PubSubClients, name: string): Promise<ProvisionStep> {
  const topic = clients.pubsub.topic(name);
  const [exists] = await topic.exists();
  if (!exists) await clients.pubsub.createTopic(name);
  return { resource: 'Pub/Sub topic', name, status: exists ? 'exists' : 'created' };
}

async function ensureSubscription(
  clients: PubSubClients,
  name: string,
  topicName: string,
  settings: { ackDeadlineSeconds: number; deadLetterTopic?: string },
): Promise<ProvisionStep> {
  const deadLetterPolicy = settings.deadLetterTopic
    ? { deadLetterTopic: clients.pubsub.topic(settings.deadLetterTopic).name, maxDeliveryAttempts: MAX_DELIVERY_ATTEMPTS }
    : undefined;
  const checked = await checkSubscription(clients.pubsub, name, topicName, (metadata) =>
    (metadata.deadLetterPolicy?.deadLetterTopic || undefined) === deadLetterPolicy?.deadLetterTopic ? []
      : [`dead-letter topic is ${metadata.deadLetterPolicy?.deadLetterTopic || 'none'}, expected ${deadLetterPolicy?.deadLetterTopic ?? 'none'}`]);
  if (checked) return { resource: 'Pub/Sub subscription', name, ...checked };
  // As on Google Cloud: never deleted for inactivity (Pub/Sub's default is 31 days).
  await clients.pubsub.topic(topicName).createSubscription(name, { ackDeadlineSeconds: settings.ackDeadlineSeconds, deadLetterPolicy, expirationPolicy: {} });
  return { resource: 'Pub/Sub subscription', name, status: 'created' };
}

/**
 * Creates what the local flow needs, idempotently: topics, the raw landing subscription (a pull
 * subscription that the sink drains; on Google Cloud it is a BigQuery subscription), the dead-letter
 * topic with a subscription to inspect it, the bucket folder, the warehouse datasets and the raw table.
 * An existing resource is checked, and a difference that matters is reported, never changed.
 */
export async function provisionLocal(project: ProjectConfig, workdir: Workdir, clients: PubSubClients, warehouse: Warehouse): Promise<ProvisionStep[]> {
  const names = project.resources;
  const steps: ProvisionStep[] = [];
  steps.push(await ensureTopic(clients, names.topic));
  steps.push(await ensureTopic(clients, names.deadLetterTopic));
  steps.push(await ensureSubscription(clients, names.rawSubscription, names.topic, {
    ackDeadlineSeconds: RAW_ACK_DEADLINE_SECONDS, deadLetterTopic: names.deadLetterTopic,
  }));
  steps.push(await ensureSubscription(clients, names.deadLetterSubscription, names.deadLetterTopic, { ackDeadlineSeconds: 60 }));
  steps.push({ resource: 'bucket (local folder)', name: names.bucket, status: new LocalBuckets(workdir).create(names.bucket) });
  for (const dataset of [project.raw.schema, project.modelsDataset, project.assertionsDataset]) {
    await warehouse.ensureDataset(project.database, dataset);
  }
  const rawExisted = (await warehouse.relationKind(project.raw)) !== null;
  await warehouse.ensureRawTable(project.raw);
  steps.push({ resource: 'raw table', name: `${project.raw.schema}.${project.raw.name}`, status: rawExisted ? 'exists' : 'created' });
  return steps;
}

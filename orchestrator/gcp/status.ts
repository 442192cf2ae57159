import type { FormattedMetadata as TableResource } from '@google-cloud/bigquery';
import type { ProjectConfig } from '../config.js';
import { FINAL_TABLE } from '../contract.js';
import { gcpClients, type GcpClients } from './clients.js';
import { readDatasetLocations } from './location.js';
import type { GcpSettings } from './settings.js';
import { type SubscriptionMetadata, bigqueryState, expirationProblem } from './subscriptionHealth.js';

export interface GcpStatus {
  status: Record<string, unknown>;
  /** What needs fixing; `status` exits non-zero when there is any. */
  problems: string[];
}

async function tableInfo(clients: GcpClients, dataset: string, name: string) {
  const table = clients.bigquery.dataset(dataset).table(name);
  const [exists] = await table.exists();
  if (!exists) return { exists: false };
  const m = (await table.getMetadata())[0] as TableResource;
  return {
    rows: Number(m.numRows ?? 0) + Number(m.streamingBuffer?.estimatedRows ?? 0),
    lastModified: m.lastModifiedTime ? new Date(Number(m.lastModifiedTime)).toISOString() : null,
  };
}

async function subscriptionInfo(clients: GcpClients, name: string, problems: string[]) {
  const subscription = clients.pubsub.subscription(name);
  const [exists] = await subscription.exists();
  if (!exists) {
    problems.push(`subscription ${name} does not exist`);
    return { exists: false };
  }
  const [m] = (await subscription.getMetadata()) as unknown as [SubscriptionMetadata];
  const health = bigqueryState(m);
  const expiration = expirationProblem(m)?.replace('NAME', name);
  if (health?.problem) problems.push(`subscription ${name}: ${health.problem}`);
  if (expiration) problems.push(`subscription ${name} ${expiration}`);
  return {
    kind: m.bigqueryConfig?.table ? `BigQuery subscription to ${m.bigqueryConfig.table}` : 'pull',
    ...(health ? { state: health.state, writesAs: m.bigqueryConfig?.serviceAccountEmail || 'the Pub/Sub service agent' } : {}),
    deadLetterTopic: m.deadLetterPolicy?.deadLetterTopic ?? null,
    expires: expiration ? 'after inactivity' : 'never',
  };
}

/**
 * The pipeline on Google Cloud, from metadata only (no query is billed): where the datasets are, the
 * subscriptions and whether Pub/Sub can write with them, the raw and final tables.
 */
export async function gcpStatus(project: ProjectConfig, settings: GcpSettings): Promise<GcpStatus> {
  const clients = gcpClients(settings);
  const problems: string[] = [];
  try {
    const location = await readDatasetLocations(project, settings, clients.bigquery);
    problems.push(...location.mismatches.map((m) => `${m}, not in ${settings.location} (from ${settings.locationSource})`));
    const status = {
      project: settings.projectId,
      location: { configured: settings.location, from: settings.locationSource, datasets: location.datasets },
      subscriptions: {
        [project.resources.rawSubscription]: await subscriptionInfo(clients, project.resources.rawSubscription, problems),
        [project.resources.deadLetterSubscription]: await subscriptionInfo(clients, project.resources.deadLetterSubscription, problems),
        backlog: 'Cloud Monitoring metric pubsub.googleapis.com/subscription/num_undelivered_messages (not readable with these client libraries)',
      },
      raw: await tableInfo(clients, project.raw.schema, project.raw.name),
      // A table's metadata costs no query: the final table's last change is the models' last successful write.
      lastModelRun: await tableInfo(clients, project.modelsDataset, FINAL_TABLE),
      problems,
    };
    return { status, problems };
  } finally {
    await clients.close();
  }
}

import type { FormattedMetadata as TableResource } from '@google-cloud/bigquery';
import type { ProjectConfig } from '../config.js';
import { FINAL_TABLE } from '../contract.js';
import { errorMessage } from '../errors.js';
import { dataformClient, gcpClients, monitoringClient, type GcpClients } from './clients.js';
import { type Freshness, readFreshness } from './freshness.js';
import { type ScheduledRuns, dataformRepositoryName, readScheduledRuns } from './invocations.js';
import { pipelineName } from './labels.js';
import { readDatasetLocations } from './location.js';
import { type SubscriptionBacklog, readSubscriptionBacklogs } from './monitoring.js';
import type { GcpSettings } from './settings.js';
import { type SubscriptionMetadata, bigqueryState, expirationProblem } from './subscriptionHealth.js';

/** A part of the status that could not be read, and why; the other parts are still shown. */
export interface Unavailable {
  error: string;
}

/** `exists: false` for a missing table, else its row count and last change. */
export interface TableInfo {
  exists?: false;
  rows?: number;
  lastModified?: string | null;
}

export interface SubscriptionInfo {
  exists?: false;
  kind?: string;
  state?: string;
  writesAs?: string;
  deadLetterTopic?: string | null;
  expires?: string;
}

export interface GcpStatusView {
  pipeline: string;
  project: string;
  location: { configured: string; from: string; datasets: Record<string, string> };
  freshness: (Freshness & { maxLagMinutes: number | null; lagExceeded: boolean | null }) | Unavailable;
  backlog: SubscriptionBacklog | Unavailable;
  deadLetters: SubscriptionBacklog | Unavailable;
  scheduledRuns: ScheduledRuns | Unavailable;
  subscriptions: Record<string, SubscriptionInfo>;
  raw: TableInfo;
  /** The final table's metadata: its last change is the models' last successful write. */
  lastModelRun: TableInfo;
  problems: string[];
}

export interface GcpStatus {
  status: GcpStatusView;
  /** What needs fixing; `status` exits non-zero when there is any. */
  problems: string[];
}

export interface GcpStatusOptions {
  /** Exit non-zero when the final table is more than this behind the raw table. */
  maxLagMinutes?: number;
  now?: Date;
}

export function isUnavailable(part: object): part is Unavailable {
  return 'error' in part;
}

async function readPart<T>(read: () => Promise<T>): Promise<T | Unavailable> {
  try {
    return await read();
  } catch (error) {
    // One line: a client library's message can span several (a list of the API's errors).
    return { error: errorMessage(error).replace(/\s+/g, ' ').trim() };
  }
}

async function tableMetadata(clients: GcpClients, dataset: string, name: string): Promise<TableResource | null> {
  const table = clients.bigquery.dataset(dataset).table(name);
  const [exists] = await table.exists();
  return exists ? ((await table.getMetadata())[0] as TableResource) : null;
}

function tableInfo(m: TableResource | null): TableInfo {
  if (!m) return { exists: false };
  return {
    rows: Number(m.numRows ?? 0) + Number(m.streamingBuffer?.estimatedRows ?? 0),
    lastModified: m.lastModifiedTime ? new Date(Number(m.lastModifiedTime)).toISOString() : null,
  };
}

async function subscriptionInfo(clients: GcpClients, name: string, problems: string[]): Promise<SubscriptionInfo> {
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
 * Whether the lag is over --max-lag-minutes (null when not asked, or nothing to compare), and the
 * problem sentence when it is, or when it cannot be told.
 */
function lagVerdict(freshness: Freshness | Unavailable, maxLagMinutes: number | undefined): { exceeded: boolean | null; problem?: string } {
  if (maxLagMinutes === undefined) return { exceeded: null };
  const limit = `--max-lag-minutes ${maxLagMinutes}`;
  if (isUnavailable(freshness)) return { exceeded: null, problem: `freshness unknown (${freshness.error}): cannot check ${limit}` };
  if (freshness.rawNewestPublishTime === null) return { exceeded: null };
  if (freshness.lagAtLeastSeconds !== null) {
    // The search reached back at least as far as the limit: beyond it, the lag is over the limit.
    return { exceeded: true, problem: `${FINAL_TABLE} reflects nothing published since ${freshness.finalSearchedSince}: more than ${freshness.lagAtLeastSeconds / 60} minutes behind raw, over ${limit}` };
  }
  if (freshness.lagSeconds !== null && freshness.lagSeconds > maxLagMinutes * 60) {
    return { exceeded: true, problem: `${FINAL_TABLE} is ${+(freshness.lagSeconds / 60).toFixed(1)} minutes behind raw, over ${limit}` };
  }
  return { exceeded: false };
}

async function scheduledRuns(settings: GcpSettings): Promise<ScheduledRuns> {
  const repository = dataformRepositoryName(settings);
  if (typeof repository !== 'string') return { repository: settings.dataformRepository, scheduled: false, reason: repository.unplaced, workflows: [] };
  const client = await dataformClient(settings);
  try {
    return await readScheduledRuns(client, repository);
  } finally {
    await client.close();
  }
}

async function backlogs(project: ProjectConfig, settings: GcpSettings, now: Date): Promise<SubscriptionBacklog[]> {
  const client = await monitoringClient(settings);
  try {
    return await readSubscriptionBacklogs(client, settings.projectId, [project.resources.rawSubscription, project.resources.deadLetterSubscription], now);
  } finally {
    await client.close();
  }
}

/**
 * The pipeline on Google Cloud, as an operator asks after it: how fresh the final table is, the
 * backlog and the dead letters (Cloud Monitoring), the last scheduled Dataform runs, and what would
 * stop it (subscriptions that cannot write or would expire, datasets in another location). A part
 * that cannot be read says why and the others are still shown. Problems, and a lag over
 * `maxLagMinutes`, make `status` exit non-zero.
 */
export async function gcpStatus(project: ProjectConfig, settings: GcpSettings, options: GcpStatusOptions = {}): Promise<GcpStatus> {
  const now = options.now ?? new Date();
  const clients = gcpClients(settings);
  const problems: string[] = [];
  try {
    const location = await readDatasetLocations(project, settings, clients.bigquery);
    problems.push(...location.mismatches.map((m) => `${m}, not in ${settings.location} (from ${settings.locationSource})`));
    const subscriptions = {
      [project.resources.rawSubscription]: await subscriptionInfo(clients, project.resources.rawSubscription, problems),
      [project.resources.deadLetterSubscription]: await subscriptionInfo(clients, project.resources.deadLetterSubscription, problems),
    };
    const rawTable = await tableMetadata(clients, project.raw.schema, project.raw.name);
    const finalTable = await tableMetadata(clients, project.modelsDataset, FINAL_TABLE);
    const [freshness, monitoring, runs] = await Promise.all([
      readPart(() => {
        if (!rawTable) throw new Error(`table ${project.raw.schema}.${project.raw.name} does not exist`);
        return readFreshness(clients.bigquery, project, settings, finalTable, { now, maxLagMinutes: options.maxLagMinutes });
      }),
      readPart(() => backlogs(project, settings, now)),
      readPart(() => scheduledRuns(settings)),
    ]);
    const lag = lagVerdict(freshness, options.maxLagMinutes);
    if (lag.problem) problems.push(lag.problem);
    const status: GcpStatusView = {
      pipeline: pipelineName(project),
      project: settings.projectId,
      location: { configured: settings.location, from: settings.locationSource, datasets: location.datasets },
      freshness: isUnavailable(freshness) ? freshness : { ...freshness, maxLagMinutes: options.maxLagMinutes ?? null, lagExceeded: lag.exceeded },
      backlog: isUnavailable(monitoring) ? monitoring : monitoring[0],
      deadLetters: isUnavailable(monitoring) ? monitoring : monitoring[1],
      scheduledRuns: runs,
      subscriptions,
      raw: tableInfo(rawTable),
      lastModelRun: tableInfo(finalTable),
      problems,
    };
    return { status, problems };
  } finally {
    await clients.close();
  }
}

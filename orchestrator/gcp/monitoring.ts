import type { MetricServiceClient } from '@google-cloud/monitoring';
import { isoOfProtobufTimestamp } from '../protobufTime.js';

/** Pub/Sub's subscription metrics `status` reads (both GAUGE, INT64). */
export const UNDELIVERED_MESSAGES = 'pubsub.googleapis.com/subscription/num_undelivered_messages';
export const OLDEST_UNACKED_AGE = 'pubsub.googleapis.com/subscription/oldest_unacked_message_age';

/**
 * How far back to look for a point. Pub/Sub samples these metrics every 60 s and a sample can take
 * up to 120 s to become readable: 10 minutes holds several points even when one is late.
 */
export const METRIC_WINDOW_SECONDS = 600;

/** A subscription's backlog as Cloud Monitoring last sampled it; null where it has no point in the window. */
export interface SubscriptionBacklog {
  subscription: string;
  /** Messages published and not yet acknowledged. */
  unackedMessages: number | null;
  /** Age of the oldest of them, in seconds. */
  oldestUnackedAgeSeconds: number | null;
  /** When the newest of the two points was sampled. */
  sampledAt: string | null;
}


/**
 * The filter for one metric of the pipeline's subscriptions. timeSeries.list takes one metric type
 * per call; the project label keeps out a same-named subscription of another project in the same
 * metrics scope.
 */
export function subscriptionFilter(metricType: string, projectId: string, subscriptions: string[]): string {
  const names = subscriptions.map((s) => `resource.labels.subscription_id = "${s}"`).join(' OR ');
  return `metric.type = "${metricType}" AND resource.type = "pubsub_subscription" AND resource.labels.project_id = "${projectId}" AND (${names})`;
}

/** The newest point of each subscription's series, by subscription id. */
async function latestPoints(client: MetricServiceClient, projectId: string, metricType: string, subscriptions: string[], now: Date) {
  const end = Math.floor(now.getTime() / 1000);
  // No aggregation: the raw points, which the API returns newest first; an aligner would give a value
  // at the end of an alignment period (an interpolation or a maximum), not the latest sample.
  const [series] = await client.listTimeSeries({
    name: `projects/${projectId}`,
    filter: subscriptionFilter(metricType, projectId, subscriptions),
    interval: { startTime: { seconds: end - METRIC_WINDOW_SECONDS }, endTime: { seconds: end } },
    view: 'FULL',
  });
  const latest = new Map<string, { value: number; at: string | null }>();
  for (const s of series) {
    const subscription = s.resource?.labels?.subscription_id;
    const point = s.points?.[0];
    if (!subscription || !point) continue;
    latest.set(subscription, { value: Number(point.value?.int64Value ?? point.value?.doubleValue ?? 0), at: isoOfProtobufTimestamp(point.interval?.endTime) });
  }
  return latest;
}

/**
 * The backlog of each subscription from Cloud Monitoring: the unacknowledged messages and the age of
 * the oldest. Two timeSeries.list calls, whatever the number of subscriptions.
 */
export async function readSubscriptionBacklogs(client: MetricServiceClient, projectId: string, subscriptions: string[], now: Date): Promise<SubscriptionBacklog[]> {
  const [undelivered, oldest] = await Promise.all([
    latestPoints(client, projectId, UNDELIVERED_MESSAGES, subscriptions, now),
    latestPoints(client, projectId, OLDEST_UNACKED_AGE, subscriptions, now),
  ]);
  return subscriptions.map((subscription) => {
    const count = undelivered.get(subscription);
    const age = oldest.get(subscription);
    const times = [count?.at, age?.at].filter((t): t is string => Boolean(t)).sort();
    return { subscription, unackedMessages: count?.value ?? null, oldestUnackedAgeSeconds: age?.value ?? null, sampledAt: times.at(-1) ?? null };
  });
}

import type { PubSub } from '@google-cloud/pubsub';

/** What `provision` and `status` read from a subscription's metadata to tell whether it will keep working. */
export interface SubscriptionMetadata {
  topic?: string | null;
  bigqueryConfig?: { table?: string | null; writeMetadata?: boolean | null; state?: string | number | null; serviceAccountEmail?: string | null } | null;
  deadLetterPolicy?: { deadLetterTopic?: string | null; maxDeliveryAttempts?: number | null } | null;
  expirationPolicy?: { ttl?: { seconds?: number | string | { toString(): string } | null; nanos?: number | null } | null } | null;
}

/** Pub/Sub's default when a subscription is created without an expiration policy. */
const DEFAULT_TTL_DAYS = 31;

/**
 * Why the subscription would be deleted after a time without activity, or undefined when it never
 * expires. An unset policy means Pub/Sub's default (31 days); a policy without `ttl` means never.
 */
export function expirationProblem(metadata: SubscriptionMetadata): string | undefined {
  const policy = metadata.expirationPolicy;
  if (!policy) return `expires after ${DEFAULT_TTL_DAYS} days without activity (Pub/Sub's default): gcloud pubsub subscriptions update NAME --expiration-period=never`;
  const seconds = Number(String(policy.ttl?.seconds ?? 0));
  if (!policy.ttl || seconds <= 0) return undefined;
  return `expires after ${+(seconds / 86_400).toFixed(2)} days without activity: gcloud pubsub subscriptions update NAME --expiration-period=never`;
}

/** BigQuery subscription states in which Pub/Sub writes nothing (google.pubsub.v1.BigQueryConfig.State). */
const BROKEN_STATES: Record<string, string> = {
  PERMISSION_DENIED: 'Pub/Sub may not write the table (the writing identity lacks BigQuery Data Editor on it, or the BigQuery API is disabled)',
  NOT_FOUND: 'the table does not exist',
  SCHEMA_MISMATCH: "the table's schema does not match what the subscription writes",
  IN_TRANSIT_LOCATION_RESTRICTION: "the table is outside the regions the topic's message storage policy allows",
  VERTEX_AI_LOCATION_RESTRICTION: 'the table is not where the Vertex AI models of the message transforms are',
};

/**
 * The BigQuery subscription's state as Pub/Sub reports it, and what is wrong when it writes nothing.
 * ACTIVE writes; STATE_UNSPECIFIED is what the emulator (and only the emulator) reports.
 */
export function bigqueryState(metadata: SubscriptionMetadata): { state: string; problem?: string } | undefined {
  const config = metadata.bigqueryConfig;
  if (!config?.table) return undefined;
  const state = String(config.state ?? 'STATE_UNSPECIFIED');
  if (state === 'ACTIVE' || state === 'STATE_UNSPECIFIED') return { state };
  const reason = BROKEN_STATES[state] ?? 'Pub/Sub reports a state in which it does not write';
  return { state, problem: `state ${state}: ${reason}; nothing lands in the raw table until it is fixed` };
}

/**
 * An existing subscription checked against what provisioning expects, never changed: its topic, the
 * caller's `differences`, its expiration and a BigQuery subscription's state. Undefined when missing.
 */
export async function checkSubscription(
  pubsub: PubSub,
  name: string,
  topicName: string,
  differences: (metadata: SubscriptionMetadata) => string[],
): Promise<{ status: 'exists' | 'differs' | 'unhealthy'; detail: string | undefined } | undefined> {
  const subscription = pubsub.subscription(name);
  const [exists] = await subscription.exists();
  if (!exists) return undefined;
  const [metadata] = (await subscription.getMetadata()) as unknown as [SubscriptionMetadata];
  const expected = pubsub.topic(topicName).name;
  const found = [
    metadata.topic !== expected ? `reads ${metadata.topic}, expected topic ${topicName}` : '',
    ...differences(metadata),
    expirationProblem(metadata)?.replace('NAME', name) ?? '',
  ].filter(Boolean);
  const problem = bigqueryState(metadata)?.problem;
  return { status: found.length ? 'differs' : problem ? 'unhealthy' : 'exists', detail: [...found, problem ?? ''].filter(Boolean).join('; ') || undefined };
}

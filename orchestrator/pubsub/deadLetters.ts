import type { protos, Topic, v1 } from '@google-cloud/pubsub';
import { status as grpcStatus } from '@grpc/grpc-js';
import { errorMessage } from '../errors.js';
import { isoOfProtobufTimestamp } from '../protobufTime.js';

type ReceivedMessage = protos.google.pubsub.v1.IReceivedMessage;

/** Pub/Sub adds these to a message it forwards to a dead-letter topic; the rest are the publisher's. */
const DEAD_LETTER_ATTRIBUTE = /^CloudPubSubDeadLetter/;

/** A message waiting on the dead-letter topic, as `dead-letters list` shows it. */
export interface DeadLetter {
  messageId: string;
  /** When Pub/Sub forwarded it to the dead-letter topic. */
  publishTime: string;
  /** Deliveries on the source subscription before it was dead-lettered. */
  deliveryAttempts: number | null;
  /** The id of the subscription it was dead-lettered from. */
  sourceSubscription: string | null;
  /** The first `dataBytes` bytes of the data, as UTF-8. */
  data: string;
  bytes: number;
  /** The publisher's attributes, without the ones Pub/Sub added when dead-lettering. */
  attributes: Record<string, string>;
}

export interface DeadLetterSource {
  subscriber: v1.SubscriberClient;
  /** projects/P/subscriptions/S: the subscription on the dead-letter topic. */
  subscriptionPath: string;
  /** Ask the server to answer at once when nothing is there (the emulator honours it). */
  returnImmediately: boolean;
}

const dataOf = (received: ReceivedMessage): Buffer => {
  const data = received.message?.data;
  if (data === null || data === undefined) return Buffer.alloc(0);
  return typeof data === 'string' ? Buffer.from(data, 'base64') : Buffer.from(data);
};

const originalAttributes = (received: ReceivedMessage) =>
  Object.fromEntries(Object.entries(received.message?.attributes ?? {}).filter(([key]) => !DEAD_LETTER_ATTRIBUTE.test(key)));

export function describeDeadLetter(received: ReceivedMessage, dataBytes: number): DeadLetter {
  // A message that was not dead-lettered by Pub/Sub lacks its attributes.
  const attributes: Record<string, string | undefined> = received.message?.attributes ?? {};
  const data = dataOf(received);
  const attempts = attributes.CloudPubSubDeadLetterSourceDeliveryCount;
  return {
    messageId: received.message?.messageId ?? '',
    // Pub/Sub always sets it; without one, the epoch.
    publishTime: isoOfProtobufTimestamp(received.message?.publishTime) ?? new Date(0).toISOString(),
    deliveryAttempts: attempts === undefined ? null : Number(attempts),
    sourceSubscription: attributes.CloudPubSubDeadLetterSourceSubscription ?? null,
    data: data.subarray(0, dataBytes).toString('utf8'),
    bytes: data.length,
    attributes: originalAttributes(received),
  };
}

/** One synchronous pull; an empty subscription on Google Cloud may end the call by its deadline. */
async function pull(source: DeadLetterSource, maxMessages: number): Promise<ReceivedMessage[]> {
  try {
    const [response] = await source.subscriber.pull(
      { subscription: source.subscriptionPath, maxMessages, returnImmediately: source.returnImmediately }, { timeout: 20_000 });
    return (response.receivedMessages ?? []).filter((m) => m.message && m.ackId);
  } catch (error) {
    if ((error as { code?: number }).code === grpcStatus.DEADLINE_EXCEEDED) return []; // nothing arrived in time
    throw error;
  }
}

/** Gives leased messages back at once, for the next reader. */
async function release(source: DeadLetterSource, messages: ReceivedMessage[]): Promise<void> {
  if (messages.length === 0) return;
  await source.subscriber.modifyAckDeadline({ subscription: source.subscriptionPath, ackIds: messages.map((m) => m.ackId!), ackDeadlineSeconds: 0 });
}

/**
 * Up to `limit` waiting messages. Nothing is acknowledged: the messages stay leased while the list is
 * read (so no message is listed twice), then are released for the next reader.
 */
export async function listDeadLetters(source: DeadLetterSource, limit: number, dataBytes: number): Promise<DeadLetter[]> {
  const leased: ReceivedMessage[] = [];
  try {
    while (leased.length < limit) {
      const batch = await pull(source, Math.min(1000, limit - leased.length));
      if (batch.length === 0) break;
      leased.push(...batch);
    }
  } finally {
    await release(source, leased);
  }
  // A message redelivered within the listing (at least once) is listed once.
  const unique = new Map(leased.map((m) => [String(m.message?.messageId), m]));
  return [...unique.values()].map((m) => describeDeadLetter(m, dataBytes));
}

export interface ReplaySummary {
  replayed: { deadLetterId: string; messageId: string }[];
  failed: { deadLetterId: string; error: string }[];
}

/**
 * Republishes up to `limit` dead letters to `topic` with their data and the publisher's attributes,
 * and acknowledges each one only after its republish succeeded; one that could not be republished is
 * released and stays. A crash between the two leaves the message on the dead-letter topic, so a
 * replay is at least once: staging deduplicates by event id.
 */
export async function replayDeadLetters(source: DeadLetterSource, topic: Topic, limit: number): Promise<ReplaySummary> {
  const summary: ReplaySummary = { replayed: [], failed: [] };
  while (summary.replayed.length + summary.failed.length < limit) {
    const batch = await pull(source, Math.min(1000, limit - summary.replayed.length - summary.failed.length));
    if (batch.length === 0) break;
    const results = await Promise.allSettled(batch.map((m) => topic.publishMessage({ data: dataOf(m), attributes: originalAttributes(m) })));
    const published = batch.filter((_, i) => results[i].status === 'fulfilled');
    if (published.length) await source.subscriber.acknowledge({ subscription: source.subscriptionPath, ackIds: published.map((m) => m.ackId!) });
    await release(source, batch.filter((_, i) => results[i].status === 'rejected'));
    results.forEach((result, i) => {
      const deadLetterId = batch[i].message?.messageId ?? '';
      if (result.status === 'fulfilled') summary.replayed.push({ deadLetterId, messageId: result.value });
      else summary.failed.push({ deadLetterId, error: errorMessage(result.reason) });
    });
    // A failed republish is released and would come straight back: stop rather than loop on it.
    if (summary.failed.length) break;
  }
  return summary;
}

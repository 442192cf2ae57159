import type { CreateSubscriptionOptions, PubSub } from '@google-cloud/pubsub';

/**
 * Emulator only. The Pub/Sub emulator keeps every message a subscription was sent, acknowledged or
 * not, until the subscription is deleted (measured with -Xmx512m: heap back from 134 MB to 11 MB
 * after deleting a subscription holding 100k acknowledged messages; deleting the topic frees nothing
 * more, since a topic without retention keeps no messages). So a long local run recycles its
 * subscription. On Google Cloud nothing is recycled: Pub/Sub discards acknowledged messages itself.
 */

/** The spare subscription that takes the topic's messages while the raw subscription is recreated. */
export const spareName = (subscription: string) => `${subscription}-recycling`;

/**
 * Deletes and recreates `name` with the same settings, losing nothing whoever publishes meanwhile:
 * make before break. A spare subscription on the same topic is created first, so every message
 * published from then on is kept there too; `name` is drained until empty (everything published
 * before the spare existed has then been landed and acknowledged) and deleted, which frees what the
 * emulator held for it; `name` is created again; then the spare is drained (the messages published
 * while `name` did not exist) and deleted. A message published while both exist lands twice, which
 * the models' deduplication absorbs; `up` pauses its publisher meanwhile, so it makes none.
 *
 * `consumingSince` (epoch ms): messages an earlier consumer pulled and never acknowledged (it was
 * killed) come back only when their ack deadline passes, so `name` is not deleted before one ack
 * deadline after this consumer began; 0 when no other consumer can have pulled (a new emulator).
 */
export async function recycleSubscription(
  pubsub: PubSub,
  name: string,
  drain: (subscriptionPath: string) => Promise<void>,
  consumingSince: number,
): Promise<void> {
  const subscription = pubsub.subscription(name);
  const [metadata] = await subscription.getMetadata();
  const topic = pubsub.topic(metadata.topic!);
  const settings: CreateSubscriptionOptions = {
    ackDeadlineSeconds: metadata.ackDeadlineSeconds,
    deadLetterPolicy: metadata.deadLetterPolicy,
    expirationPolicy: metadata.expirationPolicy,
    retryPolicy: metadata.retryPolicy,
    enableMessageOrdering: metadata.enableMessageOrdering,
    enableExactlyOnceDelivery: metadata.enableExactlyOnceDelivery,
    filter: metadata.filter,
    labels: metadata.labels,
  };
  const spare = pubsub.subscription(spareName(name));
  // A spare left by an interrupted recycle is reused, and drained below like a new one.
  if (!(await spare.exists())[0]) await topic.createSubscription(spare.name, settings);
  await drain(subscription.name);
  const wait = consumingSince + (metadata.ackDeadlineSeconds ?? 10) * 1000 - Date.now();
  if (wait > 0) {
    await new Promise((resolve) => setTimeout(resolve, wait));
    await drain(subscription.name);
  }
  await subscription.delete();
  await topic.createSubscription(name, settings);
  await drain(spare.name);
  await spare.delete();
}

import type { protos, v1 } from '@google-cloud/pubsub';
import { status as grpcStatus } from '@grpc/grpc-js';
import { Timestamp, type RawRow } from '../warehouse/warehouse.js';

type ReceivedMessage = protos.google.pubsub.v1.IReceivedMessage;

export interface SinkOptions {
  subscriber: v1.SubscriberClient;
  /** Full path: projects/P/subscriptions/S. */
  subscriptionPath: string;
  /**
   * Durably writes rows to the raw table; messages are acknowledged only after it resolves. It may
   * resolve with the rows the table refused (by index in `rows`, with the reason): their messages are
   * not acknowledged but nacked, so they come back and, after the last delivery attempt, go to the
   * dead-letter topic.
   */
  write: (rows: RawRow[]) => Promise<{ rejected: Map<number, string> } | undefined>;
  /** Ask the server to answer at once when nothing is there (the emulator honours it). */
  returnImmediately?: boolean;
  /** Messages asked for per pull (the emulator answers at most 100 whatever is asked). */
  maxMessages?: number;
  /**
   * Gather several pulls into one write, when `returnImmediately` (a pull then never waits for new
   * messages while those in hand wait for their commit). Without it each pull is one write.
   */
  writeBatch?: WriteBatch;
  /** Return once the subscription has been empty this long (after `idleAfter` resolves, if given). */
  idleSeconds?: number;
  /** Idle time only counts once this resolves (e.g. when the publisher is done). */
  idleAfter?: Promise<unknown>;
  /**
   * Not idle before this time (epoch ms): messages another consumer pulled and never acknowledged (a
   * sink killed mid-batch) come back only once their ack deadline has passed.
   */
  notIdleBefore?: number;
  signal?: AbortSignal;
  onBatch?: (progress: { rows: number; seconds: number }) => void;
  /** Emulator only: frees what the emulator holds, between pulls, when it says it is due (see recycle.ts). */
  recycler?: Recycler;
}

/**
 * Bounds of one write gathered from several pulls: the emulator answers at most 100 messages per
 * pull, and a commit per 100 rows costs more than the pull itself. Pulling stops at the first empty
 * pull, or once one of the bounds is reached; `seconds` keeps the oldest message's lease far from its
 * ack deadline (10 s), so it is acknowledged before it could be delivered again.
 */
export interface WriteBatch {
  messages: number;
  bytes: number;
  seconds: number;
}

/** Asked before every pull; `recycle` gets a function that lands a subscription's messages until it is empty. */
export interface Recycler {
  due: (state: { landedSinceRecycle: number; caughtUp: boolean }) => boolean;
  recycle(drain: (subscriptionPath: string) => Promise<void>): Promise<void>;
}

export interface SinkSummary {
  rows: number;
  /** Deliveries the table refused (nacked); a message refused on every attempt counts each time. */
  rejected: number;
  batches: number;
  seconds: number;
  /** Times the subscription was recycled (emulator only). */
  recycles: number;
  /** Where the time went: waiting on pulls, writing to the table, acknowledging (recycles included). */
  pullSeconds: number;
  writeSeconds: number;
  ackSeconds: number;
}

/** A Pub/Sub message as the BigQuery subscription (writeMetadata: true) writes it. */
export function toRawRow(received: ReceivedMessage, subscriptionName: string): RawRow {
  const message = received.message!;
  const data = message.data;
  return {
    subscription_name: subscriptionName,
    message_id: String(message.messageId),
    publish_time: Timestamp.fromSecondsAndNanos(BigInt(String(message.publishTime?.seconds ?? 0)), message.publishTime?.nanos ?? 0),
    data: data === null || data === undefined ? '' : typeof data === 'string' ? Buffer.from(data, 'base64').toString('utf8') : Buffer.from(data).toString('utf8'),
    attributes: JSON.stringify(message.attributes ?? {}),
  };
}

/** One synchronous pull; on Google Cloud an empty subscription can end the call by its deadline. */
async function pull(subscriber: v1.SubscriberClient, subscription: string, maxMessages: number, returnImmediately: boolean): Promise<ReceivedMessage[]> {
  try {
    const [response] = await subscriber.pull({ subscription, maxMessages, returnImmediately }, { timeout: 30_000 });
    return (response.receivedMessages ?? []).filter((m) => m.message && m.ackId);
  } catch (error) {
    if ((error as { code?: number }).code === grpcStatus.DEADLINE_EXCEEDED) return []; // nothing arrived in time
    throw error;
  }
}

const dataBytes = (messages: ReceivedMessage[]) => messages.reduce((sum, m) => sum + (m.message?.data?.length ?? 0), 0);

/** Ack ids per request: Pub/Sub's own client sends at most 3,000 and 512 KB; 2,500 real ack ids (~170 B) fit both. */
const MAX_ACK_IDS = 2500;

async function acknowledge(subscriber: v1.SubscriberClient, subscription: string, ackIds: string[]): Promise<void> {
  for (let start = 0; start < ackIds.length; start += MAX_ACK_IDS) {
    await subscriber.acknowledge({ subscription, ackIds: ackIds.slice(start, start + MAX_ACK_IDS) });
  }
}

/** Waits `ms`, or less if `signal` aborts; the abort listener goes when the wait ends, or idle loops would pile them up. */
const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });

/**
 * The local stand-in for the BigQuery subscription: pulls, appends the rows to the raw table and only
 * then acknowledges, so a crash at any point loses nothing (unacked messages are redelivered; the
 * duplicates they make are absorbed by staging's deduplication). Calls are strictly one at a time
 * and every batch is acknowledged as soon as it is committed: the emulator's pulls slow down when
 * requests on one subscription overlap or leased messages pile up. Stops when `signal` aborts, after
 * committing and acknowledging the batch in hand.
 */
export async function runSink(options: SinkOptions): Promise<SinkSummary> {
  const { subscriber, subscriptionPath, write } = options;
  const maxMessages = options.maxMessages ?? 1000;
  const started = performance.now();
  const summary: SinkSummary = { rows: 0, rejected: 0, batches: 0, seconds: 0, recycles: 0, pullSeconds: 0, writeSeconds: 0, ackSeconds: 0 };
  let clock = performance.now();
  /** Seconds since the last lap. */
  const lap = () => {
    const now = performance.now();
    const seconds = (now - clock) / 1000;
    clock = now;
    return seconds;
  };
  let landedSinceRecycle = 0;
  const returnImmediately = options.returnImmediately ?? true;
  const batch = returnImmediately ? options.writeBatch : undefined;
  /** One pull, or several up to `batch`'s bounds; stops at an empty pull, or when asked to stop. */
  const pullBatch = async (path: string): Promise<ReceivedMessage[]> => {
    const first = performance.now();
    const received = await pull(subscriber, path, maxMessages, returnImmediately);
    if (!batch) return received;
    let bytes = dataBytes(received);
    let last = received.length;
    while (last > 0 && !options.signal?.aborted && received.length < batch.messages && bytes < batch.bytes && performance.now() - first < batch.seconds * 1000) {
      const more = await pull(subscriber, path, Math.min(maxMessages, batch.messages - received.length), returnImmediately);
      received.push(...more);
      bytes += dataBytes(more);
      last = more.length;
    }
    return received;
  };
  /**
   * A batch from `path`, committed in one write then acknowledged; rows the table refused are nacked
   * (they come back, and reach the dead-letter topic after their last attempt). Returns how many it received.
   */
  const landFrom = async (path: string): Promise<number> => {
    lap();
    const received = await pullBatch(path);
    summary.pullSeconds += lap();
    if (received.length === 0) return 0;
    const name = path.split('/').pop()!;
    const rejected = (await write(received.map((m) => toRawRow(m, name))))?.rejected ?? new Map<number, string>();
    summary.writeSeconds += lap();
    const accepted = received.filter((_, i) => !rejected.has(i));
    await acknowledge(subscriber, path, accepted.map((m) => m.ackId!));
    if (rejected.size) {
      await subscriber.modifyAckDeadline({ subscription: path, ackIds: received.filter((_, i) => rejected.has(i)).map((m) => m.ackId!), ackDeadlineSeconds: 0 });
    }
    summary.ackSeconds += lap();
    summary.rows += accepted.length;
    summary.rejected += rejected.size;
    summary.batches++;
    landedSinceRecycle += accepted.length;
    options.onBatch?.({ rows: summary.rows, seconds: (performance.now() - started) / 1000 });
    return received.length;
  };
  const drain = async (path: string) => {
    while ((await landFrom(path)) > 0);
  };
  let idleSince: number | undefined;
  let idleCounts = options.idleAfter === undefined;
  let caughtUp = false;
  void options.idleAfter?.finally(() => { idleCounts = true; });
  while (!options.signal?.aborted) {
    if (options.recycler?.due({ landedSinceRecycle, caughtUp })) {
      await options.recycler.recycle(drain);
      landedSinceRecycle = 0;
      summary.recycles++;
      continue;
    }
    const landed = await landFrom(subscriptionPath);
    caughtUp = landed === 0;
    if (landed === 0) {
      if (options.idleSeconds !== undefined && idleCounts) {
        idleSince ??= Date.now();
        if (Date.now() - idleSince >= options.idleSeconds * 1000 && Date.now() >= (options.notIdleBefore ?? 0)) break;
      }
      await sleep(50, options.signal);
      continue;
    }
    idleSince = undefined;
  }
  summary.seconds = (performance.now() - started) / 1000;
  return summary;
}

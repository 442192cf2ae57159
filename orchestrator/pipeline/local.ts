import type { PubSub } from '@google-cloud/pubsub';
import type { ProjectConfig, Workdir } from '../config.js';

/** How far the publisher may run ahead of the sink (messages held by the emulator). */
export const MAX_BACKLOG = 50_000;
import { UserError, errorMessage } from '../errors.js';
import { emulatorClients, type PubSubClients } from '../pubsub/clients.js';
import { BacklogGate } from '../pubsub/backlog.js';
import { emulatorHost } from '../pubsub/emulator.js';
import { publishRecords, type PublishOptions, type PublishSummary } from '../pubsub/publisher.js';
import { runSink, type SinkOptions, type SinkSummary } from '../pubsub/sink.js';
import type { Readable } from 'node:stream';
import { LocalBuckets, openSource, parseSource, type Source } from '../storage/bucket.js';
import type { Warehouse } from '../warehouse/warehouse.js';

/** Runs `work` with Pub/Sub clients bound to this work directory's emulator, closing them after. */
export async function withEmulator<T>(project: ProjectConfig, workdir: Workdir, work: (clients: PubSubClients) => Promise<T>): Promise<T> {
  const clients = emulatorClients(await emulatorHost(workdir), project.database);
  try {
    return await work(clients);
  } finally {
    await clients.close();
  }
}

/** Turns gRPC's NOT_FOUND on a missing topic or subscription into a message that says what to run. */
export function explainPubSubError(error: unknown, what: string): never {
  const code = (error as { code?: number }).code;
  if (code === 5) throw new UserError(`${what} does not exist in the emulator: run 'orchestrator provision' first`);
  if (code === 14) throw new UserError(`the Pub/Sub emulator is unreachable (${errorMessage(error)}): check 'orchestrator emulator status'`);
  throw error;
}

export async function ingest(
  project: ProjectConfig,
  workdir: Workdir,
  pubsub: PubSub,
  input: string,
  options: Omit<PublishOptions, 'source'> & {
    onOpen?: (bytes: number) => void;
    /** Opens the source; by default gs:// objects come from the local bucket folder. */
    open?: (source: Source) => Promise<{ stream: Readable; bytes: number }>;
  },
): Promise<PublishSummary & { source: string }> {
  const source = parseSource(input);
  const { stream, bytes } = await (options.open ?? ((s) => openSource(s, new LocalBuckets(workdir))))(source);
  options.onOpen?.(bytes);
  const topic = pubsub.topic(project.resources.topic);
  const [exists] = await topic.exists().catch((error: unknown) => explainPubSubError(error, `topic ${project.resources.topic}`));
  if (!exists) throw new UserError(`topic ${project.resources.topic} does not exist: run 'orchestrator provision' first`);
  const summary = await publishRecords(topic, stream, { ...options, source: source.name });
  return { ...summary, source: source.name };
}

export async function sink(
  project: ProjectConfig,
  clients: PubSubClients,
  warehouse: Warehouse,
  options: Omit<SinkOptions, 'subscriber' | 'subscriptionPath' | 'write'>,
): Promise<SinkSummary> {
  const subscription = clients.pubsub.subscription(project.resources.rawSubscription);
  const [exists] = await subscription.exists().catch((error: unknown) => explainPubSubError(error, `subscription ${project.resources.rawSubscription}`));
  if (!exists) throw new UserError(`subscription ${project.resources.rawSubscription} does not exist: run 'orchestrator provision' first`);
  await warehouse.ensureRawTable(project.raw);
  return runSink({
    ...options,
    subscriber: clients.subscriber,
    subscriptionPath: subscription.name,
    write: (rows) => warehouse.appendRawRows(project.raw, rows),
  });
}

export interface PublishAndLandOptions {
  /** Seconds of an empty subscription, after the publisher is done, that end the sink. */
  idleSeconds: number;
  signal?: AbortSignal;
  onPublishProgress?: (published: number, bytesRead: number, totalBytes: number) => void;
  onSinkProgress?: (rows: number) => void;
}

/**
 * Publishes a source while the sink lands it, in one process: the publisher stays at most
 * MAX_BACKLOG messages ahead of the sink, each side stops the other when it fails, and both are
 * settled before this returns (so the warehouse can be closed safely).
 */
export async function publishAndLand(
  project: ProjectConfig,
  workdir: Workdir,
  clients: PubSubClients,
  warehouse: Warehouse,
  input: string,
  options: PublishAndLandOptions,
): Promise<{ publish: PublishSummary & { source: string }; landed: SinkSummary }> {
  const stopPublisher = new AbortController();
  const stopSink = new AbortController();
  options.signal?.addEventListener('abort', () => { stopPublisher.abort(); stopSink.abort(); }, { once: true });
  let totalBytes = 0;
  const gate = new BacklogGate(MAX_BACKLOG);
  const publishing = ingest(project, workdir, clients.pubsub, input, {
    signal: stopPublisher.signal,
    gate,
    onOpen: (bytes) => { totalBytes = bytes; },
    onProgress: (p) => options.onPublishProgress?.(p.published, p.bytesRead, totalBytes),
  });
  publishing.catch(() => stopSink.abort());
  const sinking = sink(project, clients, warehouse, {
    idleSeconds: options.idleSeconds,
    idleAfter: publishing.catch(() => undefined),
    signal: stopSink.signal,
    onBatch: ({ rows }) => { gate.landed(rows); options.onSinkProgress?.(rows); },
  });
  sinking.catch(() => stopPublisher.abort()).finally(() => gate.release());
  const [published, sunk] = await Promise.allSettled([publishing, sinking]);
  if (published.status === 'rejected') throw published.reason;
  if (sunk.status === 'rejected') throw sunk.reason;
  return { publish: published.value, landed: sunk.value };
}

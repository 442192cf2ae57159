import type { PubSub } from '@google-cloud/pubsub';
import { status as grpcStatus } from '@grpc/grpc-js';
import type { Readable } from 'node:stream';
import type { ProjectConfig, Workdir } from '../config.js';
import { UserError, errorMessage } from '../errors.js';
import { BacklogGate } from '../pubsub/backlog.js';
import { addHeld, clearHeld, estimateRecords, flowLimits, heapFor, readHeld, usableHeap } from '../pubsub/capacity.js';
import { emulatorClients, type PubSubClients } from '../pubsub/clients.js';
import { emulatorEndpoint, type EmulatorState } from '../pubsub/emulator.js';
import { publishRecords, type PublishOptions, type PublishSummary } from '../pubsub/publisher.js';
import { recycleSubscription, spareName } from '../pubsub/recycle.js';
import { runSink, type Recycler, type SinkOptions, type SinkSummary, type WriteBatch } from '../pubsub/sink.js';
import { LocalBuckets, openSource, parseSource, type Source } from '../storage/bucket.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { RAW_ACK_DEADLINE_SECONDS } from './provision.js';

/** The `sink` command recycles the subscription when it has caught up after landing this many. */
const SINK_RECYCLE_AFTER = 10_000;

/**
 * The emulator answers at most 100 messages per pull (MAX_MESSAGES_PER_PULL_REQUEST in emulator
 * 0.8.20, whatever is asked), and a transaction per 100 rows (append, partition metadata upsert,
 * commit) cost more than the pull: the sink commits up to 2,000 messages (or 32 MB) at once,
 * gathered within a second, far inside the 10-second ack deadline. Not more: until the commit they
 * are leased, and each pull then costs the emulator in proportion to its backlog (capacity.ts).
 */
const LOCAL_WRITE_BATCH: WriteBatch = { messages: 2_000, bytes: 32 * 1024 * 1024, seconds: 1 };

/** The emulator a command works with: clients bound to it, and its state when this work directory started it. */
export interface EmulatorContext {
  clients: PubSubClients;
  state?: EmulatorState;
}

/** Runs `work` with Pub/Sub clients bound to this work directory's emulator, closing them after. */
export async function withEmulator<T>(project: ProjectConfig, workdir: Workdir, work: (clients: PubSubClients, emulator: EmulatorContext) => Promise<T>): Promise<T> {
  const { host, state } = await emulatorEndpoint(workdir);
  const clients = emulatorClients(host, project.database);
  try {
    return await work(clients, { clients, state });
  } finally {
    await clients.close();
  }
}

/** Turns gRPC's NOT_FOUND on a missing topic or subscription into a message that says what to run. */
export function explainPubSubError(error: unknown, what: string): never {
  const code = (error as { code?: number }).code;
  if (code === grpcStatus.NOT_FOUND) throw new UserError(`${what} does not exist in the emulator: run 'orchestrator provision' first`);
  if (code === grpcStatus.UNAVAILABLE) throw new UserError(`the Pub/Sub emulator is unreachable (${errorMessage(error)}): check 'orchestrator emulator status'`);
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

/**
 * Ingests into the emulator, refusing up front a source it cannot hold: with no consumer in this
 * process, every message stays in the emulator's heap until a sink lands it and recycles the
 * subscription, and a sink cannot keep up with the publisher. `up` can (it paces the publisher by
 * its sink), and `load` skips Pub/Sub.
 */
export async function ingestToEmulator(
  project: ProjectConfig,
  workdir: Workdir,
  emulator: EmulatorContext,
  input: string,
  options: Parameters<typeof ingest>[4],
): Promise<PublishSummary & { source: string }> {
  const usable = emulator.state && usableHeap(emulator.state);
  if (emulator.state && usable !== undefined) {
    const { stream, bytes } = await openSource(parseSource(input), new LocalBuckets(workdir));
    const records = await estimateRecords(stream, bytes);
    const held = readHeld(workdir, emulator.state);
    const needed = heapFor(records + held.messages, bytes + held.bytes);
    if (needed > usable) {
      const mb = (n: number) => `${Math.round(n / 2 ** 20)} MB`;
      throw new UserError(
        `the Pub/Sub emulator cannot hold ${input}: ~${records} events need ~${mb(heapFor(records, bytes))} of its heap` +
          `${held.messages ? ` on top of ~${mb(heapFor(held.messages, held.bytes))} for ${held.messages} messages it still holds` : ''}, ` +
          `more than the ${mb(usable)} it has for messages (-Xmx ${mb(emulator.state.maxHeapBytes ?? 0)}); it keeps every message until a sink ` +
          `lands it and recycles the subscription: use 'orchestrator up --input ${input}' (it lands while it publishes) or ` +
          `'orchestrator load ${input}', or restart the emulator with a larger JAVA_OPTS=-Xmx`,
      );
    }
  }
  const summary = await ingest(project, workdir, emulator.clients.pubsub, input, options);
  if (emulator.state) addHeld(workdir, emulator.state, { messages: summary.published, bytes: summary.bytes });
  return summary;
}

/**
 * Frees what the emulator holds by recycling the raw subscription (recycle.ts) whenever `due` says
 * so, and first of all when a recycle was interrupted (its spare subscription is still there).
 */
async function rawRecycler(
  project: ProjectConfig,
  workdir: Workdir,
  emulator: EmulatorContext,
  consumingSince: number,
  due: Recycler['due'],
): Promise<Recycler> {
  const name = project.resources.rawSubscription;
  const spare = emulator.clients.pubsub.subscription(spareName(name));
  let [unfinished] = await spare.exists().catch((error: unknown) => explainPubSubError(error, `subscription ${spare.name}`));
  return {
    due: (state) => unfinished || due(state),
    async recycle(drain) {
      await recycleSubscription(emulator.clients.pubsub, name, drain, consumingSince);
      unfinished = false;
      if (emulator.state) clearHeld(workdir, emulator.state);
    },
  };
}

/**
 * The `sink` command's local landing: recycles the subscription each time it has caught up after
 * SINK_RECYCLE_AFTER messages. It commits each pull alone: nothing bounds the backlog a separate
 * `ingest` left (up to the whole file), and gathered pulls would each copy it (LOCAL_WRITE_BATCH).
 */
export async function sinkFromEmulator(
  project: ProjectConfig,
  workdir: Workdir,
  emulator: EmulatorContext,
  warehouse: Warehouse,
  options: Omit<SinkOptions, 'subscriber' | 'subscriptionPath' | 'write' | 'recycler'>,
): Promise<SinkSummary> {
  const recycler = await rawRecycler(project, workdir, emulator, Date.now(), ({ landedSinceRecycle, caughtUp }) => caughtUp && landedSinceRecycle >= SINK_RECYCLE_AFTER);
  return sink(project, emulator.clients, warehouse, { notIdleBefore: Date.now() + RAW_ACK_DEADLINE_SECONDS * 1000, ...options, recycler });
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
    write: (rows) => warehouse.appendRawRows(project.raw, rows).then(() => undefined),
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
 * Publishes a source while the sink lands it, in one process: the publisher stays a bounded number
 * of messages ahead of the sink, each side stops the other when it fails, and both are settled
 * before this returns (so the warehouse can be closed safely). Every so many records (flowLimits)
 * the publisher waits while the sink recycles the raw subscription, so the emulator's memory stays
 * bounded whatever the file's size.
 */
export async function publishAndLand(
  project: ProjectConfig,
  workdir: Workdir,
  emulator: EmulatorContext & { startedHere: boolean },
  warehouse: Warehouse,
  input: string,
  options: PublishAndLandOptions,
): Promise<{ publish: PublishSummary & { source: string }; landed: SinkSummary }> {
  const { clients } = emulator;
  const stopPublisher = new AbortController();
  const stopSink = new AbortController();
  const abort = () => { stopPublisher.abort(); stopSink.abort(); };
  options.signal?.addEventListener('abort', abort, { once: true });
  let totalBytes = 0;
  const limits = flowLimits(emulator.state);
  const gate = new BacklogGate(limits.backlog, limits.recycleEvery);
  // An emulator started by this run has had no other consumer whose leases could still come back.
  const recycler = await rawRecycler(project, workdir, emulator, emulator.startedHere ? 0 : Date.now(), () => gate.recycleDue());
  let recycledAt = 0;
  const publishing = ingest(project, workdir, clients.pubsub, input, {
    signal: stopPublisher.signal,
    gate,
    onOpen: (bytes) => { totalBytes = bytes; },
    onProgress: (p) => options.onPublishProgress?.(p.published, p.bytesRead, totalBytes),
  });
  publishing.catch(() => stopSink.abort());
  const sinking = sink(project, clients, warehouse, {
    // The gate bounds the emulator's backlog, so gathered pulls stay cheap (see LOCAL_WRITE_BATCH).
    writeBatch: LOCAL_WRITE_BATCH,
    idleSeconds: options.idleSeconds,
    idleAfter: publishing.catch(() => undefined),
    // An emulator started by this run has had no other consumer whose leases could still come back.
    notIdleBefore: emulator.startedHere ? undefined : Date.now() + RAW_ACK_DEADLINE_SECONDS * 1000,
    signal: stopSink.signal,
    onBatch: ({ rows }) => { gate.landed(rows); options.onSinkProgress?.(rows); },
    recycler: {
      due: recycler.due,
      async recycle(drain) {
        await recycler.recycle(drain);
        recycledAt = gate.admittedRecords;
        gate.recycled();
      },
    },
  });
  sinking.catch(() => stopPublisher.abort()).finally(() => gate.release());
  const [published, sunk] = await Promise.allSettled([publishing, sinking]);
  options.signal?.removeEventListener('abort', abort);
  if (published.status === 'rejected') throw published.reason;
  if (sunk.status === 'rejected') throw sunk.reason;
  if (emulator.state && !emulator.startedHere) {
    // What stays in the emulator after this run: the records published since the last recycle.
    const { records, bytes } = published.value;
    const since = records - recycledAt;
    addHeld(workdir, emulator.state, { messages: since, bytes: Math.round((bytes / Math.max(1, records)) * since) });
  }
  return { publish: published.value, landed: sunk.value };
}

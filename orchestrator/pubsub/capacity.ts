import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Workdir } from '../config.js';
import { readRecords } from '../events/reader.js';
import type { EmulatorState } from './emulator.js';

/**
 * Emulator only: how many messages the local Pub/Sub emulator can hold. It keeps every message in
 * its heap until the subscription is recycled (recycle.ts). Measured per acknowledged message with
 * our four attributes: 1,217 B of heap for 50 B of data, 1,353 B for 200 B, 2,156 B for 1,000 B,
 * 5,173 B for 4,000 B; that is ~1,200 B plus the data.
 */
const HEAP_PER_MESSAGE = 1200;
/** The share of -Xmx messages may fill; the rest is the emulator's own and the collector's room. */
const USABLE_SHARE = 0.75;

export const heapFor = (messages: number, dataBytes: number) => messages * HEAP_PER_MESSAGE + dataBytes;

export const usableHeap = (state: EmulatorState) => (state.maxHeapBytes === undefined ? undefined : state.maxHeapBytes * USABLE_SHARE);

/** Chat events are ~200 B: what the flow is sized for before any is read. */
const NOMINAL_MESSAGE_BYTES = 256;
/**
 * Most the publisher may run ahead of the sink. While any message is leased and unacknowledged
 * (the sink's batch, until its commit), each pull of the emulator copies its whole set of
 * undelivered messages (MessageBacklog.updateExpiredAckDeadlines in emulator 0.8.20), so a pull
 * costs in proportion to the backlog: measured through `up` of 225k events, the emulator's CPU was
 * 14.0 s with a 50,000 backlog and 8.9 s with 10,000.
 */
const MAX_BACKLOG = 10_000;
/** Most messages between two recycles of the subscription. */
const MAX_RECYCLE_EVERY = 200_000;

/**
 * How far `up`'s publisher may run ahead of its sink, and how often the subscription is recycled, so
 * that what the emulator holds (at most both together) fits its heap: 10,000 and 200,000 (~290 MB)
 * from -Xmx512m up; less for a smaller heap. The defaults when the heap is unknown.
 */
export function flowLimits(state: EmulatorState | undefined): { backlog: number; recycleEvery: number } {
  const usable = state && usableHeap(state);
  if (usable === undefined) return { backlog: MAX_BACKLOG, recycleEvery: MAX_RECYCLE_EVERY };
  const fits = Math.floor(usable / heapFor(1, NOMINAL_MESSAGE_BYTES));
  // A quarter of what fits is kept for the backlog, even when it is capped lower: room for the collector.
  const reserve = Math.floor(fits / 4);
  const backlog = Math.max(1, Math.min(MAX_BACKLOG, reserve));
  return { backlog, recycleEvery: Math.max(1, Math.min(MAX_RECYCLE_EVERY, fits - reserve)) };
}

/** What the emulator of a work directory holds since its raw subscription was last recycled. */
export interface Held {
  messages: number;
  bytes: number;
}

interface HeldFile extends Held {
  pid: number;
  startedAt: string;
}

const heldFile = (workdir: Workdir) => path.join(workdir.dir, 'emulator-held.json');

/**
 * Best effort, kept by the commands that publish (they add) and recycle (they clear): two commands
 * updating it at the same instant may lose one update. Counts for the emulator that wrote it only.
 */
export function readHeld(workdir: Workdir, state: EmulatorState): Held {
  try {
    const held = JSON.parse(readFileSync(heldFile(workdir), 'utf8')) as HeldFile;
    if (held.pid === state.pid && held.startedAt === state.startedAt) return { messages: held.messages, bytes: held.bytes };
  } catch {
    // none yet, or from an emulator that is gone
  }
  return { messages: 0, bytes: 0 };
}

function writeHeld(workdir: Workdir, state: EmulatorState, held: Held): void {
  const file = heldFile(workdir);
  const draft = `${file}.${process.pid}`;
  writeFileSync(draft, `${JSON.stringify({ pid: state.pid, startedAt: state.startedAt, ...held } satisfies HeldFile)}\n`);
  renameSync(draft, file);
}

export function addHeld(workdir: Workdir, state: EmulatorState, added: Held): void {
  const held = readHeld(workdir, state);
  writeHeld(workdir, state, { messages: held.messages + added.messages, bytes: held.bytes + added.bytes });
}

export function clearHeld(workdir: Workdir, state: EmulatorState): void {
  writeHeld(workdir, state, { messages: 0, bytes: 0 });
}

const SAMPLE_RECORDS = 1000;

/**
 * How many records a source holds, estimated up front from its first records (exact when it has
 * no more than those): reading a large file twice to count it would double an ingest's time.
 */
export async function estimateRecords(stream: Readable, totalBytes: number): Promise<number> {
  let records = 0;
  let bytes = 0;
  try {
    for await (const record of readRecords(stream)) {
      records++;
      bytes += Buffer.byteLength(record.text) + 1;
      if (records === SAMPLE_RECORDS) return Math.ceil(totalBytes / (bytes / records));
    }
    return records;
  } finally {
    stream.destroy();
  }
}

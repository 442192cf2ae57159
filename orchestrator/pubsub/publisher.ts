import type { Topic } from '@google-cloud/pubsub';
import type { Readable } from 'node:stream';
import { isTooLarge, toEventMessage } from '../events/message.js';
import { readRecords } from '../events/reader.js';
import type { BacklogGate } from './backlog.js';

export interface PublishOptions {
  /** Name recorded in each message's `source` attribute. */
  source: string;
  /** Pace events by messageSentTime, this many times faster than real time. */
  replaySpeed?: number;
  maxOutstandingMessages?: number;
  maxOutstandingBytes?: number;
  onProgress?: (progress: { published: number; bytesRead: number }) => void;
  signal?: AbortSignal;
  /** Holds the publisher back while a consumer in this process catches up. */
  gate?: BacklogGate;
}

export interface PublishSummary {
  records: number;
  published: number;
  failed: number;
  notJson: number;
  /** Records over Pub/Sub's message limit, published as a small `too_large` stand-in. */
  tooLarge: number;
  bytes: number;
  seconds: number;
  /** Of those, the seconds the gate held the publisher back (waiting for the consumer, or for a recycle). */
  heldSeconds: number;
  /** The first few failures, with the record's position in the file. */
  failures: { position: number; error: string }[];
}

function sentTimeOf(value: unknown): number | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const text = (value as Record<string, unknown>).messageSentTime;
  const millis = typeof text === 'string' ? Date.parse(text) : NaN;
  return Number.isFinite(millis) ? millis : undefined;
}

/**
 * Streams a source's records into a topic, one message per record, with the client's batching and a
 * bound on outstanding messages and bytes, so memory stays flat whatever the file size.
 */
export async function publishRecords(topic: Topic, stream: Readable, options: PublishOptions): Promise<PublishSummary> {
  const maxMessages = options.maxOutstandingMessages ?? 20_000;
  const maxBytes = options.maxOutstandingBytes ?? 64 * 1024 * 1024;
  topic.setPublishOptions({ batching: { maxMessages: 1000, maxMilliseconds: 10, maxBytes: 8 * 1024 * 1024 } });
  const started = performance.now();
  const summary: PublishSummary = { records: 0, published: 0, failed: 0, notJson: 0, tooLarge: 0, bytes: 0, seconds: 0, heldSeconds: 0, failures: [] };
  let outstanding = 0;
  let outstandingBytes = 0;
  let wake: (() => void) | undefined;
  const settled = () => { wake?.(); wake = undefined; };
  let replayStart: { event: number; wall: number } | undefined;
  let bytesRead = 0;
  stream.on('data', (chunk: Buffer | string) => { bytesRead += chunk.length; });

  const fail = (position: number, error: unknown) => {
    summary.failed++;
    if (summary.failures.length < 10) summary.failures.push({ position, error: error instanceof Error ? error.message : String(error) });
  };
  try {
    for await (const record of readRecords(stream)) {
      if (options.signal?.aborted) break;
      const message = toEventMessage(record, options.source);
      const data = Buffer.from(message.data, 'utf8');
      summary.records++;
      if (isTooLarge(message)) summary.tooLarge++;
      else if (record.error !== undefined) summary.notJson++;
      if (options.replaySpeed) {
        const sentAt = sentTimeOf(record.value);
        if (sentAt !== undefined) {
          replayStart ??= { event: sentAt, wall: Date.now() };
          const due = replayStart.wall + (sentAt - replayStart.event) / options.replaySpeed;
          if (due > Date.now()) await new Promise((resolve) => setTimeout(resolve, due - Date.now()));
        }
      }
      const room = options.gate?.admit(summary.records);
      if (room) {
        const held = performance.now();
        await room;
        summary.heldSeconds += (performance.now() - held) / 1000;
      }
      while (outstanding >= maxMessages || outstandingBytes + data.length > maxBytes) {
        await new Promise<void>((resolve) => { wake = resolve; });
      }
      summary.bytes += data.length;
      let publishing: Promise<string>;
      try {
        publishing = topic.publishMessage({ data, attributes: message.attributes });
      } catch (error) {
        fail(record.position, error);
        continue;
      }
      options.gate?.track(publishing);
      outstanding++;
      outstandingBytes += data.length;
      publishing
        .then(() => { summary.published++; }, (error: unknown) => fail(record.position, error))
        .finally(() => {
          outstanding--;
          outstandingBytes -= data.length;
          settled();
          if ((summary.published + summary.failed) % 5000 === 0) options.onProgress?.({ published: summary.published, bytesRead });
        });
    }
  } finally {
    // Whatever happened to the reading, what was handed to the client is flushed and settled.
    await topic.flush().catch(() => undefined);
    while (outstanding > 0) await new Promise<void>((resolve) => { wake = resolve; });
  }
  options.onProgress?.({ published: summary.published, bytesRead });
  summary.seconds = (performance.now() - started) / 1000;
  return summary;
}

import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Target } from '../identifiers.js';
import { Timestamp, type RawRow, type Warehouse } from '../warehouse/warehouse.js';
import { isTooLarge, toEventMessage } from './message.js';
import { readRecords } from './reader.js';

export interface LoadSummary {
  records: number;
  notJson: number;
  tooLarge: number;
  bytes: number;
  seconds: number;
}

const BATCH_ROWS = 5_000;
/** Records can be up to 10 MB each: a batch is also bounded by its text, so memory stays flat. */
const BATCH_BYTES = 32 * 1024 * 1024;

/**
 * Appends a source file's records to the raw table exactly as the Pub/Sub BigQuery subscription would
 * land them (one row per record, attributes as JSON text), without going through Pub/Sub: a quick way
 * to feed the warehouse for development and tests. Streams the file in batches.
 */
export async function loadRecordsToRaw(
  warehouse: Warehouse,
  raw: Target,
  stream: Readable,
  source: string,
  onProgress?: (records: number) => void,
): Promise<LoadSummary> {
  const started = performance.now();
  const loadId = randomUUID();
  const publishTime = new Timestamp(BigInt(Date.now()) * 1000n);
  const summary = { records: 0, notJson: 0, tooLarge: 0, bytes: 0 };
  let batch: RawRow[] = [];
  let batchBytes = 0;
  await warehouse.ensureRawTable(raw);
  for await (const record of readRecords(stream)) {
    const message = toEventMessage(record, source);
    batch.push({
      subscription_name: 'direct-load',
      message_id: `${loadId}-${record.position}`,
      publish_time: publishTime,
      data: message.data,
      attributes: JSON.stringify(message.attributes),
    });
    summary.records++;
    summary.bytes += Buffer.byteLength(message.data);
    if (isTooLarge(message)) summary.tooLarge++;
    else if (record.error !== undefined) summary.notJson++;
    batchBytes += message.data.length;
    if (batch.length >= BATCH_ROWS || batchBytes >= BATCH_BYTES) {
      await warehouse.appendRawRows(raw, batch);
      batch = [];
      batchBytes = 0;
      onProgress?.(summary.records);
    }
  }
  await warehouse.appendRawRows(raw, batch);
  return { ...summary, seconds: (performance.now() - started) / 1000 };
}
